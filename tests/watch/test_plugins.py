"""Plug-ins: a detector from a module named in the config (no wrapper script), entry points, and the
detector table of docs/watch.md generated from the registry."""

from __future__ import annotations

from pathlib import Path

from tests.watch.conftest import USD
from typer.testing import CliRunner

from bastion.store import Repository
from bastion.tower.commands import app
from bastion.tower.config import load_config
from bastion.tower.service import WatchService
from bastion.watch import plugins
from bastion.watch.detectors import REGISTRY
from bastion.watch.doctable import render_table, update_doc

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def write_config(tmp_path: Path, world, plugin_lines: str, detectors: str) -> Path:
    vault, token = world.vault.address, world.token.address
    path = tmp_path / "watch.toml"
    path.write_text(
        f"""
[service]
database = "watch.db"
start_block = 0
pending = false
[networks.local]
rpc_urls = ["{world.node.http_url}"]
[protocol.contracts.vault]
address = "{vault}"
abi = "WatchVault"
[protocol.assets.USD]
address = "{token}"
decimals = 6
{plugin_lines}
{detectors}
"""
    )
    return path


def test_a_detector_from_a_plugin_module_named_in_the_config(world, tmp_path):
    plugin_dir = HERE / "plugins"
    cfg_path = write_config(
        tmp_path,
        world,
        f'[plugins]\npaths = ["{plugin_dir}"]\nmodules = ["acme_detectors"]',
        "[detectors.acme_big_withdrawal]\nmin_amount = 100000000000",
    )
    cfg = load_config(cfg_path)
    assert "acme_big_withdrawal" in REGISTRY and "acme_big_withdrawal" in cfg.detector_configs
    svc = WatchService(cfg, configure_logging=False)
    world.drain(50_000 * USD)  # below min_amount
    world.drain(150_000 * USD)
    svc.run_once()
    with svc.db.session() as s:
        (f,) = [f for f in Repository.findings(s) if f.detector == "acme_big_withdrawal"]
    assert f.severity == "high" and f.title == f"Withdrawn {150_000 * USD}"
    svc.close()
    # the same file through the command line
    res = CliRunner().invoke(app, ["watch", "--config", str(cfg_path), "--check"])
    assert res.exit_code == 0, res.output


def test_a_missing_plugin_module_is_one_line(world, tmp_path):
    cfg_path = write_config(tmp_path, world, '[plugins]\nmodules = ["acme_nowhere"]', "")
    res = CliRunner().invoke(app, ["watch", "--config", str(cfg_path), "--check"])
    assert res.exit_code == 2
    assert res.output.strip().startswith("config error: plugins.modules[0]: no module 'acme_nowhere'")
    assert len(res.output.strip().splitlines()) == 1


def test_entry_points_register_detectors(tmp_path, monkeypatch):
    # an installed distribution declaring a bastion.detectors entry point (a real dist-info on sys.path)
    site = tmp_path / "site"
    pkg = site / "acme_ep"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "from bastion.watch.detectors import Detector\n"
        "class EpDetector(Detector):\n"
        "    id = 'acme_ep_detector'\n"
        "    description = 'from an entry point'\n"
        "    def run(self, event, view):\n"
        "        return []\n"
    )
    dist = site / "acme_ep-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-ep\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[bastion.detectors]\nacme = acme_ep:EpDetector\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(plugins, "_loaded_groups", set())
    assert "acme" in plugins.load_entry_points(["bastion.detectors"])
    assert REGISTRY.get("acme_ep_detector").description == "from an entry point"


def test_the_detector_table_in_docs_is_current():
    doc = (ROOT / "docs" / "watch.md").read_text()
    assert update_doc(doc) == doc, "run: python -m bastion.watch.doctable docs/watch.md"
    table = render_table()
    for detector_id in ("ownership", "proxy_upgrade", "oracle_drift", "large_transfer"):
        assert f"`{detector_id}`" in table

"""``bastion risk``: config validation with one-line errors, and the command on the embedded chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bastion.cli import app
from bastion.risk.config import ConfigError, load_risk_config, parse_risk_config
from bastion.risk.reports import verify_report

EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "risk.example.toml"


def test_example_config_loads():
    cfg = load_risk_config(EXAMPLE)
    assert cfg.chain.rpc_url is None and cfg.policy.emergency_ttl_seconds == 21_600
    assert cfg.policy.limiter_limit_bps.max_step == 500


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[policy]\nemergency_ttl_secs = 3\n", "policy.emergency_ttl_secs: unknown key"),
        ("interval_seconds = 0\n", "interval_seconds: Input should be greater than or equal to 1"),
        ("interval_seconds = 86400\n", "interval_seconds: Input should be less than or equal to 3600"),
        ("[policy]\nemergency_ttl_seconds = 600\nrenew_before_seconds = 900\n", "policy: Value error, renew_before"),
        ("[chain]\nrpc_url = 'http://127.0.0.1:8545'\n", "chain: Value error, manifest is required"),
        ("[keys]\nrisk = { env = 'A', keystore = 'k.json' }\n", "keys.risk: Value error, give exactly one"),
        ("[estimators]\nhistory_source = 'oracle'\n", "estimators.history_source"),
        ("[policy.limiter_limit_bps]\nmin = 900\nmax = 100\nmax_step = 1\nmin_interval_seconds = 0\n",
         "policy.limiter_limit_bps"),
        ("interval_seconds = [\n", "cannot parse"),
    ],
)  # fmt: skip
def test_bad_configs_get_one_line_errors(tmp_path: Path, text: str, needle: str):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_risk_config(p)
    msg = str(exc.value)
    assert needle in msg and "\n" not in msg and str(p) in msg


def test_bad_config_on_the_command_line_is_one_line_and_exit_2(tmp_path: Path):
    p = tmp_path / "bad.toml"
    p.write_text("[policy]\ndeadband = 2\n")
    res = CliRunner().invoke(app, ["risk", "--config", str(p)])
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "policy.deadband" in lines[0] and lines[0].startswith("error:")
    res = CliRunner().invoke(app, ["risk", "--once", "--rpc-url", "http://127.0.0.1:1"])
    assert res.exit_code == 2 and "manifest is required" in res.output


def test_yaml_and_overrides():
    with pytest.raises(ConfigError, match=r"^cli: chain: Value error, rpc_url is required"):
        parse_risk_config({"chain": {"manifest": "m.json"}}, "cli")


def _small(tmp_path: Path, **extra: str) -> Path:
    cfg = tmp_path / "risk.toml"
    lines = [
        "interval_seconds = 1",
        "[simulation]\nn_paths = 60\nn_accounts = 40\nhorizon_hours = 6",
        f"[output]\nreports_dir = '{tmp_path / 'reports'}'\nstore = '{tmp_path / 'risk.sqlite'}'\ndisplay = 'log'",
        *extra.values(),
    ]
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def test_continuous_mode_on_the_embedded_chain(tmp_path: Path):
    res = CliRunner().invoke(app, ["risk", "--config", str(_small(tmp_path)), "--cycles", "2"])
    assert res.exit_code == 0, res.output
    assert "cycle 0:" in res.output and "cycle 1:" in res.output
    assert "maxOpenInterest" in res.output and "[sent]" in res.output and "[proposed]" in res.output
    ledger = [json.loads(x) for x in (tmp_path / "reports" / "ledger.jsonl").read_text().splitlines()]
    kinds = {e["kind"] for e in ledger}
    assert {"tighten", "propose"} <= kinds
    for e in ledger:
        digest = bytes.fromhex(e["report_hash"][2:])
        assert verify_report(tmp_path / "reports" / f"0x{digest.hex()}.json") == digest
    # The second cycle neither re-proposes nor tightens again inside the interval.
    assert sum(e["kind"] == "propose" for e in ledger) == 1
    assert "[deferred]" in res.output.split("cycle 1:")[1]


def test_once_on_the_embedded_chain_prints_and_sends_nothing(tmp_path: Path):
    res = CliRunner().invoke(app, ["risk", "--once", "--json", "--config", str(_small(tmp_path))])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    statuses = {o["status"] for o in out["outcomes"]}
    assert "dry-run" in statuses and "sent" not in statuses and "proposed" not in statuses
    assert all(o["reasons"] for o in out["outcomes"])
    assert out["markets"]["ETH-PERP"]["history_source"] == "bundled"
    assert not (tmp_path / "reports").exists()


def test_once_over_rpc_with_a_manifest_then_verify_a_report(tmp_path: Path):
    from bastion.chain.contracts import Sender, connect
    from bastion.chain.node import AnvilNode
    from bastion.protocol.deploy import deploy_system, dev_keys, dev_roles

    with AnvilNode(accounts=10) as node:
        w3 = connect(node.http_url)
        manifest = deploy_system(Sender.from_key(w3, node.accounts[0].private_key), dev_roles(node.accounts),
                                 dev_keys(node.accounts))  # fmt: skip
        path = tmp_path / "deployment.json"
        manifest.write(path)
        chain = ["--rpc-url", node.http_url, "--manifest", str(path)]
        res = CliRunner().invoke(app, ["risk", "--once", *chain])
        assert res.exit_code == 0, res.output
        assert "dry run: nothing sent" in res.output and "maxOpenInterest" in res.output and "why:" in res.output
        # Carry it out once, then check the report against its name and the chain.
        cfg = _small(tmp_path)
        res = CliRunner().invoke(app, ["risk", "--once", "--apply", "--config", str(cfg), *chain])
        assert res.exit_code == 0, res.output
        (report,) = (tmp_path / "reports").glob("0x*.json")
        res = CliRunner().invoke(app, ["risk", "--verify", str(report), *chain])
        assert res.exit_code == 0, res.output
        # The RISK tightenings carry it; the proposal is salted with it once the Safe schedules it.
        assert "sha256 matches" in res.output and "ParameterUpdated" in res.output
        report.write_bytes(report.read_bytes() + b" ")
        res = CliRunner().invoke(app, ["risk", "--verify", str(report)])
        assert res.exit_code == 2 and "not to its name" in res.output

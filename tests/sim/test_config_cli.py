"""Config validation (one-line errors naming the key) and the calibrate command end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bastion.cli import app  # as users run it: `bastion calibrate ...`
from bastion.sim.config import ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "calibrate.example.toml"


def test_example_config_loads():
    cfg = load_config(EXAMPLE)
    assert cfg.stress.n_accounts == 200 and cfg.price.model == "bootstrap"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[stress]\nn_pathz = 3\n", "stress.n_pathz: unknown key"),
        ("[limiter]\nwindow_hours = -1\n", "limiter.window_hours"),
        ("[protocol]\nmaintenance_margin_bps = 900\ninitial_margin_bps = 500\n", "protocol:"),
        ("[price]\nmodel = 'levy'\n", "price.model"),
        ("seed = [\n", "cannot parse"),
    ],
)
def test_bad_configs_get_one_line_errors(tmp_path: Path, text: str, needle: str):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    msg = str(exc.value)
    assert needle in msg and "\n" not in msg and str(p) in msg


def test_yaml_configs_work(tmp_path: Path):
    p = tmp_path / "c.yaml"
    p.write_text("seed: 5\nstress:\n  n_paths: 10\n")
    assert load_config(p).stress.n_paths == 10
    p.write_text("stress:\n  n_paths: lots\n")
    with pytest.raises(ConfigError, match=r"stress\.n_paths"):
        load_config(p)


def test_calibrate_command_writes_the_report(tmp_path: Path):
    cfg = tmp_path / "small.toml"
    cfg.write_text(
        "seed = 3\nshard_paths = 200\n[stress]\nn_paths = 300\nhorizon_hours = 6\n"
        "[limiter]\nn_paths = 200\nhorizon_days = 2\n[oracle]\nn_paths = 200\nhorizon_days = 7\n"
        "[metrics]\nbootstrap_samples = 50\n"
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["calibrate", "--config", str(cfg), "--out", str(out)])
    assert res.exit_code == 0, res.output
    pngs = ("roc.png", "cost.png", "loss_distribution.png", "sample_paths.png")
    for name in ("report.md", "report.json", *pngs):
        assert (out / name).stat().st_size > 0, name
    rep = json.loads((out / "report.json").read_text())
    assert rep["stress"]["paths"] == 300
    assert rep["limiter"]["recommended"] in rep["limiter"]["thresholds"]
    assert rep["history"]["oracle"]["recommended_trips"] >= 0
    assert "Recommended" in (out / "report.md").read_text()


def test_calibrate_command_rejects_a_bad_config_without_writing(tmp_path: Path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[oracle]\nexposure = 0\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["calibrate", "--config", str(cfg), "--out", str(out)])
    assert res.exit_code == 2
    assert "oracle.exposure" in res.output
    assert not out.exists()

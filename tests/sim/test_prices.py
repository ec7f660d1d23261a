"""Calibrating on your own prices: real price files in two formats, joined per feed, a heartbeat and jump
limit per feed, and a warning for a history without a stressed period."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bastion.paths import InputError
from bastion.sim.calibrate import threshold_grid
from bastion.sim.config import parse_config
from bastion.sim.prices import feed_report, load_feeds, read_price_file, resample, stress_drop, worst_drop

DATA = Path(__file__).parent / "data"
CALM = DATA / "btc_calm_2020-06_08.csv"
CRASH = DATA / "btc_chainlink_2020-03.csv"
BASTION = Path(sys.executable).with_name("bastion")


def test_formats_read_to_the_same_prices_as_the_bundled_source():
    from bastion.sim.data import load_btc_hourly

    bundled = load_btc_hourly()
    for path in (CALM, CRASH):
        h = read_price_file(path)
        at = np.searchsorted(bundled.unix, h.unix)
        assert np.array_equal(bundled.unix[at], h.unix)
        assert np.allclose(bundled.close[at], h.close, rtol=1e-9)  # ISO dates and 8-decimal answers decode


def test_files_with_one_name_join_into_one_feed(tmp_path):
    lines = CALM.read_text().splitlines()
    half = len(lines) // 2
    (tmp_path / "a.csv").write_text("\n".join(lines[: half + 10]) + "\n")  # overlapping rows are fine
    (tmp_path / "b.csv").write_text("\n".join([lines[0], *lines[half:]]) + "\n")
    (joined,) = load_feeds(["BTC=a.csv", "BTC=b.csv"], tmp_path)
    whole = read_price_file(CALM)
    assert joined.name == "BTC" and len(joined.files) == 2
    assert np.array_equal(joined.history.unix, whole.unix) and np.array_equal(joined.history.close, whole.close)


def test_each_feed_gets_its_own_heartbeat_and_jump_limit():
    cfg = parse_config({})
    thresholds = threshold_grid(cfg.oracle.thresholds)
    stressed_at = stress_drop(cfg.price, cfg.stress.horizon_hours, cfg.seed)
    (hourly,) = load_feeds([f"hourly={CRASH}"], DATA)
    slow_history = resample(hourly.history, 4 * 3600)  # the same market read by a feed updating every 4 h
    slow = type(hourly)("slow", hourly.files, slow_history)
    horizon = cfg.stress.horizon_hours
    reports = [feed_report(f, thresholds, cfg.oracle, 0.05, horizon, stressed_at) for f in (hourly, slow)]
    assert reports[0]["heartbeat_s"] == 4500 and reports[1]["heartbeat_s"] == 4 * 4500
    assert reports[0]["jump_limit"] != reports[1]["jump_limit"]  # a slower feed sees larger moves per round
    assert all(r["stressed"] and not r["warnings"] for r in reports)  # March 2020 is a stressed period


def test_a_calm_history_is_warned_about():
    cfg = parse_config({})
    stressed_at = stress_drop(cfg.price, cfg.stress.horizon_hours, cfg.seed)
    (calm,) = load_feeds([str(CALM)], DATA)
    assert worst_drop(calm.history, cfg.stress.horizon_hours) > stressed_at
    report = feed_report(calm, threshold_grid(cfg.oracle.thresholds), cfg.oracle, 0.05, 24, stressed_at)
    assert not report["stressed"]
    assert "no stressed period" in report["warnings"][0] and "crash" in report["warnings"][0]


@pytest.mark.parametrize(
    "text, message",
    [
        ("when,value\n1,2\n", "unknown columns"),
        ("timestamp,price\n2020-01-01,abc\n2020-01-02,1\n", "not a number"),
        ("timestamp,price\nyesterday,1\n2020-01-02,1\n", "neither unix seconds nor an ISO-8601 date"),
        ("timestamp,price\n1,1\n", "fewer than two prices"),
    ],
)
def test_bad_price_files_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_price_file(path)


def test_calibrate_on_a_second_price_file_from_the_command_line_and_the_config(tmp_path):
    config = tmp_path / "cal.toml"
    # Small runs: the point is the price input, not the simulation's precision.
    config.write_text(
        'prices = ["crash=' + str(CRASH) + '"]\n[stress]\nn_paths = 200\nn_accounts = 20\n'
        "[limiter]\nn_paths = 100\n[oracle]\nn_paths = 100\n"
    )
    result = subprocess.run(
        [str(BASTION), "calibrate", "--config", str(config), "--out", str(tmp_path / "out"), "--prices", str(CALM)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "no stressed period" in result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [f["name"] for f in report["feeds"]] == ["btc_calm_2020-06_08"]  # --prices replaces the config's
    assert report["history"]["source"].startswith("btc_calm_2020-06_08")
    assert "Per feed: heartbeat and jump limit" in (tmp_path / "out" / "report.md").read_text()

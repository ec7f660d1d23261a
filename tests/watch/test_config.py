"""Config validation: one-line errors naming the key; the example config; the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bastion.tower.commands import app
from bastion.watch.config import ConfigError, load_config, validate_config

ROOT = Path(__file__).resolve().parents[2]
NET = {"local": {"rpc_urls": ["http://127.0.0.1:8545"]}}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"detectors": {"outflow_rate": {"window_blocks": -3}}},
            "config error: detectors.outflow_rate.window_blocks: must be > 0 (got -3)",
        ),
        (
            {"detectors": {"large_transfer": {"min_fraction_bps": 20_000}}},
            "config error: detectors.large_transfer.min_fraction_bps: must be <= 10000 (got 20000)",
        ),
        ({"detectors": {"nope": {}}}, "config error: detectors.nope: unknown detector (known: "),
        (
            {"detectors": {"governance": {"bogus": 1}}},
            "config error: detectors.governance.bogus: unknown key",
        ),
        (
            {"service": {"poll_interval": "fast"}},
            'config error: service.poll_interval: must be a number (got "fast")',
        ),
        (
            {"networks": {"local": {"rpc_urls": ["ftp://x"]}}},
            "config error: networks.local.rpc_urls: must start with",
        ),
        ({"keys": {"g": {}}}, "config error: keys.g: set exactly one of env or keystore"),
        ({"notifiers": {"ops": {"type": "sms"}}}, "config error: notifiers.ops.type: must be one of"),
        (
            {"playbooks": [{"name": "p", "on": ["large_transfer"], "actions": [{"type": "explode"}]}]},
            "config error: playbooks[0].actions[0].type: must be one of",
        ),
        (
            {
                "keys": {"guardian": {"env": "K"}},
                "playbooks": [
                    {
                        "name": "p",
                        "on": ["large_transfer"],
                        "actions": [
                            {
                                "type": "set_param",
                                "target": "0x" + "11" * 20,
                                "function": "setLimit(uint256)",
                                "value": 5,
                                "min": 10,
                                "max": 20,
                            }
                        ],
                    }
                ],
            },
            "config error: playbooks[0].actions[0]: value must be within [min, max] (got 5)",
        ),
        (
            {
                "playbooks": [
                    {
                        "name": "p",
                        "on": ["large_transfer"],
                        "actions": [{"type": "pause", "target": "0x" + "11" * 20, "function": "pause(bytes32)"}],
                    }
                ]
            },
            "config error: playbooks[0].actions[0].key: no [keys.guardian]",
        ),
    ],
)
def test_one_line_errors_name_the_key(data, expected):
    data = {"networks": NET, **data}
    with pytest.raises(ConfigError) as err:
        validate_config(data)
    msg = str(err.value)
    assert msg.startswith(expected), msg
    assert "\n" not in msg


def test_example_config_is_valid():
    cfg = load_config(ROOT / "configs" / "watch.example.toml")
    assert set(cfg.detector_configs) >= {
        "large_transfer",
        "outflow_rate",
        "attacker_prep",
        "governance",
        "flow_anomaly",
    }
    assert cfg.playbooks and cfg.notifiers and cfg.keys


def test_cli_check(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["watch", "--config", str(ROOT / "configs" / "watch.example.toml"), "--check"])
    assert ok.exit_code == 0 and ok.output.startswith("config ok:")
    bad = tmp_path / "bad.toml"
    bad.write_text('[networks.local]\nrpc_urls = ["http://x"]\n[detectors.outflow_rate]\nwindow_blocks = -3\n')
    res = runner.invoke(app, ["watch", "--config", str(bad), "--check"])
    assert res.exit_code == 2
    assert res.output.strip() == "config error: detectors.outflow_rate.window_blocks: must be > 0 (got -3)"
    broken = tmp_path / "broken.toml"
    broken.write_text("[networks\n")
    res = runner.invoke(app, ["watch", "--config", str(broken), "--check"])
    assert res.exit_code == 2 and "invalid TOML" in res.output and len(res.output.strip().splitlines()) == 1

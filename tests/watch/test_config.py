"""Config validation: one-line errors naming the key; the example config; the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.watch.conftest import USD
from typer.testing import CliRunner

from bastion.tower.commands import app
from bastion.tower.config import load_config, validate_config
from bastion.watch.config import ConfigError

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


EXAMPLE_ENV = {
    "BASTION_GUARDIAN_KEY": "0x" + "11" * 32,
    "BASTION_OWNER_KEY": "0x" + "22" * 32,
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/T0/B0/x",
}


@pytest.fixture
def example_env(monkeypatch):
    for k, v in EXAMPLE_ENV.items():
        monkeypatch.setenv(k, v)


def test_example_config_is_valid(example_env):
    cfg = load_config(ROOT / "configs" / "watch.example.toml")
    assert set(cfg.detector_configs) >= {
        "large_transfer",
        "outflow_rate",
        "attacker_prep",
        "governance",
        "flow_anomaly",
    }
    assert cfg.playbooks and cfg.notifiers and cfg.keys


def test_cli_check(tmp_path, example_env):
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


# -- bad inputs of issue 14: each one line, exit 2, from `bastion watch --check` --------------------
def _check(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "watch.toml"
    path.write_text('[networks.local]\nrpc_urls = ["http://127.0.0.1:8545"]\n' + text)
    res = CliRunner().invoke(app, ["watch", "--config", str(path), "--check"])
    return res.exit_code, res.output.strip()


ASSETS = '[protocol.assets.USDC]\naddress = "0x' + "ab" * 20 + '"\ndecimals = 6\n'
VAULT = '[protocol.contracts.vault]\naddress = "0x' + "cd" * 20 + '"\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            VAULT + 'abi = "NoSuchArtifact"\n',
            "config error: protocol.contracts.vault.abi: no ABI artifact 'NoSuchArtifact'",
        ),
        (
            '[notifiers.ops]\ntype = "webhook"\nurl = "hooks.example.org/bastion"\n',
            'config error: notifiers.ops.url: not an http(s) URL (got "hooks.example.org/bastion")',
        ),
        (
            '[notifiers.ops]\ntype = "slack"\nurl = "${BASTION_TEST_UNSET_URL}"\n',
            "config error: notifiers.ops.url: not an http(s) URL (is its environment variable set?)",
        ),
        (
            '[keys.guardian]\nenv = "BASTION_TEST_UNSET_KEY"\n',
            "config error: keys.guardian.env: environment variable BASTION_TEST_UNSET_KEY is not set",
        ),
        (
            ASSETS + "[detectors.large_transfer]\nmin_amount = { USDC = -5 }\n",
            "config error: detectors.large_transfer.min_amount.USDC: must be > 0 (got -5)",
        ),
        (
            ASSETS + "[detectors.large_transfer]\nmin_amount = { USDT = 5 }\n",
            "config error: detectors.large_transfer.min_amount: unknown token 'USDT': name an asset",
        ),
        (
            ASSETS + "[detectors.outflow_rate]\nwindow_blocks = 10000000\n",
            "config error: detectors.outflow_rate.window_blocks: must be <= 100000 (got 10000000)",
        ),
        (
            "[service]\nhistory_blocks = 50000000\n",
            "config error: service.history_blocks: must be <= 100000 (got 50000000)",
        ),
        (
            "[detectors.flow_anomaly]\nwindow_blocks = 20\nmin_history = 50\n",
            "config error: detectors.flow_anomaly: min_history must be below window_blocks (got 50 >= 20)",
        ),
    ],
    ids=[
        "unknown-abi",
        "webhook-not-url",
        "url-env-unset",
        "key-env-unset",
        "negative-min-amount",
        "unknown-token",
        "absurd-window",
        "absurd-history",
        "history-beyond-window",
    ],
)
def test_bad_watch_inputs_are_one_line_with_exit_2(tmp_path, monkeypatch, text, expected):
    monkeypatch.delenv("BASTION_TEST_UNSET_KEY", raising=False)
    monkeypatch.delenv("BASTION_TEST_UNSET_URL", raising=False)
    code, out = _check(tmp_path, text)
    assert code == 2, out
    assert out.startswith(expected), out
    assert len(out.splitlines()) == 1


def test_a_websocket_that_refuses_connections_warns_once_and_http_polling_goes_on(world, tmp_path, caplog):
    import logging
    import socket
    import threading

    from bastion.tower.service import WatchService
    from bastion.watch.ingest import HeadWatcher

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"ws://127.0.0.1:{port}"
    caplog.set_level(logging.WARNING, logger="bastion.watch.ingest")
    heads = HeadWatcher(url, threading.Event(), timeout=1.0).start()
    try:
        for _ in range(200):  # until the first attempt has failed (no assertion on how long it took)
            if heads.failed:
                break
            threading.Event().wait(0.05)
        assert heads.failed and not heads.connected
    finally:
        heads.stop()
    warned = [r.getMessage() for r in caplog.records if "refuses connections" in r.getMessage()]
    assert len(warned) == 1 and url in warned[0] and "polling over HTTP" in warned[0]
    svc = WatchService(
        world.config(tmp_path, networks={"local": {"rpc_urls": [world.node.http_url], "ws_url": url}}),
        configure_logging=False,
    )
    world.drain(300_000 * USD)
    svc.run_once()  # blocks still arrive over HTTP
    with svc.db.session() as s:
        from bastion.store import Repository

        assert [f.detector for f in Repository.findings(s)] == ["large_transfer"]
    svc.close()

"""Plug-in actions and notifiers: a module named in the config registers an action type (with its own
schema) and a notifier type; a playbook uses both, on anvil and a real HTTP receiver, with no wrapper."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from eth_utils import keccak
from tests.watch.conftest import USD
from typer.testing import CliRunner

from bastion.store import Repository
from bastion.tower.commands import app
from bastion.tower.config import load_config
from bastion.tower.service import WatchService
from bastion.watch.config import ConfigError

PLUGINS = Path(__file__).resolve().parent / "plugins"


def _wait(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return cond()


def write_config(tmp_path: Path, world, receiver_url: str, action: str, notifier: str) -> Path:
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
address = "{world.vault.address}"
abi = "WatchVault"
[protocol.assets.USD]
address = "{world.token.address}"
decimals = 6
[plugins]
paths = ["{PLUGINS}"]
modules = ["acme_response"]
[keys.guardian]
env = "TEST_GUARDIAN_KEY"
[detectors.large_transfer]
min_fraction_bps = 2000
min_amount = {{ USD = {50_000 * USD} }}
[notifiers.pager]
{notifier}
[[playbooks]]
name = "contain"
on = ["large_transfer"]
min_severity = "high"
[[playbooks.actions]]
{action}
[[playbooks.actions]]
type = "notify"
channels = ["pager"]
"""
    )
    return path


ACTION = 'type = "acme_pause_all"\ntarget = "vault"\noperations = ["withdraw", "deposit"]'


def notifier(url: str) -> str:
    lines = ['type = "acme_pager"', f'url = "{url}"', 'routing_key_env = "TEST_ROUTING_KEY"']
    return "\n".join([*lines, 'min_severity = "high"', "backoff_s = 0.05"])


def paused(world, op: str) -> bool:
    return world.vault.functions.paused(keccak(text=op)).call()


def test_a_plugin_action_and_notifier_from_a_module_named_in_the_config(world, tmp_path, monkeypatch, http_receiver):
    monkeypatch.setenv("TEST_GUARDIAN_KEY", world.node.accounts[1].private_key)
    monkeypatch.setenv("TEST_ROUTING_KEY", "route-7")
    http_receiver.statuses = [503]  # the pager's first answer: retried by the outbox
    path = write_config(tmp_path, world, http_receiver.url, ACTION, notifier(http_receiver.url))
    cfg = load_config(path)
    svc = WatchService(cfg, configure_logging=False)
    svc.run_once()
    world.drain(300_000 * USD)
    svc.run_once()
    svc.run_once()  # the pauses are mined (automine) and confirmed
    assert paused(world, "withdraw") and paused(world, "deposit")
    with svc.db.session() as s:
        actions = Repository.actions(s)
        assert sorted((a.kind, a.payload["operation"], a.status) for a in actions) == [
            ("acme_pause_all", "deposit", "mined"),
            ("acme_pause_all", "withdraw", "mined"),
        ]
        (incident,) = Repository.incidents(s)
    # the plug-in notifier, delivered by the outbox: a 503 is retried, then sent with its own body and header
    assert _wait(lambda: svc.hub.outbox.queued() == 0 and len(http_receiver.requests) == 2)
    first, second = http_receiver.requests
    assert first.body == second.body and second.headers["X-Routing-Key"] == "route-7"
    assert second.json()["severity"] == "high" and second.json()["incident"] == incident.id
    # another block of the same incident: nothing is done twice
    svc.run_once()
    with svc.db.session() as s:
        assert len(Repository.actions(s)) == 2 and len(Repository.notifications(s)) == 1
    svc.close()
    # the same file through the command line
    res = CliRunner().invoke(app, ["watch", "--config", str(path), "--check"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    ("action", "notifier_text", "message"),
    [
        (
            'type = "acme_pause_all"\ntarget = "vault"\noperations = []',
            None,
            "config error: playbooks[0].actions[0].operations: must have at least 1 item(s)",
        ),
        (
            'type = "acme_pause_all"\ntarget = "nowhere"\noperations = ["withdraw"]',
            None,
            "config error: playbooks[0].actions[0].target: 'nowhere' is neither an address nor a contract",
        ),
        (
            'type = "acme_pause_all"\ntarget = "vault"\noperations = ["withdraw"]\nkey = "ops"',
            None,
            "config error: playbooks[0].actions[0].key: no [keys.ops]",
        ),
        ('type = "acme_teleport"', None, "config error: playbooks[0].actions[0].type: must be one of "),
        (ACTION, 'type = "acme_pager"\nurl = "http://x"', "config error: notifiers.pager.routing_key_env: required"),
        (ACTION, 'type = "acme_fax"', "config error: notifiers.pager.type: must be one of webhook"),
    ],
)
def test_a_plugin_schema_rejects_bad_input_in_one_line(world, tmp_path, action, notifier_text, message):
    path = write_config(tmp_path, world, "http://127.0.0.1:9", action, notifier_text or notifier("http://127.0.0.1:9"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert text.startswith(message) and "\n" not in text
    res = CliRunner().invoke(app, ["watch", "--config", str(path), "--check"])
    assert res.exit_code != 0 and message in res.output

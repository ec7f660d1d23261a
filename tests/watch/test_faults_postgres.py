"""Issue 12, case 4 on a real PostgreSQL server these tests start themselves: a restart of the
database server mid-watch is retried by the loop (``/healthz`` says the database is unreachable
meanwhile) and the next attack is detected and paused; two instances on one PostgreSQL database
work as active/standby."""

from __future__ import annotations

import threading
import time

from tests.watch.conftest import USD

from bastion.store import Repository
from bastion.tower.service import WatchService

PAUSE = {
    "name": "contain",
    "on": ["large_transfer"],
    "min_severity": "high",
    "actions": [{"type": "pause", "target": "vault", "function": "pause(bytes32)", "args": ["keccak:withdraw"]}],
}


def _config(world, tmp_path, monkeypatch, url):
    monkeypatch.setenv("TEST_GUARDIAN_KEY", world.node.accounts[1].private_key)
    return world.config(
        tmp_path,
        keys={"guardian": {"env": "TEST_GUARDIAN_KEY"}},
        playbooks=[PAUSE],
        service={"database": url, "poll_interval": 0.05},
    )


def paused(world) -> bool:
    return world.vault.functions.paused(world.vault.functions.WITHDRAW().call()).call()


def _wait(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.05)
    return cond()


def test_postgres_restart_is_retried(world, tmp_path, monkeypatch, postgres_server):
    url = postgres_server.create_database("restart_case")
    svc = WatchService(_config(world, tmp_path, monkeypatch, url), configure_logging=False)
    loop = threading.Thread(target=svc.run, daemon=True)
    loop.start()
    try:
        assert _wait(lambda: svc.ticks > 0)
        postgres_server.stop()
        world.node.mine(1)  # a block to process while the database is away
        assert _wait(lambda: svc.metrics.tick_errors.labels("db")._value.get() >= 1)
        ok, detail = svc.health()
        assert not ok and "database_unreachable" in detail["reasons"]
        time.sleep(1.0)  # the one-second outage of the issue
        postgres_server.start()
        assert loop.is_alive()
        world.drain(300_000 * USD)
        assert _wait(lambda: paused(world))
        assert _wait(lambda: svc.health()[0])
    finally:
        svc.stop()
        loop.join(30)
    with svc.db.session() as s:
        assert len(Repository.findings(s)) == 1
        assert len(Repository.actions(s)) == 1  # one pause
        assert Repository.checkpoint(s, 31337).number >= world.w3.eth.block_number - 1  # no block left behind
    svc.db.dispose()


def test_two_instances_on_postgres(world, tmp_path, monkeypatch, postgres_server):
    url = postgres_server.create_database("two_instances")
    cfg = _config(world, tmp_path, monkeypatch, url)
    a = WatchService(cfg, configure_logging=False)
    b = WatchService(cfg, configure_logging=False)
    for _ in range(3):
        world.node.mine(1)
        a.run_once()
        assert b.run_once() == 0
    a.rpc.close()  # the active instance dies
    b.clock = lambda: time.time() + 60
    world.drain(300_000 * USD)
    b.run_once()
    b.run_once()
    assert b.active and paused(world)
    with b.db.session() as s:
        assert len(Repository.findings(s)) == 1 and len(Repository.actions(s)) == 1
    a.db.dispose()
    b.close()

"""Issue 12, case 4 on a real anvil and a real database: two instances on one database work as
active/standby (no unique-key crash, one pause), the standby takes over when the active dies, and
a database fault is retried by the loop instead of ending it."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import event, text
from tests.watch.conftest import ON_POSTGRES, USD

from bastion.store import Repository
from bastion.tower.service import WatchService

PAUSE = {
    "name": "contain",
    "on": ["large_transfer"],
    "min_severity": "high",
    "actions": [{"type": "pause", "target": "vault", "function": "pause(bytes32)", "args": ["keccak:withdraw"]}],
}


def _config(world, tmp_path, monkeypatch, **service):
    monkeypatch.setenv("TEST_GUARDIAN_KEY", world.node.accounts[1].private_key)
    return world.config(
        tmp_path,
        keys={"guardian": {"env": "TEST_GUARDIAN_KEY"}},
        playbooks=[PAUSE],
        service={"lease_s": 30, **service},
    )


def paused(world) -> bool:
    return world.vault.functions.paused(world.vault.functions.WITHDRAW().call()).call()


@pytest.mark.parametrize("first_attack", ["before_takeover", "after_takeover"])
def test_two_instances_active_standby(world, tmp_path, monkeypatch, first_attack):
    cfg = _config(world, tmp_path, monkeypatch)
    a = WatchService(cfg, configure_logging=False)
    b = WatchService(cfg, configure_logging=False)
    for _ in range(3):  # interleaved ticks on one database: never a unique-key violation
        world.node.mine(1)
        a.run_once()
        assert b.run_once() == 0
    assert a.active and not b.active
    if first_attack == "before_takeover":
        world.drain(300_000 * USD)
        a.run_once()
        b.run_once()
        assert paused(world)
    # the active instance dies without a word (no clean release); the standby waits for the lease
    a.rpc.close()
    world.node.mine(2)
    assert b.run_once() == 0
    b.clock = lambda: time.time() + 31  # the lease has expired
    if first_attack == "after_takeover":
        world.drain(300_000 * USD)
    assert b.run_once() > 0 and b.active
    b.run_once()
    assert paused(world)
    with b.db.session() as s:
        findings = Repository.findings(s)
        assert len(findings) == 1 and len({f.key for f in findings}) == 1
        (action,) = Repository.actions(s)  # one pause, whoever sent it
        assert action.status == "mined"
        checkpoint = Repository.checkpoint(s, 31337).number
    assert checkpoint == world.w3.eth.block_number  # no block skipped across the handover
    a.db.dispose()
    b.close()


def test_clean_stop_hands_over_at_once(world, tmp_path, monkeypatch):
    cfg = _config(world, tmp_path, monkeypatch)
    a = WatchService(cfg, configure_logging=False)
    b = WatchService(cfg, configure_logging=False)
    a.run_once()
    b.run_once()
    assert a.active and not b.active
    a.close()
    world.drain(300_000 * USD)
    b.run_once()
    b.run_once()
    assert b.active and paused(world)
    b.close()


@pytest.mark.skipif(ON_POSTGRES, reason="an SQLite write lock; test_faults_postgres.py restarts PostgreSQL")
def test_database_fault_is_retried_not_fatal(world, tmp_path, monkeypatch):
    """A lock held on the SQLite file longer than the busy timeout: the tick fails, is logged and
    retried; the loop goes on and detects and pauses the next attack."""
    cfg = _config(world, tmp_path, monkeypatch, poll_interval=0.05)
    svc = WatchService(cfg, configure_logging=False)
    svc.run_once()
    blocker = svc.db.engine.connect()  # another writer holding the write lock
    blocker.exec_driver_sql("BEGIN IMMEDIATE")
    svc.db.engine.dispose()

    def short_timeout(dbapi_conn, _record):  # the service's connections give up after 50 ms, not 10 s
        dbapi_conn.execute("PRAGMA busy_timeout=50")

    event.listen(svc.db.engine, "connect", short_timeout)
    thread = threading.Thread(target=svc.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while svc.metrics.tick_errors.labels("db")._value.get() < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert svc.metrics.tick_errors.labels("db")._value.get() >= 1
    assert thread.is_alive()
    blocker.exec_driver_sql("ROLLBACK")
    blocker.close()
    world.drain(300_000 * USD)
    while not paused(world) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert paused(world)
    svc.stop()
    thread.join(30)
    assert not thread.is_alive()
    with svc.db.session() as s:
        assert len(Repository.findings(s)) == 1
        assert s.execute(text("select count(*) from actions")).scalar() == 1


def test_lease_of_a_dead_process_is_taken_at_once(world, tmp_path, monkeypatch):
    """After a crash on the same host (kill -9), the restarted instance need not wait out the lease."""
    cfg = _config(world, tmp_path, monkeypatch)
    a = WatchService(cfg, configure_logging=False)
    a.run_once()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # exited and reaped: its pid runs nothing
    with a.db.transaction() as s:
        s.execute(text("UPDATE leases SET holder = :h"), {"h": f"{socket.gethostname()}:{child.pid}:dead"})
    a.rpc.close()
    a.db.dispose()
    b = WatchService(cfg, configure_logging=False)
    world.drain(300_000 * USD)
    assert b.run_once() > 0 and b.active
    with b.db.session() as s:
        assert len(Repository.findings(s)) == 1
    b.close()

"""Streams beside the blocks: pending transactions, WebSocket heads, the store's schema."""

from __future__ import annotations

import threading
import time

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from eth_utils import keccak

from bastion.store import Base, Database, Repository
from bastion.tower.service import WatchService
from bastion.watch.ingest import HeadWatcher


def test_pending_schedule_is_flagged_before_it_is_mined(world, tmp_path):
    d = world.deployer
    timelock = d.deploy("TimelockController", 60, [d.address], [d.address], d.address)
    contracts = {
        **world.contracts,
        "timelock": {"address": timelock.address, "kind": "timelock", "protected": False},
    }
    cfg = world.config(
        tmp_path,
        protocol={"name": "t", "contracts": contracts, "assets": world.assets},
        detectors={"pending_sensitive_call": {}, "governance": {"role_granted": False}},
    )
    svc = WatchService(cfg, configure_logging=False)
    svc.run_once()
    world.node.rpc("evm_setAutomine", False)
    upgrade = keccak(text="upgradeTo(address)")[:4] + bytes(12) + bytes.fromhex(world.attacker.address[2:])
    tx_hash = d.transact(
        timelock.functions.schedule(world.vault.address, 0, upgrade, bytes(32), bytes(32), 60), wait=False
    )
    svc.run_once()
    with svc.db.session() as s:
        (f,) = Repository.findings(s)
    assert f.detector == "pending_sensitive_call" and f.block_hash is None and f.tx_hash == "0x" + tx_hash.hex()
    assert f.details["category"] == "upgrade" and f.subject == world.vault.address.lower()
    svc.run_once()  # seen once only
    world.node.rpc("evm_mine")
    svc.run_once()
    with svc.db.session() as s:
        rows = Repository.findings(s)
        assert sorted(r.detector for r in rows) == ["governance", "pending_sensitive_call"]
        assert len(Repository.incidents(s)) == 1  # the warning and the event are one incident
    svc.close()


def test_websocket_heads_wake_the_loop(world):
    wake = threading.Event()
    watcher = HeadWatcher(world.node.ws_url, wake).start()
    try:
        deadline = time.monotonic() + 10
        while not watcher.connected:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        wake.clear()
        world.node.mine(1)
        assert wake.wait(10)
        assert watcher.heads >= 1
    finally:
        watcher.stop()


def test_websocket_down_falls_back_to_polling(world, tmp_path):
    cfg = world.config(tmp_path, networks={"local": {"rpc_urls": [world.node.http_url], "ws_url": "ws://127.0.0.1:9"}})
    svc = WatchService(cfg, configure_logging=False)
    thread = threading.Thread(target=svc.run, daemon=True)
    thread.start()
    try:
        head = world.w3.eth.block_number
        deadline = time.monotonic() + 10
        while (svc.follower.checkpoint() or (0,))[0] < head:
            assert time.monotonic() < deadline, "polling did not keep up without the socket"
            time.sleep(0.02)
        assert svc.heads is not None and not svc.heads.connected
    finally:
        svc.stop()
        thread.join(10)


def test_migrations_match_the_models(tmp_path):
    db = Database(tmp_path / "s.db")
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    Database(tmp_path / "s.db")  # a second open is a no-op upgrade
    db.dispose()


def test_finding_keys_are_unique(tmp_path):
    db = Database(tmp_path / "u.db")
    fields = dict(
        chain_id=1,
        key="k",
        detector="d",
        severity="high",
        title="t",
        block_number=1,
        block_hash="0x" + "11" * 32,
        tx_hash=None,
        subject=None,
        actor=None,
        details={},
    )
    with db.transaction() as s:
        assert Repository.add_finding(s, **fields) is not None
        assert Repository.add_finding(s, **fields) is None
    with db.transaction() as s:
        assert len(Repository.retract_findings_from(s, 1, 1)) == 1
    with db.transaction() as s:  # the same block comes back: the finding is live again
        row = Repository.add_finding(s, **fields)
        assert row is not None and not row.retracted
    db.dispose()

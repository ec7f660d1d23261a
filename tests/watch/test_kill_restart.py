"""Reliability: the service runs in a subprocess, is killed with SIGKILL mid-stream and restarted;
no finding is missed and none is duplicated, and the incident is notified exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text
from tests.watch.conftest import USD

ROOT = Path(__file__).resolve().parents[2]


def _config(world, tmp_path, receiver_url) -> Path:
    data = {
        "service": {
            "database": str(tmp_path / "watch.db"),
            "start_block": 0,
            "poll_interval": 0.05,
            "history_blocks": 16,
            "pending": False,
        },
        "networks": {"local": {"rpc_urls": [world.node.http_url], "ws_url": world.node.ws_url}},
        "protocol": {"name": "t", "contracts": world.contracts, "assets": world.assets},
        "detectors": {
            "large_transfer": {"min_amount": {"USD": 50_000 * USD}, "min_fraction_bps": None},
            "outflow_rate": {"window_blocks": 5, "max_fraction_bps": 1_000},
        },
        "playbooks": [
            {
                "name": "tell",
                "on": ["*"],
                "min_severity": "high",
                "actions": [{"type": "notify", "channels": ["hook"]}],
            }
        ],
        "notifiers": {"hook": {"type": "webhook", "url": receiver_url}},
    }
    path = tmp_path / "watch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _start(config: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bastion.tower.commands", "watch", "--config", str(config)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _query(db: Path, sql: str):
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).fetchall()
    except Exception:
        return None  # not created yet
    finally:
        engine.dispose()


def _checkpoint(db: Path) -> int | None:
    rows = _query(db, "SELECT number FROM checkpoints")
    return rows[0][0] if rows else None


def _wait(cond, timeout=60.0, what=""):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_kill_9_and_restart_loses_and_repeats_nothing(world, tmp_path, http_receiver):
    drains = [world.drain(60_000 * USD)["transactionHash"].hex() for _ in range(10)]
    config = _config(world, tmp_path, http_receiver.url)
    db = tmp_path / "watch.db"
    log = tmp_path / "service.log"
    kills = []
    for _ in range(2):
        proc = _start(config, log)
        try:
            _wait(lambda p=proc: _checkpoint(db) is not None or p.poll() is not None, what="a checkpoint")
            assert proc.poll() is None, log.read_text()[-2000:]
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        kills.append(_checkpoint(db))
        # while it is down, the attack goes on
        drains += [world.drain(60_000 * USD)["transactionHash"].hex() for _ in range(3)]
    assert kills[0] < world.w3.eth.block_number
    proc = _start(config, log)
    try:
        head = world.w3.eth.block_number
        _wait(lambda: (_checkpoint(db) or 0) >= head, what="catching up to the head")
        _wait(lambda: len(http_receiver.requests) >= 1, what="the notification")
        time.sleep(0.3)  # let a duplicate, if any, arrive
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    rows = _query(db, "SELECT detector, tx_hash, key FROM findings WHERE retracted = 0")
    large = [r for r in rows if r[0] == "large_transfer"]
    assert sorted(r[1] for r in large) == sorted("0x" + h.removeprefix("0x") for h in drains)  # none missed
    assert len({r[2] for r in rows}) == len(rows)  # none twice
    blocks = _query(db, "SELECT number FROM blocks_seen ORDER BY number")
    assert [b[0] for b in blocks] == list(range(blocks[0][0], head + 1))  # every block, once
    assert len(http_receiver.requests) == 1  # one incident, notified once across three processes
    assert _query(db, "SELECT count(*) FROM notifications")[0][0] == 1
    assert proc.returncode == 0

"""Issue 12, case 4, run as a user would (``bastion watch`` in a subprocess): a database that cannot
be opened is a one-line error and a non-zero exit (no credentials printed); SIGTERM stops the
process for good (no thread left to keep it alive) with exit 0 after a "stopped" line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _config(world, tmp_path, database: str) -> Path:
    data = {
        "service": {"database": database, "start_block": 0, "poll_interval": 0.05, "pending": False},
        "networks": {"local": {"rpc_urls": [world.node.http_url], "ws_url": world.node.ws_url}},
        "protocol": {"name": "t", "contracts": world.contracts, "assets": world.assets},
    }
    path = tmp_path / "watch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _cmd(config: Path) -> list[str]:
    return [sys.executable, "-m", "bastion.tower.commands", "watch", "--config", str(config)]


ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def test_unreachable_database_is_one_line_and_non_zero(world, tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://bastion:hunter2secret@127.0.0.1:{port}/watch"
    done = subprocess.run(_cmd(_config(world, tmp_path, url)), capture_output=True, text=True, env=ENV, timeout=120)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "service.database" in lines[0], done.stderr
    assert "hunter2secret" not in done.stderr + done.stdout


def test_sigterm_stops_the_process_for_good(world, tmp_path):
    log = tmp_path / "watch.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            _cmd(_config(world, tmp_path, str(tmp_path / "w.db"))), stdout=out, stderr=subprocess.STDOUT, env=ENV
        )
    try:
        deadline = time.monotonic() + 60
        while b"watchtower started" not in log.read_bytes() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        world.node.mine(2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0  # exits: nothing left running keeps the process alive
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    events = [json.loads(line).get("event") for line in log.read_text().splitlines() if line.startswith("{")]
    assert events[-1] == "stop"

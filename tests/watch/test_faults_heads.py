"""Issue 12, case 3 on a real anvil: a node whose head stops moving (a real local proxy that
freezes ``eth_blockNumber`` and forwards everything else) is failed over to a healthy endpoint;
with no healthy endpoint left, head age shows in the metrics, ``/healthz`` fails and an alert goes
out on every channel."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tests.watch.conftest import USD

from bastion.store import Repository
from bastion.tower.service import WatchService


class FrozenHeadProxy:
    """Forwards JSON-RPC to ``upstream``; while ``frozen`` is set, ``eth_blockNumber`` answers it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.frozen: int | None = None
        self.hang = threading.Event()  # while set, requests get no answer until it clears
        self.answered = threading.Event()
        self.answered.set()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if proxy.hang.is_set():
                    proxy.answered.wait(120)
                out = proxy.answer(json.loads(body), body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def answer(self, payload, body: bytes) -> bytes:
        items = payload if isinstance(payload, list) else [payload]
        if self.frozen is not None and all(p["method"] == "eth_blockNumber" for p in items):
            out = [{"jsonrpc": "2.0", "id": p["id"], "result": hex(self.frozen)} for p in items]
            return json.dumps(out if isinstance(payload, list) else out[0]).encode()
        req = urllib.request.Request(self.upstream, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.read()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(world):
    p = FrozenHeadProxy(world.node.http_url)
    yield p
    p.close()


def _wait(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.05)
    return cond()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("behind", [5, 29])
def test_frozen_endpoint_is_failed_over(world, tmp_path, proxy, behind):
    cfg = world.config(
        tmp_path,
        networks={"local": {"rpc_urls": [proxy.url, world.node.http_url]}},
        service={"watchdog_interval_s": 0},
    )
    svc = WatchService(cfg, configure_logging=False)
    svc.run_once()
    proxy.frozen = world.w3.eth.block_number
    world.node.mine(behind - 1)
    world.drain(300_000 * USD)  # the attack, `behind` blocks past the frozen head
    svc.run_once()
    svc.run_once()
    with svc.db.session() as s:
        assert [f.detector for f in Repository.findings(s)] == ["large_transfer"]
    assert svc.follower.checkpoint()[0] == world.w3.eth.block_number
    text = svc.metrics.render().decode()
    assert f'bastion_watch_head_lag_blocks{{endpoint="{proxy.url}"}} {float(behind)}' in text
    assert "bastion_watch_blocks_behind 0.0" in text
    svc.close()


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError):  # the server is not listening yet (the loop starts it)
        return 0, b""


def test_stale_head_fails_healthz_and_alerts_every_channel(world, tmp_path, proxy, http_receiver):
    port = _free_port()
    cfg = world.config(
        tmp_path,
        networks={"local": {"rpc_urls": [proxy.url]}},
        service={"watchdog_interval_s": 0, "head_stale_s": 1.0, "metrics_port": port, "poll_interval": 0.05},
        # a channel that only wants critical news still gets this one
        notifiers={"ops": {"type": "webhook", "url": http_receiver.url, "min_severity": "critical"}},
    )
    svc = WatchService(cfg, configure_logging=False)
    svc.run_once()
    stop = threading.Event()

    def miner():  # the real chain keeps moving
        while not stop.is_set():
            world.node.mine(1)
            stop.wait(0.1)

    loop = threading.Thread(target=svc.run, daemon=True)
    loop.start()
    threading.Thread(target=miner, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        assert _wait(lambda: _get(base + "/healthz")[0] == 200)
        proxy.frozen = world.w3.eth.block_number
        assert _wait(lambda: _get(base + "/healthz")[0] == 503)
        _, body = _get(base + "/healthz")
        assert "head_stale" in json.loads(body)["reasons"]
        assert _wait(lambda: len(http_receiver.requests) >= 1)
        alert = http_receiver.requests[0].json()
        assert alert["severity"] == "critical" and "head stuck" in alert["title"]
        text = _get(base + "/metrics")[1].decode()
        age = next(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith('bastion_watch_head_age_seconds{endpoint="best"}')
        )
        assert age > 1.0
        # the node comes back: healthy again, and one alert for the one stall
        proxy.frozen = None
        assert _wait(lambda: _get(base + "/healthz")[0] == 200)
        assert len(http_receiver.requests) == 1
    finally:
        stop.set()
        svc.stop()
        loop.join(30)


def test_stuck_loop_fails_healthz(world, tmp_path, proxy):
    """An endpoint that accepts the request and never answers (within a long timeout) holds the
    loop: /healthz says so instead of staying green."""
    cfg = world.config(
        tmp_path,
        networks={"local": {"rpc_urls": [proxy.url], "timeout": 60}},
        service={"stuck_after_s": 0.5, "poll_interval": 0.05},
    )
    svc = WatchService(cfg, configure_logging=False)
    loop = threading.Thread(target=svc.run, daemon=True)
    loop.start()
    try:
        assert _wait(lambda: svc.ticks > 0)
        assert svc.health()[0]
        proxy.answered.clear()
        proxy.hang.set()
        assert _wait(lambda: "loop_stuck" in svc.health()[1]["reasons"])
    finally:
        proxy.hang.clear()
        proxy.answered.set()
    assert _wait(lambda: svc.health()[0])
    svc.stop()
    loop.join(30)

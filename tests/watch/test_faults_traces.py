"""Issue 12, case 6 on a real anvil: traces are fetched apart from the block and its receipts. A
node whose tracer does not answer in time (a real local proxy holding ``debug_traceBlockByNumber``),
or a block over the trace budget, is processed from receipts and logs; the finding says traces were
missing and a metric counts the block."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tests.watch.conftest import USD

from bastion.store import Repository
from bastion.tower.service import WatchService


class SlowTracerProxy:
    """Forwards JSON-RPC to ``upstream``; a request that traces is held ``hold_s`` seconds first."""

    def __init__(self, upstream: str, hold_s: float) -> None:
        self.upstream = upstream
        self.hold_s = hold_s
        self.release = threading.Event()
        self.traced = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                payload = json.loads(body)
                items = payload if isinstance(payload, list) else [payload]
                if any(p["method"] == "debug_traceBlockByNumber" for p in items):
                    proxy.traced += 1
                    proxy.release.wait(proxy.hold_s)
                req = urllib.request.Request(proxy.upstream, body, {"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(req, timeout=30) as resp:
                        out = resp.read()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:  # the client gave up on us already
                    pass

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    "case",
    [
        "tracer_too_slow",  # the tracer takes longer than the whole RPC timeout
        "over_budget",  # more transactions than the trace budget allows: not even asked
    ],
)
def test_block_is_processed_without_traces(world, tmp_path, case):
    proxy = SlowTracerProxy(world.node.http_url, hold_s=60)
    service = {"trace_timeout_s": 0.5}
    if case == "over_budget":
        service["trace_max_txs"] = 1
    cfg = world.config(
        tmp_path,
        networks={"local": {"rpc_urls": [proxy.url], "timeout": 2.0, "max_rounds": 1}},
        service=service,
    )
    svc = WatchService(cfg, configure_logging=False)
    try:
        svc.run_once()  # the set-up blocks (one transaction each)
        traced_before = proxy.traced
        world.node.rpc("evm_setAutomine", False)
        # one block with two transactions, the attack among them
        world.user.transact(world.token.functions.transfer(world.deployer.address, 1 * USD), gas=100_000, wait=False)
        withdraw = world.vault.functions.withdraw(world.token.address, world.attacker.address, 300_000 * USD)
        world.attacker.transact(withdraw, gas=200_000, wait=False)
        world.node.mine(1)
        world.node.rpc("evm_setAutomine", True)
        svc.run_once()
        assert svc.follower.checkpoint()[0] == world.w3.eth.block_number
        with svc.db.session() as s:
            (finding,) = Repository.findings(s)
            assert finding.detector == "large_transfer" and finding.details["traces_missing"] is True
        assert svc.metrics.traces_missing._value.get() >= 1
        if case == "over_budget":
            assert proxy.traced == traced_before  # the two-transaction block was not even asked for
    finally:
        svc.close()
        proxy.close()

"""Prometheus metrics of the watchtower, on a registry of their own (one per service instance)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.blocks_behind = Gauge("bastion_watch_blocks_behind", "Head minus last processed block", registry=r)
        self.last_block = Gauge("bastion_watch_last_block", "Last processed block number", registry=r)
        self.blocks = Counter("bastion_watch_blocks_total", "Blocks processed", registry=r)
        self.reorgs = Counter("bastion_watch_reorgs_total", "Reorgs handled", ["depth"], registry=r)
        self.latency = Histogram(
            "bastion_watch_block_seconds",
            "Time to fetch, decode and run detectors on one block",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.findings = Counter("bastion_watch_findings_total", "Findings stored", ["detector", "severity"], registry=r)
        self.retracted = Counter("bastion_watch_findings_retracted_total", "Findings retracted", registry=r)
        self.detector_errors = Counter(
            "bastion_watch_detector_errors_total", "Detector runs that raised", ["detector"], registry=r
        )
        self.actions = Counter("bastion_watch_actions_total", "Actions by outcome", ["kind", "outcome"], registry=r)
        self.notifications = Counter(
            "bastion_watch_notifications_total",
            "Notifications by outcome",
            ["channel", "outcome"],
            registry=r,
        )
        self.skipped = Counter("bastion_watch_skipped_total", "Inputs logged and skipped", ["reason"], registry=r)
        self.tick_errors = Counter(
            "bastion_watch_tick_errors_total", "Loop iterations that failed and were retried", ["kind"], registry=r
        )
        self.head_age = Gauge(
            "bastion_watch_head_age_seconds", "Seconds since the endpoint's head last moved", ["endpoint"], registry=r
        )
        self.head_lag = Gauge(
            "bastion_watch_head_lag_blocks",
            "Blocks the endpoint's head is behind the best head",
            ["endpoint"],
            registry=r,
        )
        self.endpoint_demoted = Counter(
            "bastion_watch_endpoint_failovers_total",
            "Endpoints failed over for a stuck or lagging head",
            ["endpoint"],
            registry=r,
        )
        self.traces_missing = Counter(
            "bastion_watch_traces_missing_total", "Blocks with transactions processed without traces", registry=r
        )
        self.active = Gauge("bastion_watch_active", "1 while this instance holds the lease and acts", registry=r)
        self.pending = Counter("bastion_watch_pending_txs_total", "Pending transactions seen", registry=r)
        self.rpc_calls = Counter(
            "bastion_watch_rpc_calls_total",
            "RPC calls by endpoint, method and outcome",
            ["endpoint", "method", "outcome"],
            registry=r,
        )
        self.rpc_latency = Histogram(
            "bastion_watch_rpc_seconds",
            "RPC latency",
            ["endpoint", "method"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def serve(
        self, port: int, addr: str = "127.0.0.1", health: Callable[[], tuple[bool, dict[str, Any]]] | None = None
    ) -> ThreadingHTTPServer:
        """``/metrics`` (Prometheus text) and ``/healthz`` (200 or 503, with a JSON body saying why)
        on one port, in a daemon thread; the server (``shutdown()`` stops it)."""
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    status, body, ctype = 200, metrics.render(), CONTENT_TYPE_LATEST
                elif path == "/healthz":
                    ok, detail = health() if health is not None else (True, {})
                    status, ctype = (200 if ok else 503), "application/json"
                    body = json.dumps({"ok": ok, **detail}, default=str).encode()
                else:
                    status, body, ctype = 404, b"not found\n", "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # requests are not worth a log line each
                pass

        server = ThreadingHTTPServer((addr, port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="bastion-metrics", daemon=True).start()
        return server

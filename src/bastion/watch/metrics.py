"""Prometheus metrics of the watchtower, on a registry of their own (one per service instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server


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

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        start_http_server(port, addr=addr, registry=self.registry)

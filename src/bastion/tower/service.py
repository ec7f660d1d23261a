"""The watchtower service: the loop that ties ingest, detectors, incidents, playbooks and relayer.

One thread does all the work, in order: sync blocks (checkpointed, reorg-aware), scan pending
transactions, respond to findings not yet responded to (so a crash between a block's commit and its
actions is caught up at restart), confirm or replace sent transactions. A WebSocket thread only
wakes the loop early. Logs are JSON lines (``log_format = "json"``); metrics are Prometheus.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from bastion.chain.redact import redact
from bastion.chain.rpc import RpcClient, RpcError
from bastion.errors import BastionError
from bastion.respond.keys import Signer, load_signer
from bastion.respond.notifiers import Message, build_notifier
from bastion.respond.playbooks import NotifierHub, PlaybookRunner
from bastion.respond.relayer import DEV_CHAINS, Relayer
from bastion.store import Database, FindingRow, Repository
from bastion.watch.config import WatchConfig
from bastion.watch.decode import AbiRegistry
from bastion.watch.detectors import REGISTRY, Detector
from bastion.watch.detectors.governance import GOVERNANCE_ABI
from bastion.watch.events import Block, Event, Tx
from bastion.watch.findings import Finding, Severity
from bastion.watch.incidents import Correlator
from bastion.watch.ingest import BlockFetcher, Follower, HeadWatchdog, HeadWatcher, PendingWatcher
from bastion.watch.metrics import Metrics
from bastion.watch.protocol import Protocol, build_protocol, load_manifest, with_overrides
from bastion.watch.view import ChainView, History, RpcView

log = logging.getLogger("bastion.tower.service")

_STD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg and every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(out, default=str)


def setup_logging(fmt: str = "json", level: str = "INFO", stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger("bastion")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    for noisy in ("httpx", "httpcore", "websockets"):  # request lines carry endpoint URLs (API keys)
        logging.getLogger(noisy).setLevel(logging.WARNING)


def tune_gc() -> None:
    """Collect young garbage less often. The pipeline allocates many short-lived objects per block
    and keeps a large history alive; CPython's default thresholds (700, 10, 10) spend a third of the
    time in collections. Cycles still get collected, just in larger batches."""
    gc.set_threshold(100_000, 50, 100)


def run_detectors(
    detectors: Sequence[Detector], event: Event, view: ChainView, metrics: Metrics | None = None
) -> list[Finding]:
    """Every detector on one event; a detector that raises is logged and skipped."""
    kind = "pending" if isinstance(event, Tx) else "block"
    out: list[Finding] = []
    for det in detectors:
        if kind not in det.kinds:
            continue
        try:
            out.extend(det.run(event, view))
        except Exception as exc:  # one broken detector must not blind the others
            if metrics:
                metrics.detector_errors.labels(det.id).inc()
            log.error(
                "detector failed",
                extra={
                    "event": "detector_error",
                    "detector": det.id,
                    "error": f"{type(exc).__name__}: {exc}",
                },
            )
    return out


def store_findings(s: Session, findings: Iterable[Finding], repo: Repository) -> list[FindingRow]:
    rows = []
    for f in findings:
        row = repo.add_finding(
            s,
            chain_id=f.chain_id,
            key=f.key,
            detector=f.detector,
            severity=f.severity.label,
            title=f.title,
            block_number=f.block_number,
            block_hash=f.block_hash,
            tx_hash=f.tx_hash,
            subject=f.subject,
            actor=f.actor,
            details=dict(f.details),
        )
        if row is not None:
            rows.append(row)
    return rows


class Pipeline:
    """The ``BlockHandler`` of the follower: detectors -> findings -> incidents (-> playbooks)."""

    def __init__(
        self,
        chain_id: int,
        detectors: Sequence[Detector],
        protocol: Protocol,
        history: History,
        rpc: RpcClient,
        correlator: Correlator,
        runner: PlaybookRunner | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.detectors = list(detectors)
        self.protocol = protocol
        self.history = history
        self.rpc = rpc
        self.correlator = correlator
        self.runner = runner
        self.metrics = metrics
        self.repo = Repository()
        self.reorged = False
        self.traces_wanted = False  # set by the service when traces are configured
        self.resync: Callable[[], None] | None = None  # the service resynchronizes nonces after a reorg

    def view(self, block_number: int) -> RpcView:
        return RpcView(self.rpc, self.chain_id, self.protocol, self.history, block_number)

    def process(self, block: Block, session: Session) -> list[FindingRow]:
        findings = run_detectors(self.detectors, block, self.view(block.number), self.metrics)
        if self.traces_wanted and block.traces is None and findings:
            # judged on receipts and logs only: say so, a reader weighs the finding accordingly
            findings = [replace(f, details={**f.details, "traces_missing": True}) for f in findings]
        rows = store_findings(session, findings, self.repo)
        if rows:
            self.correlator.add(session, rows, {block.number: block.timestamp})
            for row in rows:
                if self.metrics:
                    self.metrics.findings.labels(row.detector, row.severity).inc()
                log.warning(  # the text format shows only the message: it names the detector and title
                    "finding %s (%s): %s",
                    row.detector,
                    row.severity,
                    row.title,
                    extra={
                        "event": "finding",
                        "detector": row.detector,
                        "severity": row.severity,
                        "block": row.block_number,
                        "tx": row.tx_hash,
                        "title": row.title,
                        "incident": row.incident_id,
                    },
                )
        return rows

    def process_pending(self, tx: Tx, session: Session, head: int) -> list[FindingRow]:
        findings = run_detectors(self.detectors, tx, self.view(head), self.metrics)
        findings = [replace(f, chain_id=self.chain_id) for f in findings]
        rows = store_findings(session, findings, self.repo)
        if rows:
            self.correlator.add(session, rows)
        return rows

    def on_reorg(self, ancestor: int, retracted: list[FindingRow], session: Session) -> None:
        self.correlator.on_retracted(session, retracted)
        self.reorged = True  # the service resynchronizes its relayers' nonces

    def after_commit(self, block: Block, new: list[FindingRow]) -> None:
        if self.runner is None or not new:
            return
        if self.reorged and self.resync is not None:
            # a reorg may have dropped our mined transactions: nonces from the node before any
            # playbook signs, or the next pause waits behind a nonce gap forever
            self.reorged = False
            self.resync()
        try:
            self.runner.respond(new)
        except Exception as exc:  # ingestion goes on; the findings stay unresponded and are retried
            log.error(
                "playbooks failed",
                extra={
                    "event": "respond_error",
                    "block": block.number,
                    "error": f"{type(exc).__name__}: {exc}",
                },
            )


def load_protocol(cfg: WatchConfig, chain_id: int, manifest: Protocol | None = None) -> Protocol:
    """The protocol under watch: the manifest (``manifest`` given, or ``[protocol].manifest``: either
    shape) with the config's own contracts and assets added on top."""
    p = cfg.protocol
    if manifest is None and p.manifest is not None:
        manifest = load_manifest(cfg.path(p.manifest), p.name)
    contracts = {n: c.model_dump() for n, c in p.contracts.items()}
    assets = {s: a.model_dump() for s, a in p.assets.items()}
    if manifest is None:
        return build_protocol(p.name, chain_id, contracts, assets)
    if manifest.chain_id is not None and manifest.chain_id != chain_id:
        raise RpcError(f"protocol.manifest is for chain {manifest.chain_id} but the node says {chain_id}")
    return with_overrides(manifest, p.name, chain_id, contracts, assets)


def max_window(detectors: Sequence[Detector]) -> int:
    """The largest window (in blocks) any configured detector reads from the history."""
    out = 1
    for d in detectors:
        for attr in ("window_blocks",):
            value = getattr(d.config, attr, None)
            if isinstance(value, int):
                out = max(out, value)
    return out


def check_targets(cfg: WatchConfig, protocol: Protocol) -> None:
    """Every contract an action names, and every token a detector names, must resolve in the loaded
    protocol: one-line ``ConfigError``."""
    from bastion.watch.config import ConfigError, check_references

    check_references(cfg, protocol.resolve)
    for i, pb in enumerate(cfg.playbooks):
        for j, action in enumerate(cfg.actions(pb)):
            for attr in ("target", "safe", "to", "timelock", "asset"):
                ref = getattr(action, attr, None)
                if ref is None or (isinstance(ref, str) and ref.startswith("$")):
                    continue
                try:
                    protocol.resolve(ref)
                except ValueError:
                    known = ", ".join(sorted(protocol.contracts)) or "none"
                    raise ConfigError(
                        f"config error: playbooks[{i}].actions[{j}].{attr}: {ref!r} is neither an address nor a "
                        f"contract of the protocol (contracts: {known})"
                    ) from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, someone else's
        return True
    return True


class StoreUnavailable(BastionError, RuntimeError):
    """The database could not be opened at start (one line, no credentials)."""


class WatchService:
    """The watchtower. ``protocol`` (an already loaded manifest) and ``signers`` (keys by name) may be
    passed in by an embedding program instead of being read from the config's files and env vars."""

    def __init__(
        self,
        config: WatchConfig,
        *,
        metrics: Metrics | None = None,
        configure_logging: bool = True,
        protocol: Protocol | None = None,
        signers: dict[str, Signer] | None = None,
    ) -> None:
        self.cfg = config
        svc = config.service
        if configure_logging:
            setup_logging(svc.log_format, svc.log_level)
        self.metrics = metrics or Metrics()
        tune_gc()
        net = config.network
        self.rpc = RpcClient(net.rpc_urls, timeout=net.timeout, max_rounds=net.max_rounds, metrics=self.metrics)
        self.chain_id = int(self.rpc.call("eth_chainId"), 16)
        if net.chain_id is not None and net.chain_id != self.chain_id:
            raise RpcError(
                f"networks.{config.network_name}.chain_id is {net.chain_id} but the node says {self.chain_id}"
            )
        self.db = Database(self._db_url())
        self.protocol = load_protocol(config, self.chain_id, protocol)
        check_targets(config, self.protocol)
        self.abis = AbiRegistry()
        self.abis.register(GOVERNANCE_ABI)
        for c in self.protocol.contracts.values():
            if c.abi:
                self.abis.register(list(c.abi), c.address)
        self.detectors = REGISTRY.build(config.detector_configs)
        self.history = History(max(svc.history_blocks, max_window(self.detectors)))
        self.trace_rpc = RpcClient(net.rpc_urls, timeout=svc.trace_timeout_s, max_rounds=1, metrics=self.metrics)
        self.fetcher = BlockFetcher(
            self.rpc,
            self.chain_id,
            self.abis,
            traces=svc.traces,
            metrics=self.metrics,
            trace_rpc=self.trace_rpc,
            trace_max_txs=svc.trace_max_txs,
        )
        given = dict(signers or {})
        self.signers: dict[str, Signer] = {
            name: given[name]
            if name in given
            else load_signer(
                env=k.env,
                keystore=config.path(k.keystore) if k.keystore else None,
                password_env=k.password_env,
            )
            for name, k in config.keys.items()
        }
        self.relayers = {
            name: Relayer(self.rpc, self.db, s, self.chain_id, config.relayer, metrics=self.metrics)
            for name, s in self.signers.items()
        }
        notifiers = {name: build_notifier(name, n) for name, n in (config.notifier_configs or {}).items()}
        self.hub = NotifierHub(self.db, notifiers, self.metrics)
        self.runner = PlaybookRunner(
            config,
            self.protocol,
            self.db,
            self.chain_id,
            relayers=self.relayers,
            signers=self.signers,
            hub=self.hub,
            rpc=self.rpc,
            dry_run=svc.dry_run,
        )
        self.correlator = Correlator(self.chain_id, window_blocks=svc.incident_window_blocks)
        self.pipeline = Pipeline(
            self.chain_id,
            self.detectors,
            self.protocol,
            self.history,
            self.rpc,
            self.correlator,
            self.runner,
            self.metrics,
        )
        self.pipeline.resync = self._resync_nonces
        self.pipeline.traces_wanted = svc.traces
        start = None if svc.start_block == "latest" else int(svc.start_block)
        self.follower = Follower(
            self.fetcher,
            self.db,
            self.pipeline,
            self.history,
            start_block=start,
            confirmations=svc.confirmations,
            max_reorg_depth=svc.max_reorg_depth,
            metrics=self.metrics,
        )
        self.pending = PendingWatcher(self.rpc, self.abis) if svc.pending and self._wants_pending() else None
        dev = self.chain_id in DEV_CHAINS
        self.watchdog = HeadWatchdog(
            self.rpc,
            stale_after_s=svc.head_stale_s if svc.head_stale_s is not None else (None if dev else 60.0),
            max_lag_blocks=svc.max_lag_blocks,
            metrics=self.metrics,
        )
        self.stuck_after_s = svc.stuck_after_s or max(30.0, 20 * svc.poll_interval)
        self._watchdog_at = float("-inf")
        self._stale_alerted: float | None = None  # the stall already alerted (when the head last moved)
        self.http: Any = None
        self.wake = threading.Event()
        self.stop_event = threading.Event()
        self.ready = threading.Event()  # set after the first successful iteration of ``run``
        self.ticks = 0
        self.last_tick = time.monotonic()
        self.last_error: str | None = None
        self.heads: HeadWatcher | None = None
        self._resumed = False
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.active = False  # holds the lease
        self._lease_until = 0.0  # when the lease this instance last renewed runs out
        self.clock: Callable[[], float] = time.time

    def _db_url(self) -> str:
        url = self.cfg.service.database
        return url if "://" in url else str(self.cfg.path(url))

    def _wants_pending(self) -> bool:
        return any("pending" in d.kinds for d in self.detectors)

    # -- one iteration -----------------------------------------------------------------------------
    def run_once(self, max_blocks: int | None = None) -> int:
        """Sync blocks, scan pending transactions, respond, confirm. The number of blocks processed.
        An instance that does not hold the lease stands by and does nothing."""
        if not self._hold_lease():
            return 0
        if not self._resumed:
            for r in self.relayers.values():
                r.resume()
            self._resumed = True
        done = self.follower.sync(max_blocks)
        cp = self.follower.checkpoint()
        if cp is not None:  # behind the best head any endpoint reports, not only the one used
            self.metrics.blocks_behind.set(max(0, max(self.watchdog.best, self.follower.head) - cp[0]))
        if self.pipeline.reorged:  # a reorg with no new finding after it: resync all the same
            self.pipeline.reorged = False
            self._resync_nonces()
        if self.pending is not None:
            self._scan_pending()
        self._respond_backlog()
        for r in self.relayers.values():
            r.poll()
        self._presign()
        self._watch_heads()  # after the block's work: the probes never delay a response
        return done

    @property
    def lease_name(self) -> str:
        return f"watch:{self.chain_id}"

    def _hold_lease(self) -> bool:
        now = self.clock()
        if self.active and now < self._lease_until - self.cfg.service.lease_s / 2:
            return True  # renewed less than half a lease ago: no database round trip on the hot path
        try:
            with self.db.transaction() as s:
                held = Repository.take_lease(s, self.lease_name, self.instance, now, self.cfg.service.lease_s)
        except IntegrityError:  # another instance inserted the lease first
            held = False
        if not held:
            held = self._take_from_dead()
        if held and not self.active:
            # taking over: whatever the last holder did is in the database and on chain, not here
            log.warning("lease taken: this instance is active", extra={"event": "lease_taken", "id": self.instance})
            self.history.drop_from(0)
            self.follower.reset()
            self._resumed = False
            self._resync_nonces()
            self.hub.outbox.start()  # only the active instance delivers: a standby never sends twice
        elif self.active and not held:
            log.error("lease lost: standing by", extra={"event": "lease_lost", "id": self.instance})
            self.hub.outbox.stop()
        self.active = held
        self._lease_until = now + self.cfg.service.lease_s if held else 0.0
        self.metrics.active.set(1 if held else 0)
        return held

    def _watch_heads(self) -> None:
        now = time.monotonic()
        if now - self._watchdog_at < self.cfg.service.watchdog_interval_s:
            return
        self._watchdog_at = now
        self.watchdog.check(self.heads.latest if self.heads is not None else None)
        if not self.watchdog.stale:
            return
        stall = self.watchdog.best_moved_at
        if self._stale_alerted == stall:
            return  # one alert per stall
        self._stale_alerted = stall
        age = round(self.watchdog.age)
        log.error(
            "head stale: no endpoint reports a new block",
            extra={"event": "head_stale", "head": self.watchdog.best, "age_s": age},
        )
        msg = Message(
            title=f"watchtower blind: chain {self.chain_id} head stuck at {self.watchdog.best}",
            severity=Severity.CRITICAL,  # on every channel, whatever its minimum severity
            text=f"No endpoint has reported a new block for {age} s; detection is stalled.",
            fields={"head": self.watchdog.best, "age_s": age, "endpoints": self.rpc.health()},
        )
        self.hub.notify(f"{self.chain_id}:watchdog:head_stale:{self.watchdog.best}", msg)

    def health(self) -> tuple[bool, dict[str, Any]]:
        """What ``/healthz`` answers: failing when the head is stale, the loop is stuck or the
        database is unreachable."""
        reasons = []
        since_tick = time.monotonic() - self.last_tick
        if self.watchdog.stale:
            reasons.append("head_stale")
        if since_tick > self.stuck_after_s:
            reasons.append("loop_stuck")
        try:
            with self.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            reasons.append("database_unreachable")
        return not reasons, {
            "reasons": reasons,
            "active": self.active,
            "best_head": self.watchdog.best,
            "head_age_s": round(self.watchdog.age, 1),
            "since_last_tick_s": round(since_tick, 1),
            "last_error": self.last_error,
        }

    def _take_from_dead(self) -> bool:
        """A holder on this host whose process is gone (a crash, ``kill -9``) need not be waited for."""
        with self.db.session() as s:
            holder = Repository.lease_holder(s, self.lease_name)
        host, _, rest = (holder or "").partition(":")
        pid = rest.partition(":")[0]
        if host != socket.gethostname() or not pid.isdigit() or _alive(int(pid)):
            return False
        with self.db.transaction() as s:
            return Repository.replace_lease_holder(
                s, self.lease_name, holder, self.instance, self.clock(), self.cfg.service.lease_s
            )

    def _resync_nonces(self) -> None:
        for r in self.relayers.values():
            r.resync_nonce()
            r.drop_presigned()

    def _presign(self) -> None:
        try:
            self.runner.refresh_presigned()
        except RpcError as exc:  # only latency is at stake: the normal path signs on demand
            log.warning("presign failed", extra={"event": "presign_error", "error": str(exc)[:200]})

    def _scan_pending(self) -> None:
        txs = self.pending.poll()
        if not txs:
            return
        self.metrics.pending.inc(len(txs))
        new: list[FindingRow] = []
        with self.db.transaction() as s:
            for tx in txs:
                new.extend(self.pipeline.process_pending(tx, s, self.follower.head))
        if new:
            self.runner.respond(new)

    def _respond_backlog(self) -> None:
        with self.db.session() as s:
            backlog = Repository.unresponded(s, self.chain_id)
        if not backlog:
            return
        try:
            self.runner.respond(backlog)
        except Exception as exc:  # keep confirming sent actions even when a playbook is broken
            log.error("playbooks failed", extra={"event": "respond_error", "error": f"{type(exc).__name__}: {exc}"})

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> None:
        svc = self.cfg.service
        if svc.metrics_port:
            self.http = self.metrics.serve(svc.metrics_port, health=self.health)
        if self.cfg.network.ws_url:
            self.heads = HeadWatcher(self.cfg.network.ws_url, self.wake).start()
        log.info(
            "watchtower started",
            extra={
                "event": "start",
                "chain_id": self.chain_id,
                "detectors": [d.id for d in self.detectors],
                "endpoints": [e["endpoint"] for e in self.rpc.health()],
            },
        )
        failures = 0
        gc.collect()
        gc.freeze()  # what exists now (libraries, ABIs, config) is never scanned again: shorter pauses
        try:
            while not self.stop_event.is_set():
                try:
                    self.run_once()
                    failures = 0
                    wait = svc.poll_interval
                    self.ticks += 1
                    self.last_tick = time.monotonic()
                    self.ready.set()
                except Exception as exc:  # the loop outlives every fault; each is logged
                    # a bad endpoint, a junk answer, a database restart or lock conflict: a block is
                    # committed whole or not at all, so the next tick simply starts over from the checkpoint
                    reason = "rpc" if isinstance(exc, RpcError) else "db" if isinstance(exc, DBAPIError) else "error"
                    self.last_error = redact(f"{type(exc).__name__}: {exc}")[:500]
                    failures += 1
                    wait = min(30.0, svc.poll_interval * 2 ** min(failures, 5))
                    self.metrics.skipped.labels(reason).inc()
                    self.metrics.tick_errors.labels(reason).inc()
                    log.error(
                        "tick failed",
                        extra={"event": "tick_error", "kind": reason, "error": self.last_error, "retry_in_s": wait},
                    )
                self.wake.wait(wait)
                self.wake.clear()
        finally:
            self.close()

    def stop(self, *_: Any) -> None:
        self.stop_event.set()
        self.wake.set()

    def close(self) -> None:
        if self.heads is not None:
            self.heads.stop()
        self.hub.outbox.stop()
        if self.http is not None:
            self.http.shutdown()
            self.http.server_close()
            self.http = None
        if self.active:  # a clean stop hands over at once; a crash hands over when the lease expires
            with contextlib.suppress(Exception), self.db.transaction() as s:
                Repository.release_lease(s, self.lease_name, self.instance)
            self.active = False
        self.rpc.close()
        self.trace_rpc.close()
        self.db.dispose()


def serve(config: WatchConfig) -> None:
    """Run the service until SIGINT/SIGTERM."""
    try:
        service = WatchService(config)
    except DBAPIError as exc:  # at start there is nothing to protect yet: say what and exit
        first = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc).strip() else type(exc).__name__
        raise StoreUnavailable(
            f"service.database: cannot open {redact(config.service.database)} ({redact(first)[:200]}); "
            "check the URL and that the server is up"
        ) from None
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):
            signal.signal(sig, service.stop)
    started = time.monotonic()
    try:
        service.run()
    except BaseException as exc:  # the loop itself broke: say so and exit non-zero (never a silent stop)
        log.critical(
            "watchtower stopped by an error",
            extra={"event": "stop", "error": redact(f"{type(exc).__name__}: {exc}")[:500]},
        )
        raise SystemExit(1) from None
    log.info("watchtower stopped", extra={"event": "stop", "uptime_s": round(time.monotonic() - started, 1)})

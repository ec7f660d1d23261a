"""Run a watchtower in-process, in a background thread: for the demo, rehearsals and benchmarks.

    from bastion.tower.runner import start_watchtower

    tower = start_watchtower(manifest, None, node.http_url, node.ws_url, keys="dev")
    ...                                   # attack the protocol
    tower.wait_action(kind="pause", status="mined", timeout=10)
    for f in tower.findings(): print(f.block_number, f.detector, f.title)
    tower.stop()

``manifest``: a ``bastion.protocol.deploy.Manifest``, its JSON dict, or a path to a manifest file
(either shape, see ``bastion.watch.protocol``). ``config``: None (``configs/watch.protocol.toml``), a
path, a dict or a ``WatchConfig``; the network, the manifest and the database are always replaced by
the arguments. ``keys``: ``"dev"`` (the embedded chain's dev accounts: guardian = account 5, Safe
owner = account 2), a mapping key name -> hex private key, or None (the config's environment
variables / keystores). Findings, incidents and actions come back as plain frozen records with block
numbers and wall-clock timestamps (``time.time()``).
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bastion.paths import configs_dir
from bastion.respond.keys import Signer, signer_from_hex
from bastion.store import Repository
from bastion.tower.config import validate_config
from bastion.tower.service import JsonFormatter, WatchService
from bastion.watch.config import WatchConfig, parse_file

log = logging.getLogger("bastion.tower.runner")

DEV_KEY_ACCOUNTS = {"guardian": 5, "owner": 2}
"""Dev-chain accounts of the watchtower's keys (``bastion.protocol.deploy.dev_roles``)."""


def default_config_path() -> Path:
    return configs_dir() / "watch.protocol.toml"


def dev_keys() -> dict[str, str]:
    """Key name -> hex private key of the embedded chain's dev accounts (never for a real network)."""
    from bastion.chain.node import dev_accounts

    accounts = dev_accounts(max(DEV_KEY_ACCOUNTS.values()) + 1)
    return {name: accounts[i].private_key for name, i in DEV_KEY_ACCOUNTS.items()}


# -- records ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FindingRecord:
    id: int
    detector: str
    severity: str
    title: str
    block_number: int | None
    block_hash: str | None
    tx_hash: str | None
    subject: str | None
    actor: str | None
    details: Mapping[str, Any]
    detected_at: float  # wall clock, when the watchtower stored it
    incident_id: int | None
    retracted: bool


@dataclass(frozen=True)
class ActionRecord:
    id: int
    key: str
    playbook: str
    kind: str
    status: str  # planned, dry_run, sent, mined, reverted, failed, done
    target: str | None
    tx_hash: str | None
    nonce: int | None
    payload: Mapping[str, Any]
    error: str | None
    incident_id: int | None
    created_at: float
    sent_at: float | None  # wall clock, right after the broadcast was accepted
    mined_at: float | None  # wall clock, when the watchtower saw the receipt
    mined_block: int | None
    dry_run: bool


@dataclass(frozen=True)
class IncidentRecord:
    id: int
    status: str
    severity: str
    title: str
    detectors: tuple[str, ...]
    first_block: int | None
    first_tx_hash: str | None
    first_tx_at: float | None  # block timestamp of the first malicious transaction
    detected_at: float
    action_sent_at: float | None
    action_mined_at: float | None


def _finding(r: Any) -> FindingRecord:
    return FindingRecord(
        r.id,
        r.detector,
        r.severity,
        r.title,
        r.block_number,
        r.block_hash,
        r.tx_hash,
        r.subject,
        r.actor,
        dict(r.details or {}),
        r.created_at,
        r.incident_id,
        bool(r.retracted),
    )


def _action(r: Any) -> ActionRecord:
    return ActionRecord(
        r.id,
        r.idempotency_key,
        r.playbook,
        r.kind,
        r.status,
        r.target,
        r.tx_hash,
        r.nonce,
        dict(r.payload or {}),
        r.error,
        r.incident_id,
        r.created_at,
        r.sent_at,
        r.mined_at,
        r.mined_block,
        bool(r.dry_run),
    )


def _incident(r: Any) -> IncidentRecord:
    return IncidentRecord(
        r.id,
        r.status,
        r.severity,
        r.title,
        tuple(r.detectors or ()),
        r.first_block,
        r.first_tx_hash,
        r.first_tx_at,
        r.detected_at,
        r.action_sent_at,
        r.action_mined_at,
    )


# -- the handle -------------------------------------------------------------------------------------
class Watchtower:
    """A running watchtower (see ``start_watchtower``). Thread-safe reads; ``stop()`` when done."""

    def __init__(self, service: WatchService, workdir: Path, cleanup: tempfile.TemporaryDirectory | None) -> None:
        self.service = service
        self.workdir = workdir
        self.error: str | None = None  # why the thread died, if it did
        self._cleanup = cleanup
        self._thread = threading.Thread(target=self._run, name="bastion-watchtower", daemon=True)
        self._stepped = False  # driven by step() in the caller's thread, never by the thread
        self._closed = False

    def _run(self) -> None:
        try:
            self.service.run()
        except Exception as exc:  # recorded for the caller; the thread ends
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("watchtower thread died")
            self.service.ready.set()

    def start(self, ready_timeout: float = 15.0) -> Watchtower:
        self._thread.start()
        if not self.service.ready.wait(ready_timeout):
            self.stop()
            raise RuntimeError(f"the watchtower did not complete a first pass within {ready_timeout:g}s")
        if self.error:
            raise RuntimeError(f"the watchtower failed at start: {self.error}")
        return self

    def step(self, max_blocks: int | None = None) -> int:
        """One pass of the service in the caller's thread, the pass ``bastion watch`` runs on each tick
        (sync and detect new blocks, scan pending transactions, respond, confirm); the number of blocks
        processed. For a caller that moves the chain itself, block by block (the rehearsal): a stepped
        watchtower (``start_watchtower(..., stepped=True)``) has no thread of its own."""
        if self._thread.is_alive():
            raise RuntimeError("this watchtower runs in its own thread: it cannot be stepped too")
        self._stepped = True
        return self.service.run_once(max_blocks)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def protocol(self):
        return self.service.protocol

    @property
    def database_url(self) -> str:
        return self.service.db.url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop, close the WebSocket and the RPC client. Records stay readable."""
        self.service.stop()
        if self._thread.is_alive():
            self._thread.join(timeout)
        elif self._thread.ident is None and not self._closed:  # stepped: nothing else releases the service
            self._closed = True
            self.service.close()

    def close(self) -> None:
        """Stop and delete the temporary working directory (if ``start_watchtower`` made one)."""
        self.stop()
        if self._cleanup is not None:
            self.service.db.dispose()
            self._cleanup.cleanup()
            self._cleanup = None

    def __enter__(self) -> Watchtower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads -----------------------------------------------------------------------------------
    def findings(self, *, include_retracted: bool = False) -> list[FindingRecord]:
        with self.service.db.session() as s:
            rows = Repository.findings(s, self.service.chain_id, include_retracted=include_retracted)
            return [_finding(r) for r in rows]

    def actions(self) -> list[ActionRecord]:
        with self.service.db.session() as s:
            return [_action(r) for r in Repository.actions(s)]

    def incidents(self) -> list[IncidentRecord]:
        with self.service.db.session() as s:
            return [_incident(r) for r in Repository.incidents(s)]

    def checkpoint(self) -> int | None:
        cp = self.service.follower.checkpoint()
        return None if cp is None else cp[0]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
        """Poll ``predicate`` until it returns something truthy (returned) or ``timeout`` (None)."""
        deadline = time.monotonic() + timeout
        while True:
            out = predicate()
            if out:
                return out
            if time.monotonic() > deadline or self.error:
                return None
            time.sleep(interval)

    def wait_action(
        self,
        *,
        kind: str | None = None,
        status: str | tuple[str, ...] = ("sent", "mined"),
        timeout: float = 10.0,
    ) -> ActionRecord | None:
        """The first action (of ``kind``) whose status is in ``status``, waiting up to ``timeout``."""
        wanted = (status,) if isinstance(status, str) else status

        def find() -> ActionRecord | None:
            for a in self.actions():
                if (kind is None or a.kind == kind) and a.status in wanted:
                    return a
            return None

        return self.wait_for(find, timeout)

    def wait_synced(self, block: int, timeout: float = 10.0) -> bool:
        """Wait until block ``block`` (or later) is processed."""
        self.service.wake.set()
        return bool(self.wait_for(lambda: (self.checkpoint() or -1) >= block, timeout))


# -- configuration ----------------------------------------------------------------------------------
def _config_data(config: WatchConfig | Mapping[str, Any] | str | Path | None) -> tuple[dict[str, Any], Path]:
    if config is None:
        path = default_config_path()
        return parse_file(path), path.parent
    if isinstance(config, str | Path):
        path = Path(config)
        return parse_file(path), path.resolve().parent
    if isinstance(config, WatchConfig):
        return config.model_dump(mode="json", exclude_none=True), config.base_dir
    return json.loads(json.dumps(dict(config), default=str)), Path(".")


def _manifest_json(manifest: Any) -> dict[str, Any]:
    if isinstance(manifest, str | Path):
        return json.loads(Path(manifest).read_text())
    if hasattr(manifest, "to_json"):
        return manifest.to_json()
    if isinstance(manifest, Mapping):
        return dict(manifest)
    raise TypeError(f"manifest must be a Manifest, a dict or a path, not {type(manifest).__name__}")


def build_config(
    manifest_path: Path,
    config: WatchConfig | Mapping[str, Any] | str | Path | None,
    rpc_url: str,
    ws_url: str | None,
    database: str,
    *,
    dry_run: bool | None = None,
    start_block: int | str | None = None,
    service: Mapping[str, Any] | None = None,
    network: Mapping[str, Any] | None = None,
) -> WatchConfig:
    """The watchtower config for one deployment on one endpoint (see ``start_watchtower``)."""
    data, base = _config_data(config)
    net: dict[str, Any] = {**(network or {}), "rpc_urls": [rpc_url]}
    if ws_url:
        net["ws_url"] = ws_url
    data["networks"] = {"local": net}
    svc = dict(data.get("service") or {})
    svc.pop("network", None)
    svc["database"] = database
    if dry_run is not None:
        svc["dry_run"] = dry_run
    if start_block is not None:
        svc["start_block"] = start_block
    svc.update(service or {})
    data["service"] = svc
    proto = dict(data.get("protocol") or {})
    proto["manifest"] = str(manifest_path)
    data["protocol"] = proto
    return validate_config(data, base)


def start_watchtower(
    manifest: Any,
    config: WatchConfig | Mapping[str, Any] | str | Path | None,
    rpc_url: str,
    ws_url: str | None = None,
    *,
    keys: str | Mapping[str, str] | None = "dev",
    database: str | Path | None = None,
    workdir: str | Path | None = None,
    dry_run: bool | None = None,
    start_block: int | str | None = None,
    service: Mapping[str, Any] | None = None,
    network: Mapping[str, Any] | None = None,
    log_to: str | Path | None = None,
    ready_timeout: float = 15.0,
    stepped: bool = False,
) -> Watchtower:
    """Start a watchtower on ``manifest`` against ``rpc_url`` (and ``ws_url`` for new heads) in a
    background thread; returns once it has processed the head (``Watchtower.stop()`` to end it).

    ``workdir`` holds the manifest copy, the SQLite store (unless ``database`` is given) and the JSON
    log (unless ``log_to``); default: a temporary directory removed by ``Watchtower.close()``.
    ``service`` overrides ``[service]`` keys (e.g. ``{"poll_interval": 0.2, "traces": False}``),
    ``network`` the endpoint's other keys (``chain_id``, ``timeout``). ``stepped``: no thread; the caller
    runs each pass with ``Watchtower.step()`` (the first one included).
    """
    cleanup = None
    if workdir is None:
        cleanup = tempfile.TemporaryDirectory(prefix="bastion-watch-")
        workdir = cleanup.name
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    manifest_path = work / "manifest.json"
    manifest_path.write_text(json.dumps(_manifest_json(manifest), indent=1))
    db = str(database) if database is not None else str(work / "watch.db")
    cfg = build_config(
        manifest_path,
        config,
        rpc_url,
        ws_url,
        db,
        dry_run=dry_run,
        start_block=start_block,
        service=service,
        network=network,
    )
    signers: dict[str, Signer] = {}
    if keys == "dev":
        keys = dev_keys()
    if isinstance(keys, Mapping):
        signers = {name: signer_from_hex(k) for name, k in keys.items() if name in cfg.keys}
    _log_to_file(Path(log_to) if log_to else work / "watch.log", cfg.service.log_level)
    svc = WatchService(cfg, configure_logging=False, signers=signers)
    tower = Watchtower(svc, work, cleanup)
    return tower if stepped else tower.start(ready_timeout)


def _log_to_file(path: Path, level: str) -> None:
    """The ``bastion`` loggers write JSON lines to ``path`` (and not to the console)."""
    handler = logging.FileHandler(path)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("bastion")
    for h in list(root.handlers):
        if isinstance(h, logging.FileHandler):
            root.removeHandler(h)
            h.close()
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    for noisy in ("httpx", "httpcore", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

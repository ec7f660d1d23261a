"""Ingest: from JSON-RPC answers to normalized ``Block``s, in order, exactly once, across reorgs
and restarts.

- ``normalize_block`` / ``normalize_tx``: raw JSON-RPC dicts -> ``events`` dataclasses, decoding
  logs on the way. Any shape error is a ``MalformedData`` (an ``RpcMalformed``).
- ``BlockFetcher``: one block with full transactions (``eth_getBlockByNumber``), receipts
  (``eth_getBlockReceipts``, per-transaction receipts as a fallback) and ``callTracer`` traces
  (``debug_traceBlockByNumber``; a node that cannot trace gives ``traces=None``), in one batch.
- ``HeadWatcher``: ``newHeads`` over WebSocket in a thread that only wakes the loop; the loop also
  polls ``eth_blockNumber`` so a dead socket costs latency, never blocks.
- ``PendingWatcher``: pending transactions (``eth_newPendingTransactionFilter``, falling back to
  ``txpool_content``) as a separate stream.
- ``Follower``: the checkpointed, reorg-aware loop. Each block's findings commit in the same
  database transaction as its checkpoint, so a ``kill -9`` at any point loses or repeats nothing:
  at restart the follower resumes after the checkpoint and backfills up to the head. Each block's
  parent hash is checked against the block recorded below it; on a mismatch (or when the block at
  the checkpoint changed) it walks back to the common ancestor, retracts the findings of the
  orphaned blocks, and processes the canonical ones.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy.orm import Session

from bastion.chain.rpc import RpcCallError, RpcClient, RpcError, RpcMalformed
from bastion.store import Database, FindingRow, Repository
from bastion.watch.decode import AbiRegistry, shared
from bastion.watch.events import Block, CallFrame, Log, Tx
from bastion.watch.metrics import Metrics
from bastion.watch.view import History

log = logging.getLogger("bastion.watch.ingest")


class MalformedData(RpcMalformed):
    """A JSON-RPC result that does not have the shape of a block, transaction, receipt or trace."""


class InconsistentBlock(RpcError):
    """The answers of one batch describe different blocks (a reorg happened while fetching)."""


# -- normalization ------------------------------------------------------------------------------
def _q(value: Any) -> int:
    """A JSON-RPC quantity (hex string) as an int."""
    if isinstance(value, str) and value[:2] == "0x":
        return int(value, 16)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"not a quantity: {str(value)[:40]!r}")


def _oq(value: Any) -> int | None:
    return None if value is None else _q(value)


def _data(value: Any) -> bytes:
    if not isinstance(value, str) or value[:2] != "0x":
        raise ValueError(f"not hex data: {str(value)[:40]!r}")
    return bytes.fromhex(value[2:])


def _hash(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 66 or value[:2] != "0x":
        raise ValueError(f"not a 32-byte hash: {str(value)[:70]!r}")
    return shared(value.lower())


def _addr(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 42 or value[:2] != "0x":
        raise ValueError(f"not an address: {str(value)[:50]!r}")
    return shared(value.lower())


def _oaddr(value: Any) -> str | None:
    return None if value is None else _addr(value)


def normalize_log(raw: dict[str, Any], registry: AbiRegistry | None) -> Log:
    lg = Log(
        address=_addr(raw["address"]),
        topics=tuple(_hash(t) for t in raw["topics"]),
        data=_data(raw["data"]),
        log_index=_q(raw["logIndex"]),
        tx_hash=_hash(raw["transactionHash"]),
        tx_index=_q(raw["transactionIndex"]),
        block_number=_oq(raw.get("blockNumber")),
        block_hash=shared(raw["blockHash"].lower()) if raw.get("blockHash") else None,
    )
    if registry is not None:
        fields = registry.decode_fields(lg)
        if fields is not None:  # the object is ours alone until returned: fill it in place
            object.__setattr__(lg, "name", fields[0])
            object.__setattr__(lg, "args", fields[1])
    return lg


def normalize_tx(raw: dict[str, Any], receipt: dict[str, Any] | None = None, registry: AbiRegistry | None = None) -> Tx:
    """A transaction (and its receipt when given) as a ``Tx``; ``MalformedData`` on bad shape."""
    try:
        fields: dict[str, Any] = {
            "hash": _hash(raw["hash"]),
            "sender": _addr(raw["from"]),
            "to": _oaddr(raw.get("to")),
            "value": _q(raw["value"]),
            "input": _data(raw.get("input", raw.get("data", "0x"))),
            "nonce": _q(raw["nonce"]),
            "gas": _q(raw["gas"]),
            "type": _q(raw.get("type", "0x0")),
            "gas_price": _oq(raw.get("gasPrice")),
            "max_fee_per_gas": _oq(raw.get("maxFeePerGas")),
            "max_priority_fee_per_gas": _oq(raw.get("maxPriorityFeePerGas")),
            "block_number": _oq(raw.get("blockNumber")),
            "block_hash": shared(raw["blockHash"].lower()) if raw.get("blockHash") else None,
            "index": _oq(raw.get("transactionIndex")),
        }
        if receipt is not None:
            if receipt.get("transactionHash", "").lower() != fields["hash"]:
                raise ValueError("receipt is for another transaction")
            fields["status"] = _oq(receipt.get("status"))
            fields["gas_used"] = _q(receipt["gasUsed"])
            fields["effective_gas_price"] = _oq(receipt.get("effectiveGasPrice"))
            fields["contract_address"] = _oaddr(receipt.get("contractAddress"))
            fields["logs"] = tuple(normalize_log(r, registry) for r in receipt["logs"])
        return Tx(**fields)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedData(f"malformed transaction or receipt: {type(exc).__name__}: {exc}") from None


def flatten_trace(tx_hash: str, tx_index: int, root: dict[str, Any]) -> list[CallFrame]:
    """A ``callTracer`` tree as frames in execution (depth-first) order."""
    out: list[CallFrame] = []
    stack: list[tuple[dict[str, Any], tuple[int, ...]]] = [(root, ())]
    while stack:
        frame, path = stack.pop()
        out.append(
            CallFrame(
                tx_hash=tx_hash,
                tx_index=tx_index,
                path=path,
                call_type=str(frame["type"]).upper(),
                sender=_addr(frame["from"]),
                to=_oaddr(frame.get("to")),
                value=_q(frame.get("value", "0x0")),
                input=_data(frame.get("input", "0x")),
                output=_data(frame.get("output", "0x") or "0x"),
                gas_used=_q(frame.get("gasUsed", "0x0")),
                error=frame.get("error"),
            )
        )
        children = frame.get("calls") or []
        for i in range(len(children) - 1, -1, -1):
            stack.append((children[i], (*path, i)))
    return out


def normalize_traces(raw: Any, txs: Sequence[Tx]) -> tuple[CallFrame, ...]:
    if not isinstance(raw, list) or len(raw) != len(txs):
        raise ValueError("trace list does not match the block's transactions")
    frames: list[CallFrame] = []
    for i, (item, tx) in enumerate(zip(raw, txs, strict=True)):
        if not isinstance(item, dict):
            raise ValueError("trace item is not an object")
        tx_hash = item.get("txHash")
        if tx_hash is not None and tx_hash.lower() != tx.hash:
            raise ValueError("trace order does not match the block")
        result = item.get("result")
        if result is None:
            continue  # this transaction failed to trace
        frames.extend(flatten_trace(tx.hash, i, result))
    return tuple(frames)


def normalize_block(
    chain_id: int,
    raw: dict[str, Any],
    receipts: list[dict[str, Any]] | None,
    traces: Any = None,
    registry: AbiRegistry | None = None,
) -> Block:
    """A block from ``eth_getBlockByNumber(n, true)``, its receipts and (optionally) its traces.

    Receipts are matched to transactions by hash. Traces that do not match are dropped
    (``traces=None``) rather than failing the block; a malformed block or receipt raises.
    """
    try:
        if not isinstance(raw, dict):
            raise TypeError("block is not an object")
        block_hash = _hash(raw["hash"])
        raw_txs = raw["transactions"]
        by_hash: dict[str, dict[str, Any]] = {}
        if receipts is not None:
            for r in receipts:
                if r.get("blockHash", block_hash).lower() != block_hash:
                    raise InconsistentBlock(f"receipts are from block {r.get('blockHash')}, not {block_hash}")
                by_hash[r["transactionHash"].lower()] = r
        txs = []
        for t in raw_txs:
            if not isinstance(t, dict):
                raise TypeError("block transactions are not full objects")
            receipt = by_hash.get(t["hash"].lower()) if receipts is not None else None
            if receipts is not None and receipt is None:
                raise ValueError(f"no receipt for transaction {t['hash']}")
            txs.append(normalize_tx(t, receipt, registry))
        frames: tuple[CallFrame, ...] | None = None
        if traces is not None:
            try:
                frames = normalize_traces(traces, txs)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                log.warning(
                    "malformed traces skipped",
                    extra={"event": "malformed_traces", "block": raw.get("number"), "error": str(exc)},
                )
        return Block(
            chain_id=chain_id,
            number=_q(raw["number"]),
            hash=block_hash,
            parent_hash=_hash(raw["parentHash"]),
            timestamp=_q(raw["timestamp"]),
            base_fee=_oq(raw.get("baseFeePerGas")),
            txs=tuple(txs),
            traces=frames,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedData(f"malformed block: {type(exc).__name__}: {exc}") from None


# -- fetching -----------------------------------------------------------------------------------
class BlockFetcher:
    """Reads blocks, receipts and traces through an ``RpcClient``."""

    def __init__(
        self,
        rpc: RpcClient,
        chain_id: int,
        registry: AbiRegistry,
        *,
        traces: bool = True,
        metrics: Metrics | None = None,
        trace_rpc: RpcClient | None = None,
        trace_max_txs: int | None = None,
    ) -> None:
        self.rpc = rpc
        self.chain_id = chain_id
        self.registry = registry
        self.traces = traces
        self.metrics = metrics
        # traces come apart from the block, through a client of their own (its own timeout, one
        # round): a block too big to trace in time is still processed, from receipts and logs
        self.trace_rpc = trace_rpc or rpc
        self.trace_max_txs = trace_max_txs
        self._block_receipts = True

    def head(self) -> int:
        try:
            return _q(self.rpc.call("eth_blockNumber"))
        except ValueError:
            raise MalformedData("eth_blockNumber answered a non-quantity") from None

    def header_hash(self, number: int) -> str | None:
        raw = self.rpc.call("eth_getBlockByNumber", hex(number), False)
        if raw is None:
            return None
        try:
            return _hash(raw["hash"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedData(f"malformed header: {exc}") from None

    def fetch(self, number: int) -> Block | None:
        """Block ``number`` fully, or None when the node does not have it (yet)."""
        tag = hex(number)
        calls: list[tuple[str, list[Any]]] = [("eth_getBlockByNumber", [tag, True])]
        if self._block_receipts:
            calls.append(("eth_getBlockReceipts", [tag]))
        answers = self.rpc.batch(calls)
        raw = answers[0]
        if isinstance(raw, Exception):
            raise raw
        if raw is None:
            return None
        receipts: Any = None
        k = 1
        if self._block_receipts:
            receipts = answers[k]
            k += 1
            if isinstance(receipts, RpcCallError):
                log.warning(
                    "eth_getBlockReceipts unsupported: per-transaction receipts from now on",
                    extra={"event": "no_block_receipts", "error": receipts.message},
                )
                self._block_receipts = False
                receipts = None
            elif isinstance(receipts, Exception):
                raise receipts
        if receipts is None:
            receipts = self._tx_receipts(raw)
        if not isinstance(receipts, list):
            raise MalformedData(f"receipts of block {number} are not a list")
        traces = self._traces(number, raw) if self.traces else None
        return normalize_block(self.chain_id, raw, receipts, traces, self.registry)

    def _traces(self, number: int, raw: dict[str, Any]) -> Any:
        """The block's call traces, or None (logged and counted) when they cannot be had in budget."""
        n_txs = len(raw.get("transactions") or ())
        if n_txs == 0:
            return []
        if self.trace_max_txs is not None and n_txs > self.trace_max_txs:
            error: str = f"{n_txs} transactions, over trace_max_txs {self.trace_max_txs}"
        else:
            try:
                return self.trace_rpc.call("debug_traceBlockByNumber", hex(number), {"tracer": "callTracer"})
            except RpcError as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
        log.warning("block processed without traces", extra={"event": "no_traces", "block": number, "error": error})
        if self.metrics:
            self.metrics.skipped.labels("traces").inc()
            self.metrics.traces_missing.inc()
        return None

    def _tx_receipts(self, raw: dict[str, Any]) -> list[Any]:
        try:
            hashes = [t["hash"] for t in raw["transactions"]]
        except (KeyError, TypeError) as exc:
            raise MalformedData(f"malformed block transactions: {exc}") from None
        if not hashes:
            return []
        out = self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        for item in out:
            if isinstance(item, Exception):
                raise item
        return out


# -- heads and pending transactions --------------------------------------------------------------
class HeadWatcher:
    """Subscribes to ``newHeads`` over WebSocket in a daemon thread and sets ``wake`` on each head.

    The thread never processes anything: the main loop polls as well, so a dead socket only costs
    latency. It reconnects with exponential backoff (capped) and reports ``connected``.
    """

    def __init__(self, ws_url: str, wake: threading.Event, *, timeout: float = 5.0) -> None:
        self.ws_url = ws_url
        self.wake = wake
        self.timeout = timeout
        self.connected = False
        self.failed = False  # a connection attempt failed (reported once)
        self.heads = 0
        self.latest: int | None = None  # the last head number announced
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bastion-heads", daemon=True)

    def start(self) -> HeadWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 1)

    def _run(self) -> None:
        from websockets.sync.client import connect

        delay = 0.1
        while not self._stop.is_set():
            try:
                with connect(self.ws_url, open_timeout=self.timeout, close_timeout=1) as ws:
                    ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}))
                    ack = json.loads(ws.recv(timeout=self.timeout))
                    if "result" not in ack:
                        raise RpcError(f"eth_subscribe refused: {ack.get('error')}")
                    self.connected, delay = True, 0.1
                    while not self._stop.is_set():
                        try:
                            msg = ws.recv(timeout=0.5)
                        except TimeoutError:
                            continue
                        with contextlib.suppress(ValueError, AttributeError, TypeError, KeyError):
                            note = json.loads(msg)
                            if note.get("method") == "eth_subscription":
                                self.heads += 1
                                self.wake.set()
                                self.latest = int(note["params"]["result"]["number"], 16)
            except Exception as exc:  # any socket trouble: fall back to polling and retry later
                if self.connected:
                    log.warning(
                        "websocket lost, polling until it returns",
                        extra={"event": "ws_down", "error": str(exc)[:200]},
                    )
                elif not self.failed:  # never connected: say so once, then keep retrying quietly
                    log.warning(
                        f"websocket {self.ws_url} refuses connections ({type(exc).__name__}: {str(exc)[:120]}): "
                        "polling over HTTP instead, retrying in the background",
                        extra={"event": "ws_unavailable", "url": self.ws_url, "error": str(exc)[:200]},
                    )
                self.failed = True
                self.connected = False
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
        self.connected = False


class HeadWatchdog:
    """Head age and lag of every endpoint (and of the WebSocket feed). An endpoint whose head lags
    the best one by more than ``max_lag_blocks``, or has not moved for ``stale_after_s`` while
    another has, is failed over like a dead one. ``stale`` tells when even the best head has not
    moved for ``stale_after_s`` (None: never, for dev chains that mine only on demand)."""

    def __init__(
        self,
        rpc: RpcClient,
        *,
        stale_after_s: float | None,
        max_lag_blocks: int,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rpc = rpc
        self.stale_after_s = stale_after_s
        self.max_lag_blocks = max_lag_blocks
        self.metrics = metrics
        self.clock = clock
        self.heads: dict[str, tuple[int, float]] = {}  # endpoint -> (head, when it last moved)
        self.best = 0
        self.best_moved_at = clock()

    def observe(self, source: str, head: int | None) -> None:
        now = self.clock()
        if head is None:
            return
        last = self.heads.get(source)
        if last is None or head != last[0]:
            self.heads[source] = (head, now)
        if head > self.best:
            self.best, self.best_moved_at = head, now

    def check(self, ws_head: int | None = None) -> list[str]:
        """Probe every endpoint; fail over the stuck or lagging ones. Their names."""
        for name, head in self.rpc.probe_heads().items():
            self.observe(name, head)
        if ws_head is not None:
            self.observe("websocket", ws_head)
        now = self.clock()
        bad = []
        for name, (head, moved_at) in self.heads.items():
            lag = self.best - head
            age = now - moved_at
            if self.metrics:
                self.metrics.head_age.labels(name).set(age)
                self.metrics.head_lag.labels(name).set(lag)
            stuck = self.stale_after_s is not None and age > self.stale_after_s and self.best_moved_at > moved_at
            if name != "websocket" and (lag > self.max_lag_blocks or stuck):
                bad.append(name)
                reason = f"head {head} lags the best {self.best} by {lag} blocks, unchanged for {age:.0f} s"
                self.rpc.demote(name, reason, cooldown=max(5.0, self.stale_after_s or 0.0))
                if self.metrics:
                    self.metrics.endpoint_demoted.labels(name).inc()
                log.warning(
                    "endpoint head stuck or lagging: failed over",
                    extra={"event": "head_lag", "endpoint": name, "reason": reason},
                )
        if self.metrics:
            self.metrics.head_age.labels("best").set(now - self.best_moved_at)
        return bad

    @property
    def age(self) -> float:
        """Seconds since the best head last moved."""
        return self.clock() - self.best_moved_at

    @property
    def stale(self) -> bool:
        return self.stale_after_s is not None and self.age > self.stale_after_s


class PendingWatcher:
    """New pending transactions since the last ``poll`` (each hash once)."""

    def __init__(self, rpc: RpcClient, registry: AbiRegistry, *, seen_size: int = 50_000) -> None:
        self.rpc = rpc
        self.registry = registry
        self._filter: str | None = None
        self._use_txpool = False
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_size = seen_size

    def _remember(self, tx_hash: str) -> bool:
        if tx_hash in self._seen:
            return False
        self._seen[tx_hash] = None
        if len(self._seen) > self._seen_size:
            self._seen.popitem(last=False)
        return True

    def poll(self) -> list[Tx]:
        raws = self._from_txpool() if self._use_txpool else self._from_filter()
        out = []
        for raw in raws:
            try:
                tx = normalize_tx(raw, None, self.registry)
            except MalformedData as exc:
                log.info(
                    "malformed pending transaction skipped",
                    extra={"event": "malformed_pending", "error": str(exc)},
                )
                continue
            if tx.pending and self._remember(tx.hash):
                out.append(tx)
        return out

    def _from_filter(self) -> list[dict[str, Any]]:
        try:
            if self._filter is None:
                self._filter = self.rpc.call("eth_newPendingTransactionFilter")
            hashes = self.rpc.call("eth_getFilterChanges", self._filter)
        except RpcCallError as exc:
            if self._filter is None:
                log.info(
                    "no pending filter: using txpool_content",
                    extra={"event": "pending_txpool", "error": exc.message},
                )
                self._use_txpool = True
                return self._from_txpool()
            self._filter = None  # expired filter: make a new one next time
            return []
        if not isinstance(hashes, list):
            raise MalformedData("eth_getFilterChanges answered a non-list")
        hashes = [h for h in hashes if isinstance(h, str) and h.lower() not in self._seen]
        if not hashes:
            return []
        answers = self.rpc.batch([("eth_getTransactionByHash", [h]) for h in hashes])
        return [a for a in answers if isinstance(a, dict)]

    def _from_txpool(self) -> list[dict[str, Any]]:
        content = self.rpc.call("txpool_content")
        if not isinstance(content, dict):
            raise MalformedData("txpool_content answered a non-object")
        out = []
        for by_sender in (content.get("pending") or {}).values():
            for raw in (by_sender or {}).values():
                if isinstance(raw, dict) and str(raw.get("hash", "")).lower() not in self._seen:
                    out.append(raw)
        return out


# -- the checkpointed follower -------------------------------------------------------------------
class BlockHandler(Protocol):
    def process(self, block: Block, session: Session) -> list[FindingRow]:
        """Run detectors and store findings (and incidents) in ``session``; return the new rows."""

    def on_reorg(self, ancestor: int, retracted: list[FindingRow], session: Session) -> None:
        """Findings above ``ancestor`` were retracted; update incidents in ``session``."""

    def after_commit(self, block: Block, new: list[FindingRow]) -> None:
        """The block is committed: act on its new findings (playbooks)."""


class Follower:
    """Processes blocks in order from the checkpoint to the head, handling reorgs."""

    def __init__(
        self,
        fetcher: BlockFetcher,
        db: Database,
        handler: BlockHandler,
        history: History,
        *,
        start_block: int | None = None,
        confirmations: int = 0,
        max_reorg_depth: int = 64,
        keep_blocks: int = 512,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fetcher = fetcher
        self.db = db
        self.handler = handler
        self.history = history
        self.chain_id = fetcher.chain_id
        self.start_block = start_block
        self.confirmations = confirmations
        self.max_reorg_depth = max_reorg_depth
        self.keep_blocks = max(keep_blocks, max_reorg_depth + 1)
        self.metrics = metrics
        self.repo = Repository()
        self.clock = clock
        self.head = 0
        self._warm = False

    def reset(self) -> None:
        """Forget what is held in memory; the next ``sync`` starts again from the database."""
        self._warm = False

    def checkpoint(self) -> tuple[int, str] | None:
        with self.db.session() as s:
            cp = self.repo.checkpoint(s, self.chain_id)
            return None if cp is None else (cp.number, cp.hash)

    def warm_up(self) -> None:
        """Refill the in-memory history with the blocks just below the checkpoint (no detectors)."""
        cp = self.checkpoint()
        if cp is not None:
            first = max(0, cp[0] - self.history.size + 1)
            blocks = [self.fetcher.fetch(n) for n in range(first, cp[0] + 1)]  # all or nothing
            for block in blocks:
                if block is not None:
                    self.history.append(block)
        self._warm = True

    def sync(self, max_blocks: int | None = None) -> int:
        """Process every block from the checkpoint up to the head (minus confirmations); the count."""
        if not self._warm:
            self.warm_up()
        self.head = self.fetcher.head()
        target = self.head - self.confirmations
        cp = self.checkpoint()
        if cp is None:
            next_number = self.start_block if self.start_block is not None else max(target, 0)
        else:
            if target < cp[0] or self.fetcher.header_hash(cp[0]) != cp[1]:
                self._reorg(min(cp[0], target))
                cp = self.checkpoint()
            next_number = (cp[0] + 1) if cp else (self.start_block or 0)
        done = 0
        while next_number <= target and (max_blocks is None or done < max_blocks):
            block = self.fetcher.fetch(next_number)
            if block is None:
                break
            if not self._links(block):
                self._reorg(block.number - 1)
                cp = self.checkpoint()
                next_number = (cp[0] + 1) if cp else (self.start_block or 0)
                continue
            self._process(block)
            done += 1
            next_number += 1
        if self.metrics:
            cp = self.checkpoint()
            if cp is not None:
                self.metrics.blocks_behind.set(max(0, self.head - cp[0]))
        return done

    def _links(self, block: Block) -> bool:
        with self.db.session() as s:
            below = self.repo.block_seen(s, self.chain_id, block.number - 1)
        return below is None or below.hash == block.parent_hash

    def _process(self, block: Block) -> None:
        start = self.clock()
        with self.db.transaction() as s:
            new = self.handler.process(block, s)
            self.repo.record_block(s, self.chain_id, block.number, block.hash, block.parent_hash, block.timestamp)
            self.repo.set_checkpoint(s, self.chain_id, block.number, block.hash)
            if block.number % 64 == 0:
                self.repo.prune_blocks(s, self.chain_id, block.number - self.keep_blocks)
        self.history.append(block)
        if self.metrics:
            self.metrics.blocks.inc()
            self.metrics.last_block.set(block.number)
            self.metrics.latency.observe(self.clock() - start)
        self.handler.after_commit(block, new)

    def _reorg(self, suspect: int) -> None:
        """Walk back from block ``suspect`` to the common ancestor; retract everything above it."""
        ancestor = None
        with self.db.session() as s:
            floor = max(-1, suspect - self.max_reorg_depth)
            n = suspect
            while n > floor:
                seen = self.repo.block_seen(s, self.chain_id, n)
                if seen is None:
                    break
                if self.fetcher.header_hash(n) == seen.hash:
                    ancestor = (n, seen.hash)
                    break
                n -= 1
        if ancestor is None:
            if n > floor:  # ran out of recorded blocks: restart just below the oldest one we know
                ancestor = (n, "")
            else:
                log.error(
                    "reorg deeper than max_reorg_depth: retracting everything above it",
                    extra={"event": "deep_reorg", "from": suspect, "depth": self.max_reorg_depth},
                )
                ancestor = (floor, "")
        first_orphan = ancestor[0] + 1
        with self.db.transaction() as s:
            retracted = self.repo.retract_findings_from(s, self.chain_id, first_orphan)
            self.repo.forget_blocks_from(s, self.chain_id, first_orphan)
            if ancestor[1]:
                self.repo.set_checkpoint(s, self.chain_id, ancestor[0], ancestor[1])
            else:
                cp = self.repo.checkpoint(s, self.chain_id)
                if cp is not None:
                    s.delete(cp)
                    self.start_block = first_orphan
            self.handler.on_reorg(ancestor[0], retracted, s)
        self.history.drop_from(first_orphan)
        depth = suspect - ancestor[0]
        if self.metrics:
            self.metrics.reorgs.labels(str(min(depth, 10))).inc()
            self.metrics.retracted.inc(len(retracted))
        log.warning(
            "reorg handled",
            extra={"event": "reorg", "ancestor": ancestor[0], "depth": depth, "retracted": len(retracted)},
        )

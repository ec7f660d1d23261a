"""The read-only chain view a detector gets, and the recent-block history behind it.

``ChainView`` is everything a detector may read: state at a block (``call``, ``balance``,
``erc20_balance``, ``code``), the protocol description, and ``history`` (the last blocks the
pipeline processed, oldest first). It has no method that writes or sends.

``History.derive(block, name, fn)`` memoizes a pure per-block summary (``fn(block)``) by block
hash, so windowed detectors (outflow rate, anomaly score) stay pure and cheap: the pipeline, not
the detector, owns the memory, drops orphaned blocks on a reorg and refills it at restart.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from eth_utils import keccak

from bastion.chain.rpc import RpcCallError
from bastion.watch.events import Block
from bastion.watch.protocol import Protocol as ProtocolInfo

T = TypeVar("T")
BALANCE_OF = keccak(text="balanceOf(address)")[:4]
NATIVE = "0x" + "ee" * 20
"""The asset address that stands for the chain's native coin (ETH) in flows and balances."""


class History:
    """The last ``size`` processed blocks (oldest first) plus memoized per-block summaries."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._blocks: deque[Block] = deque(maxlen=size)
        self._memo: dict[str, dict[str, Any]] = {}  # block hash -> summary name -> value

    def __len__(self) -> int:
        return len(self._blocks)

    def __iter__(self) -> Iterator[Block]:
        return iter(self._blocks)

    @property
    def last(self) -> Block | None:
        return self._blocks[-1] if self._blocks else None

    def append(self, block: Block) -> None:
        if self._blocks and len(self._blocks) == self.size:
            self._memo.pop(self._blocks[0].hash, None)
        self._blocks.append(block)

    def drop_from(self, number: int) -> None:
        """Forget blocks at or above ``number`` (a reorg orphaned them)."""
        while self._blocks and self._blocks[-1].number >= number:
            self._memo.pop(self._blocks.pop().hash, None)

    def window(self, upto: Block, *, blocks: int | None = None, seconds: int | None = None) -> list[Block]:
        """Blocks of the window that ends with ``upto`` (included), oldest first.

        ``blocks=N``: the last N block numbers; ``seconds=S``: blocks with timestamp > upto - S.
        ``upto`` need not be in the history yet (detectors run before it is appended).
        """
        out = [b for b in self._blocks if b.number < upto.number]
        if blocks is not None:
            out = [b for b in out if b.number > upto.number - blocks]
        if seconds is not None:
            out = [b for b in out if b.timestamp > upto.timestamp - seconds]
        out.append(upto)
        return out

    def peek(self, block: Block, name: str) -> Any:
        """A summary already derived for ``block``, or None (never computes: for incremental windows)."""
        per = self._memo.get(block.hash)
        return None if per is None else per.get(name)

    def forget(self, block: Block, name: str) -> None:
        """Drop one summary of ``block`` (a running total that only the next block needs: kept for
        every held block it would cost the window's size per block)."""
        per = self._memo.get(block.hash)
        if per is not None:
            per.pop(name, None)

    def derive(self, block: Block, name: str, fn: Callable[[Block], T]) -> T:
        per = self._memo.get(block.hash)
        if per is None:
            per = self._memo[block.hash] = {}
        try:
            return per[name]
        except KeyError:
            value = per[name] = fn(block)
            return value


class ChainView(Protocol):
    """What detectors may read. ``block`` defaults to the block being processed."""

    chain_id: int
    block_number: int
    protocol: ProtocolInfo
    history: History

    def call(self, to: str, data: bytes, block: int | None = None) -> bytes: ...

    def balance(self, address: str, block: int | None = None) -> int: ...

    def erc20_balance(self, token: str, holder: str, block: int | None = None) -> int: ...

    def code(self, address: str, block: int | None = None) -> bytes: ...

    def storage(self, address: str, slot: int, block: int | None = None) -> int:
        """One storage word (e.g. an ERC-1967 slot or an owner variable), as an int."""
        ...

    def call_many(self, calls: Sequence[tuple[str, bytes, int | None]]) -> list[bytes | None]:
        """Several read-only calls ``(to, data, block)`` at once (one round trip); None for a revert."""
        ...


class RpcView:
    """A ``ChainView`` over a JSON-RPC client, caching answers per (method, args, block)."""

    def __init__(
        self,
        rpc: Any,
        chain_id: int,
        protocol: ProtocolInfo,
        history: History,
        block_number: int,
        cache_size: int = 4096,
    ) -> None:
        self._rpc = rpc
        self.chain_id = chain_id
        self.protocol = protocol
        self.history = history
        self.block_number = block_number
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._cache_size = cache_size

    def at(self, block_number: int) -> RpcView:
        view = RpcView(self._rpc, self.chain_id, self.protocol, self.history, block_number, self._cache_size)
        view._cache = self._cache
        return view

    def _cached(self, key: tuple, fetch: Callable[[], Any]) -> Any:
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        value = fetch()
        self._cache[key] = value
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return value

    def _tag(self, block: int | None) -> str:
        return hex(self.block_number if block is None else block)

    def call(self, to: str, data: bytes, block: int | None = None) -> bytes:
        tag = self._tag(block)
        raw = self._cached(
            ("call", to, data, tag),
            lambda: self._rpc.call("eth_call", {"to": to, "data": "0x" + data.hex()}, tag),
        )
        return bytes.fromhex(raw[2:])

    def call_many(self, calls: Sequence[tuple[str, bytes, int | None]]) -> list[bytes | None]:
        keys = [("call", to, data, self._tag(block)) for to, data, block in calls]
        todo = [k for k in dict.fromkeys(keys) if k not in self._cache]
        if todo:
            answers = self._rpc.batch([("eth_call", [{"to": k[1], "data": "0x" + k[2].hex()}, k[3]]) for k in todo])
            for k, raw in zip(todo, answers, strict=True):
                if isinstance(raw, RpcCallError):
                    self._cache[k] = None  # a revert is an answer
                elif isinstance(raw, Exception):
                    raise raw
                else:
                    self._cache[k] = raw
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        out: list[bytes | None] = []
        for k in keys:
            raw = self._cache.get(k)
            out.append(None if raw is None else bytes.fromhex(raw[2:]))
        return out

    def balance(self, address: str, block: int | None = None) -> int:
        tag = self._tag(block)
        return int(self._cached(("bal", address, tag), lambda: self._rpc.call("eth_getBalance", address, tag)), 16)

    def erc20_balance(self, token: str, holder: str, block: int | None = None) -> int:
        if token == NATIVE:
            return self.balance(holder, block)
        data = BALANCE_OF + bytes(12) + bytes.fromhex(holder[2:])
        out = self.call(token, data, block)
        return int.from_bytes(out[:32], "big") if len(out) >= 32 else 0

    def code(self, address: str, block: int | None = None) -> bytes:
        tag = self._tag(block)
        raw = self._cached(("code", address, tag), lambda: self._rpc.call("eth_getCode", address, tag))
        return bytes.fromhex(raw[2:])

    def storage(self, address: str, slot: int, block: int | None = None) -> int:
        tag = self._tag(block)
        raw = self._cached(
            ("slot", address, slot, tag), lambda: self._rpc.call("eth_getStorageAt", address, hex(slot), tag)
        )
        return int(raw, 16)


class StaticView:
    """A ``ChainView`` over fixed balances and fixed call answers, for benchmarks and unit tests (no
    network). ``answers`` maps ``(to, 4-byte selector)`` to the returned bytes (any block)."""

    def __init__(
        self,
        chain_id: int,
        protocol: ProtocolInfo,
        history: History,
        block_number: int = 0,
        erc20: Mapping[tuple[str, str], int] | None = None,
        answers: Mapping[tuple[str, bytes], bytes] | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.protocol = protocol
        self.history = history
        self.block_number = block_number
        self._erc20 = dict(erc20 or {})
        self._answers = dict(answers or {})

    def call(self, to: str, data: bytes, block: int | None = None) -> bytes:
        if data[:4] == BALANCE_OF:
            return self.erc20_balance(to, "0x" + data[16:36].hex(), block).to_bytes(32, "big")
        return self._answers.get((to, data[:4]), b"")

    def call_many(self, calls: Sequence[tuple[str, bytes, int | None]]) -> list[bytes | None]:
        return [self.call(to, data, block) for to, data, block in calls]

    def balance(self, address: str, block: int | None = None) -> int:
        return 0

    def erc20_balance(self, token: str, holder: str, block: int | None = None) -> int:
        return self._erc20.get((token, holder), 0)

    def code(self, address: str, block: int | None = None) -> bytes:
        return b""

    def storage(self, address: str, slot: int, block: int | None = None) -> int:
        return 0

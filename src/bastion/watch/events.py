"""The watchtower's one normalized event shape.

Everything the ingest layer reads from a node becomes one of four immutable dataclasses:

- ``Block``: header fields plus its transactions (``Tx``, each with its receipt) and its call
  traces (``CallFrame``, flattened in execution order). Detectors receive a ``Block``.
- ``Tx``: a transaction with its receipt fields (``status``, ``gas_used``, ``contract_address``,
  ``logs``). A pending transaction is a ``Tx`` with ``block_number`` / ``status`` set to ``None``
  (see ``Tx.pending``).
- ``Log``: one event log, with its decoded ``name`` and ``args`` when a registered ABI matched,
  else ``name is None`` and the raw ``topics`` / ``data`` only.
- ``CallFrame``: one frame of a ``callTracer`` trace, flattened: ``path`` is its position in the
  call tree (``()`` is the top call, ``(0, 2)`` the third sub-call of the first sub-call).

Conventions: addresses and hashes are lowercase ``0x`` hex strings; quantities (wei, token base
units, gas) are Python ``int``; ``data`` / ``input`` are ``bytes``. Instances are frozen; the
mapping in ``Log.args`` is read-only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

EMPTY_ARGS: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Log:
    """An event log. ``args`` maps parameter names to decoded values (ints, lowercase addresses,
    bytes, tuples) when ``name`` is set."""

    address: str
    topics: tuple[str, ...]
    data: bytes
    log_index: int
    tx_hash: str
    tx_index: int
    block_number: int | None
    block_hash: str | None
    name: str | None = None
    args: Mapping[str, Any] = field(default_factory=lambda: EMPTY_ARGS)

    @property
    def topic0(self) -> str | None:
        return self.topics[0] if self.topics else None

    @property
    def decoded(self) -> bool:
        return self.name is not None


@dataclass(frozen=True, slots=True)
class Tx:
    """A transaction and, once mined, its receipt."""

    hash: str
    sender: str
    to: str | None  # None for contract creation
    value: int
    input: bytes
    nonce: int
    gas: int
    type: int
    gas_price: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    block_number: int | None = None
    block_hash: str | None = None
    index: int | None = None
    # receipt fields (None while pending)
    status: int | None = None
    gas_used: int | None = None
    effective_gas_price: int | None = None
    contract_address: str | None = None
    logs: tuple[Log, ...] = ()

    @property
    def pending(self) -> bool:
        return self.block_number is None

    @property
    def succeeded(self) -> bool:
        return self.status == 1

    @property
    def selector(self) -> bytes:
        """The first four bytes of the calldata (empty for plain transfers)."""
        return self.input[:4]


@dataclass(frozen=True, slots=True)
class CallFrame:
    """One call of a transaction's trace (``callTracer``), flattened."""

    tx_hash: str
    tx_index: int
    path: tuple[int, ...]
    call_type: str  # CALL, STATICCALL, DELEGATECALL, CALLCODE, CREATE, CREATE2, SELFDESTRUCT
    sender: str
    to: str | None
    value: int
    input: bytes
    output: bytes
    gas_used: int
    error: str | None = None

    @property
    def depth(self) -> int:
        return len(self.path)

    @property
    def is_create(self) -> bool:
        return self.call_type in ("CREATE", "CREATE2")

    @property
    def selector(self) -> bytes:
        return self.input[:4]


@dataclass(frozen=True, slots=True)
class Block:
    """A block with its transactions (with receipts), logs and flattened call traces.

    ``traces`` is ``None`` when the node could not trace the block (the method is missing or
    the answer was malformed): detectors that need traces then rely on receipts only.
    """

    chain_id: int
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    base_fee: int | None
    txs: tuple[Tx, ...] = ()
    traces: tuple[CallFrame, ...] | None = None
    _by_hash: Mapping[str, Tx] = field(default_factory=lambda: EMPTY_ARGS, repr=False, compare=False)

    def logs(self) -> Iterator[Log]:
        """Every log of the block, in order."""
        for tx in self.txs:
            yield from tx.logs

    def tx(self, tx_hash: str) -> Tx | None:
        if not self._by_hash and self.txs:
            object.__setattr__(self, "_by_hash", MappingProxyType({t.hash: t for t in self.txs}))
        return self._by_hash.get(tx_hash)


Event = Block | Tx
"""What a detector receives: a mined ``Block``, or a pending ``Tx``."""

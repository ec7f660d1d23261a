"""What a detector reports: a ``Finding``, with a ``Severity``.

A finding's ``key`` is deterministic (detector, block hash or pending tx, subject, discriminator),
so re-running a block after a crash yields the same keys and the store drops duplicates.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, value: str | int | Severity) -> Severity:
        if isinstance(value, Severity):
            return value
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[value.upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {value!r} (one of: {names})") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Finding:
    """One detector's observation about one block (or pending tx).

    ``subject`` is what is at risk (a protected contract or asset, lowercase address), ``actor`` who
    acts (the sender or contract suspected), ``details`` JSON-serializable facts (ints as ints;
    the store keeps amounts above 2**53 exact through JSON text).
    """

    detector: str
    severity: Severity
    title: str
    chain_id: int
    block_number: int | None
    block_hash: str | None
    tx_hash: str | None = None
    subject: str | None = None
    actor: str | None = None
    discriminator: str = ""
    block_timestamp: int | None = None
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def key(self) -> str:
        where = self.block_hash or f"pending:{self.tx_hash}"
        parts = [self.detector, where, self.tx_hash or "-", self.subject or "-"]
        if self.discriminator:
            parts.append(self.discriminator)
        return ":".join(parts)[:255]

    @property
    def pending(self) -> bool:
        return self.block_hash is None


def jsonable(value: Any) -> Any:
    """Details as JSON: bytes become hex, ints above 2**53 become decimal strings, mappings dicts."""
    if isinstance(value, bool) or value is None or isinstance(value, float | str):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.name.lower()
    return str(value)

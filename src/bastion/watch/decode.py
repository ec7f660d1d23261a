"""Decode event logs against registered ABIs.

An ABI is registered globally (it applies to every emitter, e.g. the ERC-20 events) or for one
address (it wins over global ones). Events are matched on ``topic0`` and on the number of topics,
so ERC-20 and ERC-721 ``Transfer`` (same signature, 3 and 4 topics) do not collide. A log that no
ABI matches, or whose data does not decode, is returned unchanged (raw) and counted; decoding
never raises.

Static parameter types (uintN, intN, address, bool, bytesN) are decoded by slicing, which is
several times faster than ``eth_abi``; dynamic ones go through ``eth_abi``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak

from bastion.watch.events import Log

log = logging.getLogger("bastion.watch.decode")


class SharedStrings:
    """Equal strings as one object: a watchtower holds hundreds of blocks, and the same addresses,
    topics, transaction and block hashes recur in every log, frame and transaction of them (a
    lowercased or decoded copy is a new ~100-byte object each time). Bounded: when full it starts
    over, so only what recurs stays shared; unlike ``sys.intern`` nothing is kept for ever."""

    def __init__(self, size: int = 1 << 16) -> None:
        self.size = size
        self._by_value: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        got = self._by_value.get(value)
        if got is None:
            if len(self._by_value) >= self.size:
                self._by_value.clear()
            got = self._by_value[value] = value
        return got


shared = SharedStrings()
"""The process's shared strings (normalization and decoding both use it)."""


def canonical_type(param: dict[str, Any]) -> str:
    t = param["type"]
    if t.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in param.get("components", []))
        return f"({inner}){t[5:]}"
    return t


def event_signature(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(canonical_type(i) for i in item.get('inputs', []))})"


def event_topic(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


def _static_decoder(t: str):
    """A function decoding one 32-byte word of type ``t``, or None when ``t`` is not static-simple."""
    if t.startswith("uint"):
        return lambda w: int.from_bytes(w, "big")
    if t.startswith("int"):
        return lambda w: int.from_bytes(w, "big", signed=True)
    if t == "address":
        return lambda w: shared("0x" + w[12:].hex())
    if t == "bool":
        return lambda w: w != bytes(32) and int.from_bytes(w, "big") == 1
    if t.startswith("bytes") and t != "bytes":
        n = int(t[5:])
        return lambda w: w[:n]
    return None


def _topic_decoder(t: str):
    """Indexed parameters: simple types decode from the word; the others are stored as their hash."""
    dec = _static_decoder(t)
    return dec if dec is not None else (lambda w: w)


@dataclass(frozen=True)
class EventAbi:
    name: str
    signature: str
    topic0: str
    n_topics: int
    indexed: tuple[tuple[str, Any], ...]  # (name, decoder) for topics[1:]
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]
    fast: tuple[Any, ...] | None  # per-word decoders when every data type is static-simple

    @classmethod
    def from_abi(cls, item: dict[str, Any]) -> EventAbi:
        inputs = item.get("inputs", [])
        sig = event_signature(item)
        indexed = tuple(
            (i.get("name") or f"arg{n}", _topic_decoder(canonical_type(i)))
            for n, i in enumerate(inputs)
            if i.get("indexed")
        )
        data = [(i.get("name") or f"arg{n}", canonical_type(i)) for n, i in enumerate(inputs) if not i.get("indexed")]
        decoders = [_static_decoder(t) for _, t in data]
        fast = tuple(decoders) if all(d is not None for d in decoders) else None
        anonymous = bool(item.get("anonymous"))
        return cls(
            name=item["name"],
            signature=sig,
            topic0="" if anonymous else event_topic(sig),
            n_topics=len(indexed) + (0 if anonymous else 1),
            indexed=indexed,
            data_names=tuple(n for n, _ in data),
            data_types=tuple(t for _, t in data),
            fast=fast,
        )

    def decode(self, lg: Log) -> dict[str, Any]:
        args: dict[str, Any] = {}
        for (name, dec), topic in zip(self.indexed, lg.topics[1:], strict=True):
            args[name] = dec(bytes.fromhex(topic[2:]))
        if self.fast is not None:
            data = lg.data
            if len(data) != 32 * len(self.fast):
                raise ValueError(f"{self.name}: data is {len(data)} bytes, expected {32 * len(self.fast)}")
            for k, (name, dec) in enumerate(zip(self.data_names, self.fast, strict=True)):
                args[name] = dec(data[32 * k : 32 * k + 32])
        elif self.data_types:
            values = abi_decode(list(self.data_types), lg.data)
            for name, t, v in zip(self.data_names, self.data_types, values, strict=True):
                args[name] = shared(v.lower()) if t == "address" else v
        return args


ERC20_ABI: list[dict[str, Any]] = [
    {
        "type": "event",
        "name": "Transfer",
        "inputs": [
            {"name": "from", "type": "address", "indexed": True},
            {"name": "to", "type": "address", "indexed": True},
            {"name": "value", "type": "uint256", "indexed": False},
        ],
    },
    {
        "type": "event",
        "name": "Approval",
        "inputs": [
            {"name": "owner", "type": "address", "indexed": True},
            {"name": "spender", "type": "address", "indexed": True},
            {"name": "value", "type": "uint256", "indexed": False},
        ],
    },
]

TRANSFER_TOPIC = event_topic("Transfer(address,address,uint256)")


class AbiRegistry:
    """Event ABIs by ``(topic0, topic count)``, global or per emitting address."""

    def __init__(self, with_erc20: bool = True) -> None:
        self._global: dict[tuple[str, int], EventAbi] = {}
        self._by_address: dict[str, dict[tuple[str, int], EventAbi]] = {}
        self.undecodable = 0
        if with_erc20:
            self.register(ERC20_ABI)

    def register(self, abi: Iterable[dict[str, Any]], address: str | None = None) -> None:
        table = self._global if address is None else self._by_address.setdefault(address.lower(), {})
        for item in abi:
            if item.get("type") == "event" and not item.get("anonymous"):
                ev = EventAbi.from_abi(item)
                table[(ev.topic0, ev.n_topics)] = ev

    def lookup(self, address: str, topics: tuple[str, ...]) -> EventAbi | None:
        if not topics:
            return None
        key = (topics[0], len(topics))
        per = self._by_address.get(address)
        if per is not None:
            ev = per.get(key)
            if ev is not None:
                return ev
        return self._global.get(key)

    def decode_fields(self, lg: Log) -> tuple[str, MappingProxyType] | None:
        """``(name, args)`` for a log an ABI matches and decodes; None otherwise (never raises)."""
        ev = self.lookup(lg.address, lg.topics)
        if ev is None:
            return None
        try:
            return ev.name, MappingProxyType(ev.decode(lg))
        except Exception as exc:  # junk data must never stop the pipeline
            self.undecodable += 1
            log.info(
                "undecodable log kept raw",
                extra={
                    "event": "undecodable_log",
                    "tx": lg.tx_hash,
                    "log_index": lg.log_index,
                    "error": str(exc),
                },
            )
            return None

    def decode(self, lg: Log) -> Log:
        """The log with ``name`` and ``args`` filled in, or unchanged when it does not decode."""
        fields = self.decode_fields(lg)
        if fields is None:
            return lg
        return replace(lg, name=fields[0], args=fields[1])

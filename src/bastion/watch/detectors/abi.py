"""Tiny helpers for protocol detectors: selectors, call data and 32-byte words of call answers."""

from __future__ import annotations

from functools import cache

from eth_utils import keccak

from bastion.watch.decode import event_topic


@cache
def sel(signature: str) -> bytes:
    """The 4-byte selector of ``signature``, e.g. ``sel("latestRoundData()")``."""
    return keccak(text=signature)[:4]


def call_data(signature: str, *words: bytes | int | str) -> bytes:
    """Calldata for a function whose arguments are all one static word (uint, address, bytes32)."""
    out = sel(signature)
    for w in words:
        if isinstance(w, int):
            out += w.to_bytes(32, "big")
        elif isinstance(w, str):  # an address or 0x bytes32
            raw = bytes.fromhex(w[2:])
            out += raw.rjust(32, b"\0") if len(raw) < 32 else raw
        else:
            out += w.rjust(32, b"\0")
    return out


def word(data: bytes | None, i: int = 0, *, signed: bool = False) -> int | None:
    """Word ``i`` of a call answer as an int; None when the call reverted or answered short."""
    if data is None or len(data) < 32 * (i + 1):
        return None
    return int.from_bytes(data[32 * i : 32 * (i + 1)], "big", signed=signed)


ANSWER_UPDATED = event_topic("AnswerUpdated(int256,uint256,uint256)")
SYNC = event_topic("Sync(uint112,uint112)")


def bps(a: int, ref: int) -> int:
    """|a - ref| in basis points of ref (ref > 0)."""
    return abs(a - ref) * 10_000 // ref if ref > 0 else 10_000

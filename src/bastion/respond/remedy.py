"""Governance's remedy for a contained price incident, built from what the watchtower reported.

While the guardian pause of withdrawals holds, governance decides what may leave. This module turns an
incident into that decision's timelock operations:

- ``flagged_prices``: the prices the incident's ``oracle_deviation`` findings flagged, each with the
  references the detector read at that block (the pool's TWAP and its spot price);
- ``profit_takers``: the accounts that closed a position in a flagged market at a price further than
  ``max_deviation_bps`` from BOTH references of the latest flagged block, each with what that price paid
  it beyond the nearer reference (size closed x price gap): profit taken at a price the watchtower said
  was wrong. A real market move is not one: the pool's spot follows the market (arbitrage), so a feed
  that moved with it is near the spot and nobody is named. An account trading near either reference is
  never named, and nobody loses more than the flagged price paid;
- ``build_remedy``: ONE timelock batch (``Vault.voidProfit`` capped at those gains, and ``Vault.voidClaims``
  of the claims those accounts locked in the window that the gain covers), over the incident window with
  the report's hash, and the marker operation that ties it to the
  paused scope (``HeldPause.remedySalt``; the batch is its predecessor), so the guardian can hold the
  pause until the batch executes (``HeldPause.holdPause``).

``plan`` does all of it for one incident; ``bastion incidents remedy`` prints it. Nothing here signs or
sends: the caller proposes the operations through the Safe (a timelock proposer), and the guardian holds
the pause (``hold_call``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

ZERO32 = b"\0" * 32


@dataclass(frozen=True)
class FlaggedPrice:
    """A market price the watchtower flagged: at ``block``, ``market_id``'s oracle was away from the pool."""

    market_id: str  # 0x-prefixed bytes32
    block: int
    twap: int  # 1e18 USD
    spot: int  # 1e18 USD


@dataclass(frozen=True)
class Remedy:
    """The timelock operations of one remedy (schedule both; the marker after the batch)."""

    gains: dict[str, int]
    window: tuple[int, int]
    report_hash: bytes
    targets: list[str]
    datas: list[bytes]
    batch_salt: bytes
    batch_id: bytes
    marker_target: str
    marker_data: bytes
    marker_salt: bytes
    marker_id: bytes


def flagged_prices(findings: list[Any]) -> list[FlaggedPrice]:
    """The pool references of ``oracle_deviation`` findings (rows with ``detector``, ``block_number``,
    ``details``), oldest first."""
    out = []
    for f in findings:
        d = f.details or {}
        if f.detector != "oracle_deviation" or d.get("reference") != "twap" or f.block_number is None:
            continue
        if d.get("market_id") and d.get("twap") and d.get("spot"):
            out.append(FlaggedPrice(str(d["market_id"]).lower(), int(f.block_number), int(d["twap"]), int(d["spot"])))
    return sorted(out, key=lambda p: p.block)


def profit_takers(engine: Any, flagged: list[FlaggedPrice], to_block: int, max_deviation_bps: int) -> dict[str, int]:
    """Per account, what closing at a flagged price paid it beyond the reference (collateral units), over
    trades from the first flagged block to ``to_block`` at a price more than ``max_deviation_bps`` from
    the latest reference flagged at or before the trade in that market."""
    if not flagged:
        return {}
    scale = int(engine.functions.collateralScale().call())
    logs = engine.events.PositionChanged.get_logs(from_block=flagged[0].block, to_block=to_block)
    gains: dict[str, int] = {}
    for log in logs:
        a = log["args"]
        market = "0x" + bytes(a["market"]).hex()
        refs = [p for p in flagged if p.market_id == market and p.block <= log["blockNumber"]]
        if not refs:
            continue
        price, delta, after = int(a["price"]), int(a["delta"]), int(a["newSize"])
        references = (refs[-1].twap, refs[-1].spot)
        if any(abs(price - ref) * 10_000 <= max_deviation_bps * ref for ref in references):
            continue
        before = after - delta
        if before == 0 or (before > 0) == (delta > 0):
            continue  # nothing closed
        closed = min(abs(delta), abs(before))
        # a long sold above, a short bought below the reference; the nearer reference: the smaller gap
        gap = min(price - ref if before > 0 else ref - price for ref in references)
        if gap <= 0:
            continue
        gain = closed * gap // 10**18 // scale
        if gain > 0:
            gains[a["account"]] = gains.get(a["account"], 0) + gain
    return gains


def report_hash(incident: dict[str, Any]) -> bytes:
    """The hash governance puts on chain: keccak256 of the incident report's canonical JSON."""
    return keccak(text=json.dumps(incident, sort_keys=True, separators=(",", ":"), default=str))


def build_remedy(
    *,
    timelock: Any,
    vault: Any,
    pause: Any,
    scope: int,
    gains: dict[str, int],
    window: tuple[int, int],
    report: bytes,
) -> Remedy:
    """The remedy batch and its marker for ``scope`` of the HeldPause ``pause`` (contracts are web3
    contract objects): void each account's profit of ``window`` up to its flagged ``gains``, and the
    withdrawal claims it locked in ``window`` when they are not more than that gain (a claim is all or
    nothing: a larger one is the account's own money too, so it stays)."""
    start, end = window
    accounts = list(gains)
    asset = vault.functions.asset().call()
    claimants = [a for a in accounts if 0 < int(vault.functions.lockedFunds(a, asset).call()) <= gains[a]]
    caps = [gains[a] for a in accounts]
    calls = [vault.functions.voidProfit(accounts, caps, start, end, report)]
    if claimants:
        calls.append(vault.functions.voidClaims(claimants, start, end, report))
    datas = [bytes.fromhex(fn._encode_transaction_data()[2:]) for fn in calls]
    targets = [vault.address] * len(datas)
    batch_salt = keccak(b"bastion.remedy.batch" + report)
    batch_id = bytes(
        timelock.functions.hashOperationBatch(targets, [0] * len(targets), datas, ZERO32, batch_salt).call()
    )
    marker_salt = bytes(pause.functions.remedySalt(scope).call())
    # The marker's call does nothing: it only has to exist, after the batch, with the scope's salt.
    marker_data = bytes.fromhex(pause.functions.remedySalt(scope)._encode_transaction_data()[2:])
    marker_id = bytes(timelock.functions.hashOperation(pause.address, 0, marker_data, batch_id, marker_salt).call())
    return Remedy(gains, window, report, targets, datas, batch_salt, batch_id, pause.address, marker_data,
                  marker_salt, marker_id)  # fmt: skip


def schedule_calls(timelock: Any, remedy: Remedy, delay: int) -> list[bytes]:
    """Calldata of the two timelock calls a proposer sends, in order: the batch, then the marker."""
    batch = timelock.functions.scheduleBatch(
        remedy.targets, [0] * len(remedy.targets), remedy.datas, ZERO32, remedy.batch_salt, delay
    )
    marker = timelock.functions.schedule(
        remedy.marker_target, 0, remedy.marker_data, remedy.batch_id, remedy.marker_salt, delay
    )
    return [bytes.fromhex(fn._encode_transaction_data()[2:]) for fn in (batch, marker)]


def plan(
    protocol: Any, findings: list[Any], *, head: int, max_deviation_bps: int, incident: Any = None
) -> Remedy | None:
    """The remedy of an incident of the reference protocol (``bastion.protocol.client.Protocol``) from its
    ``findings`` up to block ``head``, for the all-market withdrawal pause; None when nobody took profit at
    a flagged price. The window starts one vesting delay before the first flagged block (profit realised
    then is still locked) and ends at ``head``."""
    flagged = flagged_prices(findings)
    gains = profit_takers(protocol.engine, flagged, head, max_deviation_bps)
    if not gains:
        return None
    w3 = protocol.w3
    delay = int(protocol.engine.functions.profitVestingDelay().call())
    start = int(w3.eth.get_block(flagged[0].block)["timestamp"]) - delay
    end = int(w3.eth.get_block(head)["timestamp"])
    report = report_hash(
        {"incident": incident, "flagged": [p.__dict__ for p in flagged], "gains": gains, "window": [start, end]}
    )
    return build_remedy(timelock=protocol.timelock, vault=protocol.vault, pause=protocol.router, scope=0,
                        gains=gains, window=(start, end), report=report)  # fmt: skip


def hold_call(pause: Any, remedy: Remedy, scope: int = 0) -> bytes:
    """Calldata of the guardian's ``holdPause`` for ``remedy`` (once the marker is queued)."""
    fn = pause.functions.holdPause(scope, remedy.marker_target, 0, remedy.marker_data, remedy.batch_id)
    return bytes.fromhex(fn._encode_transaction_data()[2:])

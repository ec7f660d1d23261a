"""Price manipulation: an AMM spot price moved beyond ``max_move_bps`` inside one transaction that also
touches the protocol (the flash-loan pattern: borrow, push a pool, use the protocol, swap back).

Reads the pool's ``Sync(uint112 reserve0, uint112 reserve1)`` events (any emitter: Uniswap-V2-style
pools have the same event) of each successful transaction. The reference spot is the pool's reserves
before the transaction: its last ``Sync`` earlier in the block, else its reserves at the previous
block. The move is the largest distance of any ``Sync`` of the transaction from that reference, so a
price pushed and restored within the transaction counts. "Touches the protocol": a log emitted by, or
(with traces) a call frame into, a protected contract.
"""

from __future__ import annotations

from pydantic import Field

from bastion.watch.detectors.abi import SYNC, sel, word
from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.events import Block, Tx
from bastion.watch.findings import Finding, Severity
from bastion.watch.view import ChainView


def _reserves(data: bytes) -> tuple[int, int] | None:
    if len(data) < 64:
        return None
    return int.from_bytes(data[:32], "big"), int.from_bytes(data[32:64], "big")


def move_bps(ref: tuple[int, int], now: tuple[int, int]) -> int:
    """Distance of price r1/r0 (``now``) from ``ref``, in bps of ``ref``; exact integer maths."""
    r0, r1 = ref
    n0, n1 = now
    if r0 == 0 or r1 == 0 or n0 == 0:
        return 0
    # |n1/n0 - r1/r0| / (r1/r0) = |n1*r0 - r1*n0| / (r1*n0)
    return abs(n1 * r0 - r1 * n0) * 10_000 // (r1 * n0)


def touches(tx: Tx, block: Block, protected: frozenset[str], frames: dict[str, set[str]] | None = None) -> bool:
    """Whether ``tx`` involves a protected contract: its target, a log it emitted, or (with traces) a
    call frame into it. ``frames``: the block's call targets by transaction, when already indexed."""
    if tx.to in protected or any(lg.address in protected for lg in tx.logs):
        return True
    if block.traces is None:
        return False
    targets = frames.get(tx.hash, set()) if frames is not None else {f.to for f in block.traces if f.tx_hash == tx.hash}
    return not targets.isdisjoint(protected)


def _frames(block: Block) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in block.traces or ():
        if f.to is not None:
            out.setdefault(f.tx_hash, set()).add(f.to)
    return out


@register
class PriceManipulation(Detector):
    id = "price_manipulation"
    severity = Severity.CRITICAL
    description = "An AMM spot price moved beyond max_move_bps within a transaction that also touches the protocol"
    confidence = "high"
    recommendation = "Pause opening positions on the market; compare the pool with the oracle"

    class Config(DetectorConfig):
        max_move_bps: int = Field(default=500, gt=0, le=100_000)
        pools: list[str] = Field(default_factory=list, description="empty: every pool (any Sync emitter)")
        require_protocol: bool = True

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        cfg = self.config
        chosen = frozenset(view.protocol.resolve(p) for p in cfg.pools) if cfg.pools else None
        per_tx: list[tuple[Tx, dict[str, list[tuple[int, int]]]]] = []
        for tx in event.txs:  # one pass; a dict only for the rare transaction with a Sync
            if tx.status == 0:
                continue
            syncs: dict[str, list[tuple[int, int]]] | None = None
            for lg in tx.logs:
                if lg.topic0 == SYNC and (chosen is None or lg.address in chosen):
                    r = _reserves(lg.data)
                    if r is not None:
                        if syncs is None:
                            syncs = {}
                        syncs.setdefault(lg.address, []).append(r)
            if syncs is not None:
                per_tx.append((tx, syncs))
        if not per_tx:
            return []
        protected = view.protocol.protected
        frames = _frames(event) if event.traces is not None else None
        suspects = {tx.hash for tx, _ in per_tx if not cfg.require_protocol or touches(tx, event, protected, frames)}
        if not suspects:
            return []
        # reserves before the block (the reference of a pool's first transaction in the block)
        need = sorted({p for _, syncs in per_tx for p in syncs})
        reads = [(p, sel(s), event.number - 1) for p in need for s in ("reserve0()", "reserve1()")]
        answers = view.call_many(reads) if event.number > 0 else [None] * len(reads)
        ref: dict[str, tuple[int, int]] = {}
        for i, p in enumerate(need):
            r0, r1 = word(answers[2 * i]), word(answers[2 * i + 1])
            if r0 is not None and r1 is not None:
                ref[p] = (r0, r1)
        out: list[Finding] = []
        for tx, syncs in per_tx:
            for pool, rs in syncs.items():
                before = ref.get(pool)
                ref[pool] = rs[-1]  # the next transaction's reference
                if tx.hash not in suspects or before is None:
                    continue
                moves = [move_bps(before, r) for r in rs]
                worst = max(moves)
                if worst <= cfg.max_move_bps:
                    continue
                market = view.protocol.market_of_pool(pool)
                label = market.symbol if market else view.protocol.label(pool)
                details = {
                    "pool": pool,
                    "move_bps": worst,
                    "final_move_bps": moves[-1],
                    "syncs": len(rs),
                    "reserves_before": list(before),
                    "target": tx.to,
                }
                if market is not None:
                    details.update({"market": market.symbol, "scope": market.scope, "market_id": market.id})
                out.append(
                    self.finding(
                        event,
                        f"{label} pool price moved {worst / 100:.1f}% inside a transaction that calls the protocol",
                        tx_hash=tx.hash,
                        subject=pool,
                        actor=tx.sender,
                        discriminator=pool,
                        details=details,
                    )
                )
        return out

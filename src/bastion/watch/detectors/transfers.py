"""Large single transfer / balance drop of a protected holder (ERC-20 Transfer logs)."""

from __future__ import annotations

from pydantic import Field, PositiveInt

from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.detectors.flows import amount_text, block_movements, resolve_amounts
from bastion.watch.events import Block
from bastion.watch.findings import Finding, Severity
from bastion.watch.view import ChainView


@register
class LargeTransfer(Detector):
    id = "large_transfer"
    severity = Severity.HIGH
    description = (
        "One transaction moves more than a set amount, or more than a set fraction of the balance held "
        "at the previous block, out of a protected holder"
    )

    confidence = "medium"
    recommendation = "Check the recipient; pause withdrawals if the holder did not expect it"

    class Config(DetectorConfig):
        min_amount: dict[str, PositiveInt] = Field(default_factory=dict, description="asset -> base units")
        min_fraction_bps: int | None = Field(default=2_000, gt=0, le=10_000)
        assets: list[str] = Field(default_factory=list, description="assets watched (empty: all)")

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        cfg = self.config
        minimums = resolve_amounts(view, cfg.min_amount)
        net: dict[tuple[str | None, str, str], int] = {}  # (tx or None for a balance delta, token, holder)
        for m in block_movements(event, view, cfg.assets):
            net[(m.tx_hash, m.token, m.holder)] = net.get((m.tx_hash, m.token, m.holder), 0) + m.amount
        out: list[Finding] = []
        for (tx_hash, token, holder), amount in net.items():
            if amount <= 0:
                continue
            floor = minimums.get(token)
            hit = floor is not None and amount >= floor
            before = None
            if not hit and cfg.min_fraction_bps is not None:
                before = view.erc20_balance(token, holder, event.number - 1)
                hit = before > 0 and amount * 10_000 >= cfg.min_fraction_bps * before
            if not hit:
                continue
            tx = event.tx(tx_hash) if tx_hash else None
            share = f" ({amount * 100 / before:.1f}% of its balance)" if before else ""
            where = "in one transaction" if tx_hash else "in one block (balance read)"
            out.append(
                self.finding(
                    event,
                    f"{amount_text(view, token, amount)} left {view.protocol.label(holder)} {where}{share}",
                    tx_hash=tx_hash,
                    subject=holder,
                    actor=tx.sender if tx else None,
                    discriminator=token,
                    details={
                        "token": token,
                        "holder": holder,
                        "amount": amount,
                        "balance_before": before,
                        "to": tx.to if tx else None,
                    },
                )
            )
        return out

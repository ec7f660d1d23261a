"""``deposit_roundtrip``: an account takes back out a large share of the protocol's holdings of an asset
soon after paying most of it in.

A round trip takes nothing (``account_extraction`` nets it to zero), but a large one is the pattern of
limiter griefing (its withdrawal would use up every other user's outflow headroom) and of deposits made
to move a share price or a quorum for a few blocks. It is reported at the withdrawal, the first
transaction that shows the intent (a deposit alone is ordinary), as MEDIUM: worth a human's look, no
money is at risk by itself. The window is in blocks and bounded by the service's history
(``history_blocks``); a round trip spread wider is left to the limiter's own-deposit headroom.
"""

from __future__ import annotations

from pydantic import Field

from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.detectors.flows import amount_text, block_movements
from bastion.watch.events import Block
from bastion.watch.findings import Finding, Severity
from bastion.watch.view import ChainView


@register
class DepositRoundTrip(Detector):
    id = "deposit_roundtrip"
    severity = Severity.MEDIUM
    confidence = "low"
    description = (
        "An account withdraws a large share of the protocol's holdings of an asset within a window after "
        "depositing most of that amount (a round trip: griefing of shared outflow limits, or a transient deposit)"
    )
    recommendation = "Check the outflow limiter's queue and the share price around the deposit"

    class Config(DetectorConfig):
        window_blocks: int = Field(default=300, gt=0, le=100_000, description="deposit to withdrawal, at most")
        min_fraction_bps: int = Field(default=2_000, gt=0, le=10_000, description="withdrawal / holdings before it")
        min_own_bps: int = Field(default=5_000, gt=0, le=10_000, description="deposited in the window / withdrawal")
        assets: list[str] = Field(default_factory=list, description="assets watched (empty: all)")
        ignore: list[str] = Field(default_factory=list, description="accounts never suspected (names, addresses)")

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        cfg = self.config
        outs: dict[tuple[str, str], int] = {}
        first_tx: dict[tuple[str, str], str | None] = {}
        for m in block_movements(event, view, cfg.assets):
            if m.amount > 0 and m.counterparty.startswith("0x"):
                key = (m.token, m.counterparty)
                outs[key] = outs.get(key, 0) + m.amount
                first_tx.setdefault(key, m.tx_hash)
        if not outs:
            return []
        ignored = {view.protocol.resolve(a) for a in cfg.ignore} | {c.address for c in view.protocol.contracts.values()}
        earlier = view.history.window(event, blocks=cfg.window_blocks)[:-1]
        paid_in: dict[tuple[str, str], int] = {}
        for b in earlier:
            for m in block_movements(b, view, cfg.assets):
                if m.amount < 0 and (m.token, m.counterparty) in outs:
                    paid_in[(m.token, m.counterparty)] = paid_in.get((m.token, m.counterparty), 0) - m.amount
        out = []
        for (token, account), amount in outs.items():
            own = paid_in.get((token, account), 0)
            if account in ignored or own * 10_000 < cfg.min_own_bps * amount:
                continue
            holdings = sum(view.erc20_balance(token, h, event.number - 1) for h in view.protocol.protected)
            if holdings <= 0 or amount * 10_000 < cfg.min_fraction_bps * holdings:
                continue
            out.append(
                self.finding(
                    event,
                    f"{account} withdrew {amount_text(view, token, amount)} "
                    f"({amount * 10_000 // holdings / 100:.2f}% of the protocol's holdings) within "
                    f"{len(earlier)} blocks of depositing {amount_text(view, token, own)}",
                    tx_hash=first_tx[(token, account)],
                    subject=token,
                    actor=account,
                    discriminator=f"{token}:{account}",
                    details={
                        "token": token,
                        "account": account,
                        "amount": amount,
                        "deposited": own,
                        "holdings": holdings,
                        "fraction_bps": amount * 10_000 // holdings,
                    },
                )
            )
        return out

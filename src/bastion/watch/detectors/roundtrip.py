"""``deposit_roundtrip``: an account takes back out a large share of the protocol's holdings of an asset
soon after paying most of it in.

A round trip takes nothing (``account_extraction`` nets it to zero), but a large one is the pattern of
limiter griefing (its withdrawal would use up every other user's outflow headroom) and of deposits made
to move a share price or a quorum for a few blocks. It is reported at the withdrawal, the first
transaction that shows the intent (a deposit alone is ordinary), as MEDIUM: worth a human's look, no
money is at risk by itself. Withdrawals split across transactions (under a per-transaction cap) add up
over the window; it fires on the block where their sum crosses the threshold. The window is in blocks
and bounded by the service's history (``history_blocks``); a round trip spread wider is left to the
limiter's own-deposit headroom.
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

    def _flows(self, view: ChainView, block: Block) -> dict[tuple[str, str], tuple[int, int]]:
        """(paid in, taken out) per (token, account) in ``block`` (memoized)."""

        def compute(b: Block) -> dict[tuple[str, str], tuple[int, int]]:
            out: dict[tuple[str, str], tuple[int, int]] = {}
            for m in block_movements(b, view, self.config.assets):
                if m.counterparty.startswith("0x"):
                    paid, taken = out.get((m.token, m.counterparty), (0, 0))
                    out[(m.token, m.counterparty)] = (paid - min(m.amount, 0), taken + max(m.amount, 0))
            return out

        return view.history.derive(block, f"roundtrip:{','.join(sorted(self.config.assets))}", compute)

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        cfg = self.config
        now = {k: v[1] for k, v in self._flows(view, event).items() if v[1] > 0}
        if not now:
            return []
        ignored = {view.protocol.resolve(a) for a in cfg.ignore} | {c.address for c in view.protocol.contracts.values()}
        window = view.history.window(event, blocks=cfg.window_blocks)
        paid: dict[tuple[str, str], int] = {}
        taken: dict[tuple[str, str], int] = {}
        for b in window:  # split withdrawals add up: a per-transaction cap does not hide the round trip
            for key, (p_in, t_out) in self._flows(view, b).items():
                if key in now:
                    paid[key] = paid.get(key, 0) + p_in
                    taken[key] = taken.get(key, 0) + t_out
        out = []
        for (token, account), this_block in now.items():
            total, own = taken[(token, account)], paid.get((token, account), 0)
            if account in ignored or own * 10_000 < cfg.min_own_bps * total:
                continue
            before = total - this_block
            # what the protocol held before this account's withdrawals in the window began
            holdings = sum(view.erc20_balance(token, h, event.number - 1) for h in view.protocol.protected) + before
            if holdings <= 0 or total * 10_000 < cfg.min_fraction_bps * holdings:
                continue
            if before * 10_000 >= cfg.min_fraction_bps * holdings:
                continue  # already past the threshold: reported when it crossed
            out.append(
                self.finding(
                    event,
                    f"{account} withdrew {amount_text(view, token, total)} "
                    f"({total * 10_000 // holdings / 100:.2f}% of the protocol's holdings) within "
                    f"{len(window)} blocks of depositing {amount_text(view, token, own)}",
                    subject=token,
                    actor=account,
                    discriminator=f"{token}:{account}",
                    details={
                        "token": token,
                        "account": account,
                        "amount": total,
                        "deposited": own,
                        "holdings": holdings,
                        "fraction_bps": total * 10_000 // holdings,
                    },
                )
            )
        return out

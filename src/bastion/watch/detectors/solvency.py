"""Invariant watch: the reference clearinghouse's solvency recomputed from state every block.

surplus = USDC.balanceOf(vault) - vault.outstandingClaims() - engine.obligations()

The books guarantee 0 <= surplus, growing only by rounding (a few units per operation). A negative
surplus is a shortfall; a change of more than ``max_drift`` units from the previous block is a drift
(tokens left or entered the vault outside the books). Both are critical. Skipped after settlement.
"""

from __future__ import annotations

from pydantic import Field

from bastion.watch.detectors.abi import call_data, sel, word
from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.events import Block
from bastion.watch.findings import Finding, Severity
from bastion.watch.view import ChainView


@register
class Solvency(Detector):
    id = "solvency"
    severity = Severity.CRITICAL
    description = "The vault's free balance no longer covers the books (shortfall), or its surplus drifted"
    confidence = "high"
    recommendation = "Pause deposits, withdrawals and opening; reconcile the books with the balance"

    class Config(DetectorConfig):
        max_drift: int = Field(default=10_000, ge=0, description="asset units per block (rounding is ~3/op)")
        asset: str = "USDC"

    def _reads(self, view: ChainView, block: int) -> list[tuple[str, bytes, int | None]]:
        vault, engine = view.protocol.address_of("vault"), view.protocol.address_of("engine")
        token = view.protocol.resolve(self.config.asset)
        return [
            (token, call_data("balanceOf(address)", vault), block),
            (vault, sel("outstandingClaims()"), block),
            (engine, sel("obligations()"), block),
            (engine, sel("settled()"), block),
        ]

    @staticmethod
    def _surplus(answers: list[bytes | None]) -> tuple[int, int, int, int, bool] | None:
        bal, claims, owed, settled = word(answers[0]), word(answers[1]), word(answers[2], signed=True), word(answers[3])
        if bal is None or claims is None or owed is None:
            return None
        return bal - claims - owed, bal, claims, owed, bool(settled)

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        if view.protocol.address_of("vault") is None or view.protocol.address_of("engine") is None:
            return []
        prev_n = event.number - 1
        answers = view.call_many(self._reads(view, event.number) + (self._reads(view, prev_n) if prev_n >= 0 else []))
        now = self._surplus(answers[:4])
        if now is None or now[4]:
            return []
        before = self._surplus(answers[4:]) if prev_n >= 0 else None
        surplus, bal, claims, owed, _ = now
        vault = view.protocol.address_of("vault")
        details = {
            "token": view.protocol.resolve(self.config.asset),
            "vault_balance": bal,
            "outstanding_claims": claims,
            "obligations": owed,
            "surplus": surplus,
        }
        out: list[Finding] = []
        if surplus < 0 and (before is None or before[0] >= 0 or before[4]):
            out.append(
                self.finding(
                    event,
                    f"vault shortfall: free balance {bal - claims} < obligations {owed} (short {-surplus})",
                    subject=vault,
                    discriminator="shortfall",
                    details={**details, "shortfall": -surplus},
                )
            )
        if before is not None and not before[4]:
            drift = surplus - before[0]
            if abs(drift) > self.config.max_drift:
                out.append(
                    self.finding(
                        event,
                        f"vault surplus drifted by {drift} units in one block ({before[0]} -> {surplus})",
                        subject=vault,
                        discriminator="drift",
                        details={**details, "drift": drift, "surplus_before": before[0]},
                    )
                )
        return out

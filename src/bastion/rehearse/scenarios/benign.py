"""Benign scenarios: what the defences must NOT do (trip, pause, freeze) while honest users go about
their business, from an ordinary busy day to a replayed crash and a bank run."""

from __future__ import annotations

from bastion.rehearse.scenarios.base import BENIGN, Outcome, Run, Scenario


class BusyTrading(Scenario):
    """Ordinary busy trading over many blocks: many traders open, adjust and close positions and move
    collateral while prices wander. Nothing may trip, pause or be refused by a guard."""

    key = "busy-trading"
    title = "Ordinary busy trading"
    kind = BENIGN
    incident = "an ordinary busy day"
    traders = 24

    def setup(self, run: Run) -> None:
        run.traffic.activity = 0.12

    def play(self, run: Run) -> None:
        run.slots(run.n(240, 20))

    def measure(self, run: Run, out: Outcome) -> None:
        g = run.world.protocol.guards()
        out.honest_paid_in_full = out.honest_blocked == 0 and g.outstanding_claims == 0
        if g.obligations > g.vault_balance - g.outstanding_claims:
            out.notes.append("the vault does not cover its obligations")
            out.honest_paid_in_full = False


class CrashReplay(Scenario):
    key = "crash-replay"
    title = "Replayed crash (placeholder)"
    kind = BENIGN

    def play(self, run: Run) -> None:
        run.slots(5)


class BankRun(Scenario):
    key = "bank-run"
    title = "Bank run (placeholder)"
    kind = BENIGN

    def play(self, run: Run) -> None:
        run.slots(5)

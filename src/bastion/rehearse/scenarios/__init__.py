"""The rehearsal corpus: attack scenarios (each modelled on a real incident class) and benign ones."""

from __future__ import annotations

from bastion.rehearse.scenarios import attacks_griefing, attacks_powers, attacks_prices
from bastion.rehearse.scenarios.attacks_keys import MaliciousUpgrade, RogueGuardian
from bastion.rehearse.scenarios.attacks_market import CompromisedFeeder, SpotOracle, StaleOracle
from bastion.rehearse.scenarios.attacks_vaults import AccessControl, Donation, Reentrancy, RoundingDrain
from bastion.rehearse.scenarios.base import Scenario
from bastion.rehearse.scenarios.benign import BankRun, BusyTrading, CrashReplay, CrashReplayMarch2020

SCENARIOS: dict[str, type[Scenario]] = {
    cls.key: cls
    for cls in (
        SpotOracle,
        CompromisedFeeder,
        StaleOracle,
        Reentrancy,
        AccessControl,
        RoundingDrain,
        Donation,
        MaliciousUpgrade,
        RogueGuardian,
        *attacks_prices.VARIANTS,
        *attacks_powers.VARIANTS,
        *attacks_griefing.VARIANTS,
        CrashReplay,
        CrashReplayMarch2020,
        BankRun,
        BusyTrading,
    )
}

__all__ = ["SCENARIOS", "Scenario"]

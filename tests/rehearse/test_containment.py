"""Issue 10's off-chain half on the rehearsal chain (real anvil, the real watchtower, defences ``all``):
the per-operation veto, the narrow answer to a pool-only anomaly, and runs that last until the attack's
consequences end. Slow variants run every new scenario once."""

from __future__ import annotations

import pytest

from bastion.rehearse.harness import AFTERMATH_MIN_S, run_one
from bastion.rehearse.scenarios import SCENARIOS
from bastion.rehearse.world import HOUR

NEW = (
    "feeder-swings", "feeder-swings-fast", "feeder-ramp-jitter", "feeder-one-block", "feeder-next-block-tip",
    "lagging-feed-crash", "claims-in-pause", "pause-waitout", "timelock-batch", "guardian-tighten",
    "whale-roundtrip", "whale-roundtrip-large", "pool-holding", "pool-holding-shallow",
    "guardian-tighten-margin", "guardian-tighten-quick", "feeder-one-block-in-band", "feeder-next-block-tip-in-band",
)  # fmt: skip


def test_corpus_covers_every_weakness_class_with_variants() -> None:
    assert set(NEW) <= set(SCENARIOS)
    by_class: dict[str, list[str]] = {}
    for key in NEW:
        by_class.setdefault(SCENARIOS[key].weakness, []).append(key)
    assert set(by_class) == {"1", "2", "3", "4", "5", "6"}
    assert len(by_class["2"]) >= 4  # several variants of the shared feeder key
    assert all(SCENARIOS[k].griefer for k in by_class["6"])


def test_five_dangerous_operations_scheduled_at_once_are_all_cancelled() -> None:
    out = run_one("timelock-batch", "all", scale=0.3)
    assert "5 of 5 operations cancelled, 0 executed" in out.notes
    assert out.value_lost == 0 and out.detected_within_one_block
    cancels = [e for e in out.guard_events if "timelock cancel" in e]
    assert len(cancels) == 5
    # one co-signed Safe transaction per operation, all in the humans' first review
    assert len({h["at"] for h in out.humans if "Safe proposal" in h["what"]}) == 1
    assert out.aftermath_hours * HOUR >= AFTERMATH_MIN_S


def test_pool_only_anomaly_restricts_that_market_and_never_pauses_withdrawals() -> None:
    out = run_one("pool-holding", "all")
    assert out.first_finding == "oracle_deviation"  # the anomaly is seen ...
    assert any("forced reduce-only" in e for e in out.guard_events)  # ... that market goes reduce-only ...
    assert not any(": pause" in e for e in out.guard_events)  # ... no protocol pause, no cooldown spent
    assert out.honest_max_delay_h is not None and out.honest_max_delay_h <= 1
    assert out.trips >= 1


@pytest.mark.slow
def test_feeds_that_moved_still_pause_withdrawals() -> None:
    out = run_one("feeder-ramp-jitter", "all", scale=0.3)
    assert any(": pause" in e and "router" in e for e in out.guard_events)


@pytest.mark.slow
@pytest.mark.parametrize("key", NEW)
def test_every_new_scenario_runs_to_the_end_of_its_consequences(key: str) -> None:
    out = run_one(key, "all", scale=0.3)
    assert out.aftermath_hours * HOUR >= AFTERMATH_MIN_S
    assert out.notes is not None and not [n for n in out.notes if n.startswith("watchtower error")]


def test_humans_hold_the_pause_until_the_remedy_voids_incident_claims_and_profit() -> None:
    """The watchtower pauses withdrawals; the humans queue ONE remedy batch for the accounts that closed at
    a flagged price, hold the pause past the guardian's 24 h while it is queued, execute it when ready
    and release the hold; the attacker's claims and profit are voided, honest claims are paid after.
    (An in-band push closed in its own block: the one price attack whose close is filled at the pushed
    price; once the market is reduce-only, closes fill at the guard's exit range and nothing is gained.)"""
    out = run_one("feeder-one-block-in-band", "all", scale=0.3)
    steps = [h["what"] for h in out.humans]
    queued = next(h for h in out.humans if h["what"].startswith("queued the remedy"))
    executed = next(h for h in out.humans if h["what"] == "executed the remedy and released the hold")
    assert "held the withdrawal pause until the remedy is decided" in steps
    assert executed["at"] - queued["at"] >= 48 * HOUR  # the timelock's delay: longer than the 24 h pause
    assert any("humans-hold" in a and "mined" in a for a in out.watchtower_actions)  # the guardian key's hold
    assert out.value_lost == 0 and out.attacker_gain == 0
    # (claims not voided are paid afterwards: test/protocol/Containment.t.sol, on the same contracts)

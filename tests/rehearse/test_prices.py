"""Issue 10's price classes on the rehearsal chain (real anvil, the real watchtower, defences ``all``):
no exit at a held price during a deviation (class 3), a pushed price seen at its first push however small
(class 2), no trip on real crash days, and a pool held off agreeing feeds answered narrowly (class 6).
Slow variants run the other members of each class."""

from __future__ import annotations

import pytest

from bastion.rehearse.harness import run_one

LAGGING = ("lagging-feed-crash", "lagging-feed-crash-quick", "lagging-feed-crash-eth", "lagging-feed-rally")


def _exit_at_the_held_price_is_not_paid(key: str) -> None:
    out = run_one(key, "all")
    assert out.preserved is not None and out.preserved >= 0.95, (key, out.value_lost, out.value_at_risk)


def test_no_exit_at_a_held_price_in_a_lagging_feed_crash() -> None:
    _exit_at_the_held_price_is_not_paid("lagging-feed-crash")


@pytest.mark.slow
@pytest.mark.parametrize("key", LAGGING[1:])
def test_no_exit_at_a_held_price_variants(key: str) -> None:
    _exit_at_the_held_price_is_not_paid(key)


def test_a_sub_threshold_push_is_seen_at_the_first_push() -> None:
    out = run_one("feeder-swings-fast", "all", scale=0.3)  # 1.5% moves, far under every threshold
    assert out.detected_within_one_block
    assert out.first_finding == "oracle_deviation"
    assert out.value_lost == 0


@pytest.mark.parametrize("key", ["crash-replay", "crash-replay-2020"])
def test_real_crash_days_get_no_watchtower_action(key: str) -> None:
    # the hours around each day's steepest fall: the feeds leave the pool's TWAP, the spot follows them
    out = run_one(key, "all", scale=0.3)
    assert out.watchtower_actions == [], out.watchtower_actions
    assert not any(": pause" in e for e in out.guard_events)
    if key == "crash-replay":  # May 2021 (-13% in its worst hour) trips nothing on chain either
        assert out.trips == 0, out.guard_events


@pytest.mark.slow
@pytest.mark.parametrize("key", ["pool-holding", "pool-holding-shallow"])
def test_a_held_pool_is_reported_at_once_and_never_pauses_withdrawals(key: str) -> None:
    out = run_one(key, "all")
    assert out.detected_within_one_block  # the pool leaving agreeing feeds is reported in its block
    assert any("forced reduce-only" in e for e in out.guard_events)
    assert not any(": pause" in e for e in out.guard_events)
    assert out.honest_max_delay_h is not None and out.honest_max_delay_h <= 1

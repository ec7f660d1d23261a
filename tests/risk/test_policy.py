"""Bounded policy: within bounds and step, classified, cooled down; proposals re-simulated and hashed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bastion.risk.estimators import CALM_NETWORK, CongestionInputs
from bastion.risk.policy import (
    DEFAULT_LIQUIDITY,
    Action,
    MarketSnapshot,
    ParamBounds,
    ParamState,
    bound_change,
    default_state,
    recommend,
    report_hash,
    simulate_proposal,
)
from bastion.sim.data import btc_hourly_log_returns


@st.composite
def state_and_target(draw):
    lo = draw(st.integers(0, 10**12))
    hi = draw(st.integers(lo, lo + 10**12))
    step = draw(st.integers(1, 10**12))
    interval = draw(st.integers(0, 10**6))
    b = ParamBounds(lo, hi, step, interval, draw(st.sampled_from(["increase", "decrease"])))
    cur = draw(st.integers(lo, hi))
    last = draw(st.integers(0, 10**7))
    now = draw(st.integers(last, last + 2 * 10**6))
    target = draw(st.integers(-(10**13), 10**13))
    return ParamState(cur, last, b), target, now


@settings(max_examples=400, deadline=None)
@given(state_and_target())
def test_policy_never_exceeds_bounds_or_step(args):
    state, target, now = args
    c = bound_change("p", state, target, now)
    b = state.bounds
    assert isinstance(c.proposed, int)
    assert b.min <= c.proposed <= b.max
    assert abs(c.proposed - state.value) <= b.max_step
    if now - state.last_changed < b.min_interval:
        assert c.proposed == state.value and c.action is Action.HOLD
    if c.proposed != state.value:
        tighter = (c.proposed > state.value) == (b.tighten_when == "increase")
        assert c.action is (Action.TIGHTEN if tighter else Action.LOOSEN)
        assert c.route == ("RISK" if tighter else "TIMELOCK")
        # the move goes toward the target
        assert (c.proposed - state.value) * (target - state.value) > 0
    assert c.reasons


def test_classification_examples():
    margin = ParamState(250, 0, ParamBounds(100, 2_500, 100, 3_600, "increase"))
    up = bound_change("mm", margin, 600, now=10_000)
    assert (up.proposed, up.action, up.route) == (350, Action.TIGHTEN, "RISK")
    assert any("step limited" in r for r in up.reasons)
    down = bound_change("mm", margin, 200, now=10_000)
    assert (down.proposed, down.action, down.route) == (200, Action.LOOSEN, "TIMELOCK")
    cooling = bound_change("mm", margin, 600, now=100)
    assert cooling.action is Action.HOLD and "cooling down" in cooling.reasons[-1]
    cap = ParamState(100, 0, ParamBounds(10, 1_000, 50, 0, "decrease"))
    assert bound_change("cap", cap, 20, now=1).action is Action.TIGHTEN
    assert bound_change("cap", cap, 5_000, now=1).proposed == 150
    outside = ParamState(5_000, 0, ParamBounds(10, 1_000, 50, 10**9, "decrease"))
    assert bound_change("cap", outside, 900, now=1).proposed == 900  # bounds first, in one move


@settings(max_examples=60, deadline=None)
@given(
    fee=st.integers(0, 10**12),
    gas=st.floats(0, 1),
    pool=st.integers(0, 10**6),
    age=st.integers(0, 10 * 86_400),
    hours=st.integers(200, 2_000),
)
def test_recommend_respects_registry_and_margin_order(fee: int, gas: float, pool: int, age: int, hours: int):
    r = btc_hourly_log_returns()
    snap = MarketSnapshot(r[-hours:], DEFAULT_LIQUIDITY, CongestionInputs(fee, gas, pool), timestamp=10**9)
    current = default_state(last_changed=10**9 - age)
    rec = recommend(snap, current)
    assume(rec.changes)
    by = {c.name: c for c in rec.changes}
    for c in rec.changes:
        b = current[c.name].bounds
        assert b.min <= c.proposed <= b.max and abs(c.proposed - c.current) <= b.max_step
        assert isinstance(c.proposed, int)
    assert by["maintenance_margin_bps"].proposed <= by["initial_margin_bps"].proposed


def test_congestion_tightens_margins_immediately():
    r = btc_hourly_log_returns()[-720:]
    calm = recommend(MarketSnapshot(r, DEFAULT_LIQUIDITY, CALM_NETWORK, 10**9), default_state(0))
    busy_net = CongestionInputs(base_fee_wei=500 * 10**9, gas_used_ratio=1.0, pending_txs=150_000)
    busy = recommend(MarketSnapshot(r, DEFAULT_LIQUIDITY, busy_net, 10**9), default_state(0))
    mm_calm = next(c for c in calm.changes if c.name == "maintenance_margin_bps")
    mm_busy = next(c for c in busy.changes if c.name == "maintenance_margin_bps")
    assert mm_busy.target > mm_calm.target
    assert mm_busy.action is Action.TIGHTEN and mm_busy.route == "RISK"


def test_calibrated_thresholds_override_the_closed_form():
    r = btc_hourly_log_returns()[-720:]
    snap = MarketSnapshot(r, DEFAULT_LIQUIDITY, CALM_NETWORK, 10**9)
    rec = recommend(snap, default_state(0), calibrated={"limiter_threshold_bps": 900})
    lim = next(c for c in rec.changes if c.name == "limiter_threshold_bps")
    assert lim.target == 900 and lim.action is Action.TIGHTEN and "calibration" in lim.reasons[0]


def test_proposal_resimulation_is_reproducible_and_hashed():
    r = btc_hourly_log_returns()[-720:]
    snap = MarketSnapshot(r, DEFAULT_LIQUIDITY, CALM_NETWORK, 10**9)
    proposal = {"maintenance_margin_bps": 300, "initial_margin_bps": 600, "oi_cap": 40 * 10**12}
    rep1, h1 = simulate_proposal(proposal, snap, n_paths=300, seed=1, horizon_hours=6)
    _, h2 = simulate_proposal(proposal, snap, n_paths=300, seed=1, horizon_hours=6)
    assert h1 == h2 and len(h1) == 32 and isinstance(h1, bytes)
    assert report_hash(rep1) == h1
    assert rep1["proposal"] == proposal and rep1["simulation"]["open_interest_usd"] == 40e6
    looser = dict(proposal, maintenance_margin_bps=100, initial_margin_bps=200)
    rep3, h3 = simulate_proposal(looser, snap, n_paths=300, seed=1, horizon_hours=6)
    assert h3 != h1
    assert rep3["metrics"]["bad_debt_mean"] >= rep1["metrics"]["bad_debt_mean"]
    with pytest.raises(TypeError):
        simulate_proposal({**proposal, "oi_cap": 1.5}, snap, n_paths=10)  # type: ignore[dict-item]
    assert np.isfinite(rep1["metrics"]["bad_debt"]["es_99"]["value"])

"""Margin model: deterministic, monotonic in volatility and congestion, bounded."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.risk.estimators import CALM_NETWORK, CongestionInputs, LiquidityInputs, usd_to_units
from bastion.risk.margin import (
    MarginModelParams,
    congestion_multiplier,
    liquidation_minutes,
    recommend_margins,
    tail_quantile,
)

LIQ = LiquidityInputs(
    amm_depth_1pct=usd_to_units(5e6), open_interest=usd_to_units(50e6), insurance_fund=usd_to_units(5e5)
)
P = MarginModelParams()
congestion = st.builds(
    CongestionInputs,
    base_fee_wei=st.integers(0, 10**12),
    gas_used_ratio=st.floats(0, 1),
    pending_txs=st.integers(0, 10**6),
)


def test_student_t_quantile_is_fatter_than_normal_and_unit_variance():
    assert tail_quantile(0.999, 3.5) > tail_quantile(0.999)
    assert tail_quantile(0.999, 1e6) == pytest_approx(tail_quantile(0.999))
    sample = __import__("numpy").random.default_rng(0).standard_normal(400_000)
    assert abs(tail_quantile(0.99, standardized_sample=sample) - tail_quantile(0.99)) < 0.02


def pytest_approx(x: float):
    import pytest

    return pytest.approx(x, rel=1e-3)


def test_calm_network_and_known_numbers():
    assert congestion_multiplier(CALM_NETWORK, P) == 1.0 + P.pool_weight * 2_000 / P.reference_pending
    r = recommend_margins(0.01, CALM_NETWORK, LIQ)
    z = tail_quantile(P.quantile, P.nu)
    expected = z * 0.01 * math.sqrt(liquidation_minutes(CALM_NETWORK, P) / 60) + 0.01 + 0.002
    assert r.maintenance_bps == math.ceil(expected * 10_000)
    assert r.initial_bps == max(2 * r.maintenance_bps, r.maintenance_bps + 50)
    assert isinstance(r.maintenance_bps, int) and isinstance(r.initial_bps, int)
    assert recommend_margins(0.01, CALM_NETWORK, LIQ) == r  # deterministic


@settings(max_examples=150, deadline=None)
@given(s1=st.floats(0, 0.2), s2=st.floats(0, 0.2), c=congestion)
def test_monotonic_in_volatility(s1: float, s2: float, c: CongestionInputs):
    lo, hi = sorted((s1, s2))
    a, b = recommend_margins(lo, c, LIQ), recommend_margins(hi, c, LIQ)
    assert a.maintenance_bps <= b.maintenance_bps and a.initial_bps <= b.initial_bps


@settings(max_examples=150, deadline=None)
@given(
    sigma=st.floats(0, 0.2),
    fee=st.integers(0, 10**12),
    gas=st.floats(0, 1),
    pool=st.integers(0, 10**6),
    dfee=st.integers(0, 10**12),
    dgas=st.floats(0, 1),
    dpool=st.integers(0, 10**6),
)
def test_monotonic_in_congestion(sigma: float, fee: int, gas: float, pool: int, dfee: int, dgas: float, dpool: int):
    calm = CongestionInputs(fee, gas, pool)
    busy = CongestionInputs(fee + dfee, min(1.0, gas + dgas), pool + dpool)
    assert liquidation_minutes(calm, P) <= liquidation_minutes(busy, P)
    a, b = recommend_margins(sigma, calm, LIQ), recommend_margins(sigma, busy, LIQ)
    assert a.maintenance_bps <= b.maintenance_bps and a.initial_bps <= b.initial_bps


@settings(max_examples=150, deadline=None)
@given(sigma=st.floats(0, 10), c=congestion)
def test_bounded(sigma: float, c: CongestionInputs):
    r = recommend_margins(sigma, c, LIQ)
    assert P.min_bps <= r.maintenance_bps <= r.initial_bps <= P.max_bps
    assert liquidation_minutes(c, P) <= P.base_liquidation_minutes * P.max_congestion_multiplier


def test_extreme_volatility_is_clamped():
    r = recommend_margins(5.0, CALM_NETWORK, LIQ)
    assert r.maintenance_bps == P.max_bps and r.clamped

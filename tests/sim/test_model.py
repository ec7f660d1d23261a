"""The vectorized clearinghouse model: cascades, insurance fund, equivalence with dense and radCAD runs."""

from __future__ import annotations

import numpy as np
import pytest

from bastion.sim.model import Book, ProtocolParams, make_book, simulate


def _ladder_book(n: int = 20) -> Book:
    """Longs of size 1 entered at 100 with 20x-ish leverage: liquidation prices from 97.4 down to ~93."""
    collateral = 5.0 + 0.25 * np.arange(n)
    return Book(size=np.ones(n), entry=np.full(n, 100.0), collateral=collateral)


def _drop_then_flat(drop: float = 0.03, steps: int = 20) -> np.ndarray:
    p = np.full((1, steps + 1), 100.0 * (1 - drop))
    p[0, 0] = 100.0
    return p


def _params(**kw: float) -> ProtocolParams:
    base = dict(
        initial_margin=0.05,
        maintenance_margin=0.025,
        liquidation_penalty=0.01,
        liquidator_share=0.5,
        insurance_fund=0.0,
        liquidator_capacity=1e9,
        depth_1pct=1e9,
        impact_resilience=0.0,
        dust_notional=0.0,
    )
    base.update(kw)
    return ProtocolParams(**base)


def test_deep_liquidity_liquidates_only_the_weakest_without_bad_debt():
    res = simulate(_drop_then_flat(), _ladder_book(), _params())
    assert res.accounts_liquidated[0] == 2  # liquidation prices 97.44 and 97.18 are above 97
    assert res.bad_debt[0] == 0.0
    assert res.penalties[0] > 0.0


def test_thin_liquidity_cascades_into_bad_debt_and_socialized_loss():
    res = simulate(_drop_then_flat(), _ladder_book(), _params(depth_1pct=20.0))
    assert res.accounts_liquidated[0] == 20  # the impact of each wave liquidates the next
    assert res.bad_debt[0] > 0.0
    assert res.min_mark_ratio[0] < 0.9
    # no insurance fund: all bad debt is socialized
    assert res.socialized_loss[0] == pytest.approx(res.bad_debt[0])


def test_insurance_fund_absorbs_bad_debt_first():
    thin = simulate(_drop_then_flat(), _ladder_book(), _params(depth_1pct=20.0))
    debt = thin.bad_debt[0]
    big = simulate(_drop_then_flat(), _ladder_book(), _params(depth_1pct=20.0, insurance_fund=10 * debt))
    assert big.socialized_loss[0] == 0.0
    assert not big.insurance_exhausted[0]
    assert big.insurance_fund_end[0] == pytest.approx(10 * debt + 0.5 * big.penalties[0] - debt)
    small = simulate(_drop_then_flat(), _ladder_book(), _params(depth_1pct=20.0, insurance_fund=debt / 4))
    assert small.insurance_exhausted[0] and small.insurance_fund_end[0] == 0.0


def test_limited_capacity_spreads_liquidation_over_steps():
    res = simulate(_drop_then_flat(0.2), _ladder_book(), _params(liquidator_capacity=200.0))
    assert res.accounts_liquidated[0] == 20
    assert res.liquidations[0] > 20  # pro-rata partial liquidations over several steps
    fast = simulate(_drop_then_flat(0.2), _ladder_book(), _params())
    assert fast.liquidations[0] == 20


def test_shorts_are_liquidated_on_rallies():
    book = Book(size=-np.ones(3), entry=np.full(3, 100.0), collateral=np.array([5.0, 6.0, 50.0]))
    res = simulate(_drop_then_flat(-0.06), book, _params())
    assert res.accounts_liquidated[0] == 2


def test_screened_run_equals_dense_run():
    rng = np.random.default_rng(5)
    params = ProtocolParams(depth_1pct=2e6, liquidator_capacity=1e6)
    book = make_book(60, rng=rng, price=100.0, params=params, open_interest=20e6)
    r = rng.normal(0, 0.01, (200, 60)) - 0.001
    prices = 100.0 * np.exp(np.concatenate([np.zeros((200, 1)), np.cumsum(r, axis=1)], axis=1))
    a = simulate(prices, book, params)
    b = simulate(prices, book, params, dense=True)
    for name in (
        "bad_debt",
        "socialized_loss",
        "insurance_fund_end",
        "liquidated_notional",
        "liquidations",
        "accounts_liquidated",
        "penalties",
        "min_mark_ratio",
    ):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert (a.bad_debt > 0).any() and (a.bad_debt == 0).any()


def test_radcad_model_gives_the_same_results():
    pytest.importorskip("radcad")
    from bastion.sim.bench import PARAMS, workload_book, workload_prices
    from bastion.sim.radcad_model import run_radcad

    prices = workload_prices(6, np.random.default_rng(11))[:, :80]
    book = workload_book()
    ours = simulate(prices, book, PARAMS)
    theirs = run_radcad(prices, book, PARAMS, deepcopy=False)
    names = ("bad_debt", "insurance_fund_end", "liquidated_notional", "liquidations", "accounts_liquidated")
    for name in names:
        assert np.allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-9, atol=1e-6), name
    assert ours.liquidations.sum() > 0


def test_rejects_bad_inputs():
    with pytest.raises(ValueError):
        ProtocolParams(initial_margin=0.01, maintenance_margin=0.02)
    with pytest.raises(ValueError):
        simulate(np.ones(5), _ladder_book(), _params())

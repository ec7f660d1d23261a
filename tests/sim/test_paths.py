"""Price-path generators: seeded, shaped (paths, steps + 1), statistically sane."""

from __future__ import annotations

import numpy as np
import pytest

from bastion.sim.data import btc_hourly_log_returns, load_btc_hourly
from bastion.sim.paths import block_bootstrap_paths, garch_paths, gbm_jump_paths


def _gbm(seed: int, **kw: float) -> np.ndarray:
    return gbm_jump_paths(
        50,
        30,
        rng=np.random.default_rng(seed),
        s0=100.0,
        step_hours=1.0,
        sigma=0.8,
        jump_intensity=365.0,
        jump_mean=-0.02,
        jump_std=0.03,
        **kw,
    )


def test_generators_are_reproducible_and_seed_sensitive():
    assert np.array_equal(_gbm(1), _gbm(1))
    assert not np.array_equal(_gbm(1), _gbm(2))
    r = btc_hourly_log_returns()
    a = block_bootstrap_paths(r, 20, 48, rng=np.random.default_rng(3), step_hours=5 / 60)
    b = block_bootstrap_paths(r, 20, 48, rng=np.random.default_rng(3), step_hours=5 / 60)
    assert np.array_equal(a, b)
    g1 = garch_paths(10, 20, rng=np.random.default_rng(4), omega=1e-6, alpha=0.05, beta=0.9, nu=4.0)
    g2 = garch_paths(10, 20, rng=np.random.default_rng(4), omega=1e-6, alpha=0.05, beta=0.9, nu=4.0)
    assert np.array_equal(g1, g2)


def test_shapes_and_start_price():
    p = _gbm(0)
    assert p.shape == (50, 31)
    assert np.all(p[:, 0] == 100.0) and np.all(p > 0)
    g = garch_paths(7, 11, rng=np.random.default_rng(0), s0=5.0, omega=1e-6, alpha=0.05, beta=0.9)
    assert g.shape == (7, 12) and np.all(g[:, 0] == 5.0)
    b = block_bootstrap_paths(btc_hourly_log_returns(), 3, 10, rng=np.random.default_rng(0), step_hours=4)
    assert b.shape == (3, 11)


def test_gbm_volatility_and_jump_compensated_mean():
    p = gbm_jump_paths(20_000, 24, rng=np.random.default_rng(9), s0=1.0, step_hours=1.0, sigma=0.8)
    r = np.diff(np.log(p), axis=1)
    assert r.std() * np.sqrt(24 * 365) == pytest.approx(0.8, rel=0.02)
    pj = gbm_jump_paths(
        40_000,
        24,
        rng=np.random.default_rng(9),
        s0=1.0,
        step_hours=1.0,
        sigma=0.5,
        jump_intensity=24 * 365.0,
        jump_mean=-0.01,
        jump_std=0.01,
    )
    assert pj[:, -1].mean() == pytest.approx(1.0, abs=0.01)  # mu = 0: jumps are compensated


def test_bootstrap_aggregates_and_disaggregates_exactly():
    r = np.arange(1, 201, dtype=float) * 1e-4
    # 3-hour steps: each step is the sum of 3 consecutive source returns from one block
    agg = block_bootstrap_paths(r, 4, 5, rng=np.random.default_rng(1), step_hours=3, block_hours=200, demean=False)
    steps = np.diff(np.log(agg), axis=1)
    first = np.rint(steps[:, 0] / 1e-4 - 3) / 3  # 3 consecutive ints i, i+1, i+2 sum to 3i + 3
    assert np.allclose(steps, (3 * first[:, None] + 3 + 9 * np.arange(5)) * 1e-4)
    # 5-minute steps: every 12 sub-steps add up to one source hourly return
    fine = block_bootstrap_paths(r, 4, 24, rng=np.random.default_rng(1), step_hours=5 / 60, demean=False)
    hourly = np.diff(np.log(fine), axis=1).reshape(4, 2, 12).sum(axis=2)
    assert np.all(np.isin(np.round(hourly / 1e-4), np.arange(1, 201)))
    with pytest.raises(ValueError):
        block_bootstrap_paths(r, 1, 2, rng=np.random.default_rng(0), step_hours=0.7)


def test_bundled_history_is_sorted_and_complete():
    h = load_btc_hourly()
    assert len(h) == 33_259
    assert np.all(np.diff(h.unix) == 3600)
    assert h.unix[0] < h.unix[-1]
    assert h.close[-1] == pytest.approx(43_312.27)  # 2022-03-01 00:00, the newest row of the file

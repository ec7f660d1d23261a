"""Volatility estimators and typed inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bastion.risk.estimators import (
    CongestionInputs,
    GarchFitError,
    LiquidityInputs,
    estimate_volatility,
    ewma_lambda,
    ewma_vol,
    fit_garch,
    realized_vol,
    usd_to_units,
)
from bastion.sim.paths import garch_paths


def test_ewma_lambda_keeps_the_memory_in_time():
    assert ewma_lambda(interval_hours=24) == pytest.approx(0.94)
    assert ewma_lambda(interval_hours=1) == pytest.approx(0.94 ** (1 / 24))
    assert ewma_lambda(interval_hours=5 / 60) == pytest.approx(0.999785, abs=1e-6)
    lam_h = ewma_lambda(interval_hours=1)
    assert lam_h**24 == pytest.approx(0.94)


def test_realized_and_ewma_recover_a_known_volatility():
    r = np.random.default_rng(0).normal(0, 0.01, 20_000)
    assert realized_vol(r) == pytest.approx(0.01, rel=0.02)
    assert ewma_vol(r, 0.999) == pytest.approx(0.01, rel=0.1)
    shock = np.concatenate([r, np.random.default_rng(1).normal(0, 0.05, 200)])
    assert ewma_vol(shock, 0.97) > 0.04  # EWMA reacts to a volatility regime change


def test_garch_fit_recovers_simulated_parameters():
    p = garch_paths(1, 20_000, rng=np.random.default_rng(2), omega=2e-6, alpha=0.08, beta=0.9, nu=5.0)
    fit = fit_garch(np.diff(np.log(p[0])))
    assert fit.alpha == pytest.approx(0.08, abs=0.03)
    assert fit.beta == pytest.approx(0.9, abs=0.04)
    assert fit.persistence < 0.999 and fit.sigma_next > 0
    assert math.sqrt(2e-6 / 0.02) == pytest.approx(fit.unconditional_sigma, rel=0.3)


def test_garch_falls_back_to_ewma_when_the_fit_is_unusable():
    short = np.random.default_rng(3).normal(0, 0.01, 50)
    est = estimate_volatility(short, 1.0)
    assert est.method == "ewma" and "too few returns" in est.notes[0]
    with pytest.raises(GarchFitError):
        fit_garch(short)
    # an integrated process (persistence ~1): three regimes of very different, constant volatility
    rng = np.random.default_rng(4)
    regimes = np.concatenate([rng.normal(0, s, 3_000) for s in (0.002, 0.03, 0.004, 0.05)])
    est = estimate_volatility(regimes, 1.0)
    assert est.sigma > 0 and math.isfinite(est.sigma)
    if est.method == "ewma":
        assert est.notes and "GARCH fallback" in est.notes[0]
    assert estimate_volatility(regimes, 1.0, method="realized").method == "realized"


def test_typed_inputs_reject_bad_values():
    LiquidityInputs(amm_depth_1pct=usd_to_units(5e6), open_interest=0, insurance_fund=1)
    with pytest.raises(ValueError, match="amm_depth_1pct"):
        LiquidityInputs(amm_depth_1pct=5e6, open_interest=0, insurance_fund=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gas_used_ratio"):
        CongestionInputs(base_fee_wei=1, gas_used_ratio=1.5, pending_txs=0)
    assert usd_to_units(1.5) == 1_500_000 and isinstance(usd_to_units(1.5), int)

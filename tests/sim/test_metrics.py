"""Tail metrics against distributions with known quantiles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bastion.sim.metrics import expected_shortfall, proportion, tail_metrics, value_at_risk


def test_exponential_var_and_es_match_closed_form():
    x = np.random.default_rng(0).exponential(1.0, 400_000)
    for q in (0.95, 0.99):
        var = -math.log(1 - q)  # exponential(1): VaR_q = -ln(1-q), ES_q = VaR_q + 1
        assert value_at_risk(x, q) == pytest.approx(var, rel=0.02)
        assert expected_shortfall(x, q) == pytest.approx(var + 1.0, rel=0.02)


def test_es_on_a_small_exact_sample():
    x = np.arange(1.0, 101.0)  # 1..100
    assert expected_shortfall(x, 0.95) == pytest.approx(np.mean([96, 97, 98, 99, 100]))
    assert expected_shortfall(x, 0.99) == 100.0
    assert value_at_risk(x, 0.5) == pytest.approx(50.5)


def test_bootstrap_intervals_cover_the_truth_and_shrink_with_n():
    rng = np.random.default_rng(1)
    truth_var99 = -math.log(0.01)
    small = tail_metrics(rng.exponential(1.0, 2_000), n_boot=300, seed=2)
    big = tail_metrics(rng.exponential(1.0, 50_000), n_boot=100, seed=2)
    for m in (small, big):
        assert m["var_99"].low <= truth_var99 <= m["var_99"].high
        assert m["es_99"].low <= truth_var99 + 1 <= m["es_99"].high
        assert m["var_95"].low <= m["var_95"].value <= m["var_95"].high
    assert (big["var_99"].high - big["var_99"].low) < (small["var_99"].high - small["var_99"].low)
    assert tail_metrics(np.ones(100), n_boot=20)["es_95"].value == 1.0


def test_wilson_interval_behaves_at_the_edges():
    zero = proportion(np.zeros(1000, dtype=bool))
    assert zero.value == 0.0 and zero.low == 0.0 and 0.0 < zero.high < 0.01
    half = proportion(np.arange(1000) % 2 == 0)
    assert half.low < 0.5 < half.high

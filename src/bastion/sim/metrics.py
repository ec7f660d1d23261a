"""Tail metrics of simulated losses, with bootstrap confidence intervals.

Conventions: losses are positive numbers (USD of bad debt). VaR at level q is the q-quantile of the loss
distribution (linear interpolation between order statistics); expected shortfall (ES) at q is the mean
of the worst ceil(n * (1 - q)) losses, the usual consistent estimator of E[L | L >= VaR_q].
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bastion.sim.model import SimResult

LEVELS = (0.95, 0.99)


def value_at_risk(losses: np.ndarray, q: float) -> float:
    x = np.asarray(losses, dtype=np.float64)
    if x.size == 0 or not 0.0 < q < 1.0:
        raise ValueError("need losses and 0 < q < 1")
    return float(np.quantile(x, q))


def _tail_count(n: int, q: float) -> int:
    return max(1, math.ceil(n * (1.0 - q) - 1e-9))


def expected_shortfall(losses: np.ndarray, q: float) -> float:
    x = np.asarray(losses, dtype=np.float64)
    if x.size == 0 or not 0.0 < q < 1.0:
        raise ValueError("need losses and 0 < q < 1")
    k = _tail_count(x.size, q)
    return float(np.partition(x, x.size - k)[x.size - k :].mean())


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a percentile-bootstrap confidence interval."""

    value: float
    low: float
    high: float
    confidence: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _bootstrap_stats(
    x: np.ndarray,
    levels: tuple[float, ...],
    n_boot: int,
    rng: np.random.Generator,
    chunk_elems: int = 4_000_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap replicates of VaR and ES at each level: arrays of shape (n_boot, len(levels))."""
    n = x.size
    var = np.empty((n_boot, len(levels)))
    es = np.empty((n_boot, len(levels)))
    per_chunk = max(1, chunk_elems // n)
    ks = [_tail_count(n, q) for q in levels]
    done = 0
    while done < n_boot:
        b = min(per_chunk, n_boot - done)
        sample = np.sort(x[rng.integers(0, n, size=(b, n))], axis=1)
        for j, q in enumerate(levels):
            var[done : done + b, j] = np.quantile(sample, q, axis=1)
            es[done : done + b, j] = sample[:, n - ks[j] :].mean(axis=1)
        done += b
    return var, es


def tail_metrics(
    losses: np.ndarray,
    *,
    levels: tuple[float, ...] = LEVELS,
    n_boot: int = 400,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Estimate]:
    """VaR and ES at each level, keys ``var_95``, ``es_95``, ... with bootstrap CIs."""
    x = np.asarray(losses, dtype=np.float64)
    if x.ndim != 1 or x.size < 2:
        raise ValueError("need a 1-D array of at least two losses")
    var_b, es_b = _bootstrap_stats(x, levels, n_boot, np.random.default_rng(seed))
    lo, hi = (1.0 - confidence) / 2.0, 1.0 - (1.0 - confidence) / 2.0
    out: dict[str, Estimate] = {}
    for j, q in enumerate(levels):
        tag = f"{round(q * 100):d}"
        out[f"var_{tag}"] = Estimate(
            value_at_risk(x, q),
            float(np.quantile(var_b[:, j], lo)),
            float(np.quantile(var_b[:, j], hi)),
            confidence,
        )
        out[f"es_{tag}"] = Estimate(
            expected_shortfall(x, q),
            float(np.quantile(es_b[:, j], lo)),
            float(np.quantile(es_b[:, j], hi)),
            confidence,
        )
    return out


def proportion(flags: np.ndarray, confidence: float = 0.95) -> Estimate:
    """A probability from Bernoulli outcomes with a Wilson score interval (sound at 0 and 1)."""
    from scipy.stats import norm

    f = np.asarray(flags, dtype=bool)
    n = f.size
    if n == 0:
        raise ValueError("no outcomes")
    p = float(f.mean())
    z = float(norm.ppf(0.5 + confidence / 2.0))
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if p == 0.0 else max(0.0, centre - half)
    high = 1.0 if p == 1.0 else min(1.0, centre + half)
    return Estimate(p, low, high, confidence)


def stress_summary(result: SimResult, *, n_boot: int = 400, confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Everything the report states about a stress run (plain floats, JSON-ready)."""
    bd = tail_metrics(result.bad_debt, n_boot=n_boot, confidence=confidence, seed=seed)
    lar = {f"lar_{round(q * 100):d}": value_at_risk(result.liquidated_notional, q) for q in LEVELS}
    return {
        "paths": result.n_paths,
        "bad_debt_mean": float(result.bad_debt.mean()),
        "bad_debt_probability": proportion(result.bad_debt > 0.0, confidence).to_dict(),
        "bad_debt": {k: v.to_dict() for k, v in bd.items()},
        "insurance_fund_start": result.insurance_fund_start,
        "insurance_exhaustion_probability": proportion(result.insurance_exhausted, confidence).to_dict(),
        "socialized_loss_mean": float(result.socialized_loss.mean()),
        "socialized_loss_es_99": expected_shortfall(result.socialized_loss, 0.99),
        "liquidations_at_risk": {
            "liquidated_notional_mean": float(result.liquidated_notional.mean()),
            **lar,
            "accounts_liquidated_mean": float(result.accounts_liquidated.mean()),
            "accounts_liquidated_99": value_at_risk(result.accounts_liquidated.astype(float), 0.99),
        },
        "min_mark_ratio_1pct": value_at_risk(result.min_mark_ratio, 0.01),
    }

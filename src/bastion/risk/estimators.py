"""Volatility estimators and the typed market inputs of the risk engine. Pure computation, no I/O.

Sampling intervals and EWMA decay
---------------------------------
An EWMA variance ``v_t = lam * v_{t-1} + (1 - lam) * r_t^2`` forgets with a time constant that depends
on the sampling interval. RiskMetrics uses ``lam = 0.94`` on daily returns (a half-life of about 11
days). The same memory measured in time at another interval is ``lam_h = lam_ref ** (h / h_ref)``:

=============  ================================
interval       lambda equivalent to 0.94 daily
=============  ================================
1 day          0.94
1 hour         0.94 ** (1/24)  = 0.997425
5 minutes      0.94 ** (1/288) = 0.999785
=============  ================================

``ewma_lambda`` does the conversion. Volatilities are returned per sampling interval and annualized
with 365 days (crypto markets never close).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from bastion.sim.garch import GarchFit, GarchFitError, fit_garch
from bastion.sim.garch import clean_returns as _clean

HOURS_PER_YEAR = 365.0 * 24.0
RISKMETRICS_DAILY_LAMBDA = 0.94
USDC_DECIMALS = 6


def ewma_lambda(
    lam_ref: float = RISKMETRICS_DAILY_LAMBDA, ref_interval_hours: float = 24.0, interval_hours: float = 1.0
) -> float:
    """The decay at ``interval_hours`` with the same memory in time as ``lam_ref`` at the reference."""
    if not 0.0 < lam_ref < 1.0 or ref_interval_hours <= 0 or interval_hours <= 0:
        raise ValueError("need 0 < lam_ref < 1 and positive intervals")
    return lam_ref ** (interval_hours / ref_interval_hours)


def annualize(sigma_per_interval: float, interval_hours: float) -> float:
    return sigma_per_interval * math.sqrt(HOURS_PER_YEAR / interval_hours)


def realized_vol(returns: np.ndarray) -> float:
    """Root mean square of log returns (per interval; zero-mean, as usual for short intervals)."""
    r = _clean(returns)
    return float(math.sqrt(np.mean(r * r)))


def ewma_variance_series(returns: np.ndarray, lam: float, seed_variance: float | None = None) -> np.ndarray:
    """One-step-ahead EWMA variances: element t uses returns up to and including t."""
    r = _clean(returns)
    if not 0.0 < lam < 1.0:
        raise ValueError("lam must be in (0, 1)")
    v = float(np.mean(r[: min(r.size, 30)] ** 2)) if seed_variance is None else seed_variance
    out = np.empty(r.size)
    for i, x in enumerate(r):  # a scalar recursion: short, and clearer than a filter call
        v = lam * v + (1.0 - lam) * x * x
        out[i] = v
    return out


def ewma_vol(returns: np.ndarray, lam: float) -> float:
    """Latest EWMA volatility per interval."""
    return float(math.sqrt(ewma_variance_series(returns, lam)[-1]))


@dataclass(frozen=True)
class VolEstimate:
    """A volatility estimate per sampling interval and how it was obtained."""

    sigma: float
    interval_hours: float
    method: Literal["garch", "ewma", "realized"]
    nu: float | None = None
    garch: GarchFit | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def annualized(self) -> float:
        return annualize(self.sigma, self.interval_hours)

    def horizon_sigma(self, hours: float) -> float:
        """Square-root-of-time volatility over ``hours``."""
        return self.sigma * math.sqrt(hours / self.interval_hours)


def estimate_volatility(
    returns: np.ndarray,
    interval_hours: float,
    *,
    method: Literal["garch", "ewma", "realized"] = "garch",
    lam: float | None = None,
) -> VolEstimate:
    """Volatility per interval. ``garch`` falls back to EWMA (RiskMetrics memory converted to the
    interval) when the fit fails or is degenerate; the reason is kept in ``notes``."""
    r = _clean(returns)
    lam = ewma_lambda(interval_hours=interval_hours) if lam is None else lam
    if method == "realized":
        return VolEstimate(realized_vol(r), interval_hours, "realized")
    notes: tuple[str, ...] = ()
    if method == "garch":
        try:
            g = fit_garch(r)
            return VolEstimate(g.sigma_next, interval_hours, "garch", nu=g.nu, garch=g)
        except GarchFitError as exc:
            notes = (f"GARCH fallback to EWMA: {exc}",)
    return VolEstimate(ewma_vol(r, lam), interval_hours, "ewma", notes=(*notes, f"EWMA lambda {lam:.6f}"))


def usd_to_units(amount_usd: float, decimals: int = USDC_DECIMALS) -> int:
    """USD (float, e.g. from a simulation) to collateral base units (int, for the chain)."""
    return round(amount_usd * 10**decimals)


def units_to_usd(units: int, decimals: int = USDC_DECIMALS) -> float:
    return units / 10**decimals


@dataclass(frozen=True)
class LiquidityInputs:
    """Market liquidity as read from chain, in collateral base units (6 decimals)."""

    amm_depth_1pct: int  # notional that moves the AMM / hedge venue price by 1%
    open_interest: int  # long + short notional of the market
    insurance_fund: int

    def __post_init__(self) -> None:
        for name in ("amm_depth_1pct", "open_interest", "insurance_fund"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"LiquidityInputs.{name} must be a non-negative int (base units), got {v!r}")


@dataclass(frozen=True)
class CongestionInputs:
    """Network congestion: latest base fee (wei), block gas-used ratio (0..1) and pending pool size."""

    base_fee_wei: int
    gas_used_ratio: float
    pending_txs: int

    def __post_init__(self) -> None:
        if not isinstance(self.base_fee_wei, int) or self.base_fee_wei < 0:
            raise ValueError(f"CongestionInputs.base_fee_wei must be a non-negative int, got {self.base_fee_wei!r}")
        if not 0.0 <= self.gas_used_ratio <= 1.0:
            raise ValueError(f"CongestionInputs.gas_used_ratio must be in [0, 1], got {self.gas_used_ratio!r}")
        if not isinstance(self.pending_txs, int) or self.pending_txs < 0:
            raise ValueError(f"CongestionInputs.pending_txs must be a non-negative int, got {self.pending_txs!r}")


CALM_NETWORK = CongestionInputs(base_fee_wei=10 * 10**9, gas_used_ratio=0.5, pending_txs=2_000)

"""Margin model: margins that cover the fat-tailed price move over the time it takes to liquidate.

    T_liq  = base_liquidation_minutes * congestion_multiplier(base fee, gas-used ratio, pending pool)
    move   = z_q * sigma_hourly * sqrt(T_liq / 60)           (z_q: unit-variance Student-t quantile,
                                                              or an empirical one of standardized returns)
    maintenance = move + liquidation_penalty + impact_buffer  (fractions of notional)
    initial     = max(maintenance * initial_to_maintenance, maintenance + min_initial_gap)

where ``impact_buffer = 0.01 * typical liquidation notional / depth_1pct`` (the price impact of closing a
typical position), and the congestion multiplier is

    1 + fee_weight  * max(0, ln(base_fee / reference_base_fee))
      + gas_weight  * max(0, gas_used_ratio - 0.5) / 0.5
      + pool_weight * pending_txs / reference_pending,            capped at max_congestion_multiplier.

Everything is monotonic: more volatility or more congestion never lowers a margin. Results are clamped to
[min_bps, max_bps] and returned as integer basis points (rounded up), ready for the chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from bastion.risk.estimators import CongestionInputs, LiquidityInputs


@dataclass(frozen=True)
class MarginModelParams:
    quantile: float = 0.999  # one-sided tail probability the maintenance margin must cover
    nu: float = 3.5  # Student-t degrees of freedom (BTC hourly fits give 3-3.5)
    base_liquidation_minutes: float = 5.0  # keeper reaction + inclusion + hedge on a calm network
    max_congestion_multiplier: float = 30.0
    fee_weight: float = 1.5
    gas_weight: float = 1.0
    pool_weight: float = 0.5
    reference_base_fee_wei: int = 10 * 10**9
    reference_pending: int = 20_000
    liquidation_penalty_bps: int = 100
    typical_liquidation_share: float = 0.02  # of open interest, liquidated at once in a stress step
    initial_to_maintenance: float = 2.0
    min_initial_gap_bps: int = 50
    min_bps: int = 50
    max_bps: int = 5_000

    def __post_init__(self) -> None:
        if not 0.5 < self.quantile < 1.0:
            raise ValueError("quantile must be in (0.5, 1)")
        if self.nu <= 2.0:
            raise ValueError("nu must exceed 2 (finite variance)")
        if not 0 < self.min_bps <= self.max_bps <= 10_000:
            raise ValueError("need 0 < min_bps <= max_bps <= 10000")
        if self.initial_to_maintenance < 1.0 or self.max_congestion_multiplier < 1.0:
            raise ValueError("initial_to_maintenance and max_congestion_multiplier must be >= 1")


def tail_quantile(q: float, nu: float | None = None, standardized_sample: np.ndarray | None = None) -> float:
    """z with P(Z > z) = 1 - q for unit-variance Z: Student-t(nu) rescaled, or the empirical quantile of
    the absolute values of a standardized sample (two-sided tails pooled, so q of |Z|: 2q - 1)."""
    if standardized_sample is not None:
        z = np.abs(np.asarray(standardized_sample, dtype=np.float64))
        return float(np.quantile(z[np.isfinite(z)], 2.0 * q - 1.0))
    if nu is None:
        return float(stats.norm.ppf(q))
    return float(stats.t.ppf(q, nu) * math.sqrt((nu - 2.0) / nu))


def congestion_multiplier(c: CongestionInputs, p: MarginModelParams) -> float:
    fee = max(0.0, math.log(max(c.base_fee_wei, 1) / p.reference_base_fee_wei))
    gas = max(0.0, c.gas_used_ratio - 0.5) / 0.5
    pool = c.pending_txs / p.reference_pending
    return min(p.max_congestion_multiplier, 1.0 + p.fee_weight * fee + p.gas_weight * gas + p.pool_weight * pool)


def liquidation_minutes(c: CongestionInputs, p: MarginModelParams) -> float:
    """Expected time to liquidate an account once it crosses its maintenance margin."""
    return p.base_liquidation_minutes * congestion_multiplier(c, p)


@dataclass(frozen=True)
class MarginRecommendation:
    maintenance_bps: int
    initial_bps: int
    liquidation_minutes: float
    price_move: float  # tail move over the liquidation time (fraction)
    impact_buffer: float
    penalty: float
    z: float
    clamped: bool

    def reasons(self) -> list[str]:
        r = [
            f"{self.z:.2f}-sigma tail move over {self.liquidation_minutes:.1f} min to liquidate = "
            f"{self.price_move:.2%}",
            f"+ liquidation penalty {self.penalty:.2%}",
            f"+ impact buffer {self.impact_buffer:.2%}",
        ]
        if self.clamped:
            r.append("clamped to the model's [min_bps, max_bps]")
        return r


def _bps_up(x: float) -> int:
    return math.ceil(round(x * 10_000, 9))


def recommend_margins(
    sigma_hourly: float,
    congestion: CongestionInputs,
    liquidity: LiquidityInputs,
    params: MarginModelParams = MarginModelParams(),
    standardized_sample: np.ndarray | None = None,
) -> MarginRecommendation:
    """Maintenance and initial margin (integer bps) for an hourly volatility and the network's state."""
    if not math.isfinite(sigma_hourly) or sigma_hourly < 0:
        raise ValueError(f"sigma_hourly must be a finite non-negative number, got {sigma_hourly!r}")
    t_min = liquidation_minutes(congestion, params)
    z = tail_quantile(params.quantile, params.nu, standardized_sample)
    move = z * sigma_hourly * math.sqrt(t_min / 60.0)
    depth = max(liquidity.amm_depth_1pct, 1)
    impact = 0.01 * params.typical_liquidation_share * liquidity.open_interest / depth
    penalty = params.liquidation_penalty_bps / 10_000
    mm_raw = _bps_up(move + penalty + impact)
    mm = min(max(mm_raw, params.min_bps), params.max_bps)
    im_raw = max(_bps_up(mm / 10_000 * params.initial_to_maintenance), mm + params.min_initial_gap_bps)
    im = min(max(im_raw, mm), params.max_bps)
    return MarginRecommendation(
        maintenance_bps=mm,
        initial_bps=im,
        liquidation_minutes=t_min,
        price_move=move,
        impact_buffer=impact,
        penalty=penalty,
        z=z,
        clamped=mm != mm_raw or im != im_raw,
    )

"""From configuration to simulations: price paths at any step, the stress book, the stress shard task."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bastion.sim.backends import Shard
from bastion.sim.config import PriceConfig, ProtocolConfig, StressConfig
from bastion.sim.data import btc_hourly_log_returns
from bastion.sim.model import Book, ProtocolParams, SimResult, make_book, simulate
from bastion.sim.paths import block_bootstrap_paths, garch_paths, gbm_jump_paths


@dataclass(frozen=True)
class GarchParams:
    """Per-hour GARCH(1,1) parameters."""

    omega: float
    alpha: float
    beta: float
    nu: float | None = None

    def per_step(self, step_hours: float) -> tuple[float, float, float]:
        """Approximate parameters at another sampling step, keeping in time (a) the memory of the variance
        (persistence p -> p**h), (b) the unconditional variance (scaled by h) and (c) the ratio
        alpha / (1 - persistence). Exact temporal aggregation of GARCH is not closed-form; this keeps the
        quantities that matter for stress paths."""
        p = self.alpha + self.beta
        if p >= 1.0:
            raise ValueError("GARCH persistence must be below 1")
        var_h = self.omega / (1.0 - p)
        p_s = p**step_hours
        alpha_s = min(self.alpha * (1.0 - p_s) / (1.0 - p), p_s)
        beta_s = p_s - alpha_s
        omega_s = step_hours * var_h * (1.0 - p_s)
        return omega_s, alpha_s, beta_s


def resolve_garch(cfg: PriceConfig) -> GarchParams | None:
    """The GARCH parameters the config asks for: given, or fitted on the bundled hourly history
    (the last 365 days of it) when the model is ``garch`` and any parameter is missing."""
    if cfg.model != "garch":
        return None
    if cfg.garch_omega is not None and cfg.garch_alpha is not None and cfg.garch_beta is not None:
        return GarchParams(cfg.garch_omega, cfg.garch_alpha, cfg.garch_beta, cfg.garch_nu)
    from bastion.sim.garch import fit_garch

    fit = fit_garch(btc_hourly_log_returns()[-24 * 365 :])
    return GarchParams(fit.omega, fit.alpha, fit.beta, fit.nu if cfg.garch_nu is None else cfg.garch_nu)


def price_paths(
    cfg: PriceConfig,
    n_paths: int,
    n_steps: int,
    step_minutes: float,
    rng: np.random.Generator,
    garch: GarchParams | None = None,
) -> np.ndarray:
    """Prices of shape (n_paths, n_steps + 1) from the configured model, at ``step_minutes``."""
    step_hours = step_minutes / 60.0
    if cfg.model == "gbm":
        prices = gbm_jump_paths(
            n_paths,
            n_steps,
            rng=rng,
            s0=cfg.s0,
            step_hours=step_hours,
            mu=cfg.mu,
            sigma=cfg.sigma,
            jump_intensity=cfg.jump_intensity_per_day * 365.0,
            jump_mean=cfg.jump_mean,
            jump_std=cfg.jump_std,
        )
    elif cfg.model == "garch":
        g = garch if garch is not None else resolve_garch(cfg)
        assert g is not None
        omega, alpha, beta = g.per_step(step_hours)
        prices = garch_paths(n_paths, n_steps, rng=rng, s0=cfg.s0, omega=omega, alpha=alpha, beta=beta, nu=g.nu)
    else:
        prices = block_bootstrap_paths(
            btc_hourly_log_returns(),
            n_paths,
            n_steps,
            rng=rng,
            s0=cfg.s0,
            step_hours=step_hours,
            block_hours=cfg.block_hours,
            demean=cfg.demean,
        )
    if cfg.vol_scale != 1.0:
        prices = cfg.s0 * (prices / cfg.s0) ** cfg.vol_scale
    return prices


def protocol_params(cfg: ProtocolConfig) -> ProtocolParams:
    return ProtocolParams(
        initial_margin=cfg.initial_margin_bps / 1e4,
        maintenance_margin=cfg.maintenance_margin_bps / 1e4,
        liquidation_penalty=cfg.liquidation_penalty_bps / 1e4,
        liquidator_share=cfg.liquidator_share_bps / 1e4,
        insurance_fund=cfg.insurance_fund,
        liquidator_capacity=cfg.liquidator_capacity_per_step,
        depth_1pct=cfg.depth_1pct,
        impact_resilience=cfg.impact_resilience,
    )


def stress_book(stress: StressConfig, price: PriceConfig, params: ProtocolParams) -> Book:
    """The book every stress path starts from (its own seed: the same on every shard and backend)."""
    return make_book(
        stress.n_accounts,
        rng=np.random.default_rng(stress.book_seed),
        price=price.s0,
        params=params,
        long_fraction=stress.long_fraction,
        open_interest=stress.open_interest,
        min_leverage=stress.min_leverage,
    )


def stress_steps(stress: StressConfig) -> int:
    return max(1, math.ceil(stress.horizon_hours * 60.0 / stress.step_minutes))


def stress_shard(
    shard: Shard,
    price: PriceConfig,
    stress: StressConfig,
    protocol: ProtocolConfig,
    garch: GarchParams | None = None,
) -> SimResult:
    """One shard of the stress test: its paths through the clearinghouse model."""
    params = protocol_params(protocol)
    book = stress_book(stress, price, params)
    prices = price_paths(price, shard.n_paths, stress_steps(stress), stress.step_minutes, shard.rng(), garch)
    return simulate(prices, book, params)

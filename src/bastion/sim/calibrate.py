"""Threshold calibration: false trips on honest markets against value extracted by attackers.

Both guards are simulated for a whole grid of thresholds at once ((paths, thresholds) arrays), on benign
paths and on the same paths with an attack injected, so every threshold sees the same randomness.

Outflow limiter (one slot per asset, decaying buffer)
    ``used`` accumulates net outflow (inflows reduce it, never below zero, so depositing first buys no
    extra headroom); it decays linearly by ``limit`` per window; ``limit = threshold * TVL + floor``.
    An outflow that would take ``used`` above ``limit`` trips the limiter: on honest paths the excess
    waits (a false trip), on attack paths the drain stops there (detected). ``TVL`` is the current one, so
    a drain also shrinks the limit for what follows.
Oracle guard (jump limit per interval)
    An update is rejected when it moves more than ``threshold * n`` from the last good price, n being
    the number of update intervals since that price was accepted (so a genuine move is followed after a
    few intervals). A rejection is a trip; consecutive rejections are one trip.

Attackers
    Naive attackers move as they please (a drain of a log-uniform fraction of TVL over a few steps, a price
    manipulation of a log-uniform size) and are detected when they exceed the guard. Adaptive attackers
    know the threshold and stay just under it. Humans (or the watchtower) end every attack after
    ``response_minutes``. The ROC curve uses naive attackers (adaptive ones are never detected by
    construction); the expected extraction averages both kinds.

    Finding: a jump guard set so tight that honest moves keep it rejecting goes stale, and the catch-up
    allowance (``threshold * n``) then lets large manipulations through; at such thresholds the detection
    rate falls again (the ROC curve bends back where the honest trip probability is already 1).

Expected yearly cost of a threshold = false trips per year * ``false_trip_cost``
    + ``attacks_per_year`` * mean value extracted per attack. The recommended threshold minimizes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bastion.sim.backends import Shard
from bastion.sim.config import CostConfig, LimiterConfig, OracleConfig, PriceConfig, ThresholdGrid
from bastion.sim.data import PriceHistory
from bastion.sim.scenarios import GarchParams, price_paths

MINUTES_PER_YEAR = 365.0 * 24.0 * 60.0


def threshold_grid(grid: ThresholdGrid) -> np.ndarray:
    return np.geomspace(grid.min, grid.max, grid.count)


# --- outflow limiter ---------------------------------------------------------------------------------------


def honest_outflows(
    log_returns: np.ndarray, cfg: LimiterConfig, step_minutes: float, rng: np.random.Generator
) -> np.ndarray:
    """Honest net outflow per step as a fraction of current TVL, shape of ``log_returns``: fat-tailed
    noise (Student-t, 4 df), flows that follow the price (``panic_beta`` of TVL out per unit of log-price
    drop, in per unit of rise) and occasional whale withdrawals (Poisson, lognormal sizes)."""
    shape = log_returns.shape
    dt_days = step_minutes / 1440.0
    out = rng.standard_t(4.0, size=shape) * (math.sqrt(0.5) * cfg.flow_vol_daily * math.sqrt(dt_days))
    out -= cfg.panic_beta * log_returns
    if cfg.whale_rate_per_day > 0:
        counts = rng.poisson(cfg.whale_rate_per_day * dt_days, size=shape).ravel()
        hit = np.flatnonzero(counts)
        sizes = rng.lognormal(math.log(cfg.whale_median_fraction), cfg.whale_sigma, hit.size)
        out.ravel()[hit] += counts[hit] * sizes
    return out


@dataclass(frozen=True)
class DrainAttack:
    """One drain per path: starting step, size (fraction of starting TVL), steps, adaptive or not."""

    start: np.ndarray
    fraction: np.ndarray
    steps: np.ndarray
    adaptive: np.ndarray


def draw_drains(
    n_paths: int, n_steps: int, cfg: LimiterConfig, response_steps: int, rng: np.random.Generator
) -> DrainAttack:
    latest = max(1, n_steps - response_steps)
    return DrainAttack(
        start=rng.integers(0, latest, n_paths),
        fraction=np.exp(rng.uniform(math.log(cfg.attack_min_fraction), math.log(cfg.attack_max_fraction), n_paths)),
        steps=rng.integers(1, cfg.attack_max_steps + 1, n_paths),
        adaptive=rng.random(n_paths) < cfg.adaptive_fraction,
    )


def run_limiter(
    out_frac: np.ndarray,
    thresholds: np.ndarray,
    *,
    tvl0: float,
    floor: float,
    window_steps: float,
    reversion_per_step: float,
    attack: DrainAttack | None = None,
    response_steps: int = 1,
) -> dict[str, np.ndarray]:
    """Simulate the limiter for every (path, threshold). Returns ``trips`` (honest trip episodes) and, with
    an attack, ``detected``, ``extracted`` (USD) and ``potential`` (USD the drain takes with no limiter)."""
    n_paths, n_steps = out_frac.shape
    thr = np.asarray(thresholds, dtype=np.float64)[None, :]
    k = thr.shape[1]
    tvl = np.full(n_paths, float(tvl0))
    used = np.zeros((n_paths, k))
    over_prev = np.zeros((n_paths, k), dtype=bool)
    trips = np.zeros((n_paths, k), dtype=np.int32)
    out: dict[str, np.ndarray] = {}
    if attack is not None:
        used_a = np.zeros((n_paths, k))
        extracted = np.zeros((n_paths, k))
        detected = np.zeros((n_paths, k), dtype=bool)
        stopped = np.zeros((n_paths, k), dtype=bool)
        total = attack.fraction * tvl0
        rate = total / attack.steps
        end = attack.start + response_steps
    for t in range(n_steps):
        flow = out_frac[:, t] * tvl
        limit = thr * tvl[:, None] + floor
        if attack is not None:
            fresh = np.flatnonzero(attack.start == t)
            used_a[fresh] = used[fresh]  # the attacked run shares the honest history until the attack
            rows = np.flatnonzero((attack.start <= t) & (t < end))
            if rows.size:
                ext = extracted[rows]
                lim = thr * (tvl[rows, None] - ext) + floor
                ua = np.maximum(np.maximum(used_a[rows] - lim / window_steps, 0.0) + flow[rows, None], 0.0)
                remaining = total[rows, None] - ext
                adaptive = attack.adaptive[rows, None]
                naive_want = np.where(
                    (t < attack.start[rows] + attack.steps[rows])[:, None],
                    np.minimum(rate[rows, None], remaining),
                    0.0,
                )
                want = np.where(stopped[rows], 0.0, np.where(adaptive, remaining, naive_want))
                headroom = np.maximum(lim - ua, 0.0)
                passed = np.minimum(want, headroom)
                # Trips happen on an outflow: the drain beyond the headroom, or honest outflow over the limit.
                honest_over = (ua > lim) & (flow[rows, None] > 0.0)
                trip = ~stopped[rows] & ((~adaptive & (want > headroom)) | honest_over)
                detected[rows] |= trip
                stopped[rows] |= trip
                extracted[rows] = ext + passed
                used_a[rows] = np.minimum(ua + passed, lim)
        used = np.maximum(np.maximum(used - limit / window_steps, 0.0) + flow[:, None], 0.0)
        over = (used > limit) & (flow > 0.0)[:, None]
        trips += over & ~over_prev
        over_prev = over
        np.minimum(used, limit, out=used)  # the excess waits for the buffer to refill
        tvl = tvl - flow + reversion_per_step * (tvl0 - tvl)
    out["trips"] = trips
    if attack is not None:
        out["detected"] = detected
        out["extracted"] = extracted
        out["naive"] = ~attack.adaptive
        out["potential"] = np.where(
            attack.adaptive, total, np.minimum(total, rate * np.minimum(attack.steps, response_steps))
        )
    return out


def limiter_shard(
    shard: Shard, limiter: LimiterConfig, price: PriceConfig, garch: GarchParams | None = None
) -> dict[str, np.ndarray]:
    """One shard of the limiter calibration (benign and attacked runs on the same paths)."""
    rng = shard.rng()
    n_steps = max(1, round(limiter.horizon_days * 1440.0 / limiter.step_minutes))
    prices = price_paths(price, shard.n_paths, n_steps, limiter.step_minutes, rng, garch)
    flows = honest_outflows(np.diff(np.log(prices), axis=1), limiter, limiter.step_minutes, rng)
    response = max(1, round(limiter.response_minutes / limiter.step_minutes))
    attack = draw_drains(shard.n_paths, n_steps, limiter, response, rng)
    return run_limiter(
        flows,
        threshold_grid(limiter.thresholds),
        tvl0=limiter.tvl,
        floor=limiter.floor,
        window_steps=limiter.window_hours * 60.0 / limiter.step_minutes,
        reversion_per_step=limiter.tvl_reversion_per_day * limiter.step_minutes / 1440.0,
        attack=attack,
        response_steps=response,
    )


# --- oracle guard ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manipulation:
    """One manipulated update per path: step, size of the deviation, direction (+1 up), adaptive or not."""

    step: np.ndarray
    deviation: np.ndarray
    direction: np.ndarray
    adaptive: np.ndarray


def draw_manipulations(n_paths: int, n_steps: int, cfg: OracleConfig, rng: np.random.Generator) -> Manipulation:
    return Manipulation(
        step=rng.integers(1, n_steps + 1, n_paths),
        deviation=np.exp(rng.uniform(math.log(cfg.attack_min_deviation), math.log(cfg.attack_max_deviation), n_paths)),
        direction=np.where(rng.random(n_paths) < 0.5, 1.0, -1.0),
        adaptive=rng.random(n_paths) < cfg.adaptive_fraction,
    )


def run_oracle_guard(
    log_prices: np.ndarray,
    thresholds: np.ndarray,
    *,
    attack: Manipulation | None = None,
    exposure: float = 1.0,
) -> dict[str, np.ndarray]:
    """Simulate the jump guard for every (path, threshold) over honest log prices (paths, updates + 1).
    Returns ``trips`` (honest trip episodes) and, with an attack, ``detected``, ``extracted`` (USD) and
    ``potential`` (USD extracted with no guard)."""
    n_paths, n_cols = log_prices.shape
    thr = np.asarray(thresholds, dtype=np.float64)[None, :]
    k = thr.shape[1]
    last_good = np.repeat(log_prices[:, :1], k, axis=1)
    n_since = np.ones((n_paths, k))
    rejected_prev = np.zeros((n_paths, k), dtype=bool)
    trips = np.zeros((n_paths, k), dtype=np.int32)
    out: dict[str, np.ndarray] = {}
    if attack is not None:
        detected = np.zeros((n_paths, k), dtype=bool)
        extracted = np.zeros((n_paths, k))
    for t in range(1, n_cols):
        x = log_prices[:, t]
        allowed = thr * n_since
        if attack is not None:
            rows = np.flatnonzero(attack.step == t)
            if rows.size:
                lg, al, xr = last_good[rows], allowed[rows], x[rows, None]
                d = attack.deviation[rows, None]
                manipulated = xr + np.log1p(attack.direction[rows, None] * d)
                accepted = np.abs(np.expm1(manipulated - lg)) <= al
                # Adaptive: the largest deviation the guard accepts, in the better direction.
                rel = np.exp(lg - xr)
                room = np.maximum(np.maximum((1.0 + al) * rel - 1.0, 1.0 - (1.0 - al) * rel), 0.0)
                adaptive = attack.adaptive[rows, None]
                gain = np.where(adaptive, np.minimum(d, room), np.where(accepted, d, 0.0))
                detected[rows] = ~adaptive & ~accepted
                extracted[rows] = exposure * gain
        ok = np.abs(np.expm1(x[:, None] - last_good)) <= allowed
        np.copyto(last_good, np.broadcast_to(x[:, None], last_good.shape), where=ok)
        n_since = np.where(ok, 1.0, n_since + 1.0)
        rejected = ~ok
        trips += rejected & ~rejected_prev
        rejected_prev = rejected
    out["trips"] = trips
    if attack is not None:
        out["detected"] = detected
        out["extracted"] = extracted
        out["naive"] = ~attack.adaptive
        out["potential"] = exposure * attack.deviation
    return out


def oracle_shard(
    shard: Shard, oracle: OracleConfig, price: PriceConfig, garch: GarchParams | None = None
) -> dict[str, np.ndarray]:
    """One shard of the oracle-jump calibration."""
    rng = shard.rng()
    n_steps = max(1, round(oracle.horizon_days * 1440.0 / oracle.update_minutes))
    prices = price_paths(price, shard.n_paths, n_steps, oracle.update_minutes, rng, garch)
    attack = draw_manipulations(shard.n_paths, n_steps, oracle, rng)
    return run_oracle_guard(np.log(prices), threshold_grid(oracle.thresholds), attack=attack, exposure=oracle.exposure)


# --- from shard outcomes to a recommendation ---------------------------------------------------------------


def merge_outcomes(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


@dataclass(frozen=True)
class ThresholdCurve:
    """Per-threshold outcomes of a calibration (arrays aligned with ``thresholds``)."""

    thresholds: np.ndarray
    false_trip_probability: np.ndarray  # P(at least one honest trip over the horizon)
    false_trips_per_year: np.ndarray
    detection_rate: np.ndarray  # share of naive attacks stopped by a trip
    mean_extracted: np.ndarray  # USD per attack, naive and adaptive together
    mean_potential: float  # USD per attack without the guard
    expected_cost: np.ndarray  # USD per year
    best: int

    @property
    def recommended(self) -> float:
        return float(self.thresholds[self.best])

    def roc_auc(self) -> float:
        """Area under the ROC curve (false-trip probability, detection rate), endpoints (0,0) and (1,1)."""
        x = np.concatenate(([0.0], self.false_trip_probability[::-1], [1.0]))
        y = np.concatenate(([0.0], self.detection_rate[::-1], [1.0]))
        order = np.lexsort((y, x))
        x, y = x[order], y[order]
        return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "thresholds": self.thresholds.tolist(),
            "false_trip_probability": self.false_trip_probability.tolist(),
            "false_trips_per_year": self.false_trips_per_year.tolist(),
            "detection_rate": self.detection_rate.tolist(),
            "mean_extracted": self.mean_extracted.tolist(),
            "mean_potential": self.mean_potential,
            "expected_cost": self.expected_cost.tolist(),
            "recommended": self.recommended,
            "recommended_index": self.best,
            "roc_auc": self.roc_auc(),
        }


def threshold_curve(
    outcomes: dict[str, np.ndarray], thresholds: np.ndarray, horizon_minutes: float, costs: CostConfig
) -> ThresholdCurve:
    """Summarize merged shard outcomes and pick the threshold of least expected yearly cost."""
    trips = outcomes["trips"]
    naive = outcomes["naive"]
    years = horizon_minutes / MINUTES_PER_YEAR
    ftp = (trips > 0).mean(axis=0)
    ftpy = trips.mean(axis=0) / years
    det = outcomes["detected"][naive].mean(axis=0) if naive.any() else np.zeros(thresholds.size)
    ext = outcomes["extracted"].mean(axis=0)
    cost = ftpy * costs.false_trip_cost + costs.attacks_per_year * ext
    return ThresholdCurve(
        thresholds=np.asarray(thresholds),
        false_trip_probability=ftp,
        false_trips_per_year=ftpy,
        detection_rate=det,
        mean_extracted=ext,
        mean_potential=float(outcomes["potential"].mean()),
        expected_cost=cost,
        best=int(np.argmin(cost)),
    )


# --- honest history ----------------------------------------------------------------------------------------


def _trip_times(unix: np.ndarray, flags: np.ndarray, limit: int = 10) -> list[str]:
    import datetime as dt

    idx = np.flatnonzero(flags)[:limit]
    return [dt.datetime.fromtimestamp(int(unix[i]), dt.UTC).strftime("%Y-%m-%d %H:%M") for i in idx]


def oracle_history_trips(history: PriceHistory, thresholds: np.ndarray, update_minutes: float) -> dict[str, Any]:
    """Honest trips of the jump guard on the hourly closes, for every threshold. The per-interval limit is
    converted to hourly (``threshold * 60 / update_minutes``) when updates are not hourly. Also counts
    hours whose high or low strays beyond the limit from the previous close (what a faster feed could see)."""
    per_hour = np.asarray(thresholds) * max(1.0, 60.0 / update_minutes)
    logp = np.log(history.close)[None, :]
    trips = run_oracle_guard(logp, per_hour)["trips"][0]
    prev = history.close[:-1]
    swing = np.maximum(np.abs(history.high[1:] / prev - 1.0), np.abs(history.low[1:] / prev - 1.0))
    intrahour = (swing[:, None] > per_hour[None, :]).sum(axis=0)
    years = (history.unix[-1] - history.unix[0]) / (365.0 * 86400.0)
    return {
        "trips": trips.tolist(),
        "intrahour_exceedances": intrahour.tolist(),
        "years": years,
        "per_hour_thresholds": per_hour.tolist(),
    }


def oracle_history_detail(history: PriceHistory, threshold_per_hour: float) -> list[str]:
    """When the hourly closes first broke a per-hour jump limit (first ten, UTC)."""
    r = np.abs(np.expm1(np.diff(np.log(history.close))))
    return _trip_times(history.unix[1:], r > threshold_per_hour)


def limiter_history_trips(
    history: PriceHistory, thresholds: np.ndarray, cfg: LimiterConfig, replicates: int = 16, seed: int = 0
) -> dict[str, Any]:
    """Honest trips of the limiter over the real hourly history. There is no flow data, so honest flows
    are the calibration's flow model driven by the REAL hourly returns (panic outflows in real crashes),
    with ``replicates`` seeded draws of the noise and whale terms; trips are averaged over them."""
    r = np.diff(np.log(history.close))
    rng = np.random.default_rng(seed)
    flows = honest_outflows(np.broadcast_to(r, (replicates, r.size)), cfg, 60.0, rng)
    res = run_limiter(
        flows,
        thresholds,
        tvl0=cfg.tvl,
        floor=cfg.floor,
        window_steps=cfg.window_hours,
        reversion_per_step=cfg.tvl_reversion_per_day / 24.0,
    )
    trips = res["trips"]
    years = (history.unix[-1] - history.unix[0]) / (365.0 * 86400.0)
    return {
        "trips_mean": trips.mean(axis=0).tolist(),
        "trips_min": trips.min(axis=0).tolist(),
        "trips_max": trips.max(axis=0).tolist(),
        "replicates": replicates,
        "years": years,
    }

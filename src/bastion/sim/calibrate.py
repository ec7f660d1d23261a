"""Threshold calibration: false trips on honest markets against value extracted by attackers.

Both guards are simulated for a whole grid of thresholds at once ((paths, thresholds) arrays), on benign
paths and on the same paths with an attack injected, so every threshold sees the same randomness. The
models follow the deployed contracts, so a recommended threshold IS the on-chain parameter:

Outflow limiter (``contracts/guards/OutflowLimiter.sol``), a token bucket per asset, DELAYED mode
    threshold = ``limitBps / 10_000``; limit ``L = max(floor, liquidity * threshold)``; the headroom ``h``
    moves toward ``L`` by ``L / window`` per second (refills below, decays above); an inflow ``d`` raises it
    to ``max(h, min(h + d, Lold + Lold >> creditShift))`` (no credit for shift 3), ``Lold`` being the limit
    of the liquidity before the inflow; an outflow ``a <= h`` is paid (``h -= a``); a larger one TRIPS the
    asset for ``cooldown``: that outflow and every later one become FIFO claims, released after the trip
    as the headroom allows (a false trip delays honest withdrawals; it never loses them). The contract
    settles lazily on the next outflow; here every step settles (one refill, then the step's net flow).
Oracle guard (``contracts/guards/OracleGuard.sol``), one ``checkedPrice`` per feed round
    threshold = ``maxJumpBps / 10_000``; the anchor is the last good price, rolled at most once per
    ``jumpInterval`` (small moves cannot compound inside an interval); a price beyond the limit from the
    anchor is a jump. Two agreeing feeds (``feeds = 2``): the jump is accepted at once and the market is
    reduce-only for ``jumpCooldown``. One feed: the jump is a candidate and the market is reduce-only
    until a later round at least ``jumpCooldown`` after the first sighting confirms it within the limit.
    Every start of a reduce-only episode on an honest path is a trip.

Attackers
    Limiter: a drain of a log-uniform fraction of TVL over a few steps. Naive drainers ask regardless and
    are stopped by their first outflow above the headroom (it becomes a claim, frozen by the response);
    adaptive ones take the headroom and never trip it. Oracle: a one-round manipulation of a log-uniform
    size; it pays ``exposure * deviation`` only when the price is accepted AND the market is not
    reduce-only (the attacker needs new risk at the false price); beyond the limit it is detected (two
    feeds: accepted but reduce-only; one feed: held as a candidate). Adaptive manipulators stay inside the
    anchor's band. Humans (or the watchtower) end every attack after ``response_minutes``. The ROC curve
    uses naive attackers; the expected extraction averages both kinds.

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


@dataclass(frozen=True)
class BucketParams:
    """The limiter's parameters other than the threshold, in simulation units (USD, steps)."""

    floor: float
    window_steps: float  # refill time of the bucket, in steps
    cooldown_steps: int  # length of a trip, in steps
    credit_shift: int = 1  # inflow credit cap L >> shift; 3 = none

    @property
    def credit(self) -> float:
        return 0.0 if self.credit_shift >= 3 else 1.0 / (1 << self.credit_shift)


class Bucket:
    """Token-bucket state for every (path, threshold): liquidity, headroom, trip end, FIFO backlog."""

    def __init__(self, tvl0: float, thr: np.ndarray, n_paths: int, bp: BucketParams) -> None:
        k = thr.shape[1]
        self.thr, self.bp = thr, bp
        self.liq = np.full((n_paths, k), float(tvl0))
        self.h = self.limit()
        self.until = np.full((n_paths, k), -1, dtype=np.int64)
        self.backlog = np.zeros((n_paths, k))

    def limit(self) -> np.ndarray:
        return np.maximum(self.bp.floor, self.liq * self.thr)

    def settle(self, t: int) -> np.ndarray:
        """Refill toward the limit, release claims once the trip is over; returns the limit used."""
        lim = self.limit()
        step = lim / self.bp.window_steps
        self.h = np.where(self.h < lim, np.minimum(lim, self.h + step), np.maximum(lim, self.h - step))
        free = (self.until <= t) & (self.backlog > 0.0)
        if free.any():
            rel = np.where(free, np.minimum(self.backlog, self.h), 0.0)
            self.h -= rel
            self.liq -= rel
            self.backlog -= rel
        return lim

    def inflow(self, d: np.ndarray, lim: np.ndarray) -> None:
        cap = lim * (1.0 + self.bp.credit)
        self.h = np.maximum(self.h, np.minimum(self.h + d, cap))
        self.liq += d

    def outflow(self, a: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Outflow ``a`` (>= 0) for every (path, threshold): returns (paid now, tripped now)."""
        slow = (self.until > t) | (self.backlog > 0.0)
        asked = a > 0.0
        paid = asked & ~slow & (a <= self.h)
        trip = asked & ~slow & ~paid
        queued = asked & ~paid
        self.h = np.where(paid, self.h - a, self.h)
        self.liq = np.where(paid, self.liq - a, self.liq)
        self.backlog = np.where(queued, self.backlog + a, self.backlog)
        self.until = np.where(trip, t + self.bp.cooldown_steps, self.until)
        return paid, trip


def run_limiter(
    out_frac: np.ndarray,
    thresholds: np.ndarray,
    *,
    tvl0: float,
    bucket: BucketParams,
    reversion_per_step: float,
    attack: DrainAttack | None = None,
    response_steps: int = 1,
) -> dict[str, np.ndarray]:
    """Simulate the limiter for every (path, threshold). ``out_frac`` is the honest net outflow per step as a
    fraction of the path's TVL (negative: inflow). Returns ``trips`` (honest trip episodes) and
    ``delayed_usd_hours_per_step`` (honest claims waiting, summed over steps), and, with an attack,
    ``detected``, ``extracted`` (USD) and ``potential`` (USD the drain takes with no limiter)."""
    n_paths, n_steps = out_frac.shape
    thr = np.asarray(thresholds, dtype=np.float64)[None, :]
    k = thr.shape[1]
    tvl = np.full(n_paths, float(tvl0))
    honest = Bucket(tvl0, thr, n_paths, bucket)
    trips = np.zeros((n_paths, k), dtype=np.int32)
    waiting = np.zeros((n_paths, k))
    out: dict[str, np.ndarray] = {}
    if attack is not None:
        hit = Bucket(tvl0, thr, n_paths, bucket)  # the same honest history, plus the attacker
        extracted = np.zeros((n_paths, k))
        detected = np.zeros((n_paths, k), dtype=bool)
        stopped = np.zeros((n_paths, k), dtype=bool)
        total = attack.fraction * tvl0
        rate = total / attack.steps
        end = attack.start + response_steps
    for t in range(n_steps):
        # Net flow of the step, the pull back toward the starting TVL included (it is deposits too).
        flow = out_frac[:, t] * tvl - reversion_per_step * (tvl0 - tvl)
        d = np.maximum(-flow, 0.0)[:, None]
        a = np.maximum(flow, 0.0)[:, None]
        lim = honest.settle(t)
        honest.inflow(d, lim)
        _, trip = honest.outflow(np.broadcast_to(a, honest.h.shape), t)
        trips += trip
        waiting += honest.backlog
        if attack is not None:
            lim_a = hit.settle(t)
            hit.inflow(d, lim_a)
            _, trip_h = hit.outflow(np.broadcast_to(a, hit.h.shape), t)
            live = ((attack.start <= t) & (t < end))[:, None] & ~stopped
            detected |= live & trip_h  # an honest trip during the attack stops it too
            stopped |= live & trip_h
            live &= ~trip_h
            if live.any():
                remaining = total[:, None] - extracted
                naive_on = (t < attack.start + attack.steps)[:, None]
                naive_want = np.where(naive_on, np.minimum(rate[:, None], remaining), 0.0)
                adaptive = attack.adaptive[:, None]
                open_ = (hit.until <= t) & (hit.backlog <= 0.0)
                want = np.where(adaptive, np.where(open_, np.minimum(remaining, hit.h), 0.0), naive_want)
                want = np.where(live, np.maximum(want, 0.0), 0.0)
                paid, _ = hit.outflow(want, t)
                extracted += np.where(paid, want, 0.0)
                caught = (want > 0.0) & ~paid  # tripped it, or queued behind a trip: a frozen claim
                detected |= caught
                stopped |= caught
        tvl = tvl - flow
    out["trips"] = trips
    out["delayed_usd_steps"] = waiting
    if attack is not None:
        out["detected"] = detected
        out["extracted"] = extracted
        out["naive"] = ~attack.adaptive
        out["potential"] = np.where(
            attack.adaptive, total, np.minimum(total, rate * np.minimum(attack.steps, response_steps))
        )
    return out


def bucket_params(cfg: LimiterConfig, step_minutes: float) -> BucketParams:
    return BucketParams(
        floor=cfg.floor,
        window_steps=cfg.window_hours * 60.0 / step_minutes,
        cooldown_steps=max(1, round(cfg.cooldown_minutes / step_minutes)),
        credit_shift=cfg.credit_shift,
    )


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
        bucket=bucket_params(limiter, limiter.step_minutes),
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


@dataclass(frozen=True)
class JumpGuardParams:
    """The oracle guard's parameters other than the threshold, in minutes."""

    update_minutes: float  # time between feed rounds (one checkedPrice per round)
    jump_interval_minutes: float = 60.0
    cooldown_minutes: float = 15.0
    feeds: int = 2  # 2: corroborated jumps accepted at once; 1: a later round must confirm


def run_oracle_guard(
    log_prices: np.ndarray,
    thresholds: np.ndarray,
    guard: JumpGuardParams,
    *,
    attack: Manipulation | None = None,
    exposure: float = 1.0,
    record_starts: bool = False,
) -> dict[str, np.ndarray]:
    """Simulate the jump guard for every (path, threshold) over honest log prices (paths, rounds + 1), the
    first column seeding the last good price and the anchor. Returns ``trips`` (reduce-only episodes
    started on honest paths), ``reduce_only_rounds`` (and with ``record_starts`` the (rounds, paths,
    thresholds) flags of the rounds that start one), and, with an attack, ``detected``, ``extracted``
    (USD) and ``potential`` (USD extracted with no guard)."""
    n_paths, n_cols = log_prices.shape
    thr = np.asarray(thresholds, dtype=np.float64)[None, :]
    k = thr.shape[1]
    dt = guard.update_minutes
    good = np.repeat(log_prices[:, :1], k, axis=1)  # last good price (log)
    anchor = good.copy()
    anchor_at = np.zeros((n_paths, k))
    cool_until = np.full((n_paths, k), -np.inf)
    pending = np.zeros((n_paths, k), dtype=bool)
    cand = np.zeros((n_paths, k))
    cand_since = np.full((n_paths, k), -np.inf)
    trips = np.zeros((n_paths, k), dtype=np.int32)
    ro_rounds = np.zeros((n_paths, k), dtype=np.int32)
    starts: list[np.ndarray] = []
    out: dict[str, np.ndarray] = {}
    if attack is not None:
        detected = np.zeros((n_paths, k), dtype=bool)
        extracted = np.zeros((n_paths, k))

    def within(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
        return np.abs(np.expm1(x - ref)) <= thr

    for t in range(1, n_cols):
        now = t * dt
        x = np.broadcast_to(log_prices[:, t, None], good.shape)
        roll = now >= anchor_at + guard.jump_interval_minutes
        anchor = np.where(roll, good, anchor)
        anchor_at = np.where(roll, now, anchor_at)
        was_reduce_only = pending | (cool_until > now)
        if attack is not None:
            rows = np.flatnonzero(attack.step == t)
            if rows.size:
                anc, xr = anchor[rows], x[rows]
                d = attack.deviation[rows, None]
                manipulated = xr + np.log1p(attack.direction[rows, None] * d)
                accepted = within(manipulated, anc)
                blocked = was_reduce_only[rows]
                # Adaptive: the largest deviation inside the anchor's band, in the better direction.
                rel = np.exp(anc - xr)
                band = thr * np.ones_like(rel)
                room = np.maximum(np.maximum((1.0 + band) * rel - 1.0, 1.0 - (1.0 - band) * rel), 0.0)
                adaptive = attack.adaptive[rows, None]
                gain = np.where(adaptive, np.minimum(d, room), np.where(accepted, d, 0.0))
                detected[rows] = ~adaptive & ~accepted
                extracted[rows] = np.where(blocked, 0.0, exposure * gain)
        ok = within(x, anchor)
        jump = ~ok
        if guard.feeds >= 2:
            # Corroborated: accepted at once, reduce-only for the cooldown, the anchor restarts there.
            good = x.copy()
            anchor = np.where(jump, x, anchor)
            anchor_at = np.where(jump, now, anchor_at)
            cool_until = np.where(jump, now + guard.cooldown_minutes, cool_until)
            pending = np.zeros_like(pending)
        else:
            confirm = jump & pending & (now >= cand_since + guard.cooldown_minutes) & within(x, cand)
            restart = jump & ~confirm & (~pending | ~within(x, cand))
            accept = ok | confirm
            good = np.where(accept, x, good)
            anchor = np.where(confirm, x, anchor)
            anchor_at = np.where(confirm, now, anchor_at)
            cand = np.where(restart, x, cand)
            cand_since = np.where(restart, now, cand_since)
            pending = jump & ~confirm
        reduce_only = pending | (cool_until > now)
        # A new episode: reduce-only now and not just before (a cooldown that ran out between rounds ends one).
        started = reduce_only & ~was_reduce_only
        trips += started
        ro_rounds += reduce_only
        if record_starts:
            starts.append(started)
    out["trips"] = trips
    if record_starts:
        out["starts"] = np.stack(starts) if starts else np.zeros((0, n_paths, k), dtype=bool)
    out["reduce_only_rounds"] = ro_rounds
    if attack is not None:
        out["detected"] = detected
        out["extracted"] = extracted
        out["naive"] = ~attack.adaptive
        out["potential"] = exposure * attack.deviation
    return out


def guard_params(cfg: OracleConfig, update_minutes: float | None = None) -> JumpGuardParams:
    return JumpGuardParams(
        update_minutes=cfg.update_minutes if update_minutes is None else update_minutes,
        jump_interval_minutes=cfg.jump_interval_minutes,
        cooldown_minutes=cfg.cooldown_minutes,
        feeds=cfg.feeds,
    )


def oracle_shard(
    shard: Shard, oracle: OracleConfig, price: PriceConfig, garch: GarchParams | None = None
) -> dict[str, np.ndarray]:
    """One shard of the oracle-jump calibration."""
    rng = shard.rng()
    n_steps = max(1, round(oracle.horizon_days * 1440.0 / oracle.update_minutes))
    prices = price_paths(price, shard.n_paths, n_steps, oracle.update_minutes, rng, garch)
    attack = draw_manipulations(shard.n_paths, n_steps, oracle, rng)
    return run_oracle_guard(
        np.log(prices), threshold_grid(oracle.thresholds), guard_params(oracle), attack=attack, exposure=oracle.exposure
    )


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


def oracle_history_trips(history: PriceHistory, thresholds: np.ndarray, cfg: OracleConfig) -> dict[str, Any]:
    """Honest trips of the jump guard on the real hourly closes (one feed round per hour, the guard's own
    interval, cooldown and number of feeds), for every threshold. Also counts hours whose high or low
    strays beyond the limit from the previous close (what a faster feed could see)."""
    th = np.asarray(thresholds, dtype=np.float64)
    logp = np.log(history.close)[None, :]
    res = run_oracle_guard(logp, th, guard_params(cfg, update_minutes=60.0))
    prev = history.close[:-1]
    swing = np.maximum(np.abs(history.high[1:] / prev - 1.0), np.abs(history.low[1:] / prev - 1.0))
    intrahour = (swing[:, None] > th[None, :]).sum(axis=0)
    years = (history.unix[-1] - history.unix[0]) / (365.0 * 86400.0)
    return {
        "trips": res["trips"][0].tolist(),
        "reduce_only_hours": res["reduce_only_rounds"][0].tolist(),
        "intrahour_exceedances": intrahour.tolist(),
        "years": years,
        "feeds": cfg.feeds,
    }


def oracle_history_detail(history: PriceHistory, threshold: float, cfg: OracleConfig) -> list[str]:
    """When the hourly closes started reduce-only episodes at ``threshold`` (first ten, UTC)."""
    res = run_oracle_guard(
        np.log(history.close)[None, :], np.array([threshold]), guard_params(cfg, 60.0), record_starts=True
    )
    return _trip_times(history.unix[1:], res["starts"][:, 0, 0])


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
        bucket=bucket_params(cfg, 60.0),
        reversion_per_step=cfg.tvl_reversion_per_day / 24.0,
    )
    trips = res["trips"]
    years = (history.unix[-1] - history.unix[0]) / (365.0 * 86400.0)
    return {
        "trips_mean": trips.mean(axis=0).tolist(),
        "trips_min": trips.min(axis=0).tolist(),
        "trips_max": trips.max(axis=0).tolist(),
        "delayed_usd_hours_mean": res["delayed_usd_steps"].mean(axis=0).tolist(),
        "replicates": replicates,
        "years": years,
    }

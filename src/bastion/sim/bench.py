"""Simulator benchmark: a fixed liquidation-cascade workload through the vectorized engine and through the
same model written for radCAD, in the same run. Medians of repeated runs; the last printed line is JSON.

Workload: 200 accounts (70% long, leverage 2x-20x, $50M open interest), one market, one day of
5-minute steps (288), GBM at 100% annual volatility with two jumps a day on average (mean -2%, sd 3%),
liquidator capacity $2M per step and $5M of depth per 1% of price impact. About a third of the paths end
with bad debt: cascades are the common case, not the exception.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bastion.sim.backends import LocalBackend, Shard, plan_shards, run_sharded
from bastion.sim.model import Book, ProtocolParams, SimResult, make_book, simulate
from bastion.sim.paths import gbm_jump_paths

N_ACCOUNTS = 200
N_STEPS = 288
STEP_HOURS = 5.0 / 60.0
S0 = 40_000.0
SEED = 2024
PARAMS = ProtocolParams()
BENCH_SHARD_PATHS = 5_000  # fixed: the shard size (not the machine) decides the random streams


def workload_book() -> Book:
    return make_book(N_ACCOUNTS, rng=np.random.default_rng(1), price=S0, params=PARAMS)


def workload_prices(n_paths: int, rng: np.random.Generator) -> np.ndarray:
    return gbm_jump_paths(
        n_paths,
        N_STEPS,
        rng=rng,
        s0=S0,
        step_hours=STEP_HOURS,
        sigma=1.0,
        jump_intensity=2.0 * 365.0,
        jump_mean=-0.02,
        jump_std=0.03,
    )


def bench_shard(shard: Shard, book: Book) -> SimResult:
    return simulate(workload_prices(shard.n_paths, shard.rng()), book, PARAMS)


def run_engine(n_paths: int, seed: int = SEED, book: Book | None = None) -> SimResult:
    """The vectorized engine on the local backend (path generation included)."""
    parts = run_sharded(
        bench_shard,
        n_paths,
        seed,
        LocalBackend(),
        shard_paths=BENCH_SHARD_PATHS,
        book=book or workload_book(),
    )
    return SimResult.concat(parts)


def _median_rate(fn: Callable[[], Any], n_paths: int, repeats: int) -> tuple[float, list[float]]:
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        rates.append(n_paths / (time.perf_counter() - t))
    return statistics.median(rates), rates


def run_bench(
    paths: int = 20_000,
    radcad_paths: int = 40,
    repeats: int = 5,
    radcad_default_paths: int = 8,
    print_fn: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the benchmark, print a table and a final JSON line; return the JSON dict."""
    from bastion.sim.radcad_model import run_radcad

    book = workload_book()
    run_engine(min(paths, 2_000), book=book)  # warm-up: imports, allocator
    ours, ours_all = _median_rate(lambda: run_engine(paths, book=book), paths, repeats)

    shard = plan_shards(radcad_paths, SEED, radcad_paths)[0]
    prices = workload_prices(radcad_paths, shard.rng())
    rc, rc_all = _median_rate(lambda: run_radcad(prices, book, PARAMS, deepcopy=False), radcad_paths, max(3, repeats))
    small = prices[:radcad_default_paths]
    rc_def, _ = _median_rate(lambda: run_radcad(small, book, PARAMS, deepcopy=True), small.shape[0], 3)

    mine = simulate(prices, book, PARAMS)
    theirs = run_radcad(prices, book, PARAMS, deepcopy=False)
    agree = all(
        np.allclose(getattr(mine, k), getattr(theirs, k), rtol=1e-9, atol=1e-6)
        for k in (
            "bad_debt",
            "socialized_loss",
            "insurance_fund_end",
            "liquidated_notional",
            "liquidations",
            "accounts_liquidated",
            "penalties",
        )
    )
    sample = run_engine(paths, book=book)

    rows = [
        ("vectorized engine (NumPy, 1 process)", ours, paths),
        ("radCAD model, deepcopy=False (fastest)", rc, radcad_paths),
        ("radCAD model, defaults (deepcopy=True)", rc_def, radcad_default_paths),
    ]
    print_fn(
        f"workload: {N_ACCOUNTS} accounts, {N_STEPS} steps of 5 min, 1 market; "
        f"median of {repeats} runs; P(bad debt) {float((sample.bad_debt > 0).mean()):.3f}, "
        f"mean accounts liquidated {float(sample.accounts_liquidated.mean()):.1f}"
    )
    print_fn(f"{'engine':<42} {'paths/run':>10} {'paths/s':>12} {'vs radCAD':>10}")
    for name, rate, n in rows:
        print_fn(f"{name:<42} {n:>10,} {rate:>12,.1f} {rate / rc:>9.1f}x")
    print_fn(f"radCAD results equal the engine's on the same {radcad_paths} paths: {'yes' if agree else 'NO'}")
    out = {
        "paths_per_s": round(ours, 1),
        "radcad_paths_per_s": round(rc, 2),
        "speedup": round(ours / rc, 1),
        "radcad_default_paths_per_s": round(rc_def, 2),
        "speedup_vs_radcad_default": round(ours / rc_def, 1),
        "paths_per_s_runs": [round(r, 1) for r in ours_all],
        "radcad_paths_per_s_runs": [round(r, 2) for r in rc_all],
        "results_agree": bool(agree),
        "accounts": N_ACCOUNTS,
        "steps": N_STEPS,
    }
    print_fn(json.dumps(out))
    return out

"""Run a full calibration (stress test, limiter, oracle guard, honest history) and write the report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bastion.sim.backends import Backend, LocalBackend, run_sharded
from bastion.sim.calibrate import (
    ThresholdCurve,
    limiter_history_trips,
    limiter_shard,
    merge_outcomes,
    oracle_history_detail,
    oracle_history_trips,
    oracle_shard,
    threshold_curve,
    threshold_grid,
)
from bastion.sim.config import CalibrateConfig
from bastion.sim.data import load_btc_hourly
from bastion.sim.metrics import stress_summary
from bastion.sim.model import SimResult
from bastion.sim.prices import Feed, feed_report, resample, stress_drop
from bastion.sim.scenarios import price_paths, resolve_garch, stress_shard, stress_steps

Progress = Callable[[str, int], None]  # (stage, paths just finished)
STAGES = ("stress", "limiter", "oracle")


def stage_paths(cfg: CalibrateConfig) -> dict[str, int]:
    return {"stress": cfg.stress.n_paths, "limiter": cfg.limiter.n_paths, "oracle": cfg.oracle.n_paths}


def _nearest(values: list[float], x: float) -> int:
    return int(np.argmin(np.abs(np.asarray(values) - x)))


def run_calibration(
    cfg: CalibrateConfig,
    backend: Backend | None = None,
    progress: Progress | None = None,
    feeds: list[Feed] | None = None,
) -> dict[str, Any]:
    """Everything the report needs, as JSON-ready values, plus arrays for the plots under ``_arrays``.
    ``feeds``: the user's price histories (``--prices``); the first one replaces the bundled history and
    each gets its own heartbeat and jump limit."""
    backend = backend or LocalBackend()
    garch = resolve_garch(cfg.price)

    def tick(stage: str) -> Callable[[int], None] | None:
        return (lambda n: progress(stage, n)) if progress else None

    t0 = time.perf_counter()
    parts = run_sharded(
        stress_shard,
        cfg.stress.n_paths,
        cfg.seed,
        backend,
        shard_paths=cfg.shard_paths,
        progress=tick("stress"),
        price=cfg.price,
        stress=cfg.stress,
        protocol=cfg.protocol,
        garch=garch,
    )
    stress = SimResult.concat(parts)
    t_stress = time.perf_counter() - t0
    summary = stress_summary(
        stress, n_boot=cfg.metrics.bootstrap_samples, confidence=cfg.metrics.confidence, seed=cfg.seed
    )

    curves: dict[str, ThresholdCurve] = {}
    lim_th = threshold_grid(cfg.limiter.thresholds)
    lim = run_sharded(
        limiter_shard,
        cfg.limiter.n_paths,
        cfg.seed + 1,
        backend,
        shard_paths=cfg.shard_paths,
        progress=tick("limiter"),
        limiter=cfg.limiter,
        price=cfg.price,
        garch=garch,
    )
    curves["limiter"] = threshold_curve(merge_outcomes(lim), lim_th, cfg.limiter.horizon_days * 1440.0, cfg.costs)
    orc_th = threshold_grid(cfg.oracle.thresholds)
    orc = run_sharded(
        oracle_shard,
        cfg.oracle.n_paths,
        cfg.seed + 2,
        backend,
        shard_paths=cfg.shard_paths,
        progress=tick("oracle"),
        oracle=cfg.oracle,
        price=cfg.price,
        garch=garch,
    )
    curves["oracle"] = threshold_curve(merge_outcomes(orc), orc_th, cfg.oracle.horizon_days * 1440.0, cfg.costs)

    if feeds:
        history = resample(feeds[0].history, 3600)  # the honest-history stage reads hourly closes
        source = f"{feeds[0].name} ({', '.join(Path(f).name for f in feeds[0].files)}), hourly"
    else:
        history = load_btc_hourly()
        source = "bundled hourly BTC/USD 2018-05-15..2022-03-01"
    lim_hist = limiter_history_trips(history, lim_th, cfg.limiter, seed=cfg.seed)
    orc_hist = oracle_history_trips(history, orc_th, cfg.oracle)
    li, oi = curves["limiter"].best, curves["oracle"].best
    samples = price_paths(
        cfg.price,
        30,
        stress_steps(cfg.stress),
        cfg.stress.step_minutes,
        np.random.default_rng(cfg.seed),
        garch,
    )
    horizon = cfg.stress.horizon_hours
    stressed_at = stress_drop(cfg.price, horizon, cfg.seed, garch)
    feed_reports = [
        feed_report(f, orc_th, cfg.oracle, curves["oracle"].recommended, horizon, stressed_at) for f in feeds or []
    ]
    return {
        "feeds": feed_reports,
        "stressed_at": stressed_at,
        "config": cfg.model_dump(),
        "backend": backend.name,
        "garch": None if garch is None else vars(garch),
        "stress": {**summary, "seconds": t_stress, "paths_per_s": cfg.stress.n_paths / max(t_stress, 1e-9)},
        "limiter": curves["limiter"].to_dict(),
        "oracle": curves["oracle"].to_dict(),
        "history": {
            "source": source,
            "years": orc_hist["years"],
            "limiter": {
                **lim_hist,
                "recommended": curves["limiter"].recommended,
                "recommended_trips_mean": lim_hist["trips_mean"][li],
                "recommended_trips_min": lim_hist["trips_min"][li],
                "recommended_trips_max": lim_hist["trips_max"][li],
                "recommended_delayed_usd_hours": lim_hist["delayed_usd_hours_mean"][li],
            },
            "oracle": {
                **orc_hist,
                "recommended": curves["oracle"].recommended,
                "recommended_trips": orc_hist["trips"][oi],
                "recommended_intrahour_exceedances": orc_hist["intrahour_exceedances"][oi],
                "recommended_reduce_only_hours": orc_hist["reduce_only_hours"][oi],
                "recommended_first_trips_utc": oracle_history_detail(history, curves["oracle"].recommended, cfg.oracle),
            },
        },
        "_arrays": {"bad_debt": stress.bad_debt, "samples": samples, "curves": curves},
    }


def _fmt_usd(x: float) -> str:
    return f"${x:,.0f}"


def _est(d: dict[str, float], money: bool = True) -> str:
    f = _fmt_usd if money else (lambda v: f"{v:.4f}")
    return f"{f(d['value'])} [{f(d['low'])}, {f(d['high'])}]"


def _curve_table(c: dict[str, Any], fmt: Callable[[float], str]) -> list[str]:
    lines = [
        "| threshold | P(honest trip) | honest trips / yr | naive attacks stopped | extracted / attack "
        "| expected cost / yr |",
        "|---|---|---|---|---|---|",
    ]
    for i, th in enumerate(c["thresholds"]):
        star = " **(recommended)**" if i == c["recommended_index"] else ""
        lines.append(
            f"| {fmt(th)}{star} | {c['false_trip_probability'][i]:.3f} | {c['false_trips_per_year'][i]:.2f}"
            f" | {c['detection_rate'][i]:.3f} | {_fmt_usd(c['mean_extracted'][i])}"
            f" | {_fmt_usd(c['expected_cost'][i])} |"
        )
    return lines


def _feeds_section(res: dict[str, Any]) -> list[str]:
    feeds = res.get("feeds") or []
    if not feeds:
        return []
    lines = [
        "## Per feed: heartbeat and jump limit",
        "",
        f"Each feed's own rhythm and volatility (never one constant for every feed). Heartbeat: the feed's "
        f"99.9th-percentile gap between prices, +25%. Jump limit: the tightest limit of the grid with no "
        f"reduce-only episode on the feed's history. Stressed: a fall over {res['config']['stress']['horizon_hours']}"
        f" h at least as deep as the price model's 1-in-100 ({res['stressed_at']:.1%}).",
        "",
        "| feed | span (UTC) | prices | median / max gap | heartbeat | jump limit | trips at recommended"
        " | worst fall | stressed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in feeds:
        lines.append(
            f"| {f['name']} | {f['from_utc']} .. {f['to_utc']} | {f['prices']:,} | {f['median_gap_s']:,} s / "
            f"{f['max_gap_s']:,} s | {f['heartbeat_s']:,} s | {f['jump_limit']:.2%} (`{f['jump_limit_bps']}` bps) "
            f"| {f['trips_at_recommended']} | {f['worst_drop']:.1%} | {'yes' if f['stressed'] else '**no**'} |"
        )
    warnings = [w for f in feeds for w in f["warnings"]]
    if warnings:
        lines += ["", *(f"> **Warning:** {w}" for w in warnings)]
    return [*lines, ""]


def render_markdown(res: dict[str, Any]) -> str:
    cfg = res["config"]
    s = res["stress"]
    lim, orc, hist = res["limiter"], res["oracle"], res["history"]
    bd = s["bad_debt"]
    conf = int(cfg["metrics"]["confidence"] * 100)
    out = [
        "# Bastion calibration report",
        "",
        f"Seed {cfg['seed']}, backend `{res['backend']}`, price model `{cfg['price']['model']}`"
        f" (vol scale {cfg['price']['vol_scale']}).",
        "",
        "## Stress test: liquidation cascades",
        "",
        f"{s['paths']:,} paths of {cfg['stress']['horizon_hours']} h at "
        f"{cfg['stress']['step_minutes']}-minute steps, "
        f"{cfg['stress']['n_accounts']} accounts, open interest {_fmt_usd(cfg['stress']['open_interest'])}, "
        f"insurance fund {_fmt_usd(s['insurance_fund_start'])} ({s['paths_per_s']:,.0f} paths/s).",
        "",
        f"| metric | value [{conf}% CI] |",
        "|---|---|",
        f"| P(any bad debt) | {_est(s['bad_debt_probability'], money=False)} |",
        f"| mean bad debt | {_fmt_usd(s['bad_debt_mean'])} |",
        f"| bad-debt VaR 95% | {_est(bd['var_95'])} |",
        f"| bad-debt ES 95% | {_est(bd['es_95'])} |",
        f"| bad-debt VaR 99% | {_est(bd['var_99'])} |",
        f"| bad-debt ES 99% | {_est(bd['es_99'])} |",
        f"| P(insurance fund exhausted) | {_est(s['insurance_exhaustion_probability'], money=False)} |",
        f"| mean socialized loss | {_fmt_usd(s['socialized_loss_mean'])} |",
        f"| liquidations at risk 95% / 99% (notional) | {_fmt_usd(s['liquidations_at_risk']['lar_95'])} / "
        f"{_fmt_usd(s['liquidations_at_risk']['lar_99'])} |",
        f"| accounts liquidated, mean / 99% | {s['liquidations_at_risk']['accounts_liquidated_mean']:.1f} / "
        f"{s['liquidations_at_risk']['accounts_liquidated_99']:.0f} |",
        "",
        "![loss distribution](loss_distribution.png) ![sample paths](sample_paths.png)",
        "",
        "## Outflow limiter threshold (`limitBps`: the token bucket's size, fraction of TVL, refilled per window)",
        "",
        f"Token bucket as in OutflowLimiter.sol (DELAYED mode): window {cfg['limiter']['window_hours']} h, "
        f"floor {_fmt_usd(cfg['limiter']['floor'])}, trip {cfg['limiter']['cooldown_minutes']:g} min, "
        f"credit shift {cfg['limiter']['credit_shift']}, "
        f"TVL {_fmt_usd(cfg['limiter']['tvl'])}, {cfg['limiter']['n_paths']:,} paths of "
        f"{cfg['limiter']['horizon_days']} days; response time {cfg['limiter']['response_minutes']} min; "
        f"drain without a limiter: {_fmt_usd(lim['mean_potential'])} per attack. "
        f"ROC AUC {lim['roc_auc']:.3f}.",
        "",
        *_curve_table(lim, lambda v: f"{v:.2%}"),
        "",
        f"**Recommended: {lim['recommended']:.2%} of TVL per {cfg['limiter']['window_hours']} h "
        f"(`limitBps = {round(lim['recommended'] * 10_000)}`).**",
        "",
        "## Oracle jump limit (`maxJumpBps`: move from the interval's anchor price)",
        "",
        f"As in OracleGuard.sol: {cfg['oracle']['feeds']} feed(s), anchor rolled every "
        f"{cfg['oracle']['jump_interval_minutes']:g} min, cooldown {cfg['oracle']['cooldown_minutes']:g} min; "
        f"rounds every {cfg['oracle']['update_minutes']} min, {cfg['oracle']['n_paths']:,} paths of "
        f"{cfg['oracle']['horizon_days']} days, attacker exposure {_fmt_usd(cfg['oracle']['exposure'])}; "
        f"manipulation without a guard: {_fmt_usd(orc['mean_potential'])} per attack. "
        f"ROC AUC {orc['roc_auc']:.3f}.",
        "",
        *_curve_table(orc, lambda v: f"{v:.2%}"),
        "",
        f"**Recommended: {orc['recommended']:.2%} from the anchor "
        f"(`maxJumpBps = {round(orc['recommended'] * 10_000)}`).**",
        "",
        "![ROC](roc.png) ![cost](cost.png)",
        "",
        f"## Honest history: {hist['source']} ({hist['years']:.2f} years)",
        "",
        f"- Oracle jump limit {orc['recommended']:.2%} ({hist['oracle']['feeds']} feed(s), one round per hour): "
        f"**{hist['oracle']['recommended_trips']} reduce-only episodes** on hourly closes "
        f"({hist['oracle']['recommended_reduce_only_hours']} rounds reduce-only); "
        f"{hist['oracle']['recommended_intrahour_exceedances']} hours whose high/low strayed that far "
        f"from the previous close (what a faster feed could have seen). First trips (UTC): "
        f"{', '.join(hist['oracle']['recommended_first_trips_utc']) or 'none'}.",
        f"- Outflow limiter {lim['recommended']:.2%} per window: "
        f"**{hist['limiter']['recommended_trips_mean']:.1f} trips** on average "
        f"(min {hist['limiter']['recommended_trips_min']}, max {hist['limiter']['recommended_trips_max']}) "
        f"over {hist['limiter']['replicates']} draws of honest flows, "
        f"{_fmt_usd(hist['limiter']['recommended_delayed_usd_hours'])}-hours of honest withdrawals delayed, "
        "driven by the real hourly returns (no flow data exists: flows follow the calibration's flow model).",
        "",
        *_feeds_section(res),
        "## Method",
        "",
        "Threshold grids are simulated on benign paths and on the same paths with one attack injected. "
        "Naive attackers act regardless of the guard (and are stopped when they exceed it); "
        "adaptive ones stay just under it. Expected cost per year = honest trips per year x false-trip cost "
        f"({_fmt_usd(cfg['costs']['false_trip_cost'])}) + attacks per year "
        f"({cfg['costs']['attacks_per_year']}) "
        "x mean extraction per attack. Bad-debt VaR/ES use percentile-bootstrap intervals "
        f"({cfg['metrics']['bootstrap_samples']} resamples); probabilities use Wilson intervals.",
        "",
    ]
    return "\n".join(out)


def write_report(res: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write report.md, report.json and the PNG figures; returns the paths written."""
    from bastion.sim import plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arrays = res["_arrays"]
    bd = res["stress"]["bad_debt"]
    files = {
        "roc": plots.plot_roc(arrays["curves"], out / "roc.png"),
        "cost": plots.plot_cost(arrays["curves"], out / "cost.png"),
        "loss_distribution": plots.plot_loss_distribution(
            arrays["bad_debt"],
            {k.replace("_", " ").upper(): bd[k]["value"] for k in ("var_95", "es_95", "var_99", "es_99")},
            out / "loss_distribution.png",
        ),
        "sample_paths": plots.plot_sample_paths(
            arrays["samples"], res["config"]["stress"]["step_minutes"], out / "sample_paths.png"
        ),
    }
    public = {k: v for k, v in res.items() if not k.startswith("_")}
    (out / "report.json").write_text(json.dumps(public, indent=2, sort_keys=True) + "\n")
    (out / "report.md").write_text(render_markdown(public))
    files["json"] = out / "report.json"
    files["markdown"] = out / "report.md"
    return files

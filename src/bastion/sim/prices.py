"""Calibrating on your own prices: read price files, join them per feed, and size each feed's guard.

Formats, told apart by the header (first line):
- candles: ``unix,open,high,low,close`` (extra columns ignored, any order of rows: the bundled format);
- points: ``timestamp,price`` (unix seconds or an ISO-8601 date);
- a Chainlink rounds export: ``roundId,answer,...,updatedAt`` (``answer`` scaled by a ``decimals`` column
  when present, else by 8, the decimals of Chainlink's USD feeds).

``--prices NAME=FILE`` names the feed (default: the file's stem); files with the same name are joined
(a later file wins on a shared timestamp). Each feed gets its own heartbeat and jump limit: feeds differ
in update rhythm and volatility, so one constant for every feed would be too tight for one and too loose
for another. A history without a stressed period (no move over the stress horizon as deep as the price
model's 1-in-100) gets a warning: limits fitted on a calm year trip on a real crash day.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bastion.paths import InputError
from bastion.sim.data import PriceHistory

CHAINLINK_DECIMALS = 8


@dataclass(frozen=True)
class Feed:
    name: str
    files: tuple[str, ...]
    history: PriceHistory  # as recorded (irregular for oracle rounds)


def _timestamp(text: str, where: str) -> int:
    text = text.strip()
    try:
        return int(float(text))
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{where}: {text!r} is neither unix seconds nor an ISO-8601 date") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp())


def read_price_file(path: Path) -> PriceHistory:
    """One price file (CSV, optionally .gz) in any of the module's formats, oldest first."""
    try:
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode()
    except (OSError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise InputError(f"--prices {path}: cannot read it ({exc}): give a CSV file") from None
    reader = csv.DictReader(io.StringIO(text))
    cols = {c.strip(): c for c in reader.fieldnames or []}
    lower = {c.lower(): c for c in cols}
    rows: list[tuple[float, ...]] = []
    try:
        if {"unix", "open", "high", "low", "close"} <= set(lower):
            u, o, h, lo, c = (cols[lower[k]] for k in ("unix", "open", "high", "low", "close"))
            for n, r in enumerate(reader, 2):
                rows.append((_timestamp(r[u], f"{path}:{n}"), float(r[o]), float(r[h]), float(r[lo]), float(r[c])))
        elif {"roundid", "answer", "updatedat"} <= set(lower):
            a, t = cols[lower["answer"]], cols[lower["updatedat"]]
            d = cols.get(lower.get("decimals", ""))
            for n, r in enumerate(reader, 2):
                scale = 10.0 ** -int(r[d]) if d else 10.0**-CHAINLINK_DECIMALS
                p = float(r[a]) * scale
                rows.append((_timestamp(r[t], f"{path}:{n}"), p, p, p, p))
        elif {"timestamp", "price"} <= set(lower):
            t, pc = cols[lower["timestamp"]], cols[lower["price"]]
            for n, r in enumerate(reader, 2):
                p = float(r[pc])
                rows.append((_timestamp(r[t], f"{path}:{n}"), p, p, p, p))
        else:
            raise InputError(
                f"--prices {path}: unknown columns {sorted(cols)}: use timestamp,price, "
                "unix,open,high,low,close or a Chainlink rounds export (roundId,answer,updatedAt)"
            )
    except (ValueError, TypeError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"--prices {path}: a row is not a number ({exc}): fix or remove it") from None
    if len(rows) < 2:
        raise InputError(f"--prices {path}: fewer than two prices: give a longer history")
    arr = np.array(rows, dtype=np.float64)
    if np.any(arr[:, 1:] <= 0) or not np.all(np.isfinite(arr)):
        raise InputError(f"--prices {path}: prices must be positive numbers")
    return _history(arr)


def _history(arr: np.ndarray) -> PriceHistory:
    """Sorted oldest first, one row per timestamp (the last one given wins)."""
    order = np.argsort(arr[:, 0], kind="stable")
    arr = arr[order]
    keep = np.append(np.diff(arr[:, 0]) > 0, True)
    arr = arr[keep]
    return PriceHistory(unix=arr[:, 0].astype(np.int64), open=arr[:, 1], high=arr[:, 2], low=arr[:, 3], close=arr[:, 4])


def parse_spec(spec: str, base: Path) -> tuple[str, Path]:
    """``NAME=FILE`` or ``FILE`` (name: the file's stem), relative paths from ``base``."""
    name, sep, file = spec.partition("=")
    if not sep:
        name, file = "", spec
    path = Path(file)
    if not path.is_absolute():
        path = base / path
    if not path.is_file():
        raise InputError(f"--prices {file} does not exist or is not a file: check the path")
    stem = path.name.removesuffix(".gz").removesuffix(".csv")
    return (name.strip() or stem), path


def load_feeds(specs: list[str], base: Path) -> list[Feed]:
    """Feeds in order of first mention; files of one feed joined."""
    grouped: dict[str, list[Path]] = {}
    for spec in specs:
        name, path = parse_spec(spec, base)
        grouped.setdefault(name, []).append(path)
    feeds = []
    for name, files in grouped.items():
        parts = []
        for path in files:
            h = read_price_file(path)
            parts.append(np.column_stack([h.unix, h.open, h.high, h.low, h.close]))
        feeds.append(Feed(name, tuple(str(p) for p in files), _history(np.vstack(parts))))
    return feeds


def resample(history: PriceHistory, step_seconds: int) -> PriceHistory:
    """The last price at or before each point of a regular grid (what a reader polling every step sees);
    high and low over each step kept, so faster-than-step moves stay visible."""
    grid = np.arange(history.unix[0], history.unix[-1] + 1, step_seconds, dtype=np.int64)
    idx = np.searchsorted(history.unix, grid, side="right") - 1
    close = history.close[idx]
    bins = np.searchsorted(grid, history.unix, side="right") - 1
    high = np.full(grid.size, -np.inf)
    low = np.full(grid.size, np.inf)
    np.maximum.at(high, bins, history.high)
    np.minimum.at(low, bins, history.low)
    high = np.where(np.isfinite(high), np.maximum(high, close), close)
    low = np.where(np.isfinite(low), np.minimum(low, close), close)
    return PriceHistory(unix=grid, open=np.r_[close[:1], close[:-1]], high=high, low=low, close=close)


def worst_drop(history: PriceHistory, horizon_hours: float) -> float:
    """The deepest fall of the price (as a fraction, negative) within any window of ``horizon_hours``."""
    hourly = resample(history, 3600) if history.interval_seconds != 3600 else history
    w = max(1, round(horizon_hours))
    logp = np.log(hourly.close)
    if logp.size <= w:
        return float(np.expm1(logp.min() - logp[0]))
    windows = np.lib.stride_tricks.sliding_window_view(logp, w + 1)
    return float(np.expm1((windows.min(axis=1) - windows[:, 0]).min()))


def stress_drop(price_cfg: Any, horizon_hours: float, seed: int, garch: Any = None, n_paths: int = 2000) -> float:
    """The price model's 1-in-100 fall over ``horizon_hours``: what a history must have seen to be stressed."""
    from bastion.sim.scenarios import price_paths

    steps = max(1, round(horizon_hours))
    paths = price_paths(price_cfg, n_paths, steps, 60.0, np.random.default_rng(seed), garch)
    drops = paths.min(axis=1) / paths[:, 0] - 1.0
    return float(np.quantile(drops, 0.01))


def feed_report(
    feed: Feed, thresholds: np.ndarray, oracle_cfg: Any, recommended: float, horizon_hours: float, stressed_at: float
) -> dict[str, Any]:
    """One feed's heartbeat, jump limit and honest trips, with its warnings."""
    from bastion.sim.calibrate import guard_params, run_oracle_guard

    h = feed.history
    gaps = np.diff(h.unix)
    step = max(60, int(np.median(gaps)))
    # A heartbeat below the feed's usual longest gap would call an honest feed stale.
    heartbeat = math.ceil(float(np.quantile(gaps, 0.999)) * 1.25 / 60.0) * 60
    regular = resample(h, step)
    res = run_oracle_guard(np.log(regular.close)[None, :], thresholds, guard_params(oracle_cfg, step / 60.0))
    trips = res["trips"][0]
    calm = np.flatnonzero(trips == 0)
    jump = float(thresholds[calm[0]]) if calm.size else float(thresholds[-1])
    at_rec = int(trips[int(np.argmin(np.abs(thresholds - recommended)))])
    years = (h.unix[-1] - h.unix[0]) / (365.0 * 86400.0)
    drop = worst_drop(h, horizon_hours)
    warnings = []
    if drop > stressed_at:
        warnings.append(
            f"{feed.name}: no stressed period: the worst {horizon_hours:g} h fall is {drop:.1%}, milder than the "
            f"price model's 1-in-100 ({stressed_at:.1%}); limits fitted on this history trip on a crash day: "
            "add a history with a crash"
        )
    if not calm.size:
        warnings.append(f"{feed.name}: every jump limit up to {thresholds[-1]:.0%} trips on this history")
    return {
        "name": feed.name,
        "files": list(feed.files),
        "from_utc": _utc(h.unix[0]),
        "to_utc": _utc(h.unix[-1]),
        "years": years,
        "prices": len(h),
        "median_gap_s": int(np.median(gaps)),
        "max_gap_s": int(gaps.max()),
        "heartbeat_s": heartbeat,
        "jump_limit": jump,
        "jump_limit_bps": math.ceil(jump * 10_000),
        "trips_at_recommended": at_rec,
        "worst_drop": drop,
        "stressed": drop <= stressed_at,
        "warnings": warnings,
    }


def _utc(unix: int) -> str:
    return dt.datetime.fromtimestamp(int(unix), dt.UTC).strftime("%Y-%m-%d %H:%M")

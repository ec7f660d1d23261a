"""The bundled hourly BTC/USD history (see ``bastion/data/README.md`` for source and licence)."""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
BTC_HOURLY = DATA_DIR / "btc_usd_hourly.csv.gz"


@dataclass(frozen=True)
class PriceHistory:
    """Candles sorted oldest first. ``unix`` in seconds; prices in USD (floats: simulation data)."""

    unix: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray

    def __len__(self) -> int:
        return int(self.unix.size)

    def log_returns(self) -> np.ndarray:
        """Close-to-close log returns, one per interval (length ``len(self) - 1``)."""
        return np.diff(np.log(self.close))

    @property
    def interval_seconds(self) -> int:
        return int(np.median(np.diff(self.unix)))


def read_candles(path: Path) -> PriceHistory:
    """Read a candle CSV (optionally gzip) with columns unix, open, high, low, close; sort oldest first."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    reader = csv.DictReader(io.StringIO(raw.decode()))
    rows = [(int(r["unix"]), float(r["open"]), float(r["high"]), float(r["low"]), float(r["close"])) for r in reader]
    if not rows:
        raise ValueError(f"{path}: no candle rows")
    arr = np.array(rows, dtype=np.float64)
    arr = arr[np.argsort(arr[:, 0], kind="stable")]
    unix = arr[:, 0].astype(np.int64)
    if np.any(np.diff(unix) <= 0):
        raise ValueError(f"{path}: duplicate timestamps")
    return PriceHistory(unix=unix, open=arr[:, 1], high=arr[:, 2], low=arr[:, 3], close=arr[:, 4])


@cache
def load_btc_hourly() -> PriceHistory:
    """Hourly BTC/USD 2018-05-15 .. 2022-03-01, oldest first (cached; treat the arrays as read-only)."""
    hist = read_candles(BTC_HOURLY)
    for a in (hist.unix, hist.open, hist.high, hist.low, hist.close):
        a.setflags(write=False)
    return hist


def btc_hourly_log_returns() -> np.ndarray:
    """Hourly close-to-close log returns of the bundled history (read-only array)."""
    r = load_btc_hourly().log_returns()
    r.setflags(write=False)
    return r

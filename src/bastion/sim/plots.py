"""PNG figures for the calibration report (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from bastion.sim.calibrate import ThresholdCurve


def plot_roc(curves: dict[str, ThresholdCurve], path: Path) -> Path:
    """ROC of each guard: false-trip probability (x) against detection rate of naive attacks (y)."""
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, c in curves.items():
        ax.plot(
            c.false_trip_probability,
            c.detection_rate,
            marker="o",
            ms=3,
            label=f"{name} (AUC {c.roc_auc():.2f})",
        )
        ax.plot([c.false_trip_probability[c.best]], [c.detection_rate[c.best]], "k*", ms=12)
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    ax.set_xlabel("P(honest trip over the horizon)")
    ax.set_ylabel("share of naive attacks stopped")
    ax.set_title("Guard thresholds: ROC (star = least expected cost)")
    ax.legend(loc="lower right")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_cost(curves: dict[str, ThresholdCurve], path: Path) -> Path:
    fig, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 4.2), squeeze=False)
    for ax, (name, c) in zip(axes[0], curves.items(), strict=True):
        ax.loglog(c.thresholds, np.maximum(c.expected_cost, 1.0), label="expected cost / year")
        ax.loglog(c.thresholds, np.maximum(c.mean_extracted, 1.0), ls="--", label="extracted per attack")
        ax.axvline(c.recommended, c="k", ls=":", label=f"recommended {c.recommended:.3g}")
        ax.set_xlabel("threshold")
        ax.set_ylabel("USD")
        ax.set_title(name)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_loss_distribution(bad_debt: np.ndarray, var: dict[str, float], path: Path) -> Path:
    """Histogram (log-spaced bins) of bad debt on the paths that have any, with VaR / ES lines."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    pos = bad_debt[bad_debt > 0]
    share = pos.size / max(1, bad_debt.size)
    if pos.size:
        lo, hi = max(pos.min(), 1e-2), max(pos.max(), 1.0)
        ax.hist(pos, bins=np.geomspace(lo, hi * 1.0001, 50), color="tab:red", alpha=0.7)
        ax.set_xscale("log")
    top = ax.get_ylim()[1]
    for i, (label, v) in enumerate(var.items()):
        if v > 0:
            ax.axvline(v, ls="--", c="k", lw=0.8)
            ax.text(v, top * (0.92 - 0.08 * i), f" {label} ${v:,.0f}", fontsize=8)
    ax.set_xlabel("bad debt per path (USD, log scale)")
    ax.set_ylabel("paths")
    ax.set_title(f"Bad debt: {share:.1%} of paths have any")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_sample_paths(prices: np.ndarray, step_minutes: float, path: Path, n: int = 30) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    hours = np.arange(prices.shape[1]) * step_minutes / 60.0
    for row in prices[:n]:
        ax.plot(hours, row / row[0], lw=0.7, alpha=0.7)
    ax.set_xlabel("hours")
    ax.set_ylabel("price / start")
    ax.set_title(f"{min(n, prices.shape[0])} sample price paths")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

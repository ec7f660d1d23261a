"""Seeded, vectorized price-path generators. Every generator returns prices of shape (paths, steps + 1).

Column 0 is the start price; column t the price after t steps. All randomness comes from the
``numpy.random.Generator`` passed in, so a seed fixes the paths exactly.
"""

from __future__ import annotations

import math

import numpy as np

HOURS_PER_YEAR = 365.0 * 24.0  # crypto trades every hour of the year


def _prices_from_log_returns(s0: float, log_returns: np.ndarray) -> np.ndarray:
    n_paths = log_returns.shape[0]
    out = np.empty((n_paths, log_returns.shape[1] + 1))
    out[:, 0] = 0.0
    np.cumsum(log_returns, axis=1, out=out[:, 1:])
    np.exp(out, out=out)
    out *= s0
    return out


def gbm_jump_paths(
    n_paths: int,
    n_steps: int,
    *,
    rng: np.random.Generator,
    s0: float = 1.0,
    step_hours: float = 1.0,
    mu: float = 0.0,
    sigma: float = 0.8,
    jump_intensity: float = 0.0,
    jump_mean: float = 0.0,
    jump_std: float = 0.0,
) -> np.ndarray:
    """Geometric Brownian motion with Merton (compound Poisson, lognormal) jumps.

    ``mu`` and ``sigma`` are annualized (log drift of the price is ``mu``), ``jump_intensity`` is the
    expected number of jumps per year and each jump adds N(jump_mean, jump_std**2) to the log price.
    The diffusion drift is compensated for the jumps so that E[S_t] = S_0 exp(mu t).
    """
    if n_paths <= 0 or n_steps <= 0:
        raise ValueError("n_paths and n_steps must be positive")
    if sigma < 0 or jump_intensity < 0 or jump_std < 0:
        raise ValueError("sigma, jump_intensity and jump_std must be non-negative")
    dt = step_hours / HOURS_PER_YEAR
    kappa = math.exp(jump_mean + 0.5 * jump_std**2) - 1.0
    drift = (mu - 0.5 * sigma**2 - jump_intensity * kappa) * dt
    r = rng.standard_normal((n_paths, n_steps))
    r *= sigma * math.sqrt(dt)
    r += drift
    if jump_intensity > 0.0:
        counts = rng.poisson(jump_intensity * dt, size=(n_paths, n_steps)).ravel()
        hit = np.flatnonzero(counts)  # jumps are rare: draw their sizes only where they happen
        k = counts[hit]
        # The sum of k iid N(m, s^2) jumps is N(k m, k s^2).
        r.ravel()[hit] += k * jump_mean + np.sqrt(k) * jump_std * rng.standard_normal(hit.size)
    return _prices_from_log_returns(s0, r)


def garch_paths(
    n_paths: int,
    n_steps: int,
    *,
    rng: np.random.Generator,
    s0: float = 1.0,
    omega: float,
    alpha: float,
    beta: float,
    mu: float = 0.0,
    nu: float | None = None,
    sigma0: float | None = None,
) -> np.ndarray:
    """GARCH(1,1) log returns: r_t = mu + e_t, e_t = sigma_t z_t,
    sigma_t^2 = omega + alpha e_{t-1}^2 + beta sigma_{t-1}^2.

    Parameters are in per-step units (as fitted on returns sampled at the step). ``nu`` gives
    Student-t innovations (scaled to unit variance; nu > 2), ``None`` normal ones. ``sigma0`` is the
    starting volatility; by default the unconditional one, sqrt(omega / (1 - alpha - beta)).
    """
    if omega <= 0 or alpha < 0 or beta < 0:
        raise ValueError("GARCH needs omega > 0, alpha >= 0, beta >= 0")
    persistence = alpha + beta
    if sigma0 is None:
        if persistence >= 1.0:
            raise ValueError("GARCH persistence alpha + beta >= 1: give sigma0 explicitly")
        sigma0 = math.sqrt(omega / (1.0 - persistence))
    if nu is None:
        z = rng.standard_normal((n_paths, n_steps))
    else:
        if nu <= 2.0:
            raise ValueError("Student-t innovations need nu > 2 (finite variance)")
        z = rng.standard_t(nu, size=(n_paths, n_steps)) * math.sqrt((nu - 2.0) / nu)
    r = np.empty((n_paths, n_steps))
    var = np.full(n_paths, sigma0**2)
    for t in range(n_steps):  # the recursion is sequential in time, vectorized across paths
        eps = np.sqrt(var) * z[:, t]
        r[:, t] = mu + eps
        var = omega + alpha * eps * eps + beta * var
    return _prices_from_log_returns(s0, r)


def _step_ratio(step_hours: float, source_hours: float) -> tuple[int, int]:
    """(k, m): each step aggregates k source returns, or splits one into m sub-steps."""
    ratio = step_hours / source_hours
    if ratio >= 1.0:
        k = round(ratio)
        if abs(k - ratio) > 1e-9:
            raise ValueError(f"step_hours={step_hours} must be a whole multiple or divisor of {source_hours}h")
        return k, 1
    m = round(1.0 / ratio)
    if abs(m * ratio - 1.0) > 1e-9:
        raise ValueError(f"step_hours={step_hours} must be a whole multiple or divisor of {source_hours}h")
    return 1, m


def block_bootstrap_paths(
    returns: np.ndarray,
    n_paths: int,
    n_steps: int,
    *,
    rng: np.random.Generator,
    s0: float = 1.0,
    step_hours: float = 1.0,
    source_hours: float = 1.0,
    block_hours: int = 24,
    demean: bool = True,
    local_vol_hours: int = 24,
) -> np.ndarray:
    """Moving-block bootstrap of real log returns, resampled to the step size.

    Contiguous blocks of ``block_hours`` source returns (so volatility clusters survive) are drawn
    uniformly and concatenated. For a step of k source intervals, k consecutive returns are summed.
    For a step of 1/m source interval, each source return r is split into m pieces by a Brownian
    bridge: r/m plus zero-sum noise scaled to the local (rolling RMS over ``local_vol_hours``) volatility,
    which preserves every source return exactly and gives sub-steps the right variance.
    ``demean`` removes the sample drift (2018-2022 BTC rose about tenfold, not a stress assumption).
    """
    returns = np.asarray(returns, dtype=np.float64)
    if returns.ndim != 1 or returns.size < 2:
        raise ValueError("returns must be a 1-D array of at least two log returns")
    k, m = _step_ratio(step_hours, source_hours)
    src = returns - returns.mean() if demean else returns
    block = max(1, min(int(block_hours), src.size))
    n_src = -(-n_steps // m) * k if m > 1 else n_steps * k  # source intervals needed per path
    n_blocks = -(-n_src // block)
    starts = rng.integers(0, src.size - block + 1, size=(n_paths, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)).reshape(n_paths, -1)[:, :n_src]
    hourly = src[idx]
    if k > 1:
        r = hourly.reshape(n_paths, n_steps, k).sum(axis=2)
    elif m > 1:
        w = max(1, min(int(local_vol_hours), src.size))
        sq = np.concatenate(([0.0], np.cumsum(src * src)))
        lo = np.maximum(np.arange(src.size) - w + 1, 0)
        local_vol = np.sqrt((sq[1:] - sq[lo]) / (np.arange(src.size) - lo + 1))
        z = rng.standard_normal((n_paths, n_src, m))
        z -= z.mean(axis=2, keepdims=True)
        z *= (local_vol[idx] / math.sqrt(m))[:, :, None]
        z += (hourly / m)[:, :, None]
        r = z.reshape(n_paths, n_src * m)[:, :n_steps]
    else:
        r = hourly
    return _prices_from_log_returns(s0, r)

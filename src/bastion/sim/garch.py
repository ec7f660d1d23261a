"""GARCH(1,1) fitting with the ``arch`` package, for GARCH-driven price paths and volatility estimates.

It lives in the simulator (the lower layer) so that both ``bastion.sim`` and ``bastion.risk`` can use it
without importing each other both ways.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bastion.errors import BastionError


def clean_returns(returns: np.ndarray) -> np.ndarray:
    """Finite returns as a flat float64 array (at least two of them)."""
    r = np.asarray(returns, dtype=np.float64).ravel()
    r = r[np.isfinite(r)]
    if r.size < 2:
        raise ValueError("need at least two finite returns")
    return r


@dataclass(frozen=True)
class GarchFit:
    """GARCH(1,1) parameters per sampling interval, for returns in natural units (not percent)."""

    omega: float
    alpha: float
    beta: float
    nu: float | None  # Student-t degrees of freedom, None for normal innovations
    sigma_next: float  # one-step-ahead volatility forecast per interval

    @property
    def persistence(self) -> float:
        return self.alpha + self.beta

    @property
    def unconditional_sigma(self) -> float:
        return math.sqrt(self.omega / (1.0 - self.persistence))


class GarchFitError(BastionError, RuntimeError):
    """The GARCH fit failed or gave parameters that cannot be used."""


MAX_PERSISTENCE = 0.999


def fit_garch(returns: np.ndarray, *, dist: Literal["normal", "t"] = "t") -> GarchFit:
    """Fit GARCH(1,1) with the ``arch`` package (zero mean). Raises ``GarchFitError`` when the optimizer
    fails or the result is degenerate (persistence >= 0.999, non-finite or non-positive parameters)."""
    from arch import arch_model

    r = clean_returns(returns)
    if r.size < 100:
        raise GarchFitError(f"too few returns for GARCH ({r.size} < 100)")
    scale = 100.0 / max(float(np.std(r)), 1e-12)  # arch's optimizer likes unit-ish variance
    model = arch_model(
        r * scale, mean="Zero", vol="GARCH", p=1, q=1, dist="t" if dist == "t" else "normal", rescale=False
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = model.fit(disp="off", show_warning=False, options={"maxiter": 500})
    except Exception as exc:  # the optimizer raises assorted errors on bad data
        raise GarchFitError(f"optimizer error: {exc}") from None
    if getattr(res, "convergence_flag", 0) != 0:
        raise GarchFitError(f"optimizer did not converge (flag {res.convergence_flag})")
    p = res.params
    omega = float(p["omega"]) / scale**2
    alpha = float(p["alpha[1]"])
    beta = float(p["beta[1]"])
    nu = float(p["nu"]) if "nu" in p else None
    values = [omega, alpha, beta] + ([nu] if nu is not None else [])
    if not all(math.isfinite(v) for v in values) or omega <= 0 or alpha < 0 or beta < 0:
        raise GarchFitError("non-finite or negative parameters")
    if alpha + beta >= MAX_PERSISTENCE:
        raise GarchFitError(f"persistence {alpha + beta:.4f} >= {MAX_PERSISTENCE} (integrated: no mean reversion)")
    if nu is not None and nu <= 2.0:
        raise GarchFitError(f"Student-t nu {nu:.2f} <= 2 (infinite variance)")
    last_var = float(res.conditional_volatility[-1]) ** 2 / scale**2
    next_var = omega + alpha * r[-1] ** 2 + beta * last_var
    return GarchFit(omega=omega, alpha=alpha, beta=beta, nu=nu, sigma_next=math.sqrt(next_var))

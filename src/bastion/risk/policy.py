"""Bounded parameter policy: market state in, bounded and classified parameter changes out.

Every change is clamped to the parameter's registry bounds and maximum step, respects the minimum interval
between changes, and is classified:

* TIGHTEN (less risk: higher margins, lower OI caps, lower limiter / jump thresholds) -> applied at once by
  the RISK role;
* LOOSEN -> proposed through the timelock, where the guardian can cancel it;
* HOLD -> nothing to do (no change, or cooling down).

Registry bounds take precedence over the step limit: a value found outside its bounds is brought back
inside them in one move. On-chain numbers are Python ints (bps, or collateral base units with 6 decimals).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

import numpy as np

from bastion.risk.estimators import (
    CongestionInputs,
    LiquidityInputs,
    VolEstimate,
    estimate_volatility,
    units_to_usd,
    usd_to_units,
)
from bastion.risk.margin import MarginModelParams, recommend_margins, tail_quantile

POLICY_VERSION = "bastion-risk-policy/1"


class Action(StrEnum):
    TIGHTEN = "TIGHTEN"
    LOOSEN = "LOOSEN"
    HOLD = "HOLD"


ROUTE = {Action.TIGHTEN: "RISK", Action.LOOSEN: "TIMELOCK", Action.HOLD: None}


@dataclass(frozen=True)
class ParamBounds:
    """A parameter's registry entry: hard range, largest single move, minimum seconds between moves, and
    which way is tighter."""

    min: int
    max: int
    max_step: int
    min_interval: int
    tighten_when: Literal["increase", "decrease"]

    def __post_init__(self) -> None:
        for name in ("min", "max", "max_step", "min_interval"):
            if not isinstance(getattr(self, name), int):
                raise TypeError(f"ParamBounds.{name} must be an int")
        if self.min > self.max or self.max_step <= 0 or self.min_interval < 0:
            raise ValueError("need min <= max, max_step > 0 and min_interval >= 0")


@dataclass(frozen=True)
class ParamState:
    value: int
    last_changed: int  # unix seconds
    bounds: ParamBounds


@dataclass(frozen=True)
class ParamChange:
    name: str
    current: int
    target: int
    proposed: int
    action: Action
    route: str | None
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["action"] = self.action.value
        d["reasons"] = list(self.reasons)
        return d


def _classify(delta: int, b: ParamBounds) -> Action:
    if delta == 0:
        return Action.HOLD
    up = delta > 0
    return Action.TIGHTEN if up == (b.tighten_when == "increase") else Action.LOOSEN


def bound_change(name: str, state: ParamState, target: int, now: int, reasons: tuple[str, ...] = ()) -> ParamChange:
    """Clamp ``target`` to the bounds and the step, apply the cooldown, and classify the move."""
    if not isinstance(target, int) or not isinstance(state.value, int):
        raise TypeError(f"{name}: on-chain values must be ints")
    b = state.bounds
    cur = state.value
    why = list(reasons)
    goal = min(max(target, b.min), b.max)
    if goal != target:
        why.append(f"target {target} clamped to bounds [{b.min}, {b.max}]")
    if b.min <= cur <= b.max:
        delta = goal - cur
        if abs(delta) > b.max_step:
            delta = b.max_step if delta > 0 else -b.max_step
            why.append(f"step limited to {b.max_step}")
        proposed = cur + delta
    else:
        proposed = goal
        why.append(f"current {cur} outside bounds: brought back in one move")
    action = _classify(proposed - cur, b)
    if action is not Action.HOLD and now - state.last_changed < b.min_interval and b.min <= cur <= b.max:
        why.append(f"cooling down: {b.min_interval - (now - state.last_changed)} s until the next change")
        proposed, action = cur, Action.HOLD
    if not why:
        why.append("already at target" if action is Action.HOLD else f"moving toward target {target}")
    return ParamChange(name, cur, target, proposed, action, ROUTE[action], tuple(why))


# --- targets from market state -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MarketSnapshot:
    """What the engine observes: hourly log returns (oldest first), liquidity and congestion."""

    returns_hourly: np.ndarray
    liquidity: LiquidityInputs
    congestion: CongestionInputs
    timestamp: int


@dataclass(frozen=True)
class PolicyParams:
    margin: MarginModelParams = field(default_factory=MarginModelParams)
    max_cascade_impact: float = 0.05  # price impact that liquidating stress_liquidation_share of OI may cause
    stress_liquidation_share: float = 0.3
    max_loss_rate: float = 0.01  # stress bad debt per unit of OI the insurance fund must absorb
    limiter_window_hours: float = 6.0  # the deployed vault's window: the target is its limitBps
    limiter_quantile: float = 0.999
    flow_vol_daily: float = 0.02
    panic_beta: float = 0.5
    limiter_headroom: float = 1.2
    oracle_interval_minutes: float = 60.0
    oracle_quantile: float = 0.9999
    oracle_headroom: float = 1.25


@dataclass(frozen=True)
class Targets:
    values: dict[str, int]
    reasons: dict[str, tuple[str, ...]]
    vol: VolEstimate


def compute_targets(
    snap: MarketSnapshot,
    p: PolicyParams = PolicyParams(),
    calibrated: dict[str, int] | None = None,
    vol: VolEstimate | None = None,
) -> Targets:
    """Unbounded targets for every parameter, with the reasons behind them. ``calibrated`` targets (for
    example the limiter and oracle thresholds of a ``bastion calibrate`` report, in bps) replace the
    closed-form ones. ``vol`` replaces the GARCH forecast (the engine passes a long-run estimate for the
    structural targets)."""
    vol = estimate_volatility(snap.returns_hourly, 1.0, method="garch") if vol is None else vol
    vol_note = (f"hourly vol {vol.sigma:.3%} ({vol.annualized:.0%} annualized, {vol.method})", *vol.notes)
    mr = recommend_margins(vol.sigma, snap.congestion, snap.liquidity, p.margin)
    values: dict[str, int] = {
        "maintenance_margin_bps": mr.maintenance_bps,
        "initial_margin_bps": mr.initial_bps,
    }
    reasons: dict[str, tuple[str, ...]] = {
        "maintenance_margin_bps": vol_note + tuple(mr.reasons()),
        "initial_margin_bps": (
            f"{p.margin.initial_to_maintenance:g} x maintenance, at least +{p.margin.min_initial_gap_bps} bps",
        ),
    }
    liq = snap.liquidity
    by_depth = p.max_cascade_impact / 0.01 * units_to_usd(liq.amm_depth_1pct) / p.stress_liquidation_share
    by_fund = units_to_usd(liq.insurance_fund) / p.max_loss_rate
    cap = min(by_depth, by_fund)
    values["oi_cap"] = usd_to_units(math.floor(cap))
    reasons["oi_cap"] = (
        f"depth: liquidating {p.stress_liquidation_share:.0%} of OI may move the price at most "
        f"{p.max_cascade_impact:.0%} -> ${by_depth:,.0f}",
        f"insurance fund covers {p.max_loss_rate:.1%} stress loss -> ${by_fund:,.0f}",
    )
    z_lim = tail_quantile(p.limiter_quantile)  # a window's flow sums many steps: normal tails
    day_sigma = vol.horizon_sigma(p.limiter_window_hours)
    window_days = p.limiter_window_hours / 24.0
    flow_q = z_lim * math.hypot(p.flow_vol_daily * math.sqrt(window_days), p.panic_beta * day_sigma)
    values["limiter_threshold_bps"] = math.ceil(flow_q * p.limiter_headroom * 10_000)
    reasons["limiter_threshold_bps"] = (
        f"{p.limiter_quantile:.1%} quantile of honest net outflow over {p.limiter_window_hours:g} h "
        f"= {flow_q:.2%} of TVL, x{p.limiter_headroom:g} headroom",
    )
    z_or = tail_quantile(p.oracle_quantile, p.margin.nu)
    move = z_or * vol.horizon_sigma(p.oracle_interval_minutes / 60.0)
    values["oracle_jump_bps"] = math.ceil(move * p.oracle_headroom * 10_000)
    reasons["oracle_jump_bps"] = (
        f"{p.oracle_quantile:.3%} honest move per {p.oracle_interval_minutes:g} min "
        f"= {move:.2%}, x{p.oracle_headroom:g} headroom",
    )
    for name, v in (calibrated or {}).items():
        if not isinstance(v, int):
            raise TypeError(f"calibrated[{name!r}] must be an int")
        values[name] = v
        reasons[name] = ("from the calibration report",)
    return Targets(values=values, reasons=reasons, vol=vol)


@dataclass(frozen=True)
class Recommendation:
    changes: list[ParamChange]
    vol: VolEstimate
    timestamp: int
    notes: list[str] = field(default_factory=list)

    def proposal(self) -> dict[str, int]:
        return {c.name: c.proposed for c in self.changes}

    def to_dict(self) -> dict[str, Any]:
        return {
            "timestamp": self.timestamp,
            "vol_hourly": self.vol.sigma,
            "vol_method": self.vol.method,
            "changes": [c.to_dict() for c in self.changes],
            "notes": list(self.notes),
        }


def recommend(
    snap: MarketSnapshot,
    current: dict[str, ParamState],
    now: int | None = None,
    p: PolicyParams = PolicyParams(),
    calibrated: dict[str, int] | None = None,
) -> Recommendation:
    """Bounded, classified changes for every parameter in ``current`` that the policy has a target for."""
    now = snap.timestamp if now is None else now
    tg = compute_targets(snap, p, calibrated)
    changes = {
        name: bound_change(name, st, tg.values[name], now, tg.reasons[name])
        for name, st in current.items()
        if name in tg.values
    }
    notes = [f"no target for {n}: left alone" for n in current if n not in tg.values]
    mm, im = changes.get("maintenance_margin_bps"), changes.get("initial_margin_bps")
    if mm is not None and im is not None and mm.proposed > im.proposed:
        # Never propose an initial margin below the maintenance margin: keep both where they are.
        for c in (mm, im):
            changes[c.name] = ParamChange(
                c.name,
                c.current,
                c.target,
                c.current,
                Action.HOLD,
                None,
                (*c.reasons, "held: bounded moves would put initial below maintenance"),
            )
    return Recommendation(changes=list(changes.values()), vol=tg.vol, timestamp=now, notes=notes)


# --- re-simulate a proposal and hash the report ------------------------------------------------------------


def _canonical(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _canonical(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_canonical(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(f"{float(x):.9g}")
    return x


def canonical_json(report: dict[str, Any]) -> bytes:
    """The canonical bytes of a report: sorted keys, no spaces, floats to 9 significant digits. A report
    stored as exactly these bytes verifies with any sha256 tool."""
    return json.dumps(_canonical(report), sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def report_hash(report: dict[str, Any]) -> bytes:
    """sha256 of the canonical JSON of a report: the bytes32 emitted on-chain with the parameter update."""
    return hashlib.sha256(canonical_json(report)).digest()


def simulate_proposal(
    proposal: dict[str, int],
    snap: MarketSnapshot,
    *,
    n_paths: int = 2_000,
    seed: int = 0,
    horizon_hours: float = 24.0,
    step_minutes: int = 5,
    n_accounts: int = 200,
    liquidation_penalty_bps: int = 100,
) -> tuple[dict[str, Any], bytes]:
    """Stress the proposed margins and OI cap on bootstrapped recent returns (rescaled to the current
    volatility estimate); return the report and its sha256 (bytes32)."""
    from bastion.sim.backends import plan_shards
    from bastion.sim.metrics import stress_summary
    from bastion.sim.model import ProtocolParams, make_book, simulate
    from bastion.sim.paths import block_bootstrap_paths

    for k, v in proposal.items():
        if not isinstance(v, int):
            raise TypeError(f"proposal[{k!r}] must be an int, got {type(v).__name__}")
    mm = proposal["maintenance_margin_bps"] / 10_000
    im = max(proposal["initial_margin_bps"] / 10_000, mm)
    liq = snap.liquidity
    oi = min(units_to_usd(liq.open_interest), units_to_usd(proposal.get("oi_cap", liq.open_interest)))
    params = ProtocolParams(
        initial_margin=im,
        maintenance_margin=mm,
        liquidation_penalty=liquidation_penalty_bps / 10_000,
        insurance_fund=units_to_usd(liq.insurance_fund),
        depth_1pct=max(units_to_usd(liq.amm_depth_1pct), 1.0),
    )
    vol = estimate_volatility(snap.returns_hourly, 1.0, method="garch")
    r = np.asarray(snap.returns_hourly, dtype=np.float64)
    sample_sigma = float(np.sqrt(np.mean((r - r.mean()) ** 2)))
    n_steps = max(1, math.ceil(horizon_hours * 60 / step_minutes))
    shard = plan_shards(n_paths, seed, n_paths)[0]
    prices = block_bootstrap_paths(r, n_paths, n_steps, rng=shard.rng(), s0=1.0, step_hours=step_minutes / 60)
    prices = prices ** (vol.sigma / sample_sigma if sample_sigma > 0 else 1.0)
    book = make_book(n_accounts, rng=np.random.default_rng(seed), price=1.0, params=params, open_interest=oi)
    summary = stress_summary(simulate(prices, book, params), n_boot=200, seed=seed)
    report = {
        "version": POLICY_VERSION,
        "proposal": dict(sorted(proposal.items())),
        "inputs": {
            "timestamp": snap.timestamp,
            "vol_hourly": vol.sigma,
            "vol_method": vol.method,
            "amm_depth_1pct": liq.amm_depth_1pct,
            "open_interest": liq.open_interest,
            "insurance_fund": liq.insurance_fund,
            "base_fee_wei": snap.congestion.base_fee_wei,
            "gas_used_ratio": snap.congestion.gas_used_ratio,
            "pending_txs": snap.congestion.pending_txs,
        },
        "simulation": {
            "n_paths": n_paths,
            "seed": seed,
            "horizon_hours": horizon_hours,
            "step_minutes": step_minutes,
            "n_accounts": n_accounts,
            "open_interest_usd": oi,
        },
        "metrics": summary,
    }
    report = _canonical(report)
    return report, report_hash(report)


# --- defaults for `bastion risk --once` --------------------------------------------------------------------

DAY = 86_400
DEFAULT_REGISTRY: dict[str, ParamBounds] = {
    "maintenance_margin_bps": ParamBounds(100, 2_500, 100, DAY, "increase"),
    "initial_margin_bps": ParamBounds(200, 5_000, 200, DAY, "increase"),
    "oi_cap": ParamBounds(usd_to_units(1e6), usd_to_units(500e6), usd_to_units(25e6), DAY, "decrease"),
    "limiter_threshold_bps": ParamBounds(100, 5_000, 250, DAY, "decrease"),
    "oracle_jump_bps": ParamBounds(100, 5_000, 250, DAY, "decrease"),
}
DEFAULT_VALUES: dict[str, int] = {
    "maintenance_margin_bps": 250,
    "initial_margin_bps": 500,
    "oi_cap": usd_to_units(100e6),
    "limiter_threshold_bps": 1_000,
    "oracle_jump_bps": 1_500,
}
DEFAULT_LIQUIDITY = LiquidityInputs(
    amm_depth_1pct=usd_to_units(5e6), open_interest=usd_to_units(50e6), insurance_fund=usd_to_units(500_000)
)


def default_state(last_changed: int = 0) -> dict[str, ParamState]:
    return {k: ParamState(DEFAULT_VALUES[k], last_changed, b) for k, b in DEFAULT_REGISTRY.items()}

"""What to do with each on-chain parameter, given its targets and the rules the chain enforces. Pure.

Two targets per registry parameter
    *structural*: long-run volatility (realized over the whole history window) on a calm network;
    *stress*: the GARCH one-step forecast on the network as it is now.
    The base value follows the structural target; the gap between stress and structural, when it is
    larger than ``emergency_margin`` of the structural target, is covered by an emergency tightening
    that expires unless renewed. So a passing storm never needs a timelocked loosening: the engine stops
    renewing and the override lapses back to the base.

Registry parameter (``ParameterRegistry``)
    - stress tighter than structural by the margin and tighter than the current value: EMERGENCY
      (``emergencyTighten``, one ``maxStep`` from the effective value, ttl <= ``maxTtl``);
    - an override live while the stress persists (the stress target is still about as tight as the
      override): RENEW it (same value) once its remaining life is below ``renew_before``; renewing moves
      nothing, so the registry's interval does not apply. Once the stress target falls clearly below the
      override, it is no longer renewed and lapses;
    - otherwise the base moves toward the structural target: TIGHTEN through the RISK role (one step), or
      PROPOSE a loosening through the timelock (``setBase``; one step; not while an override is live or a
      proposal for the key is pending);
    - a tightening inside the registry's ``minInterval`` (one clock per key, shared by RISK and the
      guardian, read from ``rulesOf(key).lastChange``) is DEFERRED to the next cycle, never sent to revert.
Governed parameter (outside the registry: the limiter's ``limitBps``, the oracle guard's ``maxJumpBps``)
    Every change, either way, is PROPOSED through the timelock, one policy step at a time, at most one
    proposal per ``min_interval`` and never while one is pending.
Moves smaller than ``deadband`` of the current value are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bastion.risk.chainread import RegistryParam


class Kind(StrEnum):
    TIGHTEN = "tighten"  # RISK: registry.tighten
    EMERGENCY = "emergency"  # RISK: registry.emergencyTighten (new value)
    RENEW = "renew"  # RISK: registry.emergencyTighten (same value)
    PROPOSE = "propose"  # guardian Safe: timelock.schedule(...)
    DEFER = "defer"  # wanted, but the interval has not passed
    HOLD = "hold"  # nothing to do


ACTIONS = (Kind.TIGHTEN, Kind.EMERGENCY, Kind.RENEW, Kind.PROPOSE)
ROUTES = {Kind.TIGHTEN: "RISK", Kind.EMERGENCY: "RISK", Kind.RENEW: "RISK", Kind.PROPOSE: "TIMELOCK"}


@dataclass(frozen=True)
class DecisionPolicy:
    emergency_margin: float = 0.2
    emergency_ttl: int = 6 * 3_600
    renew_before: int = 3 * 3_600
    deadband: float = 0.02


@dataclass(frozen=True)
class Decision:
    market: str  # market symbol, or "vault" for the collateral limiter
    name: str  # registry name, or "limitBps" / "maxJumpBps"
    kind: Kind
    current: int  # effective value now
    value: int  # value the action sets (equal to current for HOLD and DEFER)
    target: int  # the target this move heads for (bounded)
    direction: str  # "tighten", "loosen" or "none"
    reasons: tuple[str, ...]
    key: bytes | None = None  # registry key
    ttl: int = 0  # emergency and renew
    retry_at: int = 0  # DEFER: first time the move is allowed
    governed: bool = False  # outside the registry: only the timelock can change it

    @property
    def route(self) -> str | None:
        return ROUTES.get(self.kind)

    @property
    def actionable(self) -> bool:
        return self.kind in ACTIONS

    @property
    def param_id(self) -> str:
        return f"{self.market}.{self.name}"

    def effective_after(self) -> int:
        """The value ``get`` returns right after this decision is carried out."""
        return self.value if self.kind in (Kind.TIGHTEN, Kind.EMERGENCY, Kind.RENEW) else self.current

    def to_dict(self) -> dict[str, Any]:
        return {
            "market": self.market,
            "name": self.name,
            "kind": self.kind.value,
            "route": self.route,
            "current": self.current,
            "value": self.value,
            "target": self.target,
            "direction": self.direction,
            "reasons": list(self.reasons),
            "key": None if self.key is None else "0x" + self.key.hex(),
            "ttl": self.ttl,
            "retry_at": self.retry_at,
        }


def _tighter(higher_is_tighter: bool, a: int, b: int) -> bool:
    return a > b if higher_is_tighter else a < b


def _significant(current: int, goal: int, deadband: float) -> bool:
    return goal != current and abs(goal - current) > deadband * abs(current)


def _step(current: int, goal: int, max_step: int) -> int:
    delta = max(-max_step, min(max_step, goal - current))
    return current + delta


@dataclass
class _Builder:
    p: RegistryParam
    target: int
    reasons: list[str] = field(default_factory=list)

    def make(self, kind: Kind, value: int, *, ttl: int = 0, retry_at: int = 0, why: str = "") -> Decision:
        cur = self.p.effective
        if value == cur:
            direction = "none"
        else:
            direction = "tighten" if _tighter(self.p.higher_is_tighter, value, cur) else "loosen"
        if kind is Kind.PROPOSE:
            direction = "loosen"
        reasons = (*self.reasons, why) if why else tuple(self.reasons)
        return Decision(
            self.p.market,
            self.p.name,
            kind,
            cur,
            value,
            self.target,
            direction,
            reasons,
            key=self.p.key,
            ttl=ttl,
            retry_at=retry_at,
        )


def decide_registry(
    p: RegistryParam,
    structural: int,
    stress: int,
    now: int,
    pol: DecisionPolicy,
    *,
    pending: bool = False,
    reasons: tuple[str, ...] = (),
) -> Decision:
    """One registry parameter: emergency / renew / tighten / propose / defer / hold (see the module doc)."""
    hit = p.higher_is_tighter
    s_goal = min(max(stress, p.min), p.max)
    b_goal = min(max(structural, p.min), p.max)
    live = p.live_override(now)
    cooling = p.last_change != 0 and now < p.last_change + p.min_interval
    retry = p.last_change + p.min_interval
    ttl = min(pol.emergency_ttl, p.max_ttl)
    renew_due = live and p.override_until - now <= pol.renew_before
    gap = abs(stress - structural)
    stress_on = _tighter(hit, stress, structural) and gap > pol.emergency_margin * abs(structural)

    if stress_on:
        b = _Builder(p, s_goal, [*reasons, f"stress target {stress} vs structural {structural}: emergency regime"])
        ref = p.override_value if live else p.effective
        if _tighter(hit, s_goal, ref) and _significant(ref, s_goal, pol.deadband):
            new = _step(ref, s_goal, p.max_step)
            if cooling:
                if renew_due:
                    why = "escalation waits for the interval; renewed"
                    return b.make(Kind.RENEW, p.override_value, ttl=ttl, why=why)
                return b.make(Kind.DEFER, p.effective, retry_at=retry, why=f"interval: next change at {retry}")
            step_note = " (step-limited)" if new != s_goal else ""
            return b.make(Kind.EMERGENCY, new, ttl=ttl, why=f"emergency tightening for {ttl} s{step_note}")
        eased = _tighter(hit, p.override_value, s_goal) and _significant(p.override_value, s_goal, pol.deadband)
        if live and not eased:
            if renew_due:
                return b.make(Kind.RENEW, p.override_value, ttl=ttl, why=f"conditions persist: renewed for {ttl} s")
            return b.make(Kind.HOLD, p.effective, why=f"override live until {p.override_until}; conditions persist")

    b = _Builder(p, b_goal, [*reasons, f"stress target {stress}, structural target {structural}"])
    if live:
        b.reasons.append(f"override {p.override_value} lapses at {p.override_until}: not renewed, conditions eased")
    if _tighter(hit, b_goal, p.base) and _significant(p.base, b_goal, pol.deadband):
        new = _step(p.base, b_goal, p.max_step)
        if cooling:
            return b.make(Kind.DEFER, p.effective, retry_at=retry, why=f"interval: next change at {retry}")
        if live and not _tighter(hit, new, p.effective):
            return b.make(Kind.HOLD, p.effective, why="the live override is already tighter")
        return b.make(Kind.TIGHTEN, new, why="base tightened" + (" (step-limited)" if new != b_goal else ""))
    if _tighter(hit, p.base, b_goal) and _significant(p.base, b_goal, pol.deadband):
        if live:
            return b.make(Kind.HOLD, p.effective, why="loosening waits until the emergency override lapses")
        if pending:
            return b.make(Kind.HOLD, p.effective, why="a timelock proposal for this key is pending")
        new = _step(p.base, b_goal, p.max_step)
        return b.make(Kind.PROPOSE, new, why="loosening proposed through the timelock (setBase)")
    return b.make(Kind.HOLD, p.effective, why="at target")


def decide_governed(
    market: str,
    name: str,
    current: int,
    target: int,
    *,
    lo: int,
    hi: int,
    max_step: int,
    min_interval: int,
    now: int,
    last_proposed: int,
    pending: bool,
    deadband: float,
    reasons: tuple[str, ...] = (),
) -> Decision:
    """A parameter outside the registry, where lower is tighter (limiter share, jump limit): every change
    goes through the timelock."""
    goal = min(max(target, lo), hi)
    why = list(reasons)
    if goal != target:
        why.append(f"target {target} clamped to policy bounds [{lo}, {hi}]")

    def make(kind: Kind, value: int, note: str, retry_at: int = 0) -> Decision:
        direction = "none" if value == current else ("tighten" if value < current else "loosen")
        return Decision(
            market, name, kind, current, value, goal, direction, (*why, note), retry_at=retry_at, governed=True
        )

    if not _significant(current, goal, deadband):
        return make(Kind.HOLD, current, "at target")
    if pending:
        return make(Kind.HOLD, current, "a timelock proposal for this parameter is pending")
    if last_proposed and now < last_proposed + min_interval:
        retry = last_proposed + min_interval
        return make(Kind.DEFER, current, f"policy interval: next proposal at {retry}", retry)
    new = _step(current, goal, max_step)
    return make(Kind.PROPOSE, new, "proposed through the timelock" + (" (step-limited)" if new != goal else ""))


def keep_margins_ordered(maintenance: Decision, initial: Decision) -> tuple[Decision, Decision]:
    """Never let a move put the maintenance margin above the initial margin, neither now (RISK moves) nor
    once the cycle's proposals execute: hold the move that would (the maintenance one first)."""
    note = "held: the move would put maintenance above initial margin"

    def hold(d: Decision) -> Decision:
        reasons = (*d.reasons, note)
        return Decision(d.market, d.name, Kind.HOLD, d.current, d.current, d.target, "none", reasons, key=d.key)

    def final(d: Decision) -> int:
        return d.value if d.actionable else d.current

    for mm, im in ((Decision.effective_after, Decision.effective_after), (final, final)):
        if mm(maintenance) > im(initial):
            if mm(maintenance) != maintenance.current:
                maintenance = hold(maintenance)
            else:
                initial = hold(initial)
    return maintenance, initial

"""Guard events of the reference clearinghouse, read from the contracts' own logs.

OutflowLimiter (the vault): ``AssetRateLimitBreached`` (a trip), ``RateLimitExtended``,
``RateLimitCleared``, ``FundsLocked``; ScopedPause (the router): ``Paused``, ``PauseExtended``,
``Unpaused``; OracleGuard: ``StatusChanged`` (a market turns reduce-only, or recovers),
``JumpAccepted``, ``JumpCandidate``, ``ReduceOnlyForced``, ``ReduceOnlyLifted``; ClearingEngine:
``SettlementTriggered``, ``BadDebtCovered``. One finding per event, with its severity from the table
below (``severities`` overrides it per event name). Only events emitted by the protocol's own
contracts count, so a look-alike contract cannot forge one: the named contract of the manifest, or,
for the uses of a guardian power (``GUARDIAN_POWERS``: a pause, its extension, a forced reduce-only, a
limiter trip extended), any protected contract (every use is worth a human's look: the key may be the
one that leaked).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.events import Block, Log
from bastion.watch.findings import Finding, Severity
from bastion.watch.view import ChainView

ORACLE_STATUS = ("ok", "stale", "invalid", "deviation", "jump_pending")

# event name -> (contract name in the manifest, default severity)
GUARD_EVENTS: dict[str, tuple[str, Severity]] = {
    "AssetRateLimitBreached": ("vault", Severity.HIGH),
    "RateLimitExtended": ("vault", Severity.LOW),
    "RateLimitCleared": ("vault", Severity.MEDIUM),
    "FundsLocked": ("vault", Severity.MEDIUM),
    "Paused": ("router", Severity.MEDIUM),
    "PauseExtended": ("router", Severity.LOW),
    "Unpaused": ("router", Severity.LOW),
    "StatusChanged": ("oracle_guard", Severity.HIGH),
    "JumpAccepted": ("oracle_guard", Severity.MEDIUM),
    "JumpCandidate": ("oracle_guard", Severity.MEDIUM),
    "ReduceOnlyForced": ("oracle_guard", Severity.MEDIUM),
    "ReduceOnlyLifted": ("oracle_guard", Severity.LOW),
    "SettlementTriggered": ("engine", Severity.CRITICAL),
    "BadDebtCovered": ("engine", Severity.HIGH),
}


GUARDIAN_POWERS = frozenset({"Paused", "PauseExtended", "ReduceOnlyForced", "RateLimitExtended"})


def _market_details(view: ChainView, market_id: Any) -> dict[str, Any]:
    mid = "0x" + market_id.hex() if isinstance(market_id, bytes) else str(market_id)
    try:
        m = view.protocol.market(mid)
    except ValueError:
        return {"market_id": mid}
    return {"market": m.symbol, "scope": m.scope, "market_id": m.id}


def _scope_details(view: ChainView, scope: int) -> dict[str, Any]:
    if scope == 0:
        return {"scope": 0, "market": "all"}
    for m in view.protocol.markets.values():
        if m.scope == scope:
            return {"scope": scope, "market": m.symbol, "market_id": m.id}
    return {"scope": scope}


@register
class GuardEvents(Detector):
    id = "guard_event"
    severity = Severity.MEDIUM
    description = (
        "An on-chain guard acted (limiter trip, pause, reduce-only, settlement, bad debt), or a guardian power "
        "was used on any protected contract"
    )
    confidence = "high"
    recommendation = "Read the guard's event: the guard already acted; decide whether to extend or lift it"

    class Config(DetectorConfig):
        severities: dict[str, Severity] = Field(default_factory=dict, description="event name -> severity")
        events: list[str] = Field(default_factory=list, description="empty: every guard event")
        guardian_powers_anywhere: bool = Field(
            default=True, description="guardian-power events of any protected contract count too"
        )

        @field_validator("severities", mode="before")
        @classmethod
        def _sev(cls, value: Any) -> Any:
            if not isinstance(value, dict):
                return value
            for name in value:
                if name not in GUARD_EVENTS:
                    raise ValueError(f"unknown guard event {name!r} (known: {', '.join(GUARD_EVENTS)})")
            return {k: Severity.parse(v) for k, v in value.items()}

        @field_validator("events")
        @classmethod
        def _events(cls, value: list[str]) -> list[str]:
            for name in value:
                if name not in GUARD_EVENTS:
                    raise ValueError(f"unknown guard event {name!r} (known: {', '.join(GUARD_EVENTS)})")
            return value

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        cfg = self.config
        wanted = set(cfg.events) if cfg.events else set(GUARD_EVENTS)
        emitters = {name: view.protocol.address_of(name) for name in ("vault", "router", "oracle_guard", "engine")}
        protected = view.protocol.protected
        out: list[Finding] = []
        for tx in event.txs:
            if tx.status == 0:
                continue
            for lg in tx.logs:
                if lg.name not in wanted:
                    continue
                contract, default = GUARD_EVENTS[lg.name]
                if emitters.get(contract) == lg.address:
                    title, sev, details = self._describe(lg, view, default)
                elif cfg.guardian_powers_anywhere and lg.name in GUARDIAN_POWERS and lg.address in protected:
                    # another protected contract's guard (its own event shape): named, not interpreted
                    title = f"{lg.name} on {view.protocol.label(lg.address)} by {tx.sender}"
                    sev, details = default, {"args": dict(lg.args or {}), "contract": lg.address}
                else:
                    continue
                out.append(
                    self.finding(
                        event,
                        title,
                        tx_hash=lg.tx_hash,
                        subject=lg.address,
                        actor=tx.sender,
                        discriminator=str(lg.log_index),
                        severity=cfg.severities.get(lg.name, sev),
                        details={"event": lg.name, **details},
                    )
                )
        return out

    @staticmethod
    def _describe(lg: Log, view: ChainView, sev: Severity) -> tuple[str, Severity, dict[str, Any]]:
        a = lg.args
        name = lg.name or "?"
        if name == "AssetRateLimitBreached":
            label = view.protocol.label(a["asset"])
            return (
                f"outflow limiter tripped on {label}: {a['amount']} asked, headroom {a['headroom']}",
                sev,
                {"token": a["asset"], "amount": a["amount"], "headroom": a["headroom"], "until": a["until"]},
            )
        if name in ("RateLimitExtended", "RateLimitCleared"):
            return f"{name} on {view.protocol.label(a['asset'])}", sev, {"token": a["asset"], **dict(a)}
        if name == "FundsLocked":
            return (
                f"withdrawal of {a['amount']} queued as a claim (limiter tripped)",
                sev,
                {"token": a["asset"], "holder": a["recipient"], "amount": a["amount"]},
            )
        if name in ("Paused", "PauseExtended", "Unpaused"):
            d = _scope_details(view, a["market"])
            d.update({k: v for k, v in a.items() if k != "market"})
            who = "the watchtower" if a.get("by") == view.protocol.roles.get("watchtower") else a.get("by")
            return f"{name} scope {a['market']} ({d.get('market', '?')}) by {who}", sev, d
        if name == "StatusChanged":
            cur = ORACLE_STATUS[a["current"]] if a["current"] < len(ORACLE_STATUS) else str(a["current"])
            prev = ORACLE_STATUS[a["previous"]] if a["previous"] < len(ORACLE_STATUS) else str(a["previous"])
            d = _market_details(view, a["market"])
            d.update({"previous": prev, "current": cur, "price": a["price"], "observed": a["observed"]})
            if cur == "ok":
                return f"{d.get('market', '?')} oracle recovered ({prev} -> ok)", Severity.LOW, d
            return f"{d.get('market', '?')} oracle {cur}: market reduce-only", sev, d
        if name in ("JumpAccepted", "JumpCandidate", "ReduceOnlyForced", "ReduceOnlyLifted"):
            d = _market_details(view, a["market"])
            d.update({k: v for k, v in a.items() if k != "market"})
            return f"{name} on {d.get('market', '?')}", sev, d
        if name == "SettlementTriggered":
            return (
                f"global settlement triggered (insolvent: {a['insolvent']}, pool {a['pool']})",
                sev,
                dict(a),
            )
        if name == "BadDebtCovered":
            return (
                f"bad debt of {a['account']}: {a['fromInsurance']} from insurance, {a['fromMaker']} from the maker",
                sev,
                {"holder": a["account"], **dict(a)},
            )
        return name, sev, dict(a)

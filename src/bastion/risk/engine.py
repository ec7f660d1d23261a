"""The risk engine against a chain: observe, decide, re-simulate, record the report, then act.

One cycle:
1. ``observe``: a ``MarketObservation`` per market (``bastion.risk.chainread``), plus the vault's limiter.
2. ``plan``: structural and stress targets per market (``bastion.risk.policy.compute_targets``), and a
   ``Decision`` per parameter (``bastion.risk.decide``), bounded by the rules read from the chain.
3. ``execute``: when anything is to be done, the proposed values are re-simulated per market
   (``simulate_proposal``) and ONE report is written for the cycle; its sha256 is the ``reportHash`` of
   every transaction of the cycle and the salt of its timelock operation. Then:
   - tightenings, emergency tightenings and renewals are sent at once by the RISK key;
   - proposals (registry loosenings, and any change of the limiter or of the oracle jump limit, which
     only governance can set) are batched into one ``timelock.schedule``/``scheduleBatch`` call, wrapped
     in a Safe transaction signed by one guardian owner and stored for the co-signers
     (``bastion.respond.safe.propose``). Nothing is applied until the Safe executes and the delay passes.
   A transaction the registry would refuse for its interval (a race with the guardian) is recorded as
   deferred, not retried in a loop.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion.chain.contracts import Sender, TransactionFailed
from bastion.protocol.client import Protocol
from bastion.respond.keys import Signer
from bastion.respond.safe import SafeTx, next_nonce, propose
from bastion.risk.chainread import ChainReader, LimiterState, MarketObservation
from bastion.risk.config import ConfigError, RiskConfig
from bastion.risk.decide import (
    Decision,
    DecisionPolicy,
    Kind,
    decide_governed,
    decide_registry,
    keep_margins_ordered,
)
from bastion.risk.estimators import CALM_NETWORK, estimate_volatility
from bastion.risk.margin import MarginModelParams
from bastion.risk.policy import MarketSnapshot, PolicyParams, Targets, compute_targets, simulate_proposal
from bastion.risk.reports import Ledger, ReportStore
from bastion.store import Database

REPORT_VERSION = "bastion-risk-change/1"
ZERO32 = b"\0" * 32
VAULT = "vault"
# Timelock operation states (OpenZeppelin): Unset, Waiting, Ready, Done.
OP_WAITING, OP_READY, OP_DONE = 1, 2, 3


@dataclass
class MarketPlan:
    obs: MarketObservation
    structural: Targets
    stress: Targets
    decisions: list[Decision]


@dataclass
class Plan:
    chain_id: int
    block: int
    timestamp: int
    markets: dict[str, MarketPlan]
    limiter: LimiterState
    vault: list[Decision]
    notes: list[str] = field(default_factory=list)

    @property
    def decisions(self) -> list[Decision]:
        return [d for mp in self.markets.values() for d in mp.decisions] + self.vault


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    status: str  # sent | proposed | deferred | failed | dry-run | hold
    tx_hash: str | None = None
    detail: str = ""


@dataclass
class CycleResult:
    plan: Plan
    outcomes: list[Outcome]
    report_hash: bytes | None = None
    report_path: Path | None = None
    safe_tx_hash: str | None = None
    operation_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        p = self.plan
        return {
            "chain_id": p.chain_id,
            "block": p.block,
            "timestamp": p.timestamp,
            "report_hash": None if self.report_hash is None else "0x" + self.report_hash.hex(),
            "report_path": None if self.report_path is None else str(self.report_path),
            "safe_tx_hash": self.safe_tx_hash,
            "operation_id": self.operation_id,
            "markets": {
                s: {
                    "price": mp.obs.price,
                    "history_source": mp.obs.history_source,
                    "vol_hourly_stress": mp.stress.vol.sigma,
                    "vol_hourly_structural": mp.structural.vol.sigma,
                    "notes": list(mp.obs.notes),
                }
                for s, mp in p.markets.items()
            },
            "outcomes": [
                {**o.decision.to_dict(), "status": o.status, "tx_hash": o.tx_hash, "detail": o.detail}
                for o in self.outcomes
            ],
            "notes": list(p.notes),
        }


def load_calibrated(path: str | None) -> tuple[dict[str, int], dict[str, Any]]:
    """Limiter and oracle targets (bps) from a ``bastion calibrate`` report.json, and what it assumed."""
    if not path:
        return {}, {}
    p = Path(path)
    try:
        rep = json.loads(p.read_text())
        lim, orc = rep["limiter"]["recommended"], rep["oracle"]["recommended"]
        cfg = rep.get("config", {})
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"policy.calibration_report: {p} is not a calibration report ({exc})") from None
    targets = {"limiter_threshold_bps": math.ceil(lim * 10_000), "oracle_jump_bps": math.ceil(orc * 10_000)}
    assumed = {
        "limiter_window_hours": cfg.get("limiter", {}).get("window_hours"),
        "oracle_interval_minutes": cfg.get("oracle", {}).get("jump_interval_minutes"),
    }
    return targets, assumed


class RiskEngine:
    """Observe, decide, simulate, report and act for every market of one deployment."""

    def __init__(
        self,
        protocol: Protocol,
        cfg: RiskConfig,
        *,
        risk: Sender | None = None,
        owner: Signer | None = None,
        db: Database | None = None,
        reports_dir: str | Path | None = None,
        dry_run: bool | None = None,
    ) -> None:
        self.p = protocol
        self.cfg = cfg
        self.risk = risk
        self.owner = owner
        self.db = db
        self.dry_run = cfg.output.dry_run if dry_run is None else dry_run
        self.reader = ChainReader(protocol, cfg.estimators)
        self.reports = ReportStore(reports_dir or cfg.output.reports_dir)
        self.ledger = Ledger(self.reports.root / "ledger.jsonl")
        self.calibrated, self.calibration_assumed = load_calibrated(cfg.policy.calibration_report)
        pol = cfg.policy
        self.decision_policy = DecisionPolicy(
            emergency_margin=pol.emergency_margin,
            emergency_ttl=pol.emergency_ttl_seconds,
            renew_before=pol.renew_before_seconds,
            deadband=pol.deadband,
        )
        unknown = [m for m in cfg.markets if m not in protocol.markets]
        if unknown:
            known = ", ".join(protocol.markets)
            raise ConfigError(f"markets: {unknown[0]!r} is not in the manifest (it has {known})")
        self.symbols = list(cfg.markets) or list(protocol.markets)
        self.chain_id = protocol.w3.eth.chain_id
        self._scale = 10 ** (18 - int(protocol.manifest.parameters.get("usdc_decimals", 6)))
        self._settled: set[str] = set()  # timelock operations known to be done

    # -- observe and plan ------------------------------------------------------------------------
    def observe(self) -> dict[str, MarketObservation]:
        block = self.p.w3.eth.get_block("latest")
        return {s: self.reader.observe(s, block) for s in self.symbols}

    def _policy_params(self, obs: MarketObservation, limiter: LimiterState) -> PolicyParams:
        c = self.cfg.policy
        penalty = obs.params["liquidationPenaltyBps"].effective
        margin = MarginModelParams(
            quantile=c.quantile, nu=c.nu, base_liquidation_minutes=c.base_liquidation_minutes,
            liquidation_penalty_bps=penalty,
        )  # fmt: skip
        return PolicyParams(
            margin=margin,
            limiter_window_hours=limiter.window / 3_600,
            oracle_interval_minutes=obs.oracle.jump_interval / 60,
        )

    def targets(self, obs: MarketObservation, limiter: LimiterState) -> tuple[Targets, Targets]:
        """(structural, stress) targets: long-run realized volatility on a calm network, and the GARCH
        forecast on the network as observed."""
        pp = self._policy_params(obs, limiter)
        snap = MarketSnapshot(obs.returns_hourly, obs.liquidity, obs.congestion, obs.timestamp)
        stress = compute_targets(snap, pp, self.calibrated or None)
        long_run = estimate_volatility(obs.returns_hourly, 1.0, method="realized")
        calm = MarketSnapshot(obs.returns_hourly, obs.liquidity, CALM_NETWORK, obs.timestamp)
        structural = compute_targets(calm, pp, self.calibrated or None, vol=long_run)
        return structural, stress

    def _oi_size(self, units: int, price: int) -> int:
        """A cap in collateral units as a size cap (1e18 per unit of the base asset) at ``price``."""
        return units * self._scale * 10**18 // max(price, 1)

    def _oi_units(self, size: int, price: int) -> int:
        return size * price // 10**18 // self._scale

    def plan(self, observations: dict[str, MarketObservation] | None = None) -> Plan:
        obs_all = observations or self.observe()
        first = next(iter(obs_all.values()))
        now = first.timestamp
        limiter = self.reader.limiter_state()
        pending = self.pending_params(now)
        last = self.last_proposed()
        plans: dict[str, MarketPlan] = {}
        pol = self.decision_policy
        for sym, obs in obs_all.items():
            structural, stress = self.targets(obs, limiter)
            ps = obs.params
            src = f"history: {obs.history_source}"
            mm = decide_registry(
                ps["maintenanceMarginBps"],
                structural.values["maintenance_margin_bps"],
                stress.values["maintenance_margin_bps"],
                now, pol, pending=f"{sym}.maintenanceMarginBps" in pending,
                reasons=(src, *structural.reasons["maintenance_margin_bps"][:1]),
            )  # fmt: skip
            im = decide_registry(
                ps["initialMarginBps"],
                structural.values["initial_margin_bps"],
                stress.values["initial_margin_bps"],
                now, pol, pending=f"{sym}.initialMarginBps" in pending,
                reasons=(src,),
            )  # fmt: skip
            mm, im = keep_margins_ordered(mm, im)
            cap = self._oi_size(structural.values["oi_cap"], obs.price)
            oi = decide_registry(
                ps["maxOpenInterest"], cap, cap, now, pol, pending=f"{sym}.maxOpenInterest" in pending,
                reasons=tuple(structural.reasons["oi_cap"]),
            )  # fmt: skip
            jump = decide_governed(
                sym, "maxJumpBps", obs.oracle.max_jump_bps, structural.values["oracle_jump_bps"],
                lo=self.cfg.policy.oracle_max_jump_bps.min, hi=self.cfg.policy.oracle_max_jump_bps.max,
                max_step=self.cfg.policy.oracle_max_jump_bps.max_step,
                min_interval=self.cfg.policy.oracle_max_jump_bps.min_interval_seconds,
                now=now, last_proposed=last.get(f"{sym}.maxJumpBps", 0),
                pending=f"{sym}.maxJumpBps" in pending, deadband=pol.deadband,
                reasons=tuple(structural.reasons["oracle_jump_bps"]),
            )  # fmt: skip
            plans[sym] = MarketPlan(obs, structural, stress, [mm, im, oi, jump])
        # One limiter per collateral asset: the most volatile market sets its target (honest panic flows).
        worst = max(plans, key=lambda s: plans[s].structural.values["limiter_threshold_bps"])
        lt = plans[worst].structural
        b = self.cfg.policy.limiter_limit_bps
        lim = decide_governed(
            VAULT, "limitBps", limiter.limit_bps, lt.values["limiter_threshold_bps"],
            lo=b.min, hi=b.max, max_step=b.max_step, min_interval=b.min_interval_seconds, now=now,
            last_proposed=last.get(f"{VAULT}.limitBps", 0), pending=f"{VAULT}.limitBps" in pending,
            deadband=pol.deadband, reasons=(f"set by {worst}", *lt.reasons["limiter_threshold_bps"]),
        )  # fmt: skip
        notes = ["tradingFeeBps, liquidationPenaltyBps, maxFundingRatePerDay: no policy target, left alone"]
        if self.calibrated:
            notes.append(f"limiter and oracle targets from {self.cfg.policy.calibration_report}")
            hrs = self.calibration_assumed.get("limiter_window_hours")
            if hrs is not None and abs(hrs * 3_600 - limiter.window) > 1:
                notes.append(f"calibration window {hrs} h differs from the vault's {limiter.window / 3600:g} h")
        return Plan(self.chain_id, first.block, now, plans, limiter, [lim], notes)

    # -- ledger ----------------------------------------------------------------------------------
    def pending_params(self, now: int) -> set[str]:
        """Parameters with a timelock proposal still in flight: waiting for co-signers (younger than
        ``proposal_ttl_seconds``), or scheduled and not yet executed or expired."""
        out: set[str] = set()
        ttl = self.cfg.policy.proposal_ttl_seconds
        for e in self.ledger.entries():
            if e.get("kind") != "propose" or e.get("chain_id") != self.chain_id or e["operation_id"] in self._settled:
                continue
            op = bytes.fromhex(e["operation_id"][2:])
            state = int(self.p.timelock.functions.getOperationState(op).call())
            if state == OP_DONE:
                self._settled.add(e["operation_id"])  # final: never asked again
            scheduled = state in (OP_WAITING, OP_READY)
            # Unset: the Safe has not executed the schedule yet (or the operation expired unexecuted).
            unsigned = state != OP_DONE and now - int(e["timestamp"]) < ttl
            if scheduled or (unsigned and not self.p.timelock.functions.isOperationExpired(op).call()):
                out.update(e["params"])
        return out

    def last_proposed(self) -> dict[str, int]:
        last: dict[str, int] = {}
        for e in self.ledger.entries():
            if e.get("kind") == "propose" and e.get("chain_id") == self.chain_id:
                for pid in e["params"]:
                    last[pid] = max(last.get(pid, 0), int(e["timestamp"]))
        return last

    # -- report ----------------------------------------------------------------------------------
    def build_report(self, plan: Plan) -> dict[str, Any]:
        """The cycle's report: inputs, targets, decisions and a re-simulation of the proposed values."""
        s = self.cfg.simulation
        markets: dict[str, Any] = {}
        for sym, mp in plan.markets.items():
            obs = mp.obs
            by = {d.name: d for d in mp.decisions}

            def proposed(name: str, by: dict[str, Decision] = by) -> int:
                d = by[name]
                return d.value if d.actionable else d.current

            cap_units = self._oi_units(proposed("maxOpenInterest"), obs.price)
            proposal = {
                "maintenance_margin_bps": proposed("maintenanceMarginBps"),
                "initial_margin_bps": proposed("initialMarginBps"),
                "oi_cap": cap_units,
            }
            liq = obs.liquidity
            # Stress the book as if it were full to the proposed cap (per side, so twice in total).
            full = type(liq)(liq.amm_depth_1pct, max(liq.open_interest, 2 * cap_units), liq.insurance_fund)
            snap = MarketSnapshot(obs.returns_hourly, full, obs.congestion, obs.timestamp)
            proposal["oi_cap"] = max(2 * cap_units, 1)
            sim, _ = simulate_proposal(
                proposal, snap, n_paths=s.n_paths, seed=s.seed, horizon_hours=s.horizon_hours,
                step_minutes=s.step_minutes, n_accounts=s.n_accounts,
                liquidation_penalty_bps=obs.params["liquidationPenaltyBps"].effective,
            )  # fmt: skip
            markets[sym] = {
                "block": obs.block,
                "price": obs.price,
                "history_source": obs.history_source,
                "rounds_used": obs.rounds_seen,
                "returns_used": int(obs.returns_hourly.size),
                "long_oi": obs.long_oi,
                "short_oi": obs.short_oi,
                "notes": list(obs.notes),
                "vol_hourly": {"structural": mp.structural.vol.sigma, "stress": mp.stress.vol.sigma,
                               "stress_method": mp.stress.vol.method},
                "targets": {"structural": mp.structural.values, "stress": mp.stress.values},
                "simulation": sim,
            }  # fmt: skip
        return {
            "version": REPORT_VERSION,
            "chain_id": plan.chain_id,
            "block": plan.block,
            "timestamp": plan.timestamp,
            "contracts": {k: self.p.manifest.contracts[k] for k in ("registry", "timelock", "vault", "oracle_guard")},
            "limiter": vars(plan.limiter),
            "decisions": [d.to_dict() for d in plan.decisions if d.kind is not Kind.HOLD],
            "markets": markets,
            "notes": [
                *plan.notes,
                "simulation: the book is full to the proposed cap on both sides (proposal.oi_cap is the total, "
                "in collateral units); margins as proposed",
            ],
        }

    # -- act -------------------------------------------------------------------------------------
    def execute(self, plan: Plan) -> CycleResult:
        todo = [d for d in plan.decisions if d.actionable]
        outcomes = [Outcome(d, "deferred" if d.kind is Kind.DEFER else "hold") for d in plan.decisions
                    if not d.actionable]  # fmt: skip
        result = CycleResult(plan, outcomes)
        if not todo:
            return result
        report = self.build_report(plan)
        if self.dry_run:
            from bastion.risk.policy import report_hash

            result.report_hash = report_hash(report)
            result.outcomes += [Outcome(d, "dry-run") for d in todo]
            return result
        digest, path = self.reports.write(report)
        result.report_hash, result.report_path = digest, path
        for d in todo:
            if d.kind is not Kind.PROPOSE:
                result.outcomes.append(self._send_risk(d, digest, plan))
        props = [d for d in todo if d.kind is Kind.PROPOSE]
        if props:
            result.outcomes += self._propose(props, digest, plan, result)
        return result

    def _send_risk(self, d: Decision, digest: bytes, plan: Plan) -> Outcome:
        if self.risk is None:
            return Outcome(d, "failed", detail="no RISK key configured")
        reg = self.p.registry.functions
        fn = (
            reg.tighten(d.key, d.value, digest)
            if d.kind is Kind.TIGHTEN
            else reg.emergencyTighten(d.key, d.value, d.ttl, digest)
        )
        try:
            receipt = self.risk.transact(fn)
        except TransactionFailed as exc:
            status = "deferred" if "TooSoon" in str(exc) else "failed"
            return Outcome(d, status, detail=str(exc))
        tx = "0x" + bytes(receipt["transactionHash"]).hex()
        self.ledger.append({
            "kind": d.kind.value, "chain_id": plan.chain_id, "timestamp": plan.timestamp, "block": plan.block,
            "params": [d.param_id], "key": "0x" + d.key.hex() if d.key else None, "value": d.value,
            "ttl": d.ttl, "report_hash": "0x" + digest.hex(), "tx_hash": tx,
        })  # fmt: skip
        return Outcome(d, "sent", tx_hash=tx)

    def timelock_call(self, d: Decision, digest: bytes, plan: Plan) -> tuple[str, bytes]:
        """(target, calldata) of the governance call that carries out ``d``."""
        if d.market == VAULT:
            cfg = plan.limiter.config_tuple(d.value)
            fn = self.p.vault.functions.updateAssetParams(plan.limiter.asset, cfg)
        elif d.governed:
            ora = plan.markets[d.market].obs.oracle
            fn = self.p.oracle.functions.setMarket(self.p.market_id(d.market), ora.feed_config(d.value))
        else:
            fn = self.p.registry.functions.setBase(d.key, d.value, digest)
        return fn.address, bytes.fromhex(fn._encode_transaction_data()[2:])

    def _propose(self, props: list[Decision], digest: bytes, plan: Plan, result: CycleResult) -> list[Outcome]:
        if self.owner is None or self.db is None:
            return [Outcome(d, "failed", detail="no Safe owner key or store configured") for d in props]
        tl = self.p.timelock.functions
        calls = [self.timelock_call(d, digest, plan) for d in props]
        delay = int(tl.getMinDelay().call())
        if len(calls) == 1:
            target, data = calls[0]
            fn = tl.schedule(target, 0, data, ZERO32, digest, delay)
            op = bytes(tl.hashOperation(target, 0, data, ZERO32, digest).call())
        else:
            targets, payloads = [c[0] for c in calls], [c[1] for c in calls]
            values = [0] * len(calls)
            fn = tl.scheduleBatch(targets, values, payloads, ZERO32, digest, delay)
            op = bytes(tl.hashOperationBatch(targets, values, payloads, ZERO32, digest).call())
        data = bytes.fromhex(fn._encode_transaction_data()[2:])
        safe = self.p.safe.address
        tx = SafeTx(safe, plan.chain_id, self.p.timelock.address, 0, data, 0, self.next_safe_nonce())
        row = propose(self.db, self.owner, tx)
        result.safe_tx_hash, result.operation_id = row.safe_tx_hash, "0x" + op.hex()
        self.ledger.append({
            "kind": "propose", "chain_id": plan.chain_id, "timestamp": plan.timestamp, "block": plan.block,
            "params": [d.param_id for d in props], "values": {d.param_id: d.value for d in props},
            "report_hash": "0x" + digest.hex(), "operation_id": "0x" + op.hex(), "delay": delay,
            "safe_tx_hash": row.safe_tx_hash, "safe_nonce": tx.nonce, "signer": row.signer,
        })  # fmt: skip
        return [Outcome(d, "proposed", detail=f"Safe tx {row.safe_tx_hash}, timelock op 0x{op.hex()}")
                for d in props]  # fmt: skip

    def next_safe_nonce(self) -> int:
        """The Safe's nonce, or one past the highest proposal stored for it and not yet executed: proposals
        queue one after the other, as the Safe executes them in nonce order."""
        assert self.db is not None
        return next_nonce(self.db, int(self.p.safe.functions.nonce().call()), self.p.safe.address, self.chain_id)

    def cycle(self, observations: dict[str, MarketObservation] | None = None) -> CycleResult:
        return self.execute(self.plan(observations))


def report_uses(protocol: Protocol, digest: bytes) -> list[str]:
    """Where a report hash appears on chain: registry updates carrying it, and timelock operations salted
    with it (the engine's proposals)."""
    start = protocol.manifest.deployment_block
    found = [
        f"ParameterUpdated key 0x{bytes(e['args']['key']).hex()} action {e['args']['action']} "
        f"block {e['blockNumber']} tx 0x{bytes(e['transactionHash']).hex()}"
        for e in protocol.registry.events.ParameterUpdated().get_logs(from_block=start)
        if bytes(e["args"]["reportHash"]) == digest
    ]
    found += [
        f"timelock operation 0x{bytes(e['args']['id']).hex()} scheduled in block {e['blockNumber']}"
        for e in protocol.timelock.events.CallSalt().get_logs(from_block=start)
        if bytes(e["args"]["salt"]) == digest
    ]
    return found

"""Playbooks: findings -> actions.

A playbook (config ``[[playbooks]]``) fires on findings of the listed detectors (``"*"``: any) at
or above ``min_severity``, and runs its actions in order, each at most once per incident (the
idempotency key is ``<chain>:<incident>:<playbook>:<action index>``, plus the operation id for a
timelock cancel and the call's hash for a Safe proposal: a compromised proposer who schedules five
operations in one incident gets five cancels, each on its own Safe nonce). Action types:

- ``pause`` / ``call``: call ``function(args)`` on ``target`` with a guardian key (a scoped pause);
- ``set_param``: tighten a parameter: a fixed value, or ``getter() * factor_bps / 10000``, clamped
  to ``[min, max]``;
- ``cancel_timelock``: ``TimelockController.cancel(id)`` for the operation in a governance finding;
- ``safe_propose``: build a Safe 1.4.1 transaction, sign it as one owner, store it for co-signers;
- ``notify``: send to the named notifiers (default: all);
- a plug-in's own types (see ``bastion.respond.actions``, where every action's schema lives).

Actions of the reference clearinghouse (targets named by the deployment manifest):

- ``pause_scope``: ``Router.pause(scope, ops, duration)``; scope from the finding (``$detail.scope``)
  or fixed (0 = every market); pre-signed for every possible scope when ``presign`` (the default);
- ``force_reduce_only``: ``OracleGuard.forceReduceOnly(market, duration)``;
- ``extend_limiter``: ``Vault.extendRateLimit(asset, until)`` of a tripped limiter, up to the
  guardian's cap;
- ``emergency_tighten``: ``ParameterRegistry.emergencyTighten`` of a market parameter by one
  ``maxStep`` (or to a fixed value), within its bounds and its maximum TTL.

A finding about one market's price (its details name a ``market`` the protocol knows) is triaged
before matching: ``price_source`` is added to its details, ``"pool"`` when the market's feeds agree
with each other, are fresh, and moved less than the AMM pool since the last block where the pool's spot
and the primary feed agreed (looked for 1, 2, 4, ... blocks back, up to ``TRIAGE_LOOKBACK_BLOCKS``: the
pool left the feeds, not the other way round), else ``"feeds"`` (also whenever it cannot tell). A pool
held off longer than the lookback keeps the verdict its episode got while in reach, as long as the feeds
stay within ``TRIAGE_AGREE_BPS`` of where they were then.
A playbook can then answer a pool-only anomaly narrowly (``when = {price_source = "feeds"}`` on the
protocol-wide actions).

Arguments may use ``$subject``, ``$actor``, ``$tx``, ``$detail.<name>`` (from the finding), contract
names and asset symbols of the protocol (for addresses), and ``keccak:<text>`` (for bytes32).
``dry_run`` (per playbook or global) records every action without sending anything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from eth_abi import encode
from eth_utils import keccak
from sqlalchemy import select

from bastion.errors import BastionError
from bastion.respond.actions import (
    ACTIONS,
    ActionContext,
    CallAction,
    CancelTimelockAction,
    EmergencyTightenAction,
    ExtendLimiterAction,
    ForceReduceOnlyAction,
    NotifyAction,
    PauseScopeAction,
    SafeProposeAction,
    SetParamAction,
)
from bastion.respond.keys import Signer
from bastion.respond.notifiers import Message, Notifier, Outbox
from bastion.respond.relayer import Relayer
from bastion.respond.safe import SafeTx, next_nonce, propose, safe_nonce
from bastion.store import ActionRow, Database, FindingRow, IncidentRow, NotificationRow, Repository
from bastion.watch.config import PlaybookConfig, WatchConfig
from bastion.watch.findings import Severity
from bastion.watch.metrics import Metrics
from bastion.watch.protocol import Protocol

log = logging.getLogger("bastion.respond.playbooks")

# Price triage (see the module's docstring). Two feeds of one asset agree within 1% (a Chainlink
# deviation threshold is 0.5%), and so do a feed and an arbitraged pool's spot; a feed older than an hour
# is not fresh (the usual heartbeat). Who moved is judged from the last block where the pool and the
# feed still agreed, looked for at 1, 2, 4, ... blocks back, at most TRIAGE_LOOKBACK_BLOCKS: an anomaly
# reported late (a TWAP crossing many blocks after the pool was pushed) is still attributed to its start.
TRIAGE_AGREE_BPS = 100
TRIAGE_FRESH_S = 3600
TRIAGE_LOOKBACK_BLOCKS = 1024
LATEST_ROUND = keccak(text="latestRoundData()")[:4]
SPOT_PRICE = keccak(text="spotPrice()")[:4]
DECIMALS = keccak(text="decimals()")[:4]


def _agree(a: int, b: int) -> bool:
    return abs(a - b) * 10_000 <= TRIAGE_AGREE_BPS * min(a, b)


class ActionError(BastionError, ValueError):
    """An action that cannot be built from its finding (missing detail, bad argument)."""


def arg_types(signature: str) -> list[str]:
    inner = signature[signature.index("(") + 1 : -1]
    return [t for t in inner.split(",") if t]


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def _template(value: Any, finding: FindingRow | None) -> Any:
    if not isinstance(value, str) or not value.startswith("$") or finding is None:
        return value
    if value == "$subject":
        return finding.subject
    if value == "$actor":
        return finding.actor
    if value == "$tx":
        return finding.tx_hash
    if value.startswith("$detail."):
        name = value[len("$detail.") :]
        if name not in (finding.details or {}):
            raise ActionError(f"finding {finding.key} has no detail {name!r}")
        return finding.details[name]
    raise ActionError(f"unknown placeholder {value!r}")


def convert(t: str, value: Any, protocol: Protocol) -> Any:
    if t == "address":
        return protocol.resolve(str(value))
    if t.startswith(("uint", "int")):
        return int(value)
    if t == "bool":
        return bool(value)
    if t.startswith("bytes") and t != "bytes":
        if isinstance(value, bytes):
            return value
        text = str(value)
        if text.startswith("keccak:"):
            return keccak(text=text[len("keccak:") :])
        raw = bytes.fromhex(text[2:] if text.startswith("0x") else text)
        return raw.rjust(int(t[5:]), b"\0") if len(raw) < int(t[5:]) else raw
    if t == "bytes":
        return value if isinstance(value, bytes) else bytes.fromhex(str(value).removeprefix("0x"))
    return value


def encode_call(signature: str, args: list[Any], protocol: Protocol, finding: FindingRow | None = None) -> bytes:
    types = arg_types(signature)
    if len(types) != len(args):
        raise ActionError(f"{signature} takes {len(types)} argument(s), {len(args)} given")
    values = [convert(t, _template(a, finding), protocol) for t, a in zip(types, args, strict=True)]
    return selector(signature) + encode(types, values)


def presign_name(to: str, data: bytes) -> str:
    """The relayer's name for a pre-signed transaction: its target and calldata."""
    return f"{to.lower()}:{data.hex()}"


def _word(raw: str, i: int = 0) -> int:
    """The ``i``-th 32-byte word of an ``eth_call`` answer, as an unsigned int."""
    data = bytes.fromhex(raw[2:])
    if len(data) < 32 * (i + 1):
        raise ActionError(f"short eth_call answer ({len(data)} bytes)")
    return int.from_bytes(data[32 * i : 32 * (i + 1)], "big")


class NotifierHub:
    """Queues messages for notifiers in the durable outbox, once per key, channel and severity (an
    escalation notifies again; a retry never does). Delivery happens off the watch loop."""

    def __init__(self, db: Database, notifiers: Mapping[str, Notifier], metrics: Metrics | None = None) -> None:
        self.db = db
        self.notifiers = dict(notifiers)
        self.metrics = metrics
        self.repo = Repository()
        self.outbox = Outbox(db, self.notifiers, metrics)

    def notify(
        self, key: str, msg: Message, channels: list[str] | None = None, *, dry_run: bool = False
    ) -> list[NotificationRow]:
        out = []
        for name in channels or list(self.notifiers):
            notifier = self.notifiers[name]
            if msg.severity < notifier.min_severity:
                continue
            nkey = f"{key}:{msg.severity.label}:{name}"
            with self.db.transaction() as s:
                if self.repo.notification(s, nkey) is not None:
                    continue  # queued, sent, given up or recorded as a dry run already
                row = self.outbox.enqueue(s, nkey, name, msg, dry_run=dry_run)
            if dry_run and self.metrics:
                self.metrics.notifications.labels(name, "dry_run").inc()
            if not dry_run:
                self.outbox.poke(name)
            out.append(row)
        return out


class PlaybookRunner:
    def __init__(
        self,
        config: WatchConfig,
        protocol: Protocol,
        db: Database,
        chain_id: int,
        *,
        relayers: Mapping[str, Relayer],
        signers: Mapping[str, Signer],
        hub: NotifierHub,
        rpc: Any = None,
        dry_run: bool = False,
    ) -> None:
        self.config = config
        self.protocol = protocol
        self.db = db
        self.chain_id = chain_id
        self.relayers = relayers
        self.signers = signers
        self.hub = hub
        self.rpc = rpc
        self.dry_run = dry_run
        self.repo = Repository()
        self._feed_decimals: dict[str, int] = {}
        self._verdicts: dict[str, tuple[str, int]] = {}  # market -> last triage verdict, primary feed then

    def matching(self, finding: FindingRow) -> list[PlaybookConfig]:
        sev = Severity.parse(finding.severity)
        return [
            pb
            for pb in self.config.playbooks
            if ("*" in pb.on or finding.detector in pb.on) and sev >= pb.min_severity and pb.accepts(finding.details)
        ]

    def respond(self, findings: list[FindingRow]) -> list[Any]:
        """Run the matching playbooks for each finding; mark the findings responded."""
        results: list[Any] = []
        responded = self._responded_severity(findings)
        for f in findings:
            if f.retracted:
                continue
            # Escalation: a finding more severe than any its incident was answered for runs the playbooks it
            # newly matches, and notifies again (its notify actions get keys of their own); chain actions
            # keep one key per incident and playbook, so what was already done is not redone.
            sev = Severity.parse(f.severity)
            prior = responded.get(f.incident_id)
            suffix = f":escalated-{sev.label}" if prior is not None and sev > prior else ""
            if suffix:
                log.warning(
                    "incident %s escalated to %s by %s: %s",
                    f.incident_id,
                    sev.label,
                    f.detector,
                    f.title,
                    extra={"event": "escalation", "incident": f.incident_id, "severity": sev.label},
                )
            if f.incident_id is not None and (prior is None or sev > prior):
                responded[f.incident_id] = sev
            source = self.price_source(f)
            if source is not None:
                f.details = {**(f.details or {}), "price_source": source}
            for pb in self.matching(f):
                for j, action in enumerate(self.config.actions(pb)):
                    key = f"{self.chain_id}:{f.incident_id}:{pb.name}:{j}"
                    if isinstance(action, NotifyAction):
                        key += suffix
                    try:
                        results.extend(self._run(action, key, pb, f))
                    except (ActionError, ValueError) as exc:
                        log.warning("action skipped", extra={"event": "action_skipped", "key": key, "error": str(exc)})
        if findings:
            with self.db.transaction() as s:
                for f in findings:
                    row = s.get(FindingRow, f.id)
                    if row is not None:
                        row.responded = True
        return results

    def _responded_severity(self, findings: list[FindingRow]) -> dict[int, Severity]:
        """Per incident of ``findings``: the highest severity of its findings already responded to."""
        ids = {f.incident_id for f in findings if f.incident_id is not None}
        out: dict[int, Severity] = {}
        if not ids:
            return out
        with self.db.session() as s:
            q = select(FindingRow).where(
                FindingRow.incident_id.in_(ids), FindingRow.responded.is_(True), FindingRow.retracted.is_(False)
            )
            for row in s.scalars(q):
                sev = Severity.parse(row.severity)
                if row.incident_id not in out or sev > out[row.incident_id]:
                    out[row.incident_id] = sev
        return out

    def _run(self, action: Any, key: str, pb: PlaybookConfig, f: FindingRow) -> list[Any]:
        dry = self.dry_run or pb.dry_run
        common = {"playbook": pb.name, "incident_id": f.incident_id, "dry_run": dry}
        plugin = ACTIONS.get(action.type).run
        if plugin is not None:
            return list(plugin(ActionContext(self, common, dry), action, f, key))
        if isinstance(action, CallAction):
            to = self.protocol.resolve(action.target)
            data = encode_call(action.function, action.args, self.protocol, f)
            return [
                self.relayers[action.key].submit(
                    key,
                    to=to,
                    data=data,
                    gas=action.gas,
                    kind=action.type,
                    presigned=presign_name(to, data) if action.presign else None,
                    payload={"function": action.function},
                    **common,
                )
            ]
        if isinstance(action, SetParamAction):
            to = self.protocol.resolve(action.target)
            value = action.value
            if value is None:
                current = int(
                    self.rpc.call("eth_call", {"to": to, "data": "0x" + selector(action.getter).hex()}, "latest"),
                    16,
                )
                value = current * action.factor_bps // 10_000
            value = max(action.min, min(action.max, value))
            data = encode_call(action.function, [value], self.protocol, f)
            return [
                self.relayers[action.key].submit(
                    key,
                    to=to,
                    data=data,
                    kind="set_param",
                    payload={"function": action.function, "new_value": value},
                    **common,
                )
            ]
        if isinstance(action, CancelTimelockAction):
            op_id = (f.details or {}).get("operation_id")
            if not op_id:
                raise ActionError(f"finding {f.key} names no timelock operation")
            timelock = self.protocol.resolve(action.timelock) if action.timelock else f.details.get("timelock")
            data = encode_call("cancel(bytes32)", [op_id], self.protocol)
            return [
                self.relayers[action.key].submit(
                    f"{key}:{op_id}",
                    to=timelock,
                    data=data,
                    kind="cancel_timelock",
                    payload={"operation_id": op_id},
                    **common,
                )
            ]
        if isinstance(action, SafeProposeAction):
            return [self._safe(action, key, f, dry, pb)]
        if isinstance(action, PauseScopeAction):
            to = self.protocol.resolve(action.target)
            scope = self.scope_of(action.scope, f)
            data = encode_call("pause(uint256,uint32,uint256)", [scope, action.mask, action.duration], self.protocol)
            return [
                self.relayers[action.key].submit(
                    key,
                    to=to,
                    data=data,
                    gas=action.gas,
                    kind="pause",
                    presigned=presign_name(to, data) if action.presign else None,
                    payload={"function": "pause", "scope": scope, "ops": action.ops, "duration": action.duration},
                    **common,
                )
            ]
        if isinstance(action, ForceReduceOnlyAction):
            to = self.protocol.resolve(action.target)
            market = self.market_of(action.market, f)
            data = encode_call("forceReduceOnly(bytes32,uint256)", [market.id, action.duration], self.protocol)
            return [
                self.relayers[action.key].submit(
                    key,
                    to=to,
                    data=data,
                    kind="force_reduce_only",
                    payload={"function": "forceReduceOnly", "market": market.symbol, "duration": action.duration},
                    **common,
                )
            ]
        if isinstance(action, ExtendLimiterAction):
            return self._extend_limiter(action, key, f, common)
        if isinstance(action, EmergencyTightenAction):
            return self._emergency_tighten(action, key, f, common)
        if isinstance(action, NotifyAction):
            msg = self.message(f)
            return self.hub.notify(key, msg, action.channels or None, dry_run=dry)
        raise ActionError(f"unsupported action {action!r}")

    # -- price triage ----------------------------------------------------------------------------
    def price_source(self, f: FindingRow) -> str | None:
        """``"pool"`` or ``"feeds"`` for a finding that names a market (see the module's docstring); None
        for any other finding. Fail-safe: whatever cannot be read or classified is ``"feeds"`` (the broad
        answer)."""
        ref = (f.details or {}).get("market")
        if not ref:
            return None
        try:
            m = self.protocol.market(str(ref))
        except ValueError:
            return "feeds"
        if m.feed_secondary is None or m.pool is None or self.rpc is None:
            return "feeds"
        try:
            head = int(self.rpc.call("eth_blockNumber"), 16)
            now_ts = int(self.rpc.call("eth_getBlockByNumber", hex(head), False)["timestamp"], 16)
            (p, p_at), (q, q_at) = (self._round(a, hex(head)) for a in (m.feed_primary, m.feed_secondary))
            pool_now = self._spot(m.pool, hex(head))
            agree = min(p, q) > 0 and _agree(p, q)
            if not agree or now_ts - min(p_at, q_at) > TRIAGE_FRESH_S or pool_now <= 0:
                return "feeds"
            dec = self._decimals(m.feed_primary)  # feed answers are compared with the pool's 1e18 spot
        except Exception as exc:  # the broad answer when the chain cannot be read
            log.warning("price triage failed", extra={"event": "triage_failed", "error": str(exc)[:200]})
            return "feeds"
        back = 1
        while back <= min(head, TRIAGE_LOOKBACK_BLOCKS):
            then = hex(head - back)
            try:
                feed_then, pool_then = self._round(m.feed_primary, then)[0], self._spot(m.pool, then)
            except Exception:  # state not kept that far back (a pruned or young node): look no further
                break
            wad = feed_then * 10 ** (18 - dec) if dec <= 18 else feed_then // 10 ** (dec - 18)
            if min(wad, pool_then) > 0 and _agree(wad, pool_then):
                feeds_moved = abs(p - feed_then) * 10_000 // feed_then
                pool_moved = abs(pool_now - pool_then) * 10_000 // pool_then
                verdict = "pool" if pool_moved > feeds_moved else "feeds"
                self._verdicts[m.symbol] = (verdict, p)
                return verdict
            back *= 2
        # No block of agreement in reach: the pool has been off longer than the lookback. The verdict given
        # when this episode was in reach still holds while the feeds stayed where they were then; feeds
        # that moved since (or no verdict at all) get the broad answer.
        verdict, at_price = self._verdicts.get(m.symbol, ("feeds", 0))
        return verdict if at_price > 0 and _agree(p, at_price) else "feeds"

    def _decimals(self, feed: str) -> int:
        if feed not in self._feed_decimals:
            raw = self.rpc.call("eth_call", {"to": feed, "data": "0x" + DECIMALS.hex()}, "latest")
            self._feed_decimals[feed] = _word(raw, 0)
        return self._feed_decimals[feed]

    def _spot(self, pool: str, block: str) -> int:
        return _word(self.rpc.call("eth_call", {"to": pool, "data": "0x" + SPOT_PRICE.hex()}, block))

    def _round(self, feed: str, block: str) -> tuple[int, int]:
        """(answer, updatedAt) of a Chainlink-style feed at ``block``."""
        raw = self.rpc.call("eth_call", {"to": feed, "data": "0x" + LATEST_ROUND.hex()}, block)
        answer = _word(raw, 1)
        return (0 if answer >= 1 << 255 else answer), _word(raw, 3)

    # -- the reference clearinghouse -------------------------------------------------------------
    def scope_of(self, ref: int | str, f: FindingRow | None) -> int:
        """A pause scope: an int, ``all``, a market symbol, or a ``$detail.<name>`` of the finding."""
        value = _template(ref, f) if isinstance(ref, str) and ref.startswith("$") else ref
        if isinstance(value, bool):
            raise ActionError(f"not a pause scope: {value!r}")
        if isinstance(value, int):
            return value
        text = str(value)
        if text.lower() == "all":
            return 0
        if text.isdigit():
            return int(text)
        try:
            return self.protocol.market(text).scope
        except ValueError as exc:
            raise ActionError(str(exc)) from None

    def market_of(self, ref: str, f: FindingRow | None):
        value = _template(ref, f) if ref.startswith("$") else ref
        try:
            return self.protocol.market(int(value) if isinstance(value, int) else str(value))
        except ValueError as exc:
            raise ActionError(str(exc)) from None

    def _eth_call(self, to: str, data: bytes) -> str:
        return self.rpc.call("eth_call", {"to": to, "data": "0x" + data.hex()}, "latest")

    def _extend_limiter(self, action: ExtendLimiterAction, key: str, f: FindingRow, common: dict) -> list[Any]:
        to = self.protocol.resolve(action.target)
        asset = self.protocol.resolve(_template(action.asset, f) if action.asset.startswith("$") else action.asset)
        raw = self._eth_call(to, encode_call("tripInfo(address)", [asset], self.protocol))
        until, cap = _word(raw, 0), _word(raw, 1)
        target = cap if action.extend_s is None else min(cap, until + action.extend_s)
        if target <= until:
            raise ActionError(f"limiter of {asset} cannot be extended (until {until}, guardian cap {cap})")
        data = encode_call("extendRateLimit(address,uint256)", [asset, target], self.protocol)
        return [
            self.relayers[action.key].submit(
                key,
                to=to,
                data=data,
                kind="extend_limiter",
                payload={"function": "extendRateLimit", "asset": asset, "until": target, "was": until},
                **common,
            )
        ]

    def _emergency_tighten(self, action: EmergencyTightenAction, key: str, f: FindingRow, common: dict) -> list[Any]:
        to = self.protocol.resolve(action.target)
        market = self.market_of(action.market, f)
        pkey = keccak(bytes.fromhex(market.id[2:]) + keccak(text=action.parameter))
        current = _word(self._eth_call(to, encode_call("get(bytes32)", [pkey], self.protocol)))
        # Rules: (min, max, ?, higherIsTighter, maxStep, minInterval, maxTtl, ...)
        rules = self._eth_call(to, encode_call("rulesOf(bytes32)", [pkey], self.protocol))
        lo, hi, higher, step, max_ttl = (
            _word(rules, 0),
            _word(rules, 1),
            _word(rules, 3),
            _word(rules, 4),
            _word(rules, 6),
        )
        tighter = current + step if higher else current - min(step, current)
        value = action.value if action.value is not None else tighter
        value = max(lo, min(hi, value))
        if value == current:
            raise ActionError(f"{market.symbol}.{action.parameter} is already at its tightest bound ({current})")
        ttl = min(action.ttl, max_ttl) if max_ttl else action.ttl
        report = keccak(text=f"incident:{f.incident_id}:{f.key}")
        data = encode_call(
            "emergencyTighten(bytes32,uint256,uint256,bytes32)", [pkey, value, ttl, report], self.protocol
        )
        return [
            self.relayers[action.key].submit(
                key,
                to=to,
                data=data,
                kind="emergency_tighten",
                payload={
                    "function": "emergencyTighten",
                    "parameter": f"{market.symbol}.{action.parameter}",
                    "from": current,
                    "to": value,
                    "ttl": ttl,
                },
                **common,
            )
        ]

    # -- pre-signed transactions -----------------------------------------------------------------
    def presign_candidates(self) -> list[tuple[str, str, bytes, int | None]]:
        """(key name, to, data, gas) of every transaction a playbook may need first and can sign ahead:
        ``pause_scope`` (one per possible scope) and ``pause``/``call`` actions without placeholders."""
        out: list[tuple[str, str, bytes, int | None]] = []
        if self.dry_run:
            return out
        for pb in self.config.playbooks:
            if pb.dry_run:
                continue
            for action in self.config.actions(pb):
                try:
                    if isinstance(action, PauseScopeAction) and action.presign:
                        to = self.protocol.resolve(action.target)
                        if isinstance(action.scope, str) and action.scope.startswith("$"):
                            scopes = sorted({m.scope for m in self.protocol.markets.values()})
                        else:
                            scopes = [self.scope_of(action.scope, None)]
                        for scope in scopes:
                            data = encode_call(
                                "pause(uint256,uint32,uint256)", [scope, action.mask, action.duration], self.protocol
                            )
                            out.append((action.key, to, data, action.gas))
                    elif isinstance(action, CallAction) and action.presign:
                        if any(isinstance(a, str) and a.startswith("$") for a in action.args):
                            continue
                        to = self.protocol.resolve(action.target)
                        out.append(
                            (action.key, to, encode_call(action.function, action.args, self.protocol), action.gas)
                        )
                except (ActionError, ValueError) as exc:
                    log.warning("cannot presign", extra={"event": "presign_skipped", "error": str(exc)})
        return out

    def refresh_presigned(self) -> int:
        """Sign (again) every candidate whose ready transaction is missing or has a stale nonce; the
        number signed. A candidate that would revert now (the estimate fails) is skipped."""
        signed = 0
        for key_name, to, data, gas in self.presign_candidates():
            relayer = self.relayers.get(key_name)
            if relayer is None:
                continue
            name = presign_name(to, data)
            if relayer.has_presigned(name):
                continue
            try:
                relayer.presign(name, to, data, gas)
                signed += 1
            except Exception as exc:  # a pause that would revert now (cooldown, already paused): not ready
                relayer.drop_presigned(name)
                log.debug("presign failed", extra={"event": "presign_failed", "to": to, "error": str(exc)[:200]})
        return signed

    def _safe(self, action: SafeProposeAction, key: str, f: FindingRow, dry: bool, pb: PlaybookConfig) -> ActionRow:
        safe = self.protocol.resolve(action.safe)
        to = self.protocol.resolve(action.to)
        if action.function is not None:
            data = encode_call(action.function, action.args, self.protocol, f)
        else:
            data = bytes.fromhex((action.data or "0x")[2:])
        # One proposal per distinct call within the incident (e.g. one cancel per timelock operation).
        key = f"{key}:{keccak(to.lower().encode() + data).hex()[:16]}"
        with self.db.transaction() as s:
            existing = self.repo.action(s, key)
            if existing is not None:
                return existing
            row = ActionRow(
                idempotency_key=key,
                incident_id=f.incident_id,
                playbook=pb.name,
                kind="safe_propose",
                status="dry_run" if dry else "planned",
                dry_run=dry,
                target=safe,
                payload={"to": to, "data": "0x" + data.hex(), "value": str(action.value)},
                created_at=time.time(),
            )
            s.add(row)
        if dry:
            return row
        tx = SafeTx(
            safe=safe,
            chain_id=self.chain_id,
            to=to,
            value=action.value,
            data=data,
            operation=action.operation,
            nonce=next_nonce(self.db, safe_nonce(self.rpc, safe), safe, self.chain_id),
        )
        proposal = propose(self.db, self.signers[action.key], tx, incident_id=f.incident_id, action_id=row.id)
        with self.db.transaction() as s:
            r = s.get(ActionRow, row.id)
            r.status, r.tx_hash, r.sent_at = "done", proposal.safe_tx_hash, time.time()
            if f.incident_id is not None:
                self.repo.mark_incident_times(s, f.incident_id, sent_at=r.sent_at)
        return r

    def message(self, f: FindingRow) -> Message:
        incident = None
        if f.incident_id is not None:
            with self.db.session() as s:
                incident = s.get(IncidentRow, f.incident_id)
        fields = {
            "detector": f.detector,
            "block": f.block_number,
            "tx": f.tx_hash,
            "subject": f.subject,
            "actor": f.actor,
        }
        return Message(
            title=incident.title if incident else f.title,
            severity=Severity.parse(incident.severity if incident else f.severity),
            text=f.title,
            incident_id=f.incident_id,
            fields={k: v for k, v in fields.items() if v is not None},
        )

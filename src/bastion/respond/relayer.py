"""The relayer: sign, send, replace and confirm the watchtower's transactions, each exactly once.

- Idempotency: every action has a key (``<incident>:<playbook>:<action>[:<detail>]``) unique in the
  ``actions`` table. ``submit`` with a known key returns the recorded action and sends nothing.
- Crash safety: the signed transaction is recorded (``action_attempts.raw_tx``) *before* it is
  broadcast; after a restart ``resume`` rebroadcasts the same bytes (same hash, same nonce), so a
  send interrupted by ``kill -9`` is neither lost nor doubled.
- Nonces are tracked locally (first read from the node's pending count, resynchronized on a
  "nonce too low" answer).
- Stuck transactions: ``poll`` replaces a transaction not mined after ``replace_after_s`` with the
  same nonce and fees raised by ``fee_bump_bps`` (capped at ``max_fee_per_gas``).
- Every attempt is recorded with its fees and outcome. Keys stay inside ``Signer``.
- Lowest latency: ``presign`` keeps a signed transaction ready (current nonce, fee cap as max fee);
  ``submit(..., presigned=name)`` broadcasts it without an estimate or a signature when its nonce
  is still the next one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from bastion.chain.rpc import RpcCallError, RpcClient, RpcError
from bastion.respond.keys import Signer
from bastion.store import ActionAttempt, ActionRow, Database, IncidentRow, Repository
from bastion.watch.config import RelayerConfig
from bastion.watch.metrics import Metrics

log = logging.getLogger("bastion.respond.relayer")

DEV_CHAINS = frozenset({31337, 1337})  # anvil, hardhat/ganache: shallow finality is enough


@dataclass
class _Presigned:
    nonce: int
    to: str
    data: bytes
    raw: str
    tx_hash: str
    max_fee: int
    priority: int


class Relayer:
    def __init__(
        self,
        rpc: RpcClient,
        db: Database,
        signer: Signer,
        chain_id: int,
        config: RelayerConfig | None = None,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rpc = rpc
        self.db = db
        self.signer = signer
        self.chain_id = chain_id
        self.cfg = config or RelayerConfig()
        self.metrics = metrics
        self.clock = clock
        self.repo = Repository()
        self._nonce: int | None = None
        self._presigned: dict[str, _Presigned] = {}

    def __repr__(self) -> str:
        return f"Relayer({self.signer.address}, chain={self.chain_id})"

    @property
    def address(self) -> str:
        return self.signer.address

    # -- nonces and fees -------------------------------------------------------------------------
    def _chain_nonce(self) -> int:
        return int(self.rpc.call("eth_getTransactionCount", self.address, "pending"), 16)

    def next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = self._chain_nonce()
        return self._nonce

    def _consume_nonce(self, nonce: int) -> None:
        self._nonce = max(self.next_nonce(), nonce + 1)

    def resync_nonce(self) -> int:
        self._nonce = self._chain_nonce()
        return self._nonce

    def _fees(self) -> tuple[int, int]:
        block = self.rpc.call("eth_getBlockByNumber", "latest", False)
        base = int(block.get("baseFeePerGas") or "0x0", 16)
        priority = self.cfg.priority_fee
        return min(self.cfg.max_fee_per_gas, 2 * base + priority), priority

    def _sign(
        self, *, to: str, data: bytes, value: int, gas: int, nonce: int, max_fee: int, priority: int
    ) -> tuple[str, str]:
        signed = self.signer.sign_transaction(
            {
                "type": 2,
                "chainId": self.chain_id,
                "nonce": nonce,
                "to": _checksum(to),
                "value": value,
                "data": data,
                "gas": gas,
                "maxFeePerGas": max_fee,
                "maxPriorityFeePerGas": min(priority, max_fee),
            }
        )
        return "0x" + signed.raw_transaction.hex(), "0x" + signed.hash.hex()

    def estimate(self, to: str, data: bytes, value: int = 0) -> int:
        est = self.rpc.call(
            "eth_estimateGas",
            {"from": self.address, "to": to, "data": "0x" + data.hex(), "value": hex(value)},
        )
        return int(int(est, 16) * 1.25) + 20_000

    # -- pre-signed transactions -----------------------------------------------------------------
    def presign(self, name: str, to: str, data: bytes, gas: int | None = None) -> str:
        """Sign a transaction now and keep it for ``submit(..., presigned=name)``; its hash."""
        gas = gas or self.estimate(to, data)
        nonce = self.next_nonce()
        max_fee, priority = self.cfg.max_fee_per_gas, self.cfg.priority_fee
        raw, tx_hash = self._sign(to=to, data=data, value=0, gas=gas, nonce=nonce, max_fee=max_fee, priority=priority)
        self._presigned[name] = _Presigned(nonce, to.lower(), data, raw, tx_hash, max_fee, priority)
        return tx_hash

    def has_presigned(self, name: str) -> bool:
        """A ready transaction named ``name`` exists for the current nonce."""
        pre = self._presigned.get(name)
        return pre is not None and pre.nonce == self.next_nonce()

    def presigned_ready(self) -> int:
        """How many ready transactions are valid for the current nonce."""
        nonce = self._nonce
        return sum(1 for pre in list(self._presigned.values()) if pre.nonce == nonce)

    def drop_presigned(self, name: str | None = None) -> None:
        """Forget one ready transaction (``name``) or all of them."""
        if name is None:
            self._presigned.clear()
        else:
            self._presigned.pop(name, None)

    # -- submit ----------------------------------------------------------------------------------
    def submit(
        self,
        key: str,
        *,
        to: str,
        data: bytes,
        value: int = 0,
        gas: int | None = None,
        kind: str = "call",
        playbook: str = "",
        incident_id: int | None = None,
        dry_run: bool = False,
        payload: dict[str, Any] | None = None,
        presigned: str | None = None,
    ) -> ActionRow:
        """Send the action ``key`` once. A known key returns its record without sending anything."""
        action = self._claim(
            key,
            to=to,
            data=data,
            value=value,
            kind=kind,
            playbook=playbook,
            incident_id=incident_id,
            dry_run=dry_run,
            payload=payload,
        )
        if action is None:
            with self.db.session() as s:
                existing = self.repo.action(s, key)
            assert existing is not None
            if self.metrics:
                self.metrics.actions.labels(existing.kind, "duplicate").inc()
            return existing
        if dry_run:
            log.info("dry-run action", extra={"event": "action_dry_run", "key": key, "to": to, "kind": kind})
            if self.metrics:
                self.metrics.actions.labels(kind, "dry_run").inc()
            return action
        pre = self._presigned.get(presigned) if presigned else None
        try:
            if pre is not None and pre.nonce == self.next_nonce() and pre.to == to.lower() and pre.data == data:
                del self._presigned[presigned]  # type: ignore[arg-type]
                return self._record_and_broadcast(action, pre.nonce, pre.raw, pre.tx_hash, pre.max_fee, pre.priority)
            gas = gas or self.estimate(to, data, value)
            max_fee, priority = self._fees()
            nonce = self.next_nonce()
            raw, tx_hash = self._sign(
                to=to, data=data, value=value, gas=gas, nonce=nonce, max_fee=max_fee, priority=priority
            )
            return self._record_and_broadcast(action, nonce, raw, tx_hash, max_fee, priority, gas=gas)
        except RpcError as exc:
            return self._fail(action.id, f"{type(exc).__name__}: {exc}")

    def _claim(self, key: str, **fields: Any) -> ActionRow | None:
        """Insert the action row for ``key``; None when it already exists (idempotency)."""
        data: bytes = fields.pop("data")
        value: int = fields.pop("value")
        payload = dict(fields.pop("payload") or {})
        payload.update({"data": "0x" + data.hex(), "value": str(value)})
        try:
            with self.db.transaction() as s:
                existing = self.repo.action(s, key)
                if existing is not None:
                    if existing.status == "failed" and not self.repo.attempts(s, existing.id):
                        # failed before anything was signed (a revert in the estimate, the node down):
                        # a later finding of the incident may try again; nothing was ever sent
                        existing.status, existing.error, existing.sender = "planned", None, self.address
                        return existing
                    return None
                row = ActionRow(
                    idempotency_key=key,
                    incident_id=fields["incident_id"],
                    playbook=fields["playbook"],
                    kind=fields["kind"],
                    status="dry_run" if fields["dry_run"] else "planned",
                    dry_run=fields["dry_run"],
                    target=fields["to"].lower(),
                    payload=payload,
                    sender=self.address,
                    created_at=self.clock(),
                )
                s.add(row)
            return row
        except IntegrityError:  # another process claimed it first
            return None

    def _record_and_broadcast(
        self,
        action: ActionRow,
        nonce: int,
        raw: str,
        tx_hash: str,
        max_fee: int,
        priority: int,
        gas: int | None = None,
    ) -> ActionRow:
        with self.db.transaction() as s:
            s.add(
                ActionAttempt(
                    action_id=action.id,
                    attempt=1,
                    nonce=nonce,
                    tx_hash=tx_hash,
                    raw_tx=raw,
                    max_fee_per_gas=max_fee,
                    max_priority_fee_per_gas=priority,
                    sent_at=self.clock(),
                    outcome="signed",
                )
            )
            row = s.get(ActionRow, action.id)
            row.nonce, row.tx_hash = nonce, tx_hash
            if gas is not None:
                row.payload = {**row.payload, "gas": gas}
        self._consume_nonce(nonce)
        return self._broadcast(action.id, raw, tx_hash)

    def _broadcast(self, action_id: int, raw: str, tx_hash: str) -> ActionRow:
        error: str | None = None
        try:
            self.rpc.call("eth_sendRawTransaction", raw)
        except RpcCallError as exc:
            msg = exc.message.lower()
            if "already known" in msg or "already imported" in msg:
                pass  # the same bytes are in the pool already: fine
            elif "nonce too low" in msg and self._receipt(tx_hash) is not None:
                pass  # it was mined before we looked
            else:
                error = exc.message
                if "nonce" in msg:
                    self.resync_nonce()
        now = self.clock()
        with self.db.transaction() as s:
            row = s.get(ActionRow, action_id)
            for att in self.repo.attempts(s, action_id):
                if att.tx_hash == tx_hash:
                    att.outcome = "rejected" if error else "sent"
                    att.error = error
                    att.sent_at = now
            if error is None:
                if row.status in ("planned", "sent"):
                    row.status = "sent"
                row.sent_at = row.sent_at or now
                if row.incident_id is not None:
                    self.repo.mark_incident_times(s, row.incident_id, sent_at=now)
            elif row.status == "planned":
                row.status, row.error = "failed", error
        if self.metrics:
            self.metrics.actions.labels(row.kind, "failed" if error else "sent").inc()
        log.info(
            "action broadcast" if error is None else "action rejected",
            extra={
                "event": "action_sent" if error is None else "action_rejected",
                "key": row.idempotency_key,
                "tx": tx_hash,
                "nonce": row.nonce,
                "error": error,
            },
        )
        return row

    def _fail(self, action_id: int, error: str) -> ActionRow:
        with self.db.transaction() as s:
            row = s.get(ActionRow, action_id)
            row.status, row.error = "failed", error[:500]
        if self.metrics:
            self.metrics.actions.labels(row.kind, "failed").inc()
        log.warning("action failed", extra={"event": "action_failed", "key": row.idempotency_key, "error": error})
        return row

    # -- confirmation and replacement ------------------------------------------------------------
    def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        r = self.rpc.call("eth_getTransactionReceipt", tx_hash)
        return r if isinstance(r, dict) else None

    def resume(self) -> None:
        """After a restart: rebroadcast the last signed bytes of unconfirmed actions."""
        with self.db.session() as s:
            todo = [
                (a.id, self.repo.attempts(s, a.id))
                for a in self.repo.actions(s, ["planned", "sent"])
                if a.sender == self.address
            ]
        for action_id, attempts in todo:
            if attempts:
                last = attempts[-1]
                self._consume_nonce(last.nonce)
                self._broadcast(action_id, last.raw_tx, last.tx_hash)

    def poll(self) -> list[ActionRow]:
        """Confirm mined actions, replace stuck ones, re-check mined ones until final; the actions
        whose status changed."""
        changed = []
        with self.db.session() as s:
            todo = [
                (a.id, self.repo.attempts(s, a.id)) for a in self.repo.actions(s, ["sent"]) if a.sender == self.address
            ]
        # read before the receipts: a nonce used by then and no receipt of ours means another
        # transaction took it (ours was orphaned, or the key was used elsewhere)
        used = self._used_nonces() if todo else 0
        for action_id, attempts in todo:
            live = [a for a in attempts if a.outcome in ("sent", "signed")]
            mined = None
            for att in reversed(attempts):
                receipt = self._receipt(att.tx_hash)
                if receipt is not None:
                    mined = (att, receipt)
                    break
            if mined is not None:
                changed.append(self._mined(action_id, *mined))
                continue
            if not live:
                continue
            if attempts[-1].nonce < used:
                row = self._resend(action_id, "its nonce was used by another transaction")
                if row is not None:
                    changed.append(row)
                continue
            last = attempts[-1]
            if self.clock() - last.sent_at >= self.cfg.replace_after_s:
                row = self._replace(action_id, last, len(attempts))
                if row is not None:
                    changed.append(row)
        changed.extend(self._verify_mined())
        return changed

    # -- verification until final ----------------------------------------------------------------
    @property
    def final_depth(self) -> int:
        return self.cfg.final_depth or (2 if self.chain_id in DEV_CHAINS else 12)

    def _used_nonces(self) -> int:
        return int(self.rpc.call("eth_getTransactionCount", self.address, "latest"), 16)

    def _verify_mined(self) -> list[ActionRow]:
        """Re-check mined actions until ``final_depth`` deep; one whose block was orphaned is
        re-sent (or waited for, when the node put it back in its pool)."""
        with self.db.session() as s:
            todo = [
                (a.id, a.tx_hash, a.mined_block)
                for a in self.repo.actions(s, ["mined", "reverted"])
                if a.sender == self.address and not a.final and a.tx_hash
            ]
        if not todo:
            return []
        head = int(self.rpc.call("eth_blockNumber"), 16)
        changed = []
        for action_id, tx_hash, mined_block in todo:
            receipt = self._receipt(tx_hash)
            if receipt is not None:
                block = int(receipt["blockNumber"], 16)
                final = head - block + 1 >= self.final_depth
                if final or block != mined_block:
                    with self.db.transaction() as s:
                        row = s.get(ActionRow, action_id)
                        row.mined_block, row.final = block, final
                continue
            row = self._orphaned(action_id, tx_hash)
            if row is not None:
                changed.append(row)
        return changed

    def _orphaned(self, action_id: int, tx_hash: str) -> ActionRow | None:
        if self.metrics:
            self.metrics.actions.labels("any", "orphaned").inc()
        pooled = self.rpc.call("eth_getTransactionByHash", tx_hash)
        if isinstance(pooled, dict):  # back in the node's pool: confirm or replace it as any sent one
            with self.db.transaction() as s:
                row = s.get(ActionRow, action_id)
                row.status, row.mined_block, row.mined_at = "sent", None, None
                for att in self.repo.attempts(s, action_id):
                    if att.tx_hash == tx_hash:
                        att.outcome = "sent"
            log.warning(
                "mined action orphaned, back in the pool",
                extra={"event": "action_orphaned", "key": row.idempotency_key, "tx": tx_hash},
            )
            return row
        return self._resend(action_id, "its block was orphaned")

    def _resend(self, action_id: int, reason: str) -> ActionRow | None:
        """Sign the action again with a fresh nonce, unless its incident was retracted or the call
        now reverts (what it was to set is already in place, or can no longer be set)."""
        with self.db.session() as s:
            row = s.get(ActionRow, action_id)
            incident = s.get(IncidentRow, row.incident_id) if row.incident_id is not None else None
            n_attempts = len(self.repo.attempts(s, action_id))
        payload = dict(row.payload)
        data, value = bytes.fromhex(payload["data"][2:]), int(payload["value"])
        why_not = None
        if incident is not None and incident.status == "retracted":
            why_not = "its incident was retracted"
        else:
            try:
                self.rpc.call(
                    "eth_call",
                    {"from": self.address, "to": row.target, "data": payload["data"], "value": hex(value)},
                    "latest",
                )
            except RpcCallError as exc:
                why_not = f"the call now reverts ({exc.message[:200]})"
        if why_not is not None:
            with self.db.transaction() as s:
                row = s.get(ActionRow, action_id)
                row.status, row.final, row.error = "orphaned", True, f"{reason}; not re-sent: {why_not}"
            log.warning(
                "action orphaned",
                extra={"event": "action_orphaned", "key": row.idempotency_key, "reason": reason, "resend": why_not},
            )
            return row
        self.resync_nonce()
        self.drop_presigned()
        nonce = self.next_nonce()
        max_fee, priority = self._fees()
        gas = int(payload.get("gas") or self.estimate(row.target, data, value))
        raw, tx_hash = self._sign(
            to=row.target, data=data, value=value, gas=gas, nonce=nonce, max_fee=max_fee, priority=priority
        )
        with self.db.transaction() as s:
            s.add(
                ActionAttempt(
                    action_id=action_id,
                    attempt=n_attempts + 1,
                    nonce=nonce,
                    tx_hash=tx_hash,
                    raw_tx=raw,
                    max_fee_per_gas=max_fee,
                    max_priority_fee_per_gas=priority,
                    sent_at=self.clock(),
                    outcome="signed",
                )
            )
            for att in self.repo.attempts(s, action_id):
                if att.outcome in ("sent", "signed", "mined") and att.tx_hash != tx_hash:
                    att.outcome = "orphaned"
            row = s.get(ActionRow, action_id)
            row.status, row.nonce, row.tx_hash = "sent", nonce, tx_hash
            row.mined_block, row.mined_at, row.final = None, None, False
        self._consume_nonce(nonce)
        log.warning(
            "re-sending action with a fresh nonce",
            extra={
                "event": "action_resend",
                "key": row.idempotency_key,
                "reason": reason,
                "tx": tx_hash,
                "nonce": nonce,
            },
        )
        return self._broadcast(action_id, raw, tx_hash)

    def _mined(self, action_id: int, att: ActionAttempt, receipt: dict[str, Any]) -> ActionRow:
        ok = int(receipt.get("status", "0x1"), 16) == 1
        now = self.clock()
        with self.db.transaction() as s:
            row = s.get(ActionRow, action_id)
            row.status = "mined" if ok else "reverted"
            row.tx_hash, row.mined_at = att.tx_hash, now
            row.mined_block = int(receipt["blockNumber"], 16)
            for a in self.repo.attempts(s, action_id):
                a.outcome = (
                    "mined"
                    if a.tx_hash == att.tx_hash
                    else ("replaced" if a.outcome in ("sent", "signed") else a.outcome)
                )
            if row.incident_id is not None:
                self.repo.mark_incident_times(s, row.incident_id, mined_at=now)
        if self.metrics:
            self.metrics.actions.labels(row.kind, row.status).inc()
        log.info(
            "action mined",
            extra={
                "event": "action_mined",
                "key": row.idempotency_key,
                "tx": att.tx_hash,
                "status": row.status,
                "block": row.mined_block,
            },
        )
        return row

    def _replace(self, action_id: int, last: ActionAttempt, n_attempts: int) -> ActionRow | None:
        if n_attempts >= self.cfg.max_attempts:
            return None
        bump = 10_000 + self.cfg.fee_bump_bps
        priority = last.max_priority_fee_per_gas * bump // 10_000 + 1
        _, fresh_priority = self._fees()
        base_fee_need = self._fees()[0]
        max_fee = min(self.cfg.max_fee_per_gas, max(last.max_fee_per_gas * bump // 10_000 + 1, base_fee_need))
        if max_fee <= last.max_fee_per_gas:
            log.warning("cannot bump fees above the cap", extra={"event": "fee_cap", "action": action_id})
            return None
        priority = min(max(priority, fresh_priority), max_fee)
        with self.db.session() as s:
            row = s.get(ActionRow, action_id)
            payload = dict(row.payload)
        data = bytes.fromhex(payload["data"][2:])
        gas = int(payload.get("gas") or self.estimate(row.target, data, int(payload["value"])))
        raw, tx_hash = self._sign(
            to=row.target,
            data=data,
            value=int(payload["value"]),
            gas=gas,
            nonce=last.nonce,
            max_fee=max_fee,
            priority=priority,
        )
        with self.db.transaction() as s:
            s.add(
                ActionAttempt(
                    action_id=action_id,
                    attempt=n_attempts + 1,
                    nonce=last.nonce,
                    tx_hash=tx_hash,
                    raw_tx=raw,
                    max_fee_per_gas=max_fee,
                    max_priority_fee_per_gas=priority,
                    sent_at=self.clock(),
                    outcome="signed",
                )
            )
        log.info(
            "replacing stuck transaction",
            extra={
                "event": "action_replace",
                "action": action_id,
                "old": last.tx_hash,
                "new": tx_hash,
                "max_fee": max_fee,
            },
        )
        out = self._broadcast(action_id, raw, tx_hash)
        if self.metrics:
            self.metrics.actions.labels(out.kind, "replaced").inc()
        return out

    def wait(self, key: str, timeout: float = 30.0, interval: float = 0.2) -> ActionRow:
        """Poll until action ``key`` is mined, reverted or failed (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            with self.db.session() as s:
                row = self.repo.action(s, key)
            if row is None or row.status in ("mined", "reverted", "failed", "dry_run") or time.monotonic() > deadline:
                return row
            time.sleep(interval)


def _checksum(address: str) -> str:
    from eth_utils import to_checksum_address

    return to_checksum_address(address)

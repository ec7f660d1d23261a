"""Queries and updates used by the watchtower and the responders, each on a caller's session.

The caller owns the transaction: the ingest loop commits a block's findings together with its
checkpoint, so a crash either keeps both or neither.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bastion.store.models import (
    ActionAttempt,
    ActionRow,
    BlockSeen,
    Checkpoint,
    FindingRow,
    IncidentRow,
    Lease,
    NotificationRow,
    SafeProposal,
)


class Repository:
    """Stateless query helpers (one instance may be shared)."""

    # -- checkpoints and blocks ------------------------------------------------------------------
    @staticmethod
    def checkpoint(s: Session, chain_id: int) -> Checkpoint | None:
        return s.get(Checkpoint, chain_id)

    @staticmethod
    def set_checkpoint(s: Session, chain_id: int, number: int, block_hash: str) -> None:
        row = s.get(Checkpoint, chain_id)
        if row is None:
            s.add(Checkpoint(chain_id=chain_id, number=number, hash=block_hash, updated_at=time.time()))
        else:
            row.number, row.hash, row.updated_at = number, block_hash, time.time()

    @staticmethod
    def record_block(s: Session, chain_id: int, number: int, block_hash: str, parent_hash: str, ts: int) -> None:
        row = s.get(BlockSeen, (chain_id, number))
        if row is None:
            s.add(BlockSeen(chain_id=chain_id, number=number, hash=block_hash, parent_hash=parent_hash, timestamp=ts))
        else:
            row.hash, row.parent_hash, row.timestamp = block_hash, parent_hash, ts

    @staticmethod
    def block_seen(s: Session, chain_id: int, number: int) -> BlockSeen | None:
        return s.get(BlockSeen, (chain_id, number))

    @staticmethod
    def blocks_seen_from(s: Session, chain_id: int, first: int) -> Sequence[BlockSeen]:
        q = select(BlockSeen).where(BlockSeen.chain_id == chain_id, BlockSeen.number >= first)
        return s.scalars(q.order_by(BlockSeen.number)).all()

    @staticmethod
    def prune_blocks(s: Session, chain_id: int, keep_from: int) -> None:
        s.execute(delete(BlockSeen).where(BlockSeen.chain_id == chain_id, BlockSeen.number < keep_from))

    @staticmethod
    def forget_blocks_from(s: Session, chain_id: int, first: int) -> None:
        s.execute(delete(BlockSeen).where(BlockSeen.chain_id == chain_id, BlockSeen.number >= first))

    # -- findings --------------------------------------------------------------------------------
    @staticmethod
    def finding_by_key(s: Session, chain_id: int, key: str) -> FindingRow | None:
        return s.scalars(select(FindingRow).where(FindingRow.chain_id == chain_id, FindingRow.key == key)).first()

    @staticmethod
    def add_finding(s: Session, **fields: Any) -> FindingRow | None:
        """Insert a finding unless one with the same (chain, key) exists; the new row or None.

        A retracted finding that comes back (its block became canonical again) is un-retracted.
        """
        existing = Repository.finding_by_key(s, fields["chain_id"], fields["key"])
        if existing is not None:
            if existing.retracted:
                existing.retracted = False
                existing.block_hash = fields.get("block_hash")
                return existing
            return None
        row = FindingRow(created_at=time.time(), retracted=False, responded=False, **fields)
        s.add(row)
        s.flush()
        return row

    @staticmethod
    def retract_findings_from(s: Session, chain_id: int, first_block: int) -> list[FindingRow]:
        """Mark every mined finding at or above ``first_block`` retracted; the rows changed."""
        q = select(FindingRow).where(
            FindingRow.chain_id == chain_id,
            FindingRow.block_number >= first_block,
            FindingRow.block_hash.is_not(None),
            FindingRow.retracted.is_(False),
        )
        rows = list(s.scalars(q))
        for row in rows:
            row.retracted = True
        return rows

    @staticmethod
    def unresponded(s: Session, chain_id: int) -> list[FindingRow]:
        """Live findings whose playbooks have not run yet (a crash between commit and response)."""
        q = select(FindingRow).where(
            FindingRow.chain_id == chain_id, FindingRow.responded.is_(False), FindingRow.retracted.is_(False)
        )
        return list(s.scalars(q.order_by(FindingRow.id)))

    @staticmethod
    def findings(s: Session, chain_id: int | None = None, *, include_retracted: bool = True) -> list[FindingRow]:
        q = select(FindingRow)
        if chain_id is not None:
            q = q.where(FindingRow.chain_id == chain_id)
        if not include_retracted:
            q = q.where(FindingRow.retracted.is_(False))
        return list(s.scalars(q.order_by(FindingRow.id)))

    # -- incidents -------------------------------------------------------------------------------
    @staticmethod
    def open_incidents(s: Session, chain_id: int) -> list[IncidentRow]:
        # an acknowledged incident is still live: it absorbs related findings (and escalates)
        q = select(IncidentRow).where(
            IncidentRow.chain_id == chain_id, IncidentRow.status.in_(("open", "acknowledged"))
        )
        return list(s.scalars(q.order_by(IncidentRow.id)))

    @staticmethod
    def incident_findings(s: Session, incident_id: int, *, live_only: bool = True) -> list[FindingRow]:
        q = select(FindingRow).where(FindingRow.incident_id == incident_id)
        if live_only:
            q = q.where(FindingRow.retracted.is_(False))
        return list(s.scalars(q.order_by(FindingRow.block_number, FindingRow.id)))

    @staticmethod
    def incidents(s: Session) -> list[IncidentRow]:
        return list(s.scalars(select(IncidentRow).order_by(IncidentRow.id)))

    @staticmethod
    def mark_incident_times(
        s: Session, incident_id: int, *, sent_at: float | None = None, mined_at: float | None = None
    ) -> None:
        inc = s.get(IncidentRow, incident_id)
        if inc is None:
            return
        if sent_at is not None and inc.action_sent_at is None:
            inc.action_sent_at = sent_at
        if mined_at is not None and inc.action_mined_at is None:
            inc.action_mined_at = mined_at

    # -- actions ---------------------------------------------------------------------------------
    @staticmethod
    def action(s: Session, key: str) -> ActionRow | None:
        return s.scalars(select(ActionRow).where(ActionRow.idempotency_key == key)).first()

    @staticmethod
    def actions(s: Session, statuses: Iterable[str] | None = None) -> list[ActionRow]:
        q = select(ActionRow)
        if statuses is not None:
            q = q.where(ActionRow.status.in_(list(statuses)))
        return list(s.scalars(q.order_by(ActionRow.id)))

    @staticmethod
    def attempts(s: Session, action_id: int) -> list[ActionAttempt]:
        q = select(ActionAttempt).where(ActionAttempt.action_id == action_id).order_by(ActionAttempt.attempt)
        return list(s.scalars(q))

    @staticmethod
    def mark_attempts(s: Session, action_id: int, outcome: str, except_hash: str | None = None) -> None:
        q = update(ActionAttempt).where(ActionAttempt.action_id == action_id, ActionAttempt.outcome == "sent")
        if except_hash is not None:
            q = q.where(ActionAttempt.tx_hash != except_hash)
        s.execute(q.values(outcome=outcome))

    # -- the instance lease ----------------------------------------------------------------------
    @staticmethod
    def take_lease(s: Session, name: str, holder: str, now: float, ttl: float) -> bool:
        """Renew the lease ``name`` for ``holder``, or take it over once expired; whether it is
        held. One conditional UPDATE, so two instances can never both succeed."""
        q = (
            update(Lease)
            .where(Lease.name == name, (Lease.holder == holder) | (Lease.expires_at < now))
            .values(holder=holder, expires_at=now + ttl)
        )
        if s.execute(q).rowcount == 1:
            return True
        if s.get(Lease, name) is not None:
            return False
        s.add(Lease(name=name, holder=holder, expires_at=now + ttl, acquired_at=now))
        s.flush()  # a concurrent insert fails here (unique name): the caller rolls back, not held
        return True

    @staticmethod
    def lease_holder(s: Session, name: str) -> str | None:
        row = s.get(Lease, name)
        return None if row is None else row.holder

    @staticmethod
    def replace_lease_holder(s: Session, name: str, old: str, holder: str, now: float, ttl: float) -> bool:
        """Take the lease from ``old`` (known to be dead) at once; False when someone else moved first."""
        q = update(Lease).where(Lease.name == name, Lease.holder == old)
        return s.execute(q.values(holder=holder, expires_at=now + ttl, acquired_at=now)).rowcount == 1

    @staticmethod
    def release_lease(s: Session, name: str, holder: str) -> None:
        s.execute(update(Lease).where(Lease.name == name, Lease.holder == holder).values(expires_at=0.0))

    # -- notifications and Safe proposals --------------------------------------------------------
    @staticmethod
    def notification(s: Session, key: str) -> NotificationRow | None:
        return s.scalars(select(NotificationRow).where(NotificationRow.idempotency_key == key)).first()

    @staticmethod
    def notifications(s: Session) -> list[NotificationRow]:
        return list(s.scalars(select(NotificationRow).order_by(NotificationRow.id)))

    @staticmethod
    def safe_proposals(s: Session, safe: str | None = None) -> list[SafeProposal]:
        q = select(SafeProposal)
        if safe is not None:
            q = q.where(SafeProposal.safe == safe)
        return list(s.scalars(q.order_by(SafeProposal.id)))

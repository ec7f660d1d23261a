"""SQLAlchemy 2.x models of everything the watchtower records.

Times are Unix seconds (float, UTC). Token and wei amounts that may exceed 64 bits are stored as
decimal strings; gas prices and nonces fit in 64 bits and are integers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Checkpoint(Base):
    """The last block fully processed on a chain (findings of that block are committed with it)."""

    __tablename__ = "checkpoints"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    number: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(66))
    updated_at: Mapped[float] = mapped_column(Float)


class BlockSeen(Base):
    """Processed blocks (number, hash, parent): the chain the watchtower believes canonical."""

    __tablename__ = "blocks_seen"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(66))
    parent_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger)


class IncidentRow(Base):
    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # open, closed, retracted
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(66), nullable=True)
    actors: Mapped[list[str]] = mapped_column(JSON, default=list)
    detectors: Mapped[list[str]] = mapped_column(JSON, default=list)
    related: Mapped[list[str]] = mapped_column(JSON, default=list)  # addresses that correlate findings
    first_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    first_tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    first_tx_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # block timestamp
    detected_at: Mapped[float] = mapped_column(Float)
    action_sent_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    action_mined_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_at: Mapped[float] = mapped_column(Float)
    __table_args__ = (Index("ix_incidents_open", "chain_id", "status"),)


class FindingRow(Base):
    __tablename__ = "findings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(String(255))
    detector: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(66), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(66), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    retracted: Mapped[bool] = mapped_column(Boolean, default=False)
    responded: Mapped[bool] = mapped_column(Boolean, default=False)  # playbooks have run on it
    created_at: Mapped[float] = mapped_column(Float)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), nullable=True)
    __table_args__ = (
        UniqueConstraint("chain_id", "key", name="uq_findings_chain_key"),
        Index("ix_findings_block", "chain_id", "block_number"),
    )


class ActionRow(Base):
    __tablename__ = "actions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), nullable=True)
    playbook: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # planned, dry_run, sent, mined, reverted, failed, done
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    target: Mapped[str | None] = mapped_column(String(66), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sender: Mapped[str | None] = mapped_column(String(42), nullable=True)
    nonce: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    sent_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    mined_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    mined_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # a mined action is re-checked until it is ``final_depth`` blocks deep (a reorg may orphan it)
    final: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class ActionAttempt(Base):
    """Every signed transaction broadcast for an action (the first send and each replacement)."""

    __tablename__ = "action_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    max_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    max_priority_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    sent_at: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16))  # signed, sent, rejected, replaced, mined
    raw_tx: Mapped[str] = mapped_column(Text)  # the signed transaction (no key material), to rebroadcast
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class NotificationRow(Base):
    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), nullable=True)
    channel: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # queued, sent, failed (gave up), dry_run
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    sent_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # the outbox's copy
    next_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # next delivery try (outbox)


class Lease(Base):
    """Who may act on a chain: the active instance renews it; a standby takes it once it expires."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[float] = mapped_column(Float)
    acquired_at: Mapped[float] = mapped_column(Float)


class SafeProposal(Base):
    """A Safe transaction built and signed by one owner, waiting for co-signers."""

    __tablename__ = "safe_proposals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    safe: Mapped[str] = mapped_column(String(42))
    to: Mapped[str] = mapped_column(String(42))
    value: Mapped[str] = mapped_column(String(80))
    data: Mapped[str] = mapped_column(Text)
    operation: Mapped[int] = mapped_column(Integer)
    safe_tx_gas: Mapped[str] = mapped_column(String(80))
    base_gas: Mapped[str] = mapped_column(String(80))
    gas_price: Mapped[str] = mapped_column(String(80))
    gas_token: Mapped[str] = mapped_column(String(42))
    refund_receiver: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    safe_tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    signer: Mapped[str] = mapped_column(String(42))
    signature: Mapped[str] = mapped_column(String(140))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), nullable=True)
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id"), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)

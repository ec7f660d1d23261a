"""Initial schema: checkpoints, blocks seen, incidents, findings, actions, attempts, notifications,
Safe proposals.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkpoints",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(66), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "blocks_seen",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("number", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(66), nullable=False),
        sa.Column("parent_hash", sa.String(66), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(66), nullable=True),
        sa.Column("actors", sa.JSON(), nullable=False),
        sa.Column("detectors", sa.JSON(), nullable=False),
        sa.Column("related", sa.JSON(), nullable=False),
        sa.Column("first_block", sa.BigInteger(), nullable=True),
        sa.Column("last_block", sa.BigInteger(), nullable=True),
        sa.Column("first_tx_hash", sa.String(66), nullable=True),
        sa.Column("first_tx_at", sa.Float(), nullable=True),
        sa.Column("detected_at", sa.Float(), nullable=False),
        sa.Column("action_sent_at", sa.Float(), nullable=True),
        sa.Column("action_mined_at", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_incidents_open", "incidents", ["chain_id", "status"])
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("detector", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.String(66), nullable=True),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("subject", sa.String(66), nullable=True),
        sa.Column("actor", sa.String(66), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("retracted", sa.Boolean(), nullable=False),
        sa.Column("responded", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=True),
        sa.UniqueConstraint("chain_id", "key", name="uq_findings_chain_key"),
    )
    op.create_index("ix_findings_block", "findings", ["chain_id", "block_number"])
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=True),
        sa.Column("playbook", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("target", sa.String(66), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("sender", sa.String(42), nullable=True),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=True),
        sa.Column("mined_at", sa.Float(), nullable=True),
        sa.Column("mined_block", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "action_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("action_id", sa.Integer(), sa.ForeignKey("actions.id"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("max_fee_per_gas", sa.BigInteger(), nullable=False),
        sa.Column("max_priority_fee_per_gas", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("raw_tx", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=True),
    )
    op.create_table(
        "safe_proposals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("safe", sa.String(42), nullable=False),
        sa.Column("to", sa.String(42), nullable=False),
        sa.Column("value", sa.String(80), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("operation", sa.Integer(), nullable=False),
        sa.Column("safe_tx_gas", sa.String(80), nullable=False),
        sa.Column("base_gas", sa.String(80), nullable=False),
        sa.Column("gas_price", sa.String(80), nullable=False),
        sa.Column("gas_token", sa.String(42), nullable=False),
        sa.Column("refund_receiver", sa.String(42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("safe_tx_hash", sa.String(66), nullable=False, unique=True),
        sa.Column("signer", sa.String(42), nullable=False),
        sa.Column("signature", sa.String(140), nullable=False),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=True),
        sa.Column("action_id", sa.Integer(), sa.ForeignKey("actions.id"), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "safe_proposals",
        "notifications",
        "action_attempts",
        "actions",
        "findings",
        "incidents",
        "blocks_seen",
        "checkpoints",
    ):
        op.drop_table(table)

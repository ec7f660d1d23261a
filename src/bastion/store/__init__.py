"""Persistence: checkpoints, blocks seen, findings, incidents, actions, attempts, notifications and
Safe proposals. SQLite file by default, PostgreSQL by URL; the schema is Alembic-migrated at open."""

from bastion.store.db import Database, migrate, normalize_url
from bastion.store.models import (
    ActionAttempt,
    ActionRow,
    Base,
    BlockSeen,
    Checkpoint,
    FindingRow,
    IncidentRow,
    Lease,
    NotificationRow,
    SafeProposal,
)
from bastion.store.repo import Repository

__all__ = [
    "ActionAttempt",
    "ActionRow",
    "Base",
    "BlockSeen",
    "Checkpoint",
    "Database",
    "FindingRow",
    "IncidentRow",
    "Lease",
    "NotificationRow",
    "Repository",
    "SafeProposal",
    "migrate",
    "normalize_url",
]

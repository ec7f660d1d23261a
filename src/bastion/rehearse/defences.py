"""Defence levels as pluggable objects.

A rehearsal run has one ``Level`` (none, onchain, watchtower, all). The on-chain half is configuration:
``World.build`` leaves the deployment's guards as they are (onchain, all) or loosens them through
governance (none, watchtower), and vulnerable variants are deployed with their guard switch on or off.
The off-chain half is a ``Defence``: an object the harness calls around every block. ``NoWatch`` does
nothing; ``bastion.rehearse.watchtower.InProcessWatchtower`` runs the real watchtower service; a
threaded watchtower (``bastion.tower.runner``) plugs in the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bastion.rehearse.world import Level, World


@dataclass(frozen=True)
class FindingRecord:
    detector: str
    severity: str
    block: int | None
    timestamp: int | None
    title: str
    tx_hash: str | None = None
    subject: str | None = None


@dataclass(frozen=True)
class ActionRecord:
    kind: str
    playbook: str
    status: str
    tx_hash: str | None
    block: int | None  # the block it was mined in
    timestamp: int | None
    error: str | None = None


@dataclass
class Defence:
    """The off-chain defence around a run; the base class watches nothing."""

    name: str = "none"
    reaction_wall_s: list[float] = field(default_factory=list)  # per block: time to process it and act

    def start(self, world: World) -> None:
        """Called once the world is built and set up, before the first stepped block."""

    def before_block(self) -> None:
        """Called before a block is mined (the mempool is full of the slot's transactions)."""

    def after_block(self) -> None:
        """Called after each mined block."""

    def stop(self) -> None:
        """Release everything."""

    def findings(self) -> list[FindingRecord]:
        return []

    def actions(self) -> list[ActionRecord]:
        return []

    def humans(self) -> list[dict[str, Any]]:
        """What the modelled humans did (co-signatures, rotations), for the report."""
        return []


class NoWatch(Defence):
    """Nobody watching: the none and onchain levels."""


def make_defence(level: Level, **options: Any) -> Defence:
    """The off-chain defence of ``level``."""
    if not level.watchtower:
        return NoWatch()
    from bastion.rehearse.watchtower import InProcessWatchtower

    return InProcessWatchtower(**options)

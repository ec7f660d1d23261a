"""Attacks with stolen keys (placeholders)."""

from __future__ import annotations

from bastion.rehearse.scenarios.base import Run, Scenario


class _Todo(Scenario):
    def play(self, run: Run) -> None:
        run.slots(3)


class MaliciousUpgrade(_Todo):
    key = "malicious-upgrade"
    title = "todo"


class RogueGuardian(_Todo):
    key = "rogue-guardian"
    title = "todo"

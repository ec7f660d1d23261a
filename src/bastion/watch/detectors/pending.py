"""Pending: a transaction in the mempool that would upgrade, change roles of, or move funds of a
protected contract, directly or by scheduling it on a timelock. The earliest warning there is."""

from __future__ import annotations

from eth_abi import decode
from pydantic import Field

from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.detectors.governance import CATEGORIES, selector
from bastion.watch.events import Tx
from bastion.watch.findings import Finding, Severity
from bastion.watch.view import ChainView

SCHEDULE = selector("schedule(address,uint256,bytes,bytes32,bytes32,uint256)")


@register
class PendingSensitiveCall(Detector):
    id = "pending_sensitive_call"
    severity = Severity.MEDIUM
    description = "A pending transaction calls (or schedules on a timelock) an upgrade, role or funds function"
    confidence = "high"
    recommendation = "Prepare the veto (timelock cancel) or the pause before the transaction is mined"
    kinds = frozenset({"pending"})

    class Config(DetectorConfig):
        categories: list[str] = Field(default_factory=lambda: ["upgrade", "role", "funds"])

    def run(self, event: Tx, view: ChainView) -> list[Finding]:
        sel = "0x" + event.input[:4].hex()
        target, inner = event.to, sel
        if event.to in view.protocol.timelocks and sel == SCHEDULE:
            try:
                target, _, data, _, _, _ = decode(
                    ["address", "uint256", "bytes", "bytes32", "bytes32", "uint256"], event.input[4:]
                )
            except Exception:
                return []
            inner = "0x" + data[:4].hex()
        elif event.to not in view.protocol.protected:
            return []
        category = CATEGORIES.get(inner)
        if category not in self.config.categories or target not in view.protocol.protected:
            return []
        how = "schedules" if inner != sel else "calls"
        return [
            self.finding(
                event,
                f"pending tx {how} a {category} call {inner} on {view.protocol.label(target)}",
                subject=target,
                actor=event.sender,
                details={"target": target, "selector": inner, "category": category, "via": event.to},
            )
        ]

"""Governance: timelocked calls that upgrade, change roles or move funds; roles granted.

Watches ``CallScheduled`` of OpenZeppelin's TimelockController (and any contract emitting the same
event) and ``RoleGranted`` of AccessControl contracts. The finding carries the operation id and
the timelock's address, which is what the ``cancel_timelock`` playbook action needs.
"""

from __future__ import annotations

from typing import Any

from eth_utils import keccak
from pydantic import Field, field_validator

from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.events import Block
from bastion.watch.findings import Finding, Severity
from bastion.watch.view import ChainView


def selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


CATEGORIES: dict[str, str] = {
    **{
        selector(s): "upgrade"
        for s in (
            "upgradeTo(address)",
            "upgradeToAndCall(address,bytes)",
            "changeAdmin(address)",
            "upgrade(address,address)",
            "upgradeAndCall(address,address,bytes)",
        )
    },
    **{
        selector(s): "role"
        for s in (
            "grantRole(bytes32,address)",
            "revokeRole(bytes32,address)",
            "renounceRole(bytes32,address)",
            "transferOwnership(address)",
            "addOwnerWithThreshold(address,uint256)",
            "swapOwner(address,address,address)",
            "changeThreshold(uint256)",
            "setGuardian(address)",
        )
    },
    **{
        selector(s): "funds"
        for s in (
            "transfer(address,uint256)",
            "transferFrom(address,address,uint256)",
            "approve(address,uint256)",
            "withdraw(address,uint256)",
            "sweep(address,address,uint256)",
        )
    },
    **{selector(s): "admin" for s in ("updateDelay(uint256)",)},
}

GOVERNANCE_ABI: list[dict[str, Any]] = [
    {
        "type": "event",
        "name": "CallScheduled",
        "inputs": [
            {"name": "id", "type": "bytes32", "indexed": True},
            {"name": "index", "type": "uint256", "indexed": True},
            {"name": "target", "type": "address", "indexed": False},
            {"name": "value", "type": "uint256", "indexed": False},
            {"name": "data", "type": "bytes", "indexed": False},
            {"name": "predecessor", "type": "bytes32", "indexed": False},
            {"name": "delay", "type": "uint256", "indexed": False},
        ],
    },
    {"type": "event", "name": "Cancelled", "inputs": [{"name": "id", "type": "bytes32", "indexed": True}]},
    {
        "type": "event",
        "name": "RoleGranted",
        "inputs": [
            {"name": "role", "type": "bytes32", "indexed": True},
            {"name": "account", "type": "address", "indexed": True},
            {"name": "sender", "type": "address", "indexed": True},
        ],
    },
]

ROLE_NAMES = {bytes(32): "DEFAULT_ADMIN_ROLE"} | {
    keccak(text=n): n
    for n in (
        "PROPOSER_ROLE",
        "EXECUTOR_ROLE",
        "CANCELLER_ROLE",
        "GUARDIAN_ROLE",
        "GOVERNANCE_ROLE",
        "PAUSER_ROLE",
        "UPGRADER_ROLE",
        "MINTER_ROLE",
    )
}


@register
class Governance(Detector):
    id = "governance"
    severity = Severity.HIGH
    description = "A timelock scheduled an upgrade, a role change or a fund movement; or a role was granted"

    class Config(DetectorConfig):
        timelocks: list[str] = Field(default_factory=list, description="empty: the protocol's, else any")
        categories: list[str] = Field(default_factory=lambda: ["upgrade", "role", "funds", "admin"])
        extra_selectors: dict[str, str] = Field(default_factory=dict, description="0x12345678 -> category")
        role_granted: bool = True
        role_granted_severity: Severity = Severity.MEDIUM

        @field_validator("extra_selectors")
        @classmethod
        def _selectors(cls, value: dict[str, str]) -> dict[str, str]:
            for sel in value:
                if not (sel.startswith("0x") and len(sel) == 10):
                    raise ValueError(f"selector {sel!r} is not 0x + 8 hex digits")
                int(sel, 16)
            return {k.lower(): v for k, v in value.items()}

        @field_validator("role_granted_severity", mode="before")
        @classmethod
        def _sev(cls, value: Any) -> Severity:
            return Severity.parse(value)

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        cfg = self.config
        timelocks = frozenset(view.protocol.resolve(t) for t in cfg.timelocks) or view.protocol.timelocks
        table = CATEGORIES | cfg.extra_selectors
        watched = view.protocol.protected | view.protocol.timelocks
        out = []
        for lg in event.logs():
            if lg.name == "CallScheduled":
                if timelocks and lg.address not in timelocks:
                    continue
                a = lg.args
                data: bytes = a["data"]
                sel = "0x" + data[:4].hex() if len(data) >= 4 else ""
                category = table.get(sel) or ("funds" if a["value"] > 0 else None)
                if category not in cfg.categories:
                    continue
                op_id = "0x" + a["id"].hex()
                out.append(
                    self.finding(
                        event,
                        f"timelock {view.protocol.label(lg.address)} scheduled a {category} call "
                        f"{sel} on {view.protocol.label(a['target'])}",
                        tx_hash=lg.tx_hash,
                        subject=a["target"],
                        actor=lg.address,
                        discriminator=f"{op_id}:{a['index']}",
                        details={
                            "operation_id": op_id,
                            "index": a["index"],
                            "timelock": lg.address,
                            "target": a["target"],
                            "selector": sel,
                            "category": category,
                            "value": a["value"],
                            "delay": a["delay"],
                            "data": data,
                            "predecessor": a["predecessor"],
                        },
                    )
                )
            elif lg.name == "RoleGranted" and cfg.role_granted and lg.address in watched:
                role: bytes = lg.args["role"]
                name = ROLE_NAMES.get(role, "0x" + role.hex())
                out.append(
                    self.finding(
                        event,
                        f"{name} granted to {lg.args['account']} on {view.protocol.label(lg.address)}",
                        tx_hash=lg.tx_hash,
                        subject=lg.address,
                        actor=lg.args["sender"],
                        discriminator=f"role:{name}:{lg.args['account']}",
                        severity=cfg.role_granted_severity,
                        details={
                            "role": role,
                            "role_name": name,
                            "account": lg.args["account"],
                            "sender": lg.args["sender"],
                            "contract": lg.address,
                        },
                    )
                )
        return out

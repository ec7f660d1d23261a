"""Governance: timelocked calls that upgrade, change roles or move funds; roles granted or revoked.

Watches ``CallScheduled`` of OpenZeppelin's TimelockController (and any contract emitting the same
event) and ``RoleGranted`` / ``RoleRevoked`` of any watched AccessControl contract (matched by
topic: no ABI needed). Powerful roles (``high_roles``) are reported high, others medium. The
finding carries the operation id and the timelock's address, which is what the ``cancel_timelock``
playbook action needs.
"""

from __future__ import annotations

from typing import Any

from eth_utils import keccak
from pydantic import Field, field_validator

from bastion.watch.decode import event_topic
from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.events import Block, Log
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

ROLE_GRANTED = event_topic("RoleGranted(bytes32,address,address)")
ROLE_REVOKED = event_topic("RoleRevoked(bytes32,address,address)")

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
        "MANAGER_ROLE",
        "ADMIN_ROLE",
        "OPERATOR_ROLE",
    )
}


@register
class Governance(Detector):
    id = "governance"
    severity = Severity.HIGH
    description = (
        "A timelock scheduled an upgrade, a role change or a fund movement; or a role was granted or revoked "
        "on a watched contract (powerful roles high)"
    )
    recommendation = "Check the scheduled call or the new role holder; cancel through the timelock's canceller"

    class Config(DetectorConfig):
        timelocks: list[str] = Field(default_factory=list, description="empty: the protocol's, else any")
        categories: list[str] = Field(default_factory=lambda: ["upgrade", "role", "funds", "admin"])
        extra_selectors: dict[str, str] = Field(default_factory=dict, description="0x12345678 -> category")
        role_granted: bool = True
        role_revoked: bool = True
        role_granted_severity: Severity = Severity.MEDIUM
        high_roles: list[str] = Field(
            default_factory=lambda: [
                "DEFAULT_ADMIN_ROLE",
                "ADMIN_ROLE",
                "PROPOSER_ROLE",
                "UPGRADER_ROLE",
                "GOVERNANCE_ROLE",
                "MINTER_ROLE",
            ],
            description="role names (or 0x ids) reported high when granted",
        )

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
        watched = frozenset(c.address for c in view.protocol.contracts.values())
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
                        f"timelock {view.protocol.label(lg.address)} scheduled "
                        f"{'an' if category[0] in 'aeiou' else 'a'} {category} call "
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
            elif lg.topic0 in (ROLE_GRANTED, ROLE_REVOKED) and len(lg.topics) == 4 and lg.address in watched:
                granted = lg.topic0 == ROLE_GRANTED
                if not (cfg.role_granted if granted else cfg.role_revoked):
                    continue
                role = bytes.fromhex(lg.topics[1][2:])
                account, sender = "0x" + lg.topics[2][-40:], "0x" + lg.topics[3][-40:]
                name = ROLE_NAMES.get(role, "0x" + role.hex())
                if granted and self._initial(event, lg):
                    continue
                high = granted and (name in cfg.high_roles or "0x" + role.hex() in cfg.high_roles)
                verb = "granted to" if granted else "revoked from"
                out.append(
                    self.finding(
                        event,
                        f"{name} {verb} {account} on {view.protocol.label(lg.address)}",
                        tx_hash=lg.tx_hash,
                        subject=lg.address,
                        actor=sender,
                        discriminator=f"role:{'+' if granted else '-'}{name}:{account}",
                        severity=Severity.HIGH if high else cfg.role_granted_severity,
                        details={
                            "role": role,
                            "role_name": name,
                            "account": account,
                            "sender": sender,
                            "contract": lg.address,
                            "granted": granted,
                        },
                    )
                )
        return out

    @staticmethod
    def _initial(block: Block, lg: Log) -> bool:
        """Roles set up by the contract's own deployment (constructor or proxy initializer)."""
        tx = block.tx(lg.tx_hash)
        return tx is not None and tx.contract_address == lg.address

"""Attacker preparation: a freshly deployed contract calls a protected address.

Deployments come from receipts (``contractAddress``) and from CREATE/CREATE2 frames of the traces
(factory-made contracts) in the history, young within ``window_blocks``; calls from the traces, or, without
traces, from the transaction itself. A caller deployed before the history starts is still young when
it had no code ``max_age_blocks`` ago (one ``eth_getCode`` at that block: needs the node to keep that
state; an error there just skips the check).

Not suspects: the protocol's own contracts (listed in the config or the manifest), contracts made by
a protected contract (its factories), and contracts made by a trusted deployer: one listed in
``trusted_deployers``, a role of the manifest, or whoever deployed a contract of the protocol (when
the history no longer holds the deployment: a contract driven by a trusted account's transaction).
"""

from __future__ import annotations

from pydantic import Field

from bastion.chain.rpc import RpcCallError
from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.events import Block
from bastion.watch.findings import Finding, Severity
from bastion.watch.view import ChainView


def deployments(block: Block) -> dict[str, tuple[int, str]]:
    """Contracts created in ``block``: address -> (block number, deployer)."""
    out: dict[str, tuple[int, str]] = {}
    for tx in block.txs:
        if tx.contract_address and tx.status != 0:
            out[tx.contract_address] = (block.number, tx.sender)
    for frame in block.traces or ():
        if frame.is_create and frame.to and frame.error is None:
            out.setdefault(frame.to, (block.number, frame.sender))
    return out


@register
class AttackerPreparation(Detector):
    id = "attacker_prep"
    severity = Severity.MEDIUM
    description = "A contract deployed within the last N blocks by an outsider calls a protected contract"
    recommendation = "Decompile the new contract and watch its deployer; prepare a pause of the targets"

    class Config(DetectorConfig):
        window_blocks: int = Field(default=50, gt=0, le=100_000, description="deployments seen in the history")
        max_age_blocks: int = Field(default=120, ge=0, le=1_000_000, description="0: no code reads")
        trusted_deployers: list[str] = Field(default_factory=list, description="names or addresses")

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        cfg = self.config
        protocol = view.protocol
        protected = protocol.protected
        ours = frozenset(c.address for c in protocol.contracts.values()) | protocol.asset_addresses
        seen: dict[str, tuple[int, str]] = {}  # every deployment the history holds
        for b in (*view.history, event):
            if b.number <= event.number:
                seen.update(view.history.derive(b, "deployments", deployments))
        trusted = {protocol.resolve(d) for d in cfg.trusted_deployers} | set(protected)
        for role in protocol.roles.values():
            trusted.update([role] if isinstance(role, str) else role)
        trusted.update(deployer for c, (_, deployer) in seen.items() if c in ours)
        callers: dict[tuple[str, str], set[str]] = {}  # (tx, calling contract) -> protected targets
        if event.traces is not None:
            for f in event.traces:
                if f.to in protected and f.sender not in ours and f.error is None:
                    callers.setdefault((f.tx_hash, f.sender), set()).add(f.to)
        else:
            for tx in event.txs:
                if tx.to is not None and tx.to not in ours:
                    touched = {lg.address for lg in tx.logs} & protected
                    if touched:
                        callers[(tx.hash, tx.to)] = touched
        out = []
        for (tx_hash, contract), targets in callers.items():
            if contract in seen:
                born, deployer = seen[contract]
                age: int | None = event.number - born
                if deployer in trusted or age >= max(cfg.window_blocks, cfg.max_age_blocks):
                    continue
            elif self._young(view, contract, event.number):
                tx = event.tx(tx_hash)
                if tx is not None and tx.sender in trusted:
                    continue  # deployer unknown, but a trusted account drives it
                born, deployer, age = None, None, None
            else:
                continue
            first = sorted(targets)[0]
            when = f"{age} blocks ago by {deployer}" if age is not None else f"within {cfg.max_age_blocks} blocks"
            out.append(
                self.finding(
                    event,
                    f"contract {contract} deployed {when} called {view.protocol.label(first)}",
                    tx_hash=tx_hash,
                    subject=first,
                    actor=contract,
                    discriminator=contract,
                    details={
                        "contract": contract,
                        "deployer": deployer,
                        "deployed_block": born,
                        "age_blocks": age,
                        "targets": sorted(targets),
                    },
                )
            )
        return out

    def _young(self, view: ChainView, contract: str, number: int) -> bool:
        """A contract now that had no code ``max_age_blocks`` ago (an EOA has no code now)."""
        age = self.config.max_age_blocks
        if age == 0:
            return False
        try:
            return bool(view.code(contract, number)) and not view.code(contract, max(0, number - age))
        except RpcCallError:
            return False  # the node no longer keeps that state

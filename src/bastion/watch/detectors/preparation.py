"""Attacker preparation: a freshly deployed contract calls a protected address.

Deployments come from receipts (``contractAddress``) and from CREATE/CREATE2 frames of the traces
(factory-made contracts); calls from the traces, or, without traces, from the transaction itself.
"""

from __future__ import annotations

from pydantic import Field

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
    description = "A contract deployed within the last N blocks calls a protected contract"

    class Config(DetectorConfig):
        window_blocks: int = Field(default=50, gt=0)

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        protected = view.protocol.protected
        young: dict[str, tuple[int, str]] = {}
        for b in view.history.window(event, blocks=self.config.window_blocks):
            young.update(view.history.derive(b, "deployments", deployments))
        if not young:
            return []
        hits: dict[tuple[str, str], set[str]] = {}  # (tx, young contract) -> protected targets
        if event.traces is not None:
            for f in event.traces:
                if f.sender in young and f.to in protected:
                    hits.setdefault((f.tx_hash, f.sender), set()).add(f.to)
        else:
            for tx in event.txs:
                if tx.to in young:
                    touched = {lg.address for lg in tx.logs} & protected
                    if touched:
                        hits[(tx.hash, tx.to)] = touched
        out = []
        for (tx_hash, contract), targets in hits.items():
            born, deployer = young[contract]
            first = sorted(targets)[0]
            out.append(
                self.finding(
                    event,
                    f"contract {contract} deployed {event.number - born} blocks ago by {deployer} "
                    f"called {view.protocol.label(first)}",
                    tx_hash=tx_hash,
                    subject=first,
                    actor=contract,
                    discriminator=contract,
                    details={
                        "contract": contract,
                        "deployer": deployer,
                        "deployed_block": born,
                        "age_blocks": event.number - born,
                        "targets": sorted(targets),
                    },
                )
            )
        return out

"""The chain layer: embedded anvil, forge artifacts, deployment and signing on web3.py."""

from bastion.chain.artifacts import Artifact, ArtifactError, load_artifact
from bastion.chain.contracts import Sender, TransactionFailed, connect, contract_at
from bastion.chain.node import AnvilNode, DevAccount

__all__ = [
    "AnvilNode",
    "Artifact",
    "ArtifactError",
    "DevAccount",
    "Sender",
    "TransactionFailed",
    "connect",
    "contract_at",
    "load_artifact",
]

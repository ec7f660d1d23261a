"""Scripted transactions for a chain that mines on its own clock: several transactions from several
accounts sent for the same block, without waiting for receipts.

Each account's nonce is tracked locally; gas limits are fixed (an estimate would run against the
state before the block's earlier transactions); the priority fee orders transactions inside the block
(anvil orders the pool by fee). Used by the demo and the latency benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from bastion.chain.rpc import RpcCallError, RpcClient

GWEI = 10**9


@dataclass(frozen=True)
class Planned:
    """One transaction to send: who (an account index into the sender's accounts), what, and why."""

    account: int
    to: str
    data: bytes
    label: str
    role: str = "honest"  # honest, attacker, feeder
    gas: int = 1_500_000
    tip: int = 1 * GWEI
    malicious: bool = False


@dataclass
class Sent:
    planned: Planned
    tx_hash: str | None
    error: str | None = None  # refused by the node (never mined)
    block: int | None = None
    status: int | None = None  # 1 ok, 0 reverted


@dataclass
class ScriptedSender:
    """Signs and sends ``Planned`` transactions over one keep-alive JSON-RPC connection."""

    rpc: RpcClient
    chain_id: int
    keys: dict[int, str]  # account index -> hex private key
    _accounts: dict[int, LocalAccount] = field(default_factory=dict, repr=False)
    _nonces: dict[int, int] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"ScriptedSender(accounts={sorted(self.keys)})"

    def account(self, index: int) -> LocalAccount:
        if index not in self._accounts:
            self._accounts[index] = Account.from_key(self.keys[index])
        return self._accounts[index]

    def address(self, index: int) -> str:
        return self.account(index).address

    def resync(self) -> None:
        """Forget local nonces (after a revert of the chain)."""
        self._nonces.clear()

    def _nonce(self, index: int) -> int:
        if index not in self._nonces:
            raw = self.rpc.call("eth_getTransactionCount", self.address(index), "pending")
            self._nonces[index] = int(raw, 16)
        return self._nonces[index]

    def send(self, p: Planned, base_fee: int) -> Sent:
        acct = self.account(p.account)
        nonce = self._nonce(p.account)
        signed = acct.sign_transaction(
            {
                "type": 2,
                "chainId": self.chain_id,
                "nonce": nonce,
                "to": Web3.to_checksum_address(p.to),
                "value": 0,
                "data": p.data,
                "gas": p.gas,
                "maxFeePerGas": 2 * base_fee + p.tip + GWEI,
                "maxPriorityFeePerGas": p.tip,
            }
        )
        try:
            self.rpc.call("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())
        except RpcCallError as exc:
            return Sent(p, None, exc.message)
        self._nonces[p.account] = nonce + 1
        return Sent(p, "0x" + signed.hash.hex())

    def send_all(self, planned: list[Planned]) -> list[Sent]:
        block = self.rpc.call("eth_getBlockByNumber", "latest", False)
        base = int(block.get("baseFeePerGas") or "0x0", 16)
        return [self.send(p, base) for p in planned]

    def settle(self, sent: list[Sent]) -> None:
        """Fill in block and status of every sent transaction (receipts must exist)."""
        todo = [s for s in sent if s.tx_hash and s.block is None]
        if not todo:
            return
        answers = self.rpc.batch([("eth_getTransactionReceipt", [s.tx_hash]) for s in todo])
        for s, r in zip(todo, answers, strict=True):
            if isinstance(r, dict):
                s.block = int(r["blockNumber"], 16)
                s.status = int(r["status"], 16)

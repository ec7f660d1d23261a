"""A stepped block clock on the embedded anvil.

During a rehearsal the node does not mine by itself: actors (honest users, attackers, the watchtower)
submit transactions into the mempool, then the clock mines ONE block whose timestamp is exactly
``block_time`` seconds after the previous one. That gives 1-second blocks in chain time without waiting
in wall time, and makes "the watchtower acted within one block" mean what it says: it saw block N and
its transaction is in block N+1, ordered by fee with everyone else's.

Every transaction is recorded (actor, label, malicious or not, block, status, decoded revert reason), so
the harness can find the first malicious transaction and the first protective action afterwards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from bastion.chain.artifacts import ArtifactError, load_artifact
from bastion.chain.node import AnvilNode
from bastion.chain.rpc import RpcCallError, RpcClient
from bastion.watch.decode import canonical_type

# Contracts whose custom errors are decoded in revert reasons.
_ERROR_SOURCES = (
    "Router", "Vault", "ClearingEngine", "OracleGuard", "ParameterRegistry", "BastionTimelock",
    "MockAggregator", "ConstantProductPool", "MintableToken", "HookToken", "VulnerableSpotMarket",
    "VulnerableCallbackVault", "VulnerableSetterVault", "RoundingBugVault", "DonationVault",
    "SpotOracleAttack", "CallbackReentrancyAttack", "RoundingDrain", "DonationAttack", "MaliciousEngine",
)  # fmt: skip

FORCED_GAS = 3_000_000

# Reverts that are a Bastion guard saying no: the protective outcomes the harness looks for.
GUARD_ERRORS = frozenset(
    {
        "InvariantViolated", "TxOutflowExceeded", "RateLimited", "RateLimitActive", "LiquidityUnderflow",
        "OperationPaused", "ReduceOnly", "GuardianCooldown", "PauseOutOfBounds", "ExitNotPausable",
        "ForceTooLong", "ReforceTooSoon", "ExtensionOutOfBounds", "NotGuardian", "GovernancePauseActive",
        "TimelockUnexpectedOperationState", "TimelockOperationExpired",
    }
)  # fmt: skip


@cache
def error_table() -> dict[bytes, str]:
    """4-byte selector -> error name, over every contract a rehearsal touches."""
    table: dict[bytes, str] = {keccak(text="Error(string)")[:4]: "Error", keccak(text="Panic(uint256)")[:4]: "Panic"}
    for name in _ERROR_SOURCES:
        try:
            abi = load_artifact(name).abi
        except ArtifactError:
            continue
        for item in abi:
            if item.get("type") == "error":
                sig = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                table[keccak(text=sig)[:4]] = item["name"]
    return table


def decode_error(data: bytes | str | None) -> str:
    """The custom error's name from revert data ('' for none, 'unknown 0x…' when not in the table)."""
    if data is None:
        return ""
    raw = bytes.fromhex(data[2:]) if isinstance(data, str) else bytes(data)
    if len(raw) < 4:
        return "revert"
    return error_table().get(raw[:4], f"unknown 0x{raw[:4].hex()}")


@dataclass
class TxRecord:
    """One transaction an actor tried to send."""

    actor: str
    label: str
    malicious: bool
    tx_hash: str | None = None  # None: refused at estimation (it would revert), never sent
    block: int | None = None
    timestamp: int | None = None
    ok: bool | None = None  # None while pending
    reason: str = ""  # decoded revert reason when it reverted or was refused
    slot: int | None = None  # the block being built when it was submitted (where a refused one would be)

    @property
    def guard_said_no(self) -> bool:
        return self.ok is False and self.reason in GUARD_ERRORS


@dataclass
class Actor:
    """A named account that signs its own transactions (its key never leaves this object's account)."""

    name: str
    address: str
    key: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Actor({self.name}, {self.address})"


class Clock:
    """Submits transactions to the mempool and mines one block per slot at a fixed block time.

    Hot paths (reads, estimates, sends, receipts) use a keep-alive raw JSON-RPC client: several times
    faster than web3's stack, which matters at hundreds of transactions per run.
    """

    def __init__(self, node: AnvilNode, w3: Web3, block_time: int = 1) -> None:
        self.node = node
        self.w3 = w3
        self.rpc = RpcClient([node.http_url], timeout=60.0)
        self.block_time = block_time
        self.records: list[TxRecord] = []
        self._pending: list[TxRecord] = []
        self._nonces: dict[str, int] = {}
        self.manual = False
        latest = self.rpc.call("eth_getBlockByNumber", "latest", False)
        self.timestamp = int(latest["timestamp"], 16)
        self._head = int(latest["number"], 16)
        self._base_fee = int(latest.get("baseFeePerGas") or "0x0", 16)
        self.chain_id = int(self.rpc.call("eth_chainId"), 16)
        self._timestamps: dict[int, int] = {}

    def close(self) -> None:
        self.rpc.close()

    # -- modes ---------------------------------------------------------------------------------------
    def stepped(self) -> None:
        """Stop automining: from now on blocks come only from ``mine``."""
        self.node.rpc("evm_setAutomine", False)
        self.manual = True
        self._nonces.clear()
        self._refresh()

    def _refresh(self) -> None:
        latest = self.rpc.call("eth_getBlockByNumber", "latest", False)
        self.timestamp = int(latest["timestamp"], 16)
        self._head = int(latest["number"], 16)
        self._base_fee = int(latest.get("baseFeePerGas") or "0x0", 16)

    @property
    def block_number(self) -> int:
        return self._head

    # -- reading -------------------------------------------------------------------------------------
    def read(self, fn: Any, block: int | str = "latest") -> Any:
        """Call a view function (``contract.functions.f(args)``); one value, or a tuple for several."""
        tag = hex(block) if isinstance(block, int) else block
        raw = self.rpc.call("eth_call", {"to": fn.address, "data": fn._encode_transaction_data()}, tag)
        outputs = fn.abi.get("outputs", [])
        values = abi_decode([canonical_type(o) for o in outputs], bytes.fromhex(raw[2:]))
        return values[0] if len(values) == 1 else tuple(values)

    def balance_of(self, token: Any, holder: str) -> int:
        return int(self.read(token.functions.balanceOf(holder)))

    # -- sending -------------------------------------------------------------------------------------
    def _nonce(self, actor: Actor) -> int:
        if actor.address not in self._nonces:
            self._nonces[actor.address] = int(self.rpc.call("eth_getTransactionCount", actor.address, "pending"), 16)
        return self._nonces[actor.address]

    def send(
        self,
        actor: Actor,
        fn: Any,
        *,
        label: str | None = None,
        malicious: bool = False,
        gas: int | None = None,
        value: int = 0,
        tip_gwei: float = 1.0,
        force: bool | None = None,
    ) -> TxRecord:
        """Sign and submit ``fn`` (``contract.functions.f(args)``) from ``actor``.

        Without ``gas`` the node estimates it first; a call that would revert is recorded as refused
        (never sent) with its decoded reason, exactly like a wallet that refuses to send it. With
        ``force`` (the default for malicious transactions: attack scripts broadcast regardless) it is sent
        anyway with a fixed gas limit, and reverts on chain, where a watchtower can see it.
        """
        force = malicious if force is None else force
        rec = TxRecord(actor.name, label or fn.fn_name, malicious, slot=self._head + 1)
        data = fn._encode_transaction_data()
        call: dict[str, Any] = {"from": actor.address, "data": data, "value": hex(value)}
        if fn.address is not None:
            call["to"] = fn.address
        if gas is None:
            try:
                gas = int(int(self.rpc.call("eth_estimateGas", call), 16) * 1.3) + 20_000
            except RpcCallError as exc:
                if not force:
                    rec.ok = False
                    rec.reason = decode_error(exc.data if isinstance(exc.data, str) else None) or exc.message[:80]
                    self.records.append(rec)
                    return rec
                gas = FORCED_GAS
        tip = int(tip_gwei * 10**9)
        tx = {
            "data": data,
            "value": value,
            "gas": gas,
            "nonce": self._nonce(actor),
            "chainId": self.chain_id,
            "maxFeePerGas": 3 * self._base_fee + tip,
            "maxPriorityFeePerGas": tip,
            "type": 2,
        }
        if fn.address is not None:
            tx["to"] = Web3.to_checksum_address(fn.address)
        signed = Account.sign_transaction(tx, actor.key)
        try:
            rec.tx_hash = self.rpc.call(
                "eth_sendRawTransaction", "0x" + signed.raw_transaction.hex().removeprefix("0x")
            )
        except RpcCallError as exc:
            self._nonces.pop(actor.address, None)
            rec.ok, rec.reason = False, exc.message[:80]
            self.records.append(rec)
            return rec
        if self.manual:
            self._nonces[actor.address] = tx["nonce"] + 1
        else:
            self._nonces.pop(actor.address, None)  # other clients (web3 deployments) may send from it too
        self.records.append(rec)
        if self.manual:
            self._pending.append(rec)
        else:
            self._settle_one(rec)
        return rec

    def deploy(
        self, actor: Actor, name: str, *args: Any, label: str | None = None, malicious: bool = False
    ) -> TxRecord:
        """Submit the deployment of contract ``name``; its address is ``contract_address(rec)`` once mined."""
        art = load_artifact(name)
        data = self.w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(*args).data_in_transaction

        class _Deploy:  # quacks like a contract function for ``send``
            address = None
            fn_name = f"deploy {name}"

            @staticmethod
            def _encode_transaction_data() -> str:
                return data

        return self.send(actor, _Deploy, label=label or f"deploy {name}", malicious=malicious)

    def contract_address(self, rec: TxRecord) -> str:
        receipt = self.rpc.call("eth_getTransactionReceipt", rec.tx_hash)
        return Web3.to_checksum_address(receipt["contractAddress"])

    # -- mining --------------------------------------------------------------------------------------
    def mine(self, seconds: int | None = None) -> int:
        """Mine one block ``seconds`` (default: the block time) after the previous one; its number."""
        self.timestamp += self.block_time if seconds is None else seconds
        self.node.rpc("evm_mine", self.timestamp)
        self._head += 1
        self._timestamps[self._head] = self.timestamp
        pending, self._pending = self._pending, []
        if pending:
            receipts = self.rpc.call("eth_getBlockReceipts", hex(self._head)) or []
            by_hash = {r["transactionHash"].lower(): r for r in receipts}
            for rec in pending:
                receipt = by_hash.get(rec.tx_hash.lower())
                if receipt is None:
                    self._pending.append(rec)  # not in this block (it will be in a later one)
                else:
                    self._apply(rec, receipt)
        block = self.rpc.call("eth_getBlockByNumber", hex(self._head), False)
        self._base_fee = int(block.get("baseFeePerGas") or "0x0", 16)
        return self._head

    def _settle_one(self, rec: TxRecord, timeout: float = 60.0) -> None:
        """Automine: wait for the receipt (the node mines right after accepting the transaction)."""
        deadline = time.monotonic() + timeout
        while True:
            receipt = self.rpc.call("eth_getTransactionReceipt", rec.tx_hash)
            if receipt is not None:
                self._apply(rec, receipt)
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"no receipt for {rec.label} ({rec.tx_hash}) within {timeout:g}s")
            time.sleep(0.002)

    def _apply(self, rec: TxRecord, receipt: dict[str, Any]) -> None:
        rec.block = int(receipt["blockNumber"], 16)
        if not self.manual:
            self._head = max(self._head, rec.block)
        rec.timestamp = self._timestamps.get(rec.block)
        rec.ok = int(receipt["status"], 16) == 1
        if not rec.ok:
            rec.reason = self.revert_reason(rec.tx_hash)

    def revert_reason(self, tx_hash: str) -> str:
        try:
            trace = self.rpc.call("debug_traceTransaction", tx_hash, {"tracer": "callTracer"})
        except RpcCallError:
            return "revert"
        output = trace.get("output") or "0x"
        return decode_error(output) or trace.get("error", "revert")

    def block_timestamp(self, number: int) -> int:
        if number not in self._timestamps:
            block = self.rpc.call("eth_getBlockByNumber", hex(number), False)
            self._timestamps[number] = int(block["timestamp"], 16)
        return self._timestamps[number]

    def pending(self) -> list[TxRecord]:
        return list(self._pending)

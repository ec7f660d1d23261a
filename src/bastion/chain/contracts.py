"""Deployment helpers and contract handles on web3.py.

Transactions are signed locally with the sender's key, so the same code deploys to the embedded
node and to any RPC endpoint. A revert becomes a one-line ``TransactionFailed`` naming the contract,
the function and the decoded custom error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError

from bastion.chain.artifacts import artifact_dirs, load_artifact
from bastion.paths import BastionError


class TransactionFailed(BastionError, RuntimeError):
    """A transaction reverted or could not be sent."""


def connect(url: str, timeout: float = 10.0) -> Web3:
    """A web3 client for an HTTP JSON-RPC endpoint."""
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """A handle on an already deployed contract, typed by its ABI from the build output."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)


def _error_selectors(abi: list) -> dict[bytes, str]:
    table = {}
    for item in abi:
        if item.get("type") == "error":
            sig = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            table[keccak(text=sig)[:4]] = sig
    return table


@cache
def _all_error_selectors() -> dict[bytes, str]:
    """Every custom error of every built contract: a revert often bubbles up from a nested call."""
    table: dict[bytes, str] = {}
    for path in (p for d in artifact_dirs() for p in d.glob("*.sol/*.json")):
        try:
            table.update(_error_selectors(json.loads(path.read_text()).get("abi", [])))
        except (OSError, ValueError):
            continue
    return table


def describe_revert(exc: Exception, abi: list | None = None) -> str:
    """A short human reason for a revert, naming the custom error (from ``abi``, else any built contract)."""
    data = getattr(exc, "data", None)
    if isinstance(exc, ContractCustomError) and isinstance(data, str) and data.startswith("0x"):
        selector = bytes.fromhex(data[2:10])
        name = _error_selectors(abi or []).get(selector) or _all_error_selectors().get(selector)
        return name or f"custom error {data[:10]}"
    return str(exc.args[0] if exc.args else exc)


@dataclass
class Sender:
    """Signs and sends transactions for one account, tracking its nonce locally."""

    w3: Web3
    account: LocalAccount
    gas_price_multiplier: float = 1.0

    @classmethod
    def from_key(cls, w3: Web3, private_key: str) -> Sender:
        return cls(w3, Account.from_key(private_key))

    @property
    def address(self) -> str:
        return self.account.address

    def __repr__(self) -> str:  # never print the key
        return f"Sender({self.address})"

    def _fees(self) -> dict:
        block = self.w3.eth.get_block("latest")
        base = block.get("baseFeePerGas", 0) or 0
        tip = 1_000_000_000
        return {"maxFeePerGas": int((2 * base + tip) * self.gas_price_multiplier), "maxPriorityFeePerGas": tip}

    def send(self, tx: dict, *, wait: bool = True, label: str = "transaction", abi: list | None = None):
        """Fill, sign and send ``tx``; wait for the receipt and raise on revert when ``wait``."""
        tx = {"from": self.address, "chainId": self.w3.eth.chain_id, **tx}
        tx.setdefault("nonce", self.w3.eth.get_transaction_count(self.address, "pending"))
        tx.update({k: v for k, v in self._fees().items() if k not in tx and "gasPrice" not in tx})
        if "gas" not in tx:
            try:
                # Generous headroom: state can change between estimate and inclusion (a new second accrues
                # funding, a price moves); unused gas is not charged.
                tx["gas"] = int(self.w3.eth.estimate_gas(tx) * 1.3) + 60_000
            except (ContractLogicError, ContractCustomError) as exc:
                raise TransactionFailed(f"{label} would revert: {describe_revert(exc, abi)}") from None
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        if not wait:
            return tx_hash
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        if receipt["status"] != 1:
            raise TransactionFailed(f"{label} reverted in block {receipt['blockNumber']} (tx {tx_hash.hex()})")
        return receipt

    def transact(self, fn, *, value: int = 0, gas: int | None = None, wait: bool = True):
        """Call a contract function (``contract.functions.f(args)``) as a signed transaction."""
        label = f"{fn.address[:10]}….{fn.fn_name}"
        tx = {"to": fn.address, "data": fn._encode_transaction_data(), "value": value}
        if gas:
            tx["gas"] = gas
        return self.send(tx, wait=wait, label=label, abi=fn.contract_abi)

    def deploy(self, name: str, *args, gas: int | None = None) -> Contract:
        """Deploy contract ``name`` from the build output with constructor ``args``."""
        art = load_artifact(name)
        if not art.deployable:
            raise TransactionFailed(f"{name} is abstract or an interface: it has no bytecode to deploy")
        factory = self.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        data = factory.constructor(*args).data_in_transaction
        tx = {"data": data}
        if gas:
            tx["gas"] = gas
        receipt = self.send(tx, label=f"deploy {name}", abi=art.abi)
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)

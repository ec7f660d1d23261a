"""Safe (1.4.1) transactions: the EIP-712 hash, one owner's signature, and the stored proposal.

The hash follows Safe 1.4.1 ``getTransactionHash``: domain ``EIP712Domain(uint256 chainId,address
verifyingContract)`` and struct ``SafeTx(address to,uint256 value,bytes data,uint8 operation,
uint256 safeTxGas,uint256 baseGas,uint256 gasPrice,address gasToken,address refundReceiver,
uint256 nonce)``. Owners' signatures are 65-byte ``r || s || v`` (v 27/28), to be concatenated in
ascending owner-address order for ``execTransaction``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from eth_abi import encode
from eth_utils import keccak

from bastion.respond.keys import Signer
from bastion.store import Database, SafeProposal

DOMAIN_TYPEHASH = keccak(text="EIP712Domain(uint256 chainId,address verifyingContract)")
SAFE_TX_TYPEHASH = keccak(
    text="SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,uint256 baseGas,"
    "uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"
)
ZERO = "0x" + "00" * 20
NONCE_SELECTOR = keccak(text="nonce()")[:4]


@dataclass(frozen=True)
class SafeTx:
    safe: str
    chain_id: int
    to: str
    value: int
    data: bytes
    operation: int
    nonce: int
    safe_tx_gas: int = 0
    base_gas: int = 0
    gas_price: int = 0
    gas_token: str = ZERO
    refund_receiver: str = ZERO

    def domain_separator(self) -> bytes:
        return keccak(encode(["bytes32", "uint256", "address"], [DOMAIN_TYPEHASH, self.chain_id, self.safe]))

    def struct_hash(self) -> bytes:
        return keccak(
            encode(
                [
                    "bytes32",
                    "address",
                    "uint256",
                    "bytes32",
                    "uint8",
                    "uint256",
                    "uint256",
                    "uint256",
                    "address",
                    "address",
                    "uint256",
                ],
                [
                    SAFE_TX_TYPEHASH,
                    self.to,
                    self.value,
                    keccak(self.data),
                    self.operation,
                    self.safe_tx_gas,
                    self.base_gas,
                    self.gas_price,
                    self.gas_token,
                    self.refund_receiver,
                    self.nonce,
                ],
            )
        )

    def hash(self) -> bytes:
        return keccak(b"\x19\x01" + self.domain_separator() + self.struct_hash())


def safe_nonce(rpc, safe: str) -> int:
    out = rpc.call("eth_call", {"to": safe, "data": "0x" + NONCE_SELECTOR.hex()}, "latest")
    return int(out, 16)


def next_nonce(db: Database, onchain: int, safe: str, chain_id: int) -> int:
    """The nonce of a new proposal: the Safe's on-chain nonce, or one past the highest proposal stored for
    it and not yet executed. A Safe executes strictly in nonce order, so proposals made at once queue one
    after the other instead of sharing a nonce (where only one of them could ever execute)."""
    from sqlalchemy import select

    with db.session() as s:
        stored = s.scalars(
            select(SafeProposal.nonce).where(
                SafeProposal.safe == safe.lower(), SafeProposal.chain_id == chain_id, SafeProposal.nonce >= onchain
            )
        ).all()
    return max([onchain - 1, *stored]) + 1


def propose(
    db: Database, signer: Signer, tx: SafeTx, *, incident_id: int | None = None, action_id: int | None = None
) -> SafeProposal:
    """Sign ``tx`` as one owner and store it for the co-signers (idempotent by Safe tx hash)."""
    digest = tx.hash()
    sig = signer.sign_digest(digest)
    h = "0x" + digest.hex()
    with db.transaction() as s:
        from sqlalchemy import select

        existing = s.scalars(select(SafeProposal).where(SafeProposal.safe_tx_hash == h)).first()
        if existing is not None:
            return existing
        row = SafeProposal(
            chain_id=tx.chain_id,
            safe=tx.safe.lower(),
            to=tx.to.lower(),
            value=str(tx.value),
            data="0x" + tx.data.hex(),
            operation=tx.operation,
            safe_tx_gas=str(tx.safe_tx_gas),
            base_gas=str(tx.base_gas),
            gas_price=str(tx.gas_price),
            gas_token=tx.gas_token.lower(),
            refund_receiver=tx.refund_receiver.lower(),
            nonce=tx.nonce,
            safe_tx_hash=h,
            signer=signer.address.lower(),
            signature="0x" + sig.hex(),
            incident_id=incident_id,
            action_id=action_id,
            created_at=time.time(),
        )
        s.add(row)
    return row

"""A real Safe (2-of-3) on anvil as the guardian of a guard: two owners pause, one alone cannot."""

from __future__ import annotations

import pytest
from eth_account import Account

from bastion.chain import Sender, TransactionFailed
from bastion.protocol.deploy import deploy_safe
from bastion.respond.safe import SafeTx

DEPOSIT_AND_WITHDRAW = 0b11  # PauseOps.DEPOSIT | PauseOps.WITHDRAW


def _signatures(safe_tx: SafeTx, keys: list[str]) -> bytes:
    """Owner signatures over the Safe tx hash, sorted by owner address as the Safe requires."""
    signed = []
    for key in keys:
        sig = Account.unsafe_sign_hash(safe_tx.hash(), key)
        signed.append((Account.from_key(key).address.lower(), sig.r, sig.s, sig.v))
    signed.sort()
    return b"".join(r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v]) for _, r, s, v in signed)


@pytest.fixture
def guarded(w3, deployer, accounts):
    owners = [a.address for a in accounts[2:5]]
    safe = deploy_safe(deployer, tuple(owners), 2)
    token = deployer.deploy("MintableToken", "USD Coin", "USDC", 6, deployer.address)
    limiter = (1_000, 6 * 3600, 10_000 * 10**6, 3600, 1, 1)
    vault = deployer.deploy("GuardedVault", token.address, deployer.address, safe.address, limiter)
    return safe, vault, token


def _pause_tx(w3, safe, vault, token) -> SafeTx:
    market = int(token.address, 16)
    data = vault.functions.pause(market, DEPOSIT_AND_WITHDRAW, 12 * 3600)._encode_transaction_data()
    return SafeTx(
        safe=safe.address,
        chain_id=w3.eth.chain_id,
        to=vault.address,
        value=0,
        data=bytes.fromhex(data[2:]),
        operation=0,
        nonce=safe.functions.nonce().call(),
    )


def _exec(sender: Sender, safe, tx: SafeTx, signatures: bytes):
    return sender.transact(
        safe.functions.execTransaction(tx.to, 0, tx.data, 0, 0, 0, 0, tx.gas_token, tx.refund_receiver, signatures)
    )


def test_two_of_three_owners_pause_through_the_safe(w3, guarded, accounts):
    safe, vault, token = guarded
    tx = _pause_tx(w3, safe, vault, token)
    relayer = Sender.from_key(w3, accounts[9].private_key)  # anyone may submit the signed Safe tx
    _exec(relayer, safe, tx, _signatures(tx, [accounts[2].private_key, accounts[4].private_key]))
    market = int(token.address, 16)
    assert vault.functions.isPaused(0, market).call()  # DEPOSIT
    assert vault.functions.isPaused(1, market).call()  # WITHDRAW
    assert safe.functions.nonce().call() == tx.nonce + 1


def test_one_owner_alone_cannot_pause(w3, guarded, accounts):
    safe, vault, token = guarded
    tx = _pause_tx(w3, safe, vault, token)
    relayer = Sender.from_key(w3, accounts[9].private_key)
    with pytest.raises(TransactionFailed, match="GS020"):
        _exec(relayer, safe, tx, _signatures(tx, [accounts[3].private_key]))
    assert not vault.functions.isPaused(0, int(token.address, 16)).call()

"""Global settlement of the reference clearinghouse, driven through the Python client on a real chain:
the guardian Safe triggers, anyone tallies in batches, every account claims its share once."""

from __future__ import annotations

import pytest
from rich.console import Console
from web3 import Web3

from bastion.chain.artifacts import ArtifactError
from bastion.chain.contracts import Sender, TransactionFailed
from bastion.chain.node import DevAccount
from bastion.protocol.client import WAD, Protocol
from bastion.protocol.deploy import deploy_system, dev_keys, dev_roles
from bastion.protocol.show import print_state
from bastion.respond.keys import signer_from_hex
from bastion.respond.safe import ZERO, SafeTx

USD = 10**6


@pytest.fixture
def protocol(w3: Web3, accounts: list[DevAccount]) -> Protocol:
    try:
        manifest = deploy_system(Sender.from_key(w3, accounts[0].private_key), dev_roles(accounts), dev_keys(accounts))
    except ArtifactError as exc:
        pytest.skip(f"forge artifacts missing: {exc}")
    return Protocol(w3, manifest)


def _safe_exec(protocol: Protocol, fn, owners: list[DevAccount], relayer: Sender) -> None:
    """Execute ``fn`` from the guardian Safe with the signatures of two owners (its threshold)."""
    safe = protocol.safe
    data = bytes.fromhex(fn._encode_transaction_data()[2:])
    tx = SafeTx(safe.address, protocol.w3.eth.chain_id, fn.address, 0, data, 0, safe.functions.nonce().call())
    sigs = {o.address.lower(): signer_from_hex(o.private_key).sign_digest(tx.hash()) for o in owners[:2]}
    packed = b"".join(sigs[k] for k in sorted(sigs))
    relayer.transact(safe.functions.execTransaction(fn.address, 0, data, 0, 0, 0, 0, ZERO, ZERO, packed))


def test_safe_triggers_anyone_tallies_in_batches_and_everyone_claims_once(
    protocol: Protocol, accounts: list[DevAccount]
):
    w3 = protocol.w3
    admin = Sender.from_key(w3, accounts[0].private_key)
    keys = dev_keys(accounts)
    traders = [Sender.from_key(w3, accounts[i].private_key) for i in (8, 9)]
    for trader, (symbol, size) in zip(traders, [("ETH-PERP", 10 * WAD), ("BTC-PERP", -WAD)], strict=True):
        admin.transact(protocol.usdc.functions.mint(trader.address, 50_000 * USD))
        protocol.approve(trader)
        protocol.deposit(trader, 50_000 * USD)
        protocol.trade(trader, symbol, size)
    assert not protocol.settlement().settled

    with pytest.raises(TransactionFailed, match="NotAllowedToSettle"):
        protocol.trigger_settlement(traders[0])  # a stranger, and the maker is solvent
    _safe_exec(protocol, protocol.engine.functions.triggerSettlement(), accounts[2:5], admin)

    everyone = protocol.accounts()
    st = protocol.settlement()
    assert st.settled and not st.claims_open
    assert (st.tallied, st.claimants) == (0, len(everyone))
    assert st.pool == protocol.vault.functions.freeBalance().call()
    with pytest.raises(TransactionFailed, match=r"TallyIncomplete\(uint256,uint256\)"):
        protocol.claim_settlement(traders[0])
    with pytest.raises(TransactionFailed, match=r"ProtocolSettled\(\)"):
        protocol.deposit(traders[0], 1)

    assert protocol.tally(admin, batch=2) == -(-len(everyone) // 2)
    assert protocol.tally(admin) == 0  # nothing left to tally
    st = protocol.settlement()
    assert st.claims_open and st.tallied == len(everyone)

    paid = 0
    for address in everyone:
        claim, payout = protocol.settlement_payout(address)
        assert payout == (claim if st.pool >= st.total_claims else claim * st.pool // st.total_claims)
        if claim == 0:
            continue
        user = Sender.from_key(w3, keys[address])
        before = protocol.usdc.functions.balanceOf(address).call()
        protocol.claim_settlement(user)
        assert protocol.usdc.functions.balanceOf(address).call() - before == payout
        assert protocol.settlement_payout(address) == (0, 0)
        with pytest.raises(TransactionFailed, match=r"AlreadyClaimed\(address\)"):
            protocol.claim_settlement(user)
        paid += payout
    st = protocol.settlement()
    assert st.paid == paid <= st.pool

    console = Console(record=True, width=200)
    print_state(console, protocol)
    assert "claims open: paid" in console.export_text()

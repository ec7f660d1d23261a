"""Deployment helpers, signing and revert reporting on the session's anvil."""

from __future__ import annotations

import pytest

from bastion.chain.contracts import Sender, TransactionFailed, contract_at


def test_deploy_transact_and_read(deployer, w3, accounts):
    usdc = deployer.deploy("MintableToken", "USD Coin", "USDC", 6, deployer.address)
    receipt = deployer.transact(usdc.functions.mint(accounts[1].address, 5_000_000))
    assert receipt["status"] == 1
    same = contract_at(w3, "MintableToken", usdc.address)
    assert same.functions.balanceOf(accounts[1].address).call() == 5_000_000


def test_revert_names_the_custom_error(deployer, w3, accounts):
    usdc = deployer.deploy("MintableToken", "USD Coin", "USDC", 6, deployer.address)
    stranger = Sender.from_key(w3, accounts[2].private_key)
    with pytest.raises(TransactionFailed, match=r"would revert: OwnableUnauthorizedAccount\(address\)"):
        stranger.transact(usdc.functions.mint(stranger.address, 1))


def test_sender_repr_hides_key(w3, accounts):
    sender = Sender.from_key(w3, accounts[3].private_key)
    assert accounts[3].private_key[2:] not in repr(sender)
    assert accounts[3].address in repr(sender)


def test_deploying_an_abstract_contract_is_refused(deployer):
    with pytest.raises(TransactionFailed, match="no bytecode"):
        deployer.deploy("GuardAccess", deployer.address, deployer.address)


_ISOLATION_TESTS = """
def test_a_mines_blocks(chain, w3):
    start = w3.eth.block_number
    chain.mine(5)
    assert w3.eth.block_number == start + 5

def test_b_sees_a_fresh_chain(chain, w3):
    assert w3.eth.block_number == 0
"""


def test_each_test_sees_a_fresh_chain(pytester):
    pytester.makeconftest('pytest_plugins = ["bastion.chain.testing"]')
    pytester.makepyfile(_ISOLATION_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)

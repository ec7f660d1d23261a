"""A stolen guardian key alone cannot hold a pause (real anvil, the reference deployment): without a remedy
queued in the timelock by a proposer, the guardian's withdrawal pause ends after 24 h, and the scope's
cooldown keeps it from pausing again within 72 h of the first pause."""

from __future__ import annotations

import pytest

from bastion.chain import AnvilNode, Sender, connect
from bastion.chain.contracts import TransactionFailed
from bastion.protocol.client import Protocol
from bastion.protocol.deploy import deploy_system, dev_keys, dev_roles

HOUR = 3_600
WITHDRAW, ALL_MARKETS = 1, 0


@pytest.fixture(scope="module")
def deployed():
    with AnvilNode(accounts=16) as node:
        w3 = connect(node.http_url)
        sender = Sender.from_key(w3, node.accounts[0].private_key)
        roles = dev_roles(node.accounts)
        keys = dev_keys(node.accounts)
        manifest = deploy_system(sender, roles, keys)
        yield node, Protocol(w3, manifest), Sender.from_key(w3, keys[roles.watchtower])


def test_a_guardian_key_alone_cannot_hold_the_pause(deployed):
    node, p, thief = deployed
    router = p.router
    thief.transact(router.functions.pause(ALL_MARKETS, 1 << WITHDRAW, 24 * HOUR))
    assert router.functions.isPaused(WITHDRAW, ALL_MARKETS).call()
    # any operation it names, none queued with the scope's remedy salt: no hold
    marker = bytes.fromhex(router.functions.remedySalt(ALL_MARKETS)._encode_transaction_data()[2:])
    with pytest.raises(TransactionFailed, match="NoRemedyQueued"):
        thief.transact(router.functions.holdPause(ALL_MARKETS, router.address, 0, marker, b"\0" * 32))
    with pytest.raises(TransactionFailed):
        thief.transact(router.functions.extendPause(ALL_MARKETS, p.w3.eth.get_block("latest")["timestamp"] + 48 * HOUR))
    node.increase_time(24 * HOUR)
    node.mine()
    assert not router.functions.isPaused(WITHDRAW, ALL_MARKETS).call()
    # the cooldown: no new episode until 72 h after the first pause
    node.increase_time(47 * HOUR)
    node.mine()
    with pytest.raises(TransactionFailed):
        thief.transact(router.functions.pause(ALL_MARKETS, 1 << WITHDRAW, 24 * HOUR))
    node.increase_time(1 * HOUR + 60)
    node.mine()
    thief.transact(router.functions.pause(ALL_MARKETS, 1 << WITHDRAW, 24 * HOUR))
    assert router.functions.isPaused(WITHDRAW, ALL_MARKETS).call()

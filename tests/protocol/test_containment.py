"""The reference deployment with the OracleGuard's independent reference (the pool TWAP) on a real chain:
each feed has its own signer, own deposits come back without the shared headroom, and one party that
holds both feed keys is not believed beyond the band around the pool."""

from __future__ import annotations

import pytest

from bastion.chain import AnvilNode, Sender, connect
from bastion.chain.contracts import TransactionFailed, contract_at
from bastion.protocol.client import Protocol
from bastion.protocol.deploy import (
    OWN_INFLOW_MEMORY,
    REFERENCE_BOUND_BPS,
    TWAP_WINDOW,
    USDC_DECIMALS,
    deploy_system,
    dev_keys,
    dev_roles,
)

WAD = 10**18


@pytest.fixture(scope="module")
def referenced():
    with AnvilNode(accounts=16) as node:
        w3 = connect(node.http_url)
        sender = Sender.from_key(w3, node.accounts[0].private_key)
        manifest = deploy_system(sender, dev_roles(node.accounts), dev_keys(node.accounts))  # the defaults
        yield node, Protocol(w3, manifest)


def test_the_default_deployment_switches_containment_on(referenced):
    node, p = referenced
    keys = dev_keys(node.accounts)
    assert p.manifest.parameters["reference_bound_bps"] == REFERENCE_BOUND_BPS
    for symbol in p.markets:
        feed, heartbeat, _decimals, bound = p.oracle.functions.referenceOf(p.market_id(symbol)).call()
        assert feed == p.markets[symbol]["twap_feed"] and bound == REFERENCE_BOUND_BPS and heartbeat > 0
        primary, secondary = p.feed(symbol, "primary"), p.feed(symbol, "secondary")
        assert primary.functions.feeder().call() == p.feed_signer("primary")
        assert secondary.functions.feeder().call() == p.feed_signer("secondary") != p.feed_signer("primary")
        # the primary's key cannot set the secondary
        with pytest.raises(TransactionFailed, match="NotFeeder"):
            Sender.from_key(p.w3, keys[p.feed_signer("primary")]).transact(secondary.functions.setAnswer(1))
    assert p.vault.functions.ownInflowMemory().call() == OWN_INFLOW_MEMORY


def test_own_deposit_round_trip_leaves_the_shared_headroom(referenced):
    node, p = referenced
    snapshot = node.snapshot()
    try:
        usdc = p.usdc.address
        whale = Sender.from_key(p.w3, node.accounts[14].private_key)
        amount = 500_000 * 10**USDC_DECIMALS  # above the limiter's headroom (10% of ~2.6M), below the 20% tx cap
        Sender.from_key(p.w3, node.accounts[0].private_key).transact(p.usdc.functions.mint(whale.address, amount))
        p.approve(whale)
        p.deposit(whale, amount)
        node.increase_time(3_600)
        node.mine()
        p.withdraw(whale, amount)  # its own deposit comes back whole, no trip, no claim
        assert p.usdc.functions.balanceOf(whale.address).call() == amount
        assert p.vault.functions.tripInfo(usdc).call()[0] <= p.w3.eth.get_block("latest")["timestamp"]
    finally:
        node.revert(snapshot)


@pytest.mark.parametrize("move", [1.05, 1.3, 0.7, 0.5])
def test_one_party_moving_both_feeds_stays_inside_the_pool_band(referenced, move):
    node, p = referenced
    snapshot = node.snapshot()
    try:
        mid = p.market_id("ETH-PERP")
        twap = contract_at(p.w3, "PoolTwapFeed", p.markets["ETH-PERP"]["twap_feed"])
        feed, _heartbeat, _decimals, _bound = p.oracle.functions.referenceOf(mid).call()
        assert feed == twap.address
        node.increase_time(TWAP_WINDOW + 60)  # the TWAP needs one window of history
        node.mine()
        keys = dev_keys(node.accounts)
        # The weakness the reference answers: one party holds the keys of both feeds (the second signer
        # hands its feed over here, as a deployment with one feeder key would have it).
        feeder = Sender.from_key(p.w3, keys[p.feed_signer("primary")])
        Sender.from_key(p.w3, keys[p.feed_signer("secondary")]).transact(
            p.feed("ETH-PERP", "secondary").functions.setFeeder(feeder.address)
        )
        answer = int(3_000 * move * 10**8)
        for which in ("primary", "secondary"):
            feeder.transact(p.feed("ETH-PERP", which).functions.setAnswer(answer))
        price, _reduce_only = p.oracle.functions.viewPrice(mid).call()
        ref = twap.functions.latestRoundData().call()[1]
        assert ref == 3_000 * WAD  # the pool did not move
        band = ref * REFERENCE_BOUND_BPS // 10_000
        assert ref - band <= price <= ref + band
        if abs(move - 1) * 10_000 > REFERENCE_BOUND_BPS:
            assert price != answer * 10**10  # a push beyond the band is not believed
    finally:
        node.revert(snapshot)

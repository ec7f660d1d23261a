"""The reference deployment with the OracleGuard's independent reference (the pool TWAP) on a real chain:
one feeder key moving both feeds is not believed beyond the band around the pool."""

from __future__ import annotations

import pytest

from bastion.chain import AnvilNode, Sender, connect
from bastion.chain.contracts import contract_at
from bastion.protocol.client import Protocol
from bastion.protocol.deploy import REFERENCE_BOUND_BPS, TWAP_WINDOW, deploy_system, dev_keys, dev_roles

WAD = 10**18


@pytest.fixture(scope="module")
def referenced():
    with AnvilNode(accounts=16) as node:
        w3 = connect(node.http_url)
        sender = Sender.from_key(w3, node.accounts[0].private_key)
        manifest = deploy_system(
            sender, dev_roles(node.accounts), dev_keys(node.accounts), reference_bound_bps=REFERENCE_BOUND_BPS
        )
        yield node, Protocol(w3, manifest)


@pytest.mark.parametrize("move", [1.05, 1.3, 0.7, 0.5])
def test_one_feeder_moving_both_feeds_stays_inside_the_pool_band(referenced, move):
    node, p = referenced
    snapshot = node.snapshot()
    try:
        mid = p.market_id("ETH-PERP")
        twap = contract_at(p.w3, "PoolTwapFeed", p.markets["ETH-PERP"]["twap_feed"])
        feed, _heartbeat, _decimals, _bound = p.oracle.functions.referenceOf(mid).call()
        assert feed == twap.address
        node.increase_time(TWAP_WINDOW + 60)  # the TWAP needs one window of history
        node.mine()
        feeder = Sender.from_key(p.w3, dev_keys(node.accounts)[p.manifest.roles["feeder"]])
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

"""The embedded chain's history replay on the reference deployment (TWAP reference on, one signer per
feed): the pools follow the replayed prices and the OracleGuard keeps accepting them."""

from __future__ import annotations

from bastion.chain import AnvilNode, Sender, connect
from bastion.protocol.client import Protocol
from bastion.protocol.deploy import FEED_DECIMALS, deploy_system, dev_keys, dev_roles
from bastion.risk.replay import HistoryReplay

WAD = 10**18


def test_replayed_hours_move_feeds_and_pools_together():
    with AnvilNode(accounts=10) as node:
        w3 = connect(node.http_url)
        admin = Sender.from_key(w3, node.accounts[0].private_key)
        p = Protocol(w3, deploy_system(admin, dev_roles(node.accounts), dev_keys(node.accounts)))
        keys = dev_keys(node.accounts)
        feeders = {which: Sender.from_key(w3, keys[p.feed_signer(which)]) for which in ("primary", "secondary")}
        replay = HistoryReplay(node, p, feeders, admin)
        replay.advance(36)
        for symbol in p.markets:
            answer = replay.answer(symbol, replay.pos)
            assert p.feed(symbol, "primary").functions.latestRoundData().call()[1] == answer
            assert p.feed(symbol, "secondary").functions.latestRoundData().call()[1] == answer
            spot = p.pool(symbol).functions.spotPrice().call()
            target = answer * WAD // 10**FEED_DECIMALS
            assert abs(spot - target) * 1_000 <= target  # the arbitrage brought the pool within 0.1%
            price, reduce_only = p.oracle.functions.viewPrice(p.market_id(symbol)).call()
            assert price == target and not reduce_only  # the guard accepted the replayed price

"""Give the embedded chain a price history: push hourly rounds of the bundled BTC/USD closes into both
feeds of every market (scaled to each market's current price), one hour of chain time per round, and
poke ``OracleGuard.checkedPrice`` after each hour as a keeper would. Embedded chain only: it moves the
clock (``evm_increaseTime``) and needs the feeder's key."""

from __future__ import annotations

import numpy as np

from bastion.chain.contracts import Sender
from bastion.chain.node import AnvilNode
from bastion.protocol.client import Protocol
from bastion.protocol.deploy import FEED_DECIMALS
from bastion.sim.data import load_btc_hourly

HOUR = 3_600


class HistoryReplay:
    """Replays the bundled closes from ``start`` (an index into the history) onwards, ``hours`` at a time."""

    def __init__(self, node: AnvilNode, protocol: Protocol, feeder: Sender, start: int | None = None) -> None:
        self.node = node
        self.p = protocol
        self.feeder = feeder
        close = load_btc_hourly().close
        self.close = np.asarray(close)
        self.pos = max(0, self.close.size - 24 * 90) if start is None else start
        self.anchor = {s: (m["price_usd"], float(self.close[self.pos])) for s, m in protocol.markets.items()}

    def answer(self, symbol: str, index: int) -> int:
        price_usd, ref = self.anchor[symbol]
        return round(price_usd * float(self.close[index]) / ref * 10**FEED_DECIMALS)

    def advance(self, hours: int) -> int:
        """Push ``hours`` hourly rounds; returns the new position in the history (wraps at the end)."""
        for _ in range(hours):
            self.pos += 1
            if self.pos >= self.close.size:
                self.pos = 1
                self.anchor = {s: (m["price_usd"], float(self.close[0])) for s, m in self.p.markets.items()}
            self.node.increase_time(HOUR)
            for symbol in self.p.markets:
                answer = self.answer(symbol, self.pos)
                for which in ("primary", "secondary"):
                    self.feeder.transact(self.p.feed(symbol, which).functions.setAnswer(answer), gas=120_000)
                self.feeder.transact(self.p.oracle.functions.checkedPrice(self.p.market_id(symbol)), gas=300_000)
        return self.pos

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
        self.chain_id = 0

    def answer(self, symbol: str, index: int) -> int:
        price_usd, ref = self.anchor[symbol]
        return round(price_usd * float(self.close[index]) / ref * 10**FEED_DECIMALS)

    def _send(self, fn, gas: int, nonce: int, fees: dict) -> bytes:
        tx = {
            "to": fn.address,
            "data": fn._encode_transaction_data(),
            "value": 0,
            "gas": gas,
            "nonce": nonce,
            "chainId": self.chain_id,
            **fees,
        }
        return self.p.w3.eth.send_raw_transaction(self.feeder.account.sign_transaction(tx).raw_transaction)

    def advance(self, hours: int) -> int:
        """Push ``hours`` hourly rounds; returns the new position in the history (wraps at the end).
        Signed locally with a tracked nonce and fixed gas (the node mines each on arrival); the last
        receipt of every hour is checked."""
        w3 = self.p.w3
        self.chain_id = w3.eth.chain_id
        nonce = w3.eth.get_transaction_count(self.feeder.address, "pending")
        for _ in range(hours):
            self.pos += 1
            if self.pos >= self.close.size:
                self.pos = 1
                self.anchor = {s: (m["price_usd"], float(self.close[0])) for s, m in self.p.markets.items()}
            self.node.increase_time(HOUR)
            base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
            fees = {"maxFeePerGas": 4 * base + 10**9, "maxPriorityFeePerGas": 10**9}
            last = b""
            for symbol in self.p.markets:
                answer = self.answer(symbol, self.pos)
                for which in ("primary", "secondary"):
                    last = self._send(self.p.feed(symbol, which).functions.setAnswer(answer), 120_000, nonce, fees)
                    nonce += 1
                poke = self.p.oracle.functions.checkedPrice(self.p.market_id(symbol))
                last = self._send(poke, 300_000, nonce, fees)
                nonce += 1
            if w3.eth.wait_for_transaction_receipt(last, timeout=60)["status"] != 1:
                raise RuntimeError(f"history replay: a keeper poke reverted at hour {self.pos}")
        return self.pos

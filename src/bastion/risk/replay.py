"""Give the embedded chain a price history: push hourly rounds of the bundled BTC/USD closes into both
feeds of every market (scaled to each market's current price; each feed by its own signer), one hour of
chain time per round; trade each AMM pool to that price as an arbitrageur would and roll its TWAP (the
OracleGuard's reference), then poke ``OracleGuard.checkedPrice`` as a keeper would. Embedded chain only:
it moves the clock (``evm_increaseTime``) and needs both feeders' keys and the test tokens' owner's
(which mints what the arbitrage trades)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from bastion.chain.contracts import Sender
from bastion.chain.node import AnvilNode
from bastion.protocol.client import Protocol
from bastion.protocol.deploy import FEED_DECIMALS
from bastion.sim.data import load_btc_hourly

HOUR = 3_600


class HistoryReplay:
    """Replays the bundled closes from ``start`` (an index into the history) onwards, ``hours`` at a time."""

    def __init__(
        self,
        node: AnvilNode,
        protocol: Protocol,
        feeders: Mapping[str, Sender],
        minter: Sender,
        start: int | None = None,
    ) -> None:
        self.node = node
        self.p = protocol
        self.feeders = dict(feeders)  # "primary" / "secondary" -> that feed's signer
        self.minter = minter
        close = load_btc_hourly().close
        self.close = np.asarray(close)
        self.pos = max(0, self.close.size - 24 * 90) if start is None else start
        self.anchor = {s: (m["price_usd"], float(self.close[self.pos])) for s, m in protocol.markets.items()}
        self.chain_id = 0

    def answer(self, symbol: str, index: int) -> int:
        price_usd, ref = self.anchor[symbol]
        return round(price_usd * float(self.close[index]) / ref * 10**FEED_DECIMALS)

    def _send(self, signer: Sender, fn, gas: int, nonces: dict[str, int], fees: dict) -> bytes:
        nonce = nonces.setdefault(signer.address, self.p.w3.eth.get_transaction_count(signer.address, "pending"))
        nonces[signer.address] = nonce + 1
        tx = {
            "to": fn.address,
            "data": fn._encode_transaction_data(),
            "value": 0,
            "gas": gas,
            "nonce": nonce,
            "chainId": self.chain_id,
            **fees,
        }
        return self.p.w3.eth.send_raw_transaction(signer.account.sign_transaction(tx).raw_transaction)

    def _arbitrage(self, symbol: str, answer: int, nonces: dict[str, int], fees: dict) -> None:
        """Trade the pool to ``answer`` (feed decimals): mint the input token to the pool, take the output."""
        pool = self.p.pool(symbol)
        r0, r1 = int(pool.functions.reserve0().call()), int(pool.functions.reserve1().call())
        base = self.p.base_token(symbol)
        ratio = answer / 10**FEED_DECIMALS * 10 ** int(self.p.usdc.functions.decimals().call())
        ratio /= 10 ** int(base.functions.decimals().call())  # quote units per base unit
        target0 = math.isqrt(r0 * r1 * 10**12 // max(1, round(ratio * 10**12)))
        if target0 < r0:  # the pool is cheap: pay quote, take base
            amount_in, token, zero_for_one = (r0 * r1) // target0 - r1, self.p.usdc, False
        else:  # the pool is dear: pay base, take quote
            amount_in, token, zero_for_one = target0 - r0, base, True
        amount_in = amount_in * 1_000 // 997
        if amount_in <= 0:
            return
        out = int(pool.functions.getAmountOut(amount_in, zero_for_one).call())
        if out <= 0:
            return
        self._send(self.minter, token.functions.mint(pool.address, amount_in), 120_000, nonces, fees)
        swap = (
            pool.functions.swap(0, out, self.minter.address, b"")
            if zero_for_one
            else pool.functions.swap(out, 0, self.minter.address, b"")
        )
        self._send(self.minter, swap, 200_000, nonces, fees)

    def advance(self, hours: int) -> int:
        """Push ``hours`` hourly rounds; returns the new position in the history (wraps at the end).
        Signed locally with a tracked nonce and fixed gas (the node mines each on arrival); the last
        receipt of every hour is checked."""
        w3 = self.p.w3
        self.chain_id = w3.eth.chain_id
        nonces: dict[str, int] = {}
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
                    feed = self.p.feed(symbol, which)
                    last = self._send(self.feeders[which], feed.functions.setAnswer(answer), 120_000, nonces, fees)
                self._arbitrage(symbol, answer, nonces, fees)
                self._send(self.minter, self.p.twap(symbol).functions.update(), 120_000, nonces, fees)
                poke = self.p.oracle.functions.checkedPrice(self.p.market_id(symbol))
                last = self._send(self.minter, poke, 300_000, nonces, fees)
            if w3.eth.wait_for_transaction_receipt(last, timeout=60)["status"] != 1:
                raise RuntimeError(f"history replay: a keeper poke reverted at hour {self.pos}")
        return self.pos

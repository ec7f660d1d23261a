"""Honest background traffic: the price feeder, an arbitrageur that keeps the AMM pools at the market
price, traders on the reference protocol (through its public Router, as users would), and a keeper.

The "market price" of each asset is ``World.true_price``: a random walk by default, or a path a scenario
sets (a replayed crash). The honest feeder pushes it to both feeds of a market (every ``feed_every``
seconds, or sooner on a 0.5% move, like Chainlink's heartbeat and deviation threshold), each feed by its
own signer; the arbitrageur trades each pool back to it; the keeper rolls each market's pool TWAP (the
OracleGuard's reference) once per window. Every amount sent on chain is an integer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bastion.protocol.client import WAD
from bastion.protocol.deploy import TWAP_WINDOW
from bastion.rehearse.chain import Actor, TxRecord
from bastion.rehearse.world import USD, World

SIGMA_PER_SQRT_S = 1.2e-4  # about 67% a year: a volatile crypto asset on a quiet day
FEE_IN = 0.997


@dataclass
class Traffic:
    """One slot of honest activity per ``step``; set-up (funding, approvals, deposits) in ``setup``."""

    world: World
    traders: list[Actor]
    activity: float = 0.05  # chance per trader per slot of doing something
    max_leverage: float = 3.0
    feed_every: int = 30
    arbitrage_every: int = 2
    keeper_every: int = 5
    honest_feeds: bool = True
    stopped_feeds: set[tuple[str, str]] = field(default_factory=set)  # (symbol, "primary"|"secondary")
    price_fn: Callable[[str, int], float | None] | None = None  # (symbol, ts) -> USD, or None: random walk
    watched_accounts: list[str] = field(default_factory=list)  # extra accounts the keeper checks
    extra_pools: list[tuple[str, Any]] = field(default_factory=list)  # (symbol, pool) also kept at the price
    records: list[TxRecord] = field(default_factory=list)
    liquidations: int = 0
    _pushed: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    _slot: int = 0
    _last_ts: int | None = None
    _twap_rolled: dict[str, int] = field(default_factory=dict)  # symbol -> when the keeper last rolled it

    # -- set-up ------------------------------------------------------------------------------------
    def setup(self, deposits_usd: tuple[int, int] = (30_000, 80_000)) -> None:
        w = self.world
        arb = w.actors["arbitrageur"]
        w.fund(arb, 50_000_000)
        for m in w.markets.values():
            w.mint(m.token, arb.address, 50_000 * 10**m.decimals)
        w.fund(w.actors["keeper"], 1_000)
        for t in self.traders:
            usd = w.rng.randint(*deposits_usd)
            w.fund(t, usd)
            w.approve(t, w.usdc, w.protocol.vault.address)
            w.act(t, w.protocol.router.functions.deposit(usd * USD))
        now = w.clock.timestamp
        for symbol in w.markets:
            for which in ("primary", "secondary"):
                self._pushed[(symbol, which)] = (w.true_price[symbol], now)

    # -- one slot ----------------------------------------------------------------------------------
    def step(self) -> None:
        w = self.world
        now = w.clock.timestamp + w.clock.block_time  # the timestamp of the block being built
        self._advance_prices(now)
        if self.honest_feeds:
            self._feed(now)
        if self._slot % self.arbitrage_every == 0:
            for symbol, m in w.markets.items():
                self.arbitrage(symbol, m.pool)
            for symbol, pool in self.extra_pools:
                self.arbitrage(symbol, pool)
        self._trade()
        if self.keeper_every and self._slot % self.keeper_every == 0:
            self.keep()
        self._roll_twaps(now)
        self._slot += 1

    def _roll_twaps(self, now: int) -> None:
        """The keeper's PoolTwapFeed.update() once per window, so the reference averages the last window
        or two rather than everything since deployment."""
        w = self.world
        for symbol in w.markets:
            if now - self._twap_rolled.get(symbol, 0) >= TWAP_WINDOW:
                twap = w.protocol.twap(symbol)
                self.records.append(w.clock.send(w.actors["keeper"], twap.functions.update(), label="roll twap"))
                self._twap_rolled[symbol] = now

    def _advance_prices(self, now: int) -> None:
        w = self.world
        dt = 0 if self._last_ts is None else max(0, now - self._last_ts)
        self._last_ts = now
        for symbol in w.markets:
            forced = self.price_fn(symbol, now) if self.price_fn is not None else None
            if forced is not None:
                w.true_price[symbol] = forced
            elif dt:
                w.true_price[symbol] *= math.exp(w.rng.gauss(0.0, SIGMA_PER_SQRT_S * math.sqrt(dt)))

    def hold_prices(self) -> None:
        """The random walk does not move over the next gap in time (a quiet period)."""
        self._last_ts = None

    def refresh_feeds(self) -> None:
        """Push every running feed now (after a long quiet period)."""
        w = self.world
        now = w.clock.timestamp + w.clock.block_time
        self._advance_prices(now)
        for key in list(self._pushed):
            self._pushed[key] = (self._pushed[key][0], 0)
        if self.honest_feeds:
            self._feed(now)

    def _feed(self, now: int) -> None:
        w = self.world
        for symbol in w.markets:
            price = w.true_price[symbol]
            for which in ("primary", "secondary"):
                if (symbol, which) in self.stopped_feeds:
                    continue
                last, at = self._pushed.get((symbol, which), (0.0, 0))
                if now - at >= self.feed_every or abs(price / last - 1) >= 0.005:
                    self.push(symbol, which, price)

    def push(
        self, symbol: str, which: str, price: float, *, feeder: Actor | None = None, malicious: bool = False
    ) -> TxRecord:
        """Push ``price`` to one feed of ``symbol`` as ``feeder`` (default: that feed's signer)."""
        w = self.world
        feeder = feeder or w.feeder_of(symbol, which)
        m = w.markets[symbol]
        feed = m.primary if which == "primary" else m.secondary
        rec = w.clock.send(
            feeder, feed.functions.setAnswer(w.feed_answer(price)), label=f"push {symbol} {which}", malicious=malicious
        )
        if not malicious:
            self._pushed[(symbol, which)] = (price, w.clock.timestamp + w.clock.block_time)
            self.records.append(rec)
        return rec

    # -- arbitrage ---------------------------------------------------------------------------------
    def arbitrage(
        self,
        symbol: str,
        pool: Any,
        threshold: float = 0.003,
        *,
        price: float | None = None,
        actor: Actor | None = None,
        malicious: bool = False,
        after_arbitrage: bool = False,
    ) -> None:
        """Trade ``pool`` (base: the asset of ``symbol``) back to the market price (or to ``price``) when it
        is off by more than ``threshold``; as the arbitrageur, or as ``actor`` (who then holds the pool
        somewhere else: a griefer). ``after_arbitrage``: sized as if the arbitrageur's pending correction
        to the market price had landed, and tipped under it so that it lands after it (a back-run)."""
        w = self.world
        m = w.markets[symbol]
        r0 = int(w.read(pool.functions.reserve0()))
        r1 = int(w.read(pool.functions.reserve1()))
        if r0 == 0 or r1 == 0:
            return
        if after_arbitrage:  # the reserves once the arbitrageur has traded the pool to the market price
            k, market_raw = r0 * r1, w.true_price[symbol] * USD / 10**m.decimals
            r0 = math.isqrt(int(k / market_raw))
            r1 = k // max(r0, 1)
        target = w.true_price[symbol] if price is None else price
        price_raw = target * USD / 10**m.decimals  # quote units per base unit
        spot_raw = r1 / r0
        if abs(spot_raw / price_raw - 1) < threshold:
            return
        k = r0 * r1
        arb = actor or w.actors["arbitrageur"]
        kw: dict[str, Any] = {"malicious": True, "force": False} if malicious else {}
        if after_arbitrage:
            kw["tip_gwei"] = 0.5
        target0 = math.isqrt(int(k / price_raw))
        if target0 < r0:  # the pool is cheap: buy base with quote
            target1 = k // max(target0, 1)
            amount_in = int((target1 - r1) / FEE_IN)
            out = amount_in * 9970 * r0 // (r1 * 10_000 + amount_in * 9970)
            if out <= 0:
                return
            self.records.append(
                w.clock.send(arb, w.usdc.functions.transfer(pool.address, amount_in), label="arb pay", **kw)
            )
            self.records.append(
                w.clock.send(arb, pool.functions.swap(out, 0, arb.address, b""), label="arb swap", gas=200_000, **kw)
            )
        else:  # the pool is dear: sell base for quote
            amount_in = int((target0 - r0) / FEE_IN)
            out = amount_in * 9970 * r1 // (r0 * 10_000 + amount_in * 9970)
            if out <= 0:
                return
            self.records.append(
                w.clock.send(arb, m.token.functions.transfer(pool.address, amount_in), label="arb pay", **kw)
            )
            self.records.append(
                w.clock.send(arb, pool.functions.swap(0, out, arb.address, b""), label="arb swap", gas=200_000, **kw)
            )

    # -- traders -----------------------------------------------------------------------------------
    def _trade(self) -> None:
        w = self.world
        for t in self.traders:
            if w.rng.random() >= self.activity:
                continue
            self.act_once(t)

    def act_once(self, t: Actor) -> TxRecord | None:
        """One sensible action of an honest trader: open, adjust or close a position, or move collateral."""
        w = self.world
        p = w.protocol
        symbol = w.rng.choice(list(w.markets))
        m = w.markets[symbol]
        size = int(w.read(p.engine.functions.positionOf(t.address, m.id))[0])
        equity, _maintenance, initial = w.read(p.engine.functions.health(t.address))
        roll = w.rng.random()
        if equity <= 0:
            return None
        if size == 0 and roll < 0.85:
            lev = w.rng.uniform(0.5, self.max_leverage)
            notional = equity / USD * lev
            units = notional / w.true_price[symbol]
            delta = int(units * WAD) * (1 if w.rng.random() < 0.5 else -1)
            rec = w.clock.send(t, p.router.functions.trade(m.id, delta, 0), label=f"open {symbol}")
        elif size != 0 and roll < 0.5:
            rec = w.clock.send(t, p.router.functions.close(m.id), label=f"close {symbol}")
        elif size != 0 and roll < 0.8:
            delta = -size // w.rng.randint(2, 5)
            rec = w.clock.send(t, p.router.functions.trade(m.id, delta, 0), label=f"reduce {symbol}")
        else:
            free = equity - initial
            if free > 100 * USD and w.rng.random() < 0.5:
                rec = w.clock.send(
                    t, p.router.functions.withdraw(int(free * w.rng.uniform(0.05, 0.3))), label="withdraw"
                )
            else:
                bal = w.clock.balance_of(w.usdc, t.address)
                if bal < 100 * USD:
                    return None
                rec = w.clock.send(t, p.router.functions.deposit(int(bal * w.rng.uniform(0.1, 0.5))), label="deposit")
        self.records.append(rec)
        return rec

    # -- keeper ------------------------------------------------------------------------------------
    def keep(self) -> int:
        """Liquidate every watched account below maintenance margin; the number of liquidations sent."""
        w = self.world
        sent = 0
        for address in [t.address for t in self.traders] + self.watched_accounts:
            equity, maintenance, _ = w.read(w.protocol.engine.functions.health(address))
            if maintenance > 0 and equity < maintenance:
                rec = w.clock.send(
                    w.actors["keeper"], w.protocol.router.functions.liquidate(address), label="liquidate"
                )
                self.records.append(rec)
                sent += 1
        self.liquidations += sent
        return sent

    def honest_blocked(self) -> list[TxRecord]:
        """Honest transactions a guard refused or reverted."""
        return [r for r in self.records if r.guard_said_no]

"""Price attacks that today's defences miss or only delay (issue 10, classes 1-3), written as an attacker
would: it holds the price feeder's key (one key signs both feeds here, as class 2 describes) or rides a
lagging feed, trades the reference protocol through its public Router, and takes the money out when it
can, including after a pause has ended or from limiter claims paid later.

Each class is one scenario class whose variants differ only by parameters (amplitude, steps, jitter,
timing, tips); the registered keys are listed in ``VARIANTS``.
"""

from __future__ import annotations

import itertools
import random

from bastion.protocol.client import WAD
from bastion.rehearse.scenarios.attacks_market import Holdings, _LeveragedTrader, cash_out, taken_and_frozen
from bastion.rehearse.scenarios.base import Outcome, Run
from bastion.rehearse.scenarios.benign import crash_closes
from bastion.rehearse.world import USD

ETH = "ETH-PERP"
FEEDS = (("ETH-PERP", "primary"), ("ETH-PERP", "secondary"))


class _FeederTrader(_LeveragedTrader):
    """A leveraged trader who also holds the feeder key of both ETH-PERP feeds.

    The reference deployment gives each feed its own signer; these scenarios keep class 2's weakness
    explicitly: in their set-up one key signs both feeds (``World.one_key_for_both_feeds``)."""

    leverage = 8.0
    weakness = "2"

    def setup(self, run: Run) -> None:
        super().setup(run)
        run.world.one_key_for_both_feeds(ETH)

    def take_feeds(self, run: Run) -> None:
        run.traffic.stopped_feeds |= set(FEEDS)

    def push(self, run: Run, price: float, *, tip: float = 1.0) -> None:
        w = run.world
        for _, which in FEEDS:
            m = w.markets[ETH]
            feed = m.primary if which == "primary" else m.secondary
            run.world.clock.send(w.feeder_of(ETH, which), feed.functions.setAnswer(w.feed_answer(price)),
                                 malicious=True, label=f"push {ETH} {which}", tip_gwei=tip)  # fmt: skip

    def release_feeds(self, run: Run) -> None:
        """After the attack the attacker feeds honest prices again (stale feeds would give it away)."""
        run.traffic.stopped_feeds -= set(FEEDS)
        run.traffic.refresh_feeds()

    def size_at(self, run: Run, price: float) -> int:
        equity = int(run.world.read(run.world.protocol.engine.functions.health(self.attacker.address))[0])
        return int(equity / USD * self.leverage / price * WAD)

    def trade(self, run: Run, delta: int, label: str, *, malicious: bool = True) -> None:
        """A trade; the opening one is an ordinary trade nobody could tell apart (``malicious`` False)."""
        p, eth = run.world.protocol, run.world.markets[ETH]
        run.send(self.attacker, p.router.functions.trade(eth.id, delta, 0), malicious=malicious, label=label)

    def close(self, run: Run, label: str, *, tip: float = 1.0) -> None:
        p, eth = run.world.protocol, run.world.markets[ETH]
        run.send(self.attacker, p.router.functions.close(eth.id), malicious=True, label=label, tip_gwei=tip)

    def measure(self, run: Run, out: Outcome) -> None:
        end = Holdings.of(run.world, self.attacker.address)
        out.value_at_risk = self.value_at_risk
        out.attacker_gain, out.attacker_frozen = taken_and_frozen(self.start, end)
        out.value_lost = out.attacker_gain


class FeederSwings(_FeederTrader):
    """Sub-threshold swings ridden with leverage (class 2): with the feeder key of both feeds, the attacker
    moves the price a couple of percent up and back, again and again, each move under every alarm (the
    feeds agree with each other, each step is far below a jump limit and the watchtower's deviation
    threshold), long before each up-move and short before each down-move, over tens of blocks."""

    key = "feeder-swings"
    title = "Feeder key: sub-threshold swings ridden with leverage"
    incident = "Mango Markets 2022, oracle-key abuse kept under alarms (issue 10, class 2)"
    amplitude = 0.02
    cycles = 8
    legs_blocks = 3  # blocks a pushed price is held before the attacker closes on it

    def play(self, run: Run) -> None:
        w = run.world
        run.slots(run.n(20))
        self.start = Holdings.of(w, self.attacker.address)
        self.take_feeds(run)
        self.pushed = False
        notional = self.capital * self.leverage
        self.value_at_risk = int(notional * self.amplitude * 2 * run.n(self.cycles) * USD)
        for _ in range(run.n(self.cycles)):
            base = w.true_price[ETH]
            self.trade(run, self.size_at(run, base), "long before the up-move", malicious=bool(self.pushed))
            run.slot()
            self.push(run, base * (1 + self.amplitude))
            self.pushed = True
            run.slots(self.legs_blocks)
            self.close(run, "close the long at the pushed price")
            run.slot()
            self.trade(run, -self.size_at(run, base * (1 + self.amplitude)), "short before the down-move")
            run.slot()
            self.push(run, w.true_price[ETH])
            run.slots(self.legs_blocks)
            self.close(run, "close the short")
            run.slot()
        self.release_feeds(run)
        run.slot()
        cash_out(run, self.attacker, run.n(8))
        run.slots(run.n(10))


class FeederSwingsFast(FeederSwings):
    """The same swings, smaller and faster: 1.5% moves held one block, more cycles."""

    key = "feeder-swings-fast"
    title = "Feeder key: smaller, faster sub-threshold swings"
    amplitude = 0.015
    cycles = 14
    legs_blocks = 1


class FeederJitteredRamp(_FeederTrader):
    """A jittered ramp (class 2): with a long open, the attacker walks both feeds up in random steps of
    ``step_range`` at random gaps of ``gap_blocks`` blocks (no two alike, so no fixed-step rule fits),
    closes at the top and withdraws; whatever is stopped then, it takes out after the pause."""

    key = "feeder-ramp-jitter"
    title = "Feeder key: jittered ramp, then close and cash out"
    incident = "pushed-price abuse shaped to avoid jump limits (issue 10, class 2)"
    total = 0.20
    step_range = (0.01, 0.03)
    gap_blocks = (1, 3)

    def play(self, run: Run) -> None:
        w = run.world
        rng = random.Random(w.seed * 7919 + 1)
        run.slots(run.n(20))
        self.start = Holdings.of(w, self.attacker.address)
        p0 = w.true_price[ETH]
        size = self.size_at(run, p0)
        self.trade(run, size, "attacker opens long", malicious=False)
        run.slots(5)
        self.value_at_risk = int(size / WAD * p0 * self.total * USD)
        self.take_feeds(run)
        price = p0
        while price < p0 * (1 + self.total):
            price = min(p0 * (1 + self.total), price * (1 + rng.uniform(*self.step_range)))
            self.push(run, price)
            run.slots(rng.randint(*self.gap_blocks))
        self.close(run, "attacker closes at the top of the ramp")
        run.slot()
        cash_out(run, self.attacker, run.n(10))
        self.release_feeds(run)
        run.slots(run.n(10))


class FeederOneBlock(_FeederTrader):
    """Push and extract (class 2): the feeds are pushed up ``jump`` and, in the same block (``gap`` 0)
    or the next one (``gap`` 1, with a tip ``tip_gwei`` far above the watchtower's), the attacker closes
    its long at the pushed price and withdraws as much as one transaction may, several times. A pause that
    lands after that is too late; what the caps hold back it takes out after the pause."""

    key = "feeder-one-block"
    title = "Feeder key: push and extract in the same block"
    incident = "oracle-key abuse that beats a one-block reaction (issue 10, class 2)"
    jump = 0.12
    gap = 0
    tip_gwei = 30.0
    withdrawals = 4

    def play(self, run: Run) -> None:
        w = run.world
        p = w.protocol
        run.slots(run.n(20))
        self.start = Holdings.of(w, self.attacker.address)
        p0 = w.true_price[ETH]
        size = self.size_at(run, p0)
        self.trade(run, size, "attacker opens long", malicious=False)
        run.slots(5)
        profit = size / WAD * p0 * self.jump
        self.value_at_risk = int(profit * USD)
        self.take_feeds(run)
        self.push(run, p0 * (1 + self.jump), tip=self.tip_gwei + 10)
        if self.gap:
            run.slots(self.gap)
        self.close(run, "close at the pushed price", tip=self.tip_gwei)
        expected = int((self.capital + profit) * USD)
        for _ in range(self.withdrawals):
            cap = w.clock.balance_of(w.usdc, p.vault.address) * 19 // 100
            amount = min(expected, cap)
            expected -= amount
            run.send(self.attacker, p.router.functions.withdraw(amount), malicious=True, tip_gwei=self.tip_gwei,
                     label="withdraw in the same block")  # fmt: skip
            if expected <= 0:
                break
        run.slot()
        self.push(run, w.true_price[ETH])  # back to honest: nothing left to see
        run.slot()
        self.release_feeds(run)
        cash_out(run, self.attacker, run.n(6))
        run.slots(run.n(10))


class FeederNextBlockTip(FeederOneBlock):
    """Push in one block; close and withdraw at the top of the next one with a 100-gwei tip, ahead of the
    watchtower's 2-gwei pause in that block."""

    key = "feeder-next-block-tip"
    title = "Feeder key: push, then extract next block with a high tip"
    gap = 1
    tip_gwei = 100.0


class FeederOneBlockInBand(FeederOneBlock):
    """Push and extract in one block with a jump the OracleGuard accepts: both feeds agree (one key) and
    stay inside the pool TWAP's band, so the close is filled at the pushed price before anyone can react.
    Only what follows can help: the pause keeps the profit inside (it is still vesting), and governance's
    remedy voids what the flagged price paid."""

    key = "feeder-one-block-in-band"
    title = "Feeder key: in-band push, close in the same block"
    jump = 0.06


class FeederNextBlockTipInBand(FeederOneBlock):
    """An in-band push, then the close and withdrawals at the top of the next block with a 100-gwei tip,
    ahead of the watchtower's reduce-only forcing and pause in that block."""

    key = "feeder-next-block-tip-in-band"
    title = "Feeder key: in-band push, extract next block with a high tip"
    jump = 0.05
    gap = 1
    tip_gwei = 100.0


class LaggingFeedCrash(_LeveragedTrader):
    """A lagging second feed on a real crash (class 3): BTC's May 19, 2021 fall (bundled hourly closes,
    10-minute blocks), the primary feed follows the market, the secondary updates only every ``lag_s``.
    The OracleGuard sees the feeds disagree and holds its last good price; the attacker, long with
    leverage from before the fall, closes at that held price when the market is ``exit_gap`` lower and
    withdraws: the loss it should have taken is paid by the backstop maker. Variants: another lag and gap,
    the other market, and a rally (``rising``: the same hours mirrored upward, the attacker short, the
    held price too low)."""

    key = "lagging-feed-crash"
    title = "Lagging second feed in a real crash: exit at the held price"
    incident = "stale/held oracle price during a crash (May 19, 2021 data; issue 10, class 3)"
    weakness = "3"
    symbol = "BTC-PERP"
    rising = False
    lag_s = 6_000
    exit_gap = 0.06
    slot_seconds = 600
    leverage = 5.0
    hours = 8  # the hours around the steepest fall that are replayed

    def play(self, run: Run) -> None:
        w = run.world
        p = w.protocol
        m = w.markets[self.symbol]
        closes = crash_closes()
        worst = min(range(1, len(closes)), key=lambda i: closes[i][1] / closes[i - 1][1])
        closes = closes[max(0, worst - self.hours // 2 - 2) : worst + self.hours // 2]
        run.slots(run.n(10))
        self.start = Holdings.of(w, self.attacker.address)
        p0 = w.true_price[self.symbol]
        side = -1 if self.rising else 1  # a long before the fall, a short before the rally
        size = side * int(self.capital * self.leverage / p0 * WAD)
        run.send(self.attacker, p.router.functions.trade(m.id, size, 0), label="position before the move")
        run.slot()
        t0 = w.clock.timestamp
        first, span = closes[0][1], closes[-1][0] - closes[0][0]

        def path(symbol: str, ts: int) -> float | None:
            if symbol != self.symbol:
                return None
            at = closes[0][0] + min(span, max(0, ts - t0))
            rel = closes[-1][1] / first
            for (u0, c0), (u1, c1) in itertools.pairwise(closes):
                if u0 <= at <= u1:
                    rel = (c0 + (c1 - c0) * (at - u0) / (u1 - u0)) / first
                    break
            return p0 / rel if self.rising else p0 * rel

        low = min(c for _, c in closes) / first
        move = 1 / low - 1 if self.rising else 1 - low
        self.value_at_risk = int(abs(size) / WAD * p0 * move * USD)
        run.traffic.price_fn = path
        run.traffic.feed_every = self.slot_seconds
        run.traffic.stopped_feeds.add((self.symbol, "secondary"))
        run.mark_incident()
        last_secondary = t0
        closed = False
        while w.clock.timestamp < t0 + span:
            if w.clock.timestamp - last_secondary >= self.lag_s:
                run.traffic.push(self.symbol, "secondary", w.true_price[self.symbol])
                last_secondary = w.clock.timestamp
            held = int(w.read(p.oracle.functions.viewPrice(m.id))[0]) / WAD
            true = w.true_price[self.symbol]
            gift = held < true * (1 - self.exit_gap) if self.rising else held > true * (1 + self.exit_gap)
            if not closed and gift:
                run.send(self.attacker, p.router.functions.close(m.id), malicious=True,
                         label="close at the held price")  # fmt: skip
                self.loss_at_market = size / WAD * (p0 - true)  # signed size: a short loses on a rise
                closed = True
            run.slot(self.slot_seconds)
        if not closed:
            run.send(self.attacker, p.router.functions.close(m.id), malicious=True, label="close at the end")
            self.loss_at_market = size / WAD * (p0 - w.true_price[self.symbol])
            run.slot(self.slot_seconds)
        run.traffic.stopped_feeds.discard((self.symbol, "secondary"))
        run.traffic.price_fn = None
        run.traffic.feed_every = 30
        cash_out(run, self.attacker, run.n(6))

    def measure(self, run: Run, out: Outcome) -> None:
        end = Holdings.of(run.world, self.attacker.address)
        taken, out.attacker_frozen = taken_and_frozen(self.start, end)
        # What it kept of the loss the market dealt it: its end wealth minus what an exit at market would
        # have left (brought - loss at market, at the price where it closed).
        brought = self.start.wallet + self.start.claims + self.start.collateral
        kept = end.wallet + end.claims + end.collateral
        out.attacker_gain = max(0, taken)
        out.value_at_risk = self.value_at_risk
        out.value_lost = max(0, min(self.value_at_risk, kept - brought + int(self.loss_at_market * USD)))


class LaggingFeedCrashQuick(LaggingFeedCrash):
    """A shorter lag and a smaller gap: the secondary reports every 50 minutes, the exit at 4% off."""

    key = "lagging-feed-crash-quick"
    title = "Lagging feed in a real crash: shorter lag, exit 4% off the market"
    lag_s = 3_000
    exit_gap = 0.04


class LaggingFeedCrashEth(LaggingFeedCrash):
    """The other market (ETH-PERP on BTC's relative path), a 70-minute lag, an exit 8% off."""

    key = "lagging-feed-crash-eth"
    title = "Lagging feed in a real crash on ETH-PERP: exit 8% off the market"
    symbol = "ETH-PERP"
    lag_s = 4_200
    exit_gap = 0.08


class LaggingFeedRally(LaggingFeedCrash):
    """A rally (the crash hours mirrored upward): short before it, bought back at the held (too low) price."""

    key = "lagging-feed-rally"
    title = "Lagging feed in a rally: a short bought back at the held price"
    incident = "stale/held oracle price during a fast rise (mirrored May 2021 hours; issue 10, class 3)"
    rising = True
    exit_gap = 0.05


class ContainmentLapse(_FeederTrader):
    """Containment that lapses (class 1): the attacker pushes both feeds up ``jump`` in ``steps`` steps with
    a long open and closes at the fake price. Then either it withdraws at once so that the outflow limiter
    turns the excess into claims, and cashes the claims every block, pause or not (``cash_claims``), or it
    sends nothing more and simply waits for the guardian's pause to expire (``cash_claims`` off), then
    withdraws. Governance's fix needs the 48-hour timelock; the pause lasts 24 hours."""

    key = "claims-in-pause"
    title = "Feeder key: profit queued as limiter claims, cashed during the pause"
    incident = "funds leaving before governance can decide (issue 10, class 1)"
    weakness = "1"
    jump = 0.10
    steps = 2
    cash_claims = True

    def play(self, run: Run) -> None:
        w = run.world
        p = w.protocol
        run.slots(run.n(20))
        self.start = Holdings.of(w, self.attacker.address)
        p0 = w.true_price[ETH]
        size = self.size_at(run, p0)
        self.trade(run, size, "attacker opens long", malicious=False)
        run.slots(5)
        self.value_at_risk = int(size / WAD * p0 * self.jump * USD)
        self.take_feeds(run)
        for i in range(1, self.steps + 1):
            self.push(run, p0 * (1 + self.jump * i / self.steps))
            run.slots(2)
        self.close(run, "close at the fake price")
        run.slot()
        if self.cash_claims:
            cash_out(run, self.attacker, run.n(6))
            for _ in range(run.n(30)):
                if int(w.read(p.vault.functions.lockedFunds(self.attacker.address, w.usdc.address))):
                    run.send(self.attacker, p.vault.functions.claimLockedFunds(w.usdc.address, self.attacker.address),
                             malicious=True, force=False, label="cash the claim during the pause")  # fmt: skip
                run.slot()
        self.push(run, w.true_price[ETH])  # honest again: the attacker now only waits
        run.slot()
        self.release_feeds(run)
        run.slots(run.n(10))


class PauseWaitOut(ContainmentLapse):
    """The same profit, taken only after the pause has expired (nothing sent in between)."""

    key = "pause-waitout"
    title = "Feeder key: wait out the pause, then withdraw"
    jump = 0.08
    steps = 3
    cash_claims = False


VARIANTS = (FeederSwings, FeederSwingsFast, FeederJitteredRamp, FeederOneBlock, FeederNextBlockTip,
            FeederOneBlockInBand, FeederNextBlockTipInBand, LaggingFeedCrash,
            LaggingFeedCrashQuick, LaggingFeedCrashEth, LaggingFeedRally, ContainmentLapse, PauseWaitOut)  # fmt: skip

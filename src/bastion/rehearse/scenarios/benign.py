"""Benign scenarios: what the defences must NOT do (trip, pause, freeze) while honest users go about
their business: an ordinary busy day, a replayed crash, a bank run."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

from bastion.rehearse.scenarios.base import BENIGN, Outcome, Run, Scenario
from bastion.rehearse.world import HOUR, USD
from bastion.sim.data import load_btc_hourly

DATA = Path(__file__).resolve().parent.parent / "data" / "btc_usd_2021-05-18_20_hourly.csv"


def crash_closes() -> list[tuple[int, float]]:
    """(unix, close) of the bundled May 2021 excerpt, oldest first."""
    with DATA.open() as f:
        return [(int(r["unix"]), float(r["close"])) for r in csv.DictReader(f)]


def history_closes(start: int, end: int) -> list[tuple[int, float]]:
    """(unix, close) of the bundled hourly BTC history between ``start`` and ``end`` (unix), oldest first."""
    h = load_btc_hourly()
    return [(int(u), float(c)) for u, c in zip(h.unix, h.close, strict=True) if start <= u <= end]


def _solvency(run: Run, out: Outcome) -> bool:
    g = run.world.protocol.guards()
    maker = run.world.manifest.roles["maker"]
    maker_equity = int(run.world.read(run.world.protocol.engine.functions.health(maker))[0])
    ok = g.obligations <= g.vault_balance - g.outstanding_claims and maker_equity >= 0
    if not ok:
        free = (g.vault_balance - g.outstanding_claims) / USD
        out.notes.append(
            f"insolvent: obligations {g.obligations / USD:,.0f} vs free balance {free:,.0f}, "
            f"maker equity {maker_equity / USD:,.0f}"
        )
    return ok


class BusyTrading(Scenario):
    """Ordinary busy trading over many blocks: many traders open, adjust and close positions and move
    collateral while prices wander. Nothing may trip, pause or be refused by a guard."""

    key = "busy-trading"
    title = "Ordinary busy trading"
    kind = BENIGN
    incident = "an ordinary busy day"
    traders = 24

    def setup(self, run: Run) -> None:
        run.traffic.activity = 0.12

    def play(self, run: Run) -> None:
        run.slots(run.n(240, 20))

    def measure(self, run: Run, out: Outcome) -> None:
        solvent = _solvency(run, out)
        out.honest_paid_in_full = (
            out.honest_blocked == 0 and run.world.protocol.guards().outstanding_claims == 0 and solvent
        )


class CrashReplay(Scenario):
    """A real crash replayed: BTC's hours of May 18-20, 2021 (-13% in the worst hour), on both markets.

    Honest traders (some at up to 6x) keep trading, a keeper liquidates, the feeder pushes every ten
    minutes (one block per ten minutes of chain time: interval mining, so that the oracle guard's hourly
    jump window sees real time). Liquidations must proceed, no breaker may block an exit, and the protocol
    must stay solvent.
    """

    key = "crash-replay"
    title = "Replayed crash: BTC, May 18-20 2021"
    kind = BENIGN
    incident = "May 19, 2021 crypto crash (bundled hourly data)"
    traders = 20
    slot_seconds = 600

    leveraged = 4  # honest longs at 7x who hold through the crash: the keeper must liquidate them

    def setup(self, run: Run) -> None:
        w = run.world
        t = run.traffic
        t.activity, t.max_leverage, t.keeper_every, t.arbitrage_every, t.feed_every = 0.25, 6.0, 1, 1, 600
        self.longs = w.honest[self.traders : self.traders + self.leveraged]
        for user in self.longs:
            w.fund(user, 40_000)
            w.approve(user, w.usdc, w.protocol.vault.address)
            w.act(user, w.protocol.router.functions.deposit(40_000 * USD))
            t.watched_accounts.append(user.address)

    def closes(self) -> list[tuple[int, float]]:
        return crash_closes()

    def play(self, run: Run) -> None:
        w = run.world
        closes = self.closes()
        if run.scale < 1.0:  # the hours around the steepest fall
            worst = min(range(1, len(closes)), key=lambda i: closes[i][1] / closes[i - 1][1])
            half = max(3, int(len(closes) * run.scale) // 2)
            closes = closes[max(0, worst - half) : worst + half]
        t0 = w.clock.timestamp
        base = {s: w.true_price[s] for s in w.markets}
        first = closes[0][1]
        span = closes[-1][0] - closes[0][0]

        def path(symbol: str, ts: int) -> float:
            at = closes[0][0] + min(span, max(0, ts - t0))
            for (u0, c0), (u1, c1) in itertools.pairwise(closes):
                if u0 <= at <= u1:
                    return base[symbol] * (c0 + (c1 - c0) * (at - u0) / (u1 - u0)) / first
            return base[symbol] * closes[-1][1] / first

        run.traffic.price_fn = path
        run.mark_incident()
        p = w.protocol
        for i, user in enumerate(self.longs):
            m = list(w.markets.values())[i % len(w.markets)]
            size = int(40_000 * 7 / w.true_price[m.symbol] * 10**18)
            run.send(user, p.router.functions.trade(m.id, size, 0), label="7x long")
        self.low = 1.0
        while w.clock.timestamp < t0 + span:
            run.slot(self.slot_seconds)
            self.low = min(self.low, w.true_price["BTC-PERP"] / base["BTC-PERP"])
        # everyone who still has a position closes it: exits must all go through
        self.exits = []
        for trader in run.traffic.traders + self.longs:
            for m in w.markets.values():
                if int(w.read(p.engine.functions.positionOf(trader.address, m.id))[0]) != 0:
                    self.exits.append(run.send(trader, p.router.functions.close(m.id), label="final close"))
        run.slot(self.slot_seconds)

    def measure(self, run: Run, out: Outcome) -> None:
        liquidations = [r for r in run.traffic.records if r.label == "liquidate"]
        done = [r for r in liquidations if r.ok]
        solvent = _solvency(run, out)
        exits_ok = all(r.ok for r in self.exits)
        out.honest_paid_in_full = solvent and exits_ok and out.honest_blocked == 0
        out.notes.append(
            f"low {self.low - 1:+.0%}; {len(done)} of {len(liquidations)} liquidations went through; "
            f"{sum(r.ok is True for r in self.exits)} of {len(self.exits)} final exits went through"
        )


class CrashReplayMarch2020(CrashReplay):
    """Another real crash day: BTC's March 12-13, 2020 fall (about -40% in a day, -15% in its worst hour),
    from the bundled hourly history, replayed the same way. Nothing may trip or pause."""

    key = "crash-replay-2020"
    title = "Replayed crash: BTC, March 12-13 2020"
    incident = "March 12, 2020 crypto crash (bundled hourly history)"

    def closes(self) -> list[tuple[int, float]]:
        return history_closes(1583928000, 1584100800)  # 2020-03-11 12:00 .. 2020-03-13 12:00 UTC


class BankRun(Scenario):
    """A bank run: every honest user withdraws everything within minutes (about half of the vault).

    The outflow limiter may delay (DELAYED mode: payments beyond the headroom become first-in first-out
    claims, paid as the headroom refills), but every user must be paid in full, claims included, and nothing
    else may trip. The users (and a keeper) come back every hour to collect their claims.
    """

    key = "bank-run"
    title = "Bank run: about half the vault withdrawn within minutes"
    kind = BENIGN
    incident = "bank runs (Terra/Anchor May 2022, Celsius June 2022, USDC depeg March 2023)"
    traders = 12

    def setup(self, run: Run) -> None:
        w = run.world
        self.savers = w.honest[12 : 12 + run.n(22, 6)]
        for user in self.savers:
            usd = w.rng.randint(40_000, 90_000)
            w.fund(user, usd)
            w.approve(user, w.usdc, w.protocol.vault.address)
            w.act(user, w.protocol.router.functions.deposit(usd * USD))

    def play(self, run: Run) -> None:
        w = run.world
        p = w.protocol
        run.slots(run.n(20))
        runners = list(run.traffic.traders) + list(self.savers)
        run.traffic.activity = 0.0  # everyone is busy leaving
        for trader in run.traffic.traders:
            for m in w.markets.values():
                if int(w.read(p.engine.functions.positionOf(trader.address, m.id))[0]) != 0:
                    run.send(trader, p.router.functions.close(m.id), label="close before leaving")
        run.slot()
        self.tvl = int(w.read(p.vault.functions.freeBalance()))
        self.requested: dict[str, int] = {}
        self.before = {u.address: w.clock.balance_of(w.usdc, u.address) for u in runners}
        per_slot = 3
        for i in range(0, len(runners), per_slot):
            for user in runners[i : i + per_slot]:
                amount = int(w.read(p.engine.functions.collateralOf(user.address)))
                if amount > 0:
                    self.requested[user.address] = amount
                    run.send(user, p.router.functions.withdraw(amount), label="withdraw everything")
            run.slot()
        self.share = sum(self.requested.values()) / self.tvl
        self.hours = 0
        for hour in range(48):
            waiting = [u for u in runners if int(w.read(p.vault.functions.lockedFunds(u.address, w.usdc.address))) > 0]
            if not waiting:
                break
            self.hours = hour + 1
            run.wait(HOUR)
            run.send(w.actors["keeper"], p.vault.functions.releaseLockedFunds(w.usdc.address), label="release claims")
            run.slot()
            _, released = w.read(p.vault.functions.queueInfo(w.usdc.address))
            for user in waiting:
                _, position = w.read(p.vault.functions.claimInfo(w.usdc.address, user.address))
                if position <= released:
                    run.send(user, p.vault.functions.claimLockedFunds(w.usdc.address, user.address), label="claim")
            run.slot()

    def measure(self, run: Run, out: Outcome) -> None:
        w = run.world
        short = 0
        outstanding = 0
        for address, amount in self.requested.items():
            received = w.clock.balance_of(w.usdc, address) - self.before[address]
            short += max(0, amount - received)
            outstanding += int(w.read(w.protocol.vault.functions.lockedFunds(address, w.usdc.address)))
        out.honest_delayed = outstanding
        out.honest_lost = max(0, short - outstanding)
        out.honest_paid_in_full = short == 0
        limiter = [e for e in out.guard_events if "limiter trip" in e]
        out.designed_delays = len(limiter)
        out.trips -= len(limiter)
        out.notes.append(
            f"{self.share:.0%} of the free balance requested by {len(self.requested)} users; "
            f"last claim paid after {self.hours} h"
            if self.hours
            else f"{self.share:.0%} of the free balance requested by {len(self.requested)} users; all paid at once"
        )

"""Attacks on prices: a flash-swapped spot price, a compromised feeder, a stale feed in a fast move."""

from __future__ import annotations

from dataclasses import dataclass

from bastion.protocol.client import WAD
from bastion.rehearse.chain import Actor
from bastion.rehearse.scenarios.base import ATTACK, Outcome, Run, Scenario
from bastion.rehearse.world import USD, VARIANT_TX_OUTFLOW_BPS, World, variant_limiter


@dataclass
class Holdings:
    wallet: int  # stablecoin in the wallet
    claims: int  # limiter claims on the Vault
    collateral: int  # collateral in the clearing engine

    @classmethod
    def of(cls, w: World, address: str) -> Holdings:
        p = w.protocol
        return cls(
            int(w.usdc.functions.balanceOf(address).call()),
            int(p.vault.functions.lockedFunds(address, w.usdc.address).call()),
            max(0, int(p.engine.functions.collateralOf(address).call())),
        )


def taken_and_frozen(start: Holdings, end: Holdings) -> tuple[int, int]:
    """What left the protocol for the attacker (received or owed as claims) beyond what it brought, and
    what it still has inside (free collateral a pause keeps it from withdrawing) beyond that."""
    brought = start.wallet + start.claims + start.collateral
    out = end.wallet + end.claims
    taken = max(0, out - brought)
    frozen = max(0, out + end.collateral - brought) - taken
    return taken, frozen


def cash_out(run: Run, attacker: Actor, tries: int) -> None:
    """Withdraw all free collateral, in chunks under the per-transaction cap, one try per block."""
    w = run.world
    p = w.protocol
    for _ in range(tries):
        collateral = int(p.engine.functions.collateralOf(attacker.address).call())
        if collateral <= USD:
            break
        cap = int(w.usdc.functions.balanceOf(p.vault.address).call()) * 19 // 100
        run.send(
            attacker, p.router.functions.withdraw(min(collateral, cap)), malicious=True, label="attacker withdraws"
        )
        run.slot()


class SpotOracle(Scenario):
    """Spot-price oracle manipulation with a flash swap, in ONE transaction.

    Models bZx (February 2020), Harvest Finance (October 2020) and Mango Markets (October 2022): a lending
    market values collateral at an AMM's spot price; the attacker flash-borrows the stablecoin from another
    pool, buys the collateral to pump the spot price, borrows everything the market lends against it, sells
    back and repays, all in one atomic transaction. Target: ``VulnerableSpotMarket``.
    Only an on-chain guard can stop it (here: the invariant guard's account check at the OracleGuard price).
    """

    key = "spot-oracle"
    title = "Spot-price manipulation with a flash swap (one tx)"
    incident = "bZx 2020, Harvest 2020, Mango Markets 2022"

    thin_pool_eth = 100  # the market reads a thin pool, as the real victims did

    def setup(self, run: Run) -> None:
        w = run.world
        eth, p = w.markets["ETH-PERP"], w.protocol
        self.pool = w.deploy("ConstantProductPool", eth.token.address, w.usdc.address, eth.decimals, 6)
        w.mint(eth.token, self.pool.address, self.thin_pool_eth * 10**eth.decimals)
        w.mint(w.usdc, self.pool.address, int(self.thin_pool_eth * w.true_price["ETH-PERP"]) * USD)
        w.act(w.actors["deployer"], self.pool.functions.sync())
        run.traffic.extra_pools.append(("ETH-PERP", self.pool))
        w.watch_contracts["pool_eth_thin"] = {
            "address": self.pool.address,
            "abi": "ConstantProductPool",
            "protected": False,
        }
        self.market = w.deploy_variant(
            "spot_market", "VulnerableSpotMarket", w.usdc.address, 6, eth.token.address, eth.decimals,
            self.pool.address, p.oracle.address, eth.id, p.timelock.address, w.actors["watchtower"].address,
            w.guarded, variant_limiter(), VARIANT_TX_OUTFLOW_BPS,
        )  # fmt: skip
        self.lenders = w.honest[12:20]
        each = run.n(1_500_000) // len(self.lenders)
        for lender in self.lenders:
            w.fund(lender, each)
            w.approve(lender, w.usdc, self.market.address)
            w.act(lender, self.market.functions.supply(each * USD))
        w.settle_in(6 * 3600, self.market)  # the market has been live for a while: the limiter has refilled
        for borrower in w.honest[20:22]:  # two honest borrowers at a prudent 40% of value
            w.mint(eth.token, borrower.address, 50 * 10**eth.decimals)
            w.approve(borrower, eth.token, self.market.address)
            w.act(borrower, self.market.functions.depositCollateral(50 * 10**eth.decimals))
            w.act(borrower, self.market.functions.borrow(int(50 * w.true_price["ETH-PERP"] * 0.4) * USD))
            w.settle_in(6 * 3600, self.market)

    def play(self, run: Run) -> None:
        w = run.world
        attacker = w.actors["attacker"]
        btc = w.markets["BTC-PERP"]
        run.slots(run.n(20))
        deployed = w.clock.deploy(
            attacker, "SpotOracleAttack", self.market.address, btc.pool.address, self.pool.address
        )
        run.slots(3)
        self.attack = w.contract("SpotOracleAttack", w.clock.contract_address(deployed))
        self.liquidity = int(w.usdc.functions.balanceOf(self.market.address).call())
        self.before = int(w.usdc.functions.balanceOf(attacker.address).call())
        pool_usdc = int(btc.pool.functions.reserve1().call())
        flash = min(2 * self.liquidity, pool_usdc * 6 // 10)
        run.send(
            attacker, self.attack.functions.attack(flash), malicious=True, label="flash-swap attack", gas=3_000_000
        )
        run.slots(run.n(30))

    def measure(self, run: Run, out: Outcome) -> None:
        w = run.world
        attacker = w.actors["attacker"]
        debt = int(self.market.functions.debtOf(self.attack.address).call())
        coll = int(self.market.functions.collateralOf(self.attack.address).call())
        coll_value = w.usd_value("ETH-PERP", coll)
        out.value_at_risk = self.liquidity
        out.value_lost = max(0, debt - coll_value)
        out.honest_lost = out.value_lost
        out.attacker_gain = max(0, int(w.usdc.functions.balanceOf(attacker.address).call()) - self.before)


def leave_protocol(run: Run, attacker: Actor) -> None:
    """The attacker's try, after the attack, to get out what it still has inside: close every position,
    cash a released limiter claim, withdraw free collateral under the per-transaction cap. Each call is
    estimated first (a wallet does not send what would revert), so a pause just makes it wait."""
    w = run.world
    p = w.protocol
    for m in w.markets.values():
        if int(w.read(p.engine.functions.positionOf(attacker.address, m.id))[0]):
            run.send(attacker, p.router.functions.close(m.id), malicious=True, force=False,
                     label="attacker closes late")  # fmt: skip
    if int(w.read(p.vault.functions.lockedFunds(attacker.address, w.usdc.address))):
        run.send(attacker, p.vault.functions.claimLockedFunds(w.usdc.address, attacker.address), malicious=True,
                 force=False, label="attacker cashes its claim")  # fmt: skip
    run.slot()
    for _ in range(3):
        collateral = int(w.read(p.engine.functions.collateralOf(attacker.address)))
        equity, _maintenance, initial = w.read(p.engine.functions.health(attacker.address))
        free = min(collateral, int(equity) - int(initial))
        if free <= USD:
            break
        cap = w.clock.balance_of(w.usdc, p.vault.address) * 19 // 100
        rec = run.send(attacker, p.router.functions.withdraw(min(free, cap)), malicious=True, force=False,
                       label="attacker withdraws late")  # fmt: skip
        run.slot()
        if not rec.ok:
            break


class _LeveragedTrader(Scenario):
    """An attacker who trades the reference protocol with 300k of collateral already deposited."""

    def leave(self, run: Run) -> None:
        leave_protocol(run, self.attacker)

    def setup(self, run: Run) -> None:
        w = run.world
        self.attacker = w.actors["attacker"]
        self.capital = run.n(300_000)
        w.fund(self.attacker, self.capital)
        w.approve(self.attacker, w.usdc, w.protocol.vault.address)
        w.act(self.attacker, w.protocol.router.functions.deposit(self.capital * USD))
        run.traffic.watched_accounts.append(self.attacker.address)


class CompromisedFeeder(_LeveragedTrader):
    """A compromised price feeder pushes malicious prices over several blocks (reference protocol).

    Models oracle-key compromises and operator-pushed prices (the Synthetix sKRW incident of June 2019,
    Venus/LUNA's stuck feed of May 2022, UwU Lend June 2024): the attacker holds the feeder key of BOTH
    aggregators of ETH-PERP. It opens a large long at the honest price, pushes the price up 8% per step
    over several blocks, closes at the inflated price and withdraws the profit, which the maker (the
    backstop liquidity) and in the end every depositor pays. Defences: OracleGuard jump limits (both feeds
    agree, so the jump is "corroborated"), the outflow limiter, the per-transaction outflow cap, and the
    watchtower's comparison of the feeds with the AMM's time-weighted price.
    """

    key = "compromised-feeder"
    title = "Compromised feeder key pushes prices over several blocks"
    incident = "Synthetix sKRW 2019, UwU Lend 2024 (oracle-key / pushed-price abuse)"
    steps = 5
    step_up = 1.08
    leverage = 8

    def setup(self, run: Run) -> None:
        super().setup(run)
        run.world.one_key_for_both_feeds("ETH-PERP")  # the weakness modelled: one key signs both feeds

    def play(self, run: Run) -> None:
        w = run.world
        p, eth = w.protocol, w.markets["ETH-PERP"]
        run.slots(run.n(20))
        self.start = Holdings.of(w, self.attacker.address)
        price0 = w.true_price["ETH-PERP"]
        size = int(self.capital * self.leverage / price0 * WAD)
        run.send(self.attacker, p.router.functions.trade(eth.id, size, 0), label="attacker opens long")
        run.slots(10)
        final = price0 * self.step_up**self.steps
        self.value_at_risk = int(size / WAD * (final - price0) * USD)
        run.traffic.stopped_feeds |= {("ETH-PERP", "primary"), ("ETH-PERP", "secondary")}  # the feeder is theirs
        price = w.true_price["ETH-PERP"]
        for _ in range(self.steps):
            price *= self.step_up
            for which in ("primary", "secondary"):
                run.traffic.push("ETH-PERP", which, price, malicious=True)
            run.slots(2)
        run.send(
            self.attacker, p.router.functions.close(eth.id), malicious=True, label="attacker closes at the fake price"
        )
        run.slot()
        cash_out(run, self.attacker, run.n(12))
        run.slots(run.n(20))

    def measure(self, run: Run, out: Outcome) -> None:
        end = Holdings.of(run.world, self.attacker.address)
        out.value_at_risk = self.value_at_risk
        out.attacker_gain, out.attacker_frozen = taken_and_frozen(self.start, end)
        out.value_lost = out.attacker_gain
        if out.attacker_frozen:
            out.notes.append(
                f"{out.attacker_frozen / USD:,.0f} USDC of fake profit sits in the engine behind the 24 h withdrawal "
                "pause: governance (48 h timelock) must replace the feeds and write it off before the pause ends"
            )


class StaleOracle(_LeveragedTrader):
    """A stale oracle: the primary feed stops during a fast move (reference protocol).

    Models stale-price exploits (Compound's DAI oracle November 2020, the Synthetix sKRW class, Venus/LUNA
    May 2022, many lending markets on slow feeds): ETH falls 15% in five minutes while the primary feed's
    node is down. The protocol keeps pricing at the stale level; the attacker shorts there, and closes
    when the feed comes back. Defences: OracleGuard staleness and cross-feed deviation (reduce-only), the
    watchtower's comparison of the feed with the AMM's time-weighted price.
    """

    key = "stale-oracle"
    title = "Stale primary feed during a fast crash"
    incident = "Compound DAI 2020, Venus/LUNA 2022 (stale or stuck feed)"
    crash = 0.15
    crash_seconds = 300
    leverage = 8

    def play(self, run: Run) -> None:
        w = run.world
        p, eth = w.protocol, w.markets["ETH-PERP"]
        run.slots(run.n(20))
        self.start = Holdings.of(w, self.attacker.address)
        p0 = w.true_price["ETH-PERP"]
        t0 = w.clock.timestamp
        duration = run.n(self.crash_seconds, 60)

        def path(symbol: str, ts: int) -> float | None:
            if symbol != "ETH-PERP":
                return None
            return p0 * (1 - self.crash * min(1.0, max(0, ts - t0) / duration))

        run.traffic.price_fn = path
        run.traffic.stopped_feeds.add(("ETH-PERP", "primary"))
        run.mark_incident()
        stale = p0
        self.value_at_risk = int(self.capital * self.leverage * self.crash * USD)
        legs = [0.04, 0.10]  # gaps at which the attacker shorts
        while w.clock.timestamp < t0 + duration:
            gap = 1 - w.true_price["ETH-PERP"] / stale
            if legs and gap >= legs[0]:
                legs.pop(0)
                equity = int(p.engine.functions.health(self.attacker.address).call()[0])
                size = int(equity * self.leverage / 2 / USD / stale * WAD)  # half the plan per leg
                run.send(
                    self.attacker,
                    p.router.functions.trade(eth.id, -size, 0),
                    malicious=True,
                    label="short at the stale price",
                )
            run.slot()
        run.slots(run.n(40))  # the node is still down at the bottom
        run.traffic.stopped_feeds.discard(("ETH-PERP", "primary"))
        run.traffic.push("ETH-PERP", "primary", w.true_price["ETH-PERP"])
        run.slots(2)
        size = int(p.engine.functions.positionOf(self.attacker.address, eth.id).call()[0])
        if size:
            run.send(self.attacker, p.router.functions.close(eth.id), malicious=True, label="attacker closes")
            run.slot()
        cash_out(run, self.attacker, run.n(12))
        run.slots(run.n(10))

    def measure(self, run: Run, out: Outcome) -> None:
        end = Holdings.of(run.world, self.attacker.address)
        out.value_at_risk = self.value_at_risk
        out.attacker_gain, out.attacker_frozen = taken_and_frozen(self.start, end)
        out.value_lost = out.attacker_gain


__all__ = ["ATTACK", "CompromisedFeeder", "SpotOracle", "StaleOracle"]

"""Cheap griefing by someone with no keys (issue 10, class 6): it can take nothing, only make honest
users wait. The figure is the longest wait of an honest withdrawal it caused (``honest_max_delay_h``):
from the block an honest user asks for its money to the block the money is in its wallet."""

from __future__ import annotations

from bastion.rehearse.chain import Actor
from bastion.rehearse.scenarios.base import Outcome, Run, Scenario
from bastion.rehearse.world import HOUR, USD

TICK_S = 600  # how often honest users look again at a withdrawal that did not go through (first hours)
SLOW_TICK_S = HOUR  # ... and after ``FAST_FOR_S``
FAST_FOR_S = 2 * HOUR
PATIENCE_S = 36 * HOUR  # how long they keep looking (a longer wait is reported as this)


class _Griefer(Scenario):
    griefer = True
    weakness = "6"
    withdrawers = 6  # honest traders who withdraw part of their free collateral while it griefs

    def honest_withdrawals(self, run: Run) -> None:
        """Each of ``withdrawers`` honest traders asks for a fifth of its free collateral; then everyone
        looks every ``TICK_S`` until the money is in the wallet (retrying a refused withdrawal), at most
        ``PATIENCE_S``. Fills ``self.delays`` (seconds per withdrawal)."""
        w = run.world
        p = w.protocol
        waiting: dict[str, tuple[Actor, int, int, int]] = {}  # address -> (user, asked at, amount, wallet then)
        for user in run.traffic.traders[: self.withdrawers]:
            equity, _m, initial = w.read(p.engine.functions.health(user.address))
            amount = max(0, int(equity) - int(initial)) // 5
            if amount > 100 * USD:
                waiting[user.address] = (user, w.clock.timestamp + w.clock.block_time, amount,
                                         w.clock.balance_of(w.usdc, user.address))  # fmt: skip
                run.send(user, p.router.functions.withdraw(amount), label="honest withdrawal")
        run.slot()
        self.delays: list[int] = []
        started = w.clock.timestamp
        deadline = started + PATIENCE_S
        while waiting and w.clock.timestamp < deadline:
            for address, (user, asked, amount, wallet) in list(waiting.items()):
                if w.clock.balance_of(w.usdc, address) >= wallet + amount:
                    self.delays.append(w.clock.timestamp - asked)
                    del waiting[address]
                elif int(w.read(p.vault.functions.lockedFunds(address, w.usdc.address))) == 0:
                    run.send(user, p.router.functions.withdraw(amount), label="honest withdrawal, again")
            if not waiting:
                break
            run.settle_limiters()
            run.slot()
            run.wait(TICK_S if w.clock.timestamp - started < FAST_FOR_S else SLOW_TICK_S)
        self.delays.extend(PATIENCE_S for _ in waiting)

    def measure(self, run: Run, out: Outcome) -> None:
        out.value_at_risk = 0  # a griefer takes nothing; the cost is time
        delays = getattr(self, "delays", [])
        out.honest_max_delay_h = round(max(delays, default=0) / HOUR, 2)
        out.notes.append(
            f"honest withdrawals: {len(delays)}, longest wait {out.honest_max_delay_h} h "
            f"(median {sorted(delays)[len(delays) // 2] / HOUR if delays else 0:.2f} h)"
        )


class WhaleRoundTrip(_Griefer):
    """A whale deposits ``multiple`` times the Vault's free balance, waits one limiter window, and
    withdraws all of it (in parts under the per-transaction cap): in delayed mode the limiter trips and
    queues what exceeds its headroom as the whale's claim, first in line; honest users who withdraw next
    wait behind it (first in, first out)."""

    key = "whale-roundtrip"
    title = "Whale deposit, one window, withdraw all: honest users queue behind"
    incident = "limiter griefing by deposit/withdraw round trip (issue 10, class 6)"
    multiple = 1.0

    def setup(self, run: Run) -> None:
        w = run.world
        self.whale = w.actors["attacker"]
        free = int(w.read(w.protocol.vault.functions.freeBalance()))
        self.size = max(1_000_000 * USD, int(free * self.multiple))
        w.mint(w.usdc, self.whale.address, self.size)
        w.approve(self.whale, w.usdc, w.protocol.vault.address)

    def play(self, run: Run) -> None:
        w = run.world
        p = w.protocol
        run.slots(run.n(10))
        window = int(w.read(p.vault.functions.assetConfig(w.usdc.address))[1])
        # A deposit, however large, is ordinary: nobody can tell it apart. The intent shows at the withdrawal.
        run.send(self.whale, p.router.functions.deposit(self.size), force=False, label="whale deposits")
        run.slot()
        run.wait(window + 60)
        # Everything back out, split under the Router's per-transaction outflow cap (one transaction for all
        # of it would be refused), a part per block.
        cap_bps = int(w.read(p.router.functions.maxTxOutflowBps()))
        left = self.size
        for _ in range(20):
            if left <= 0:
                break
            part = min(left, int(w.clock.balance_of(w.usdc, p.vault.address)) * cap_bps // 10_000 * 95 // 100)
            rec = run.send(self.whale, p.router.functions.withdraw(part), malicious=True, force=False,
                           label="whale withdraws a part")  # fmt: skip
            run.slot()
            if not rec.ok:
                break
            left -= part
        self.honest_withdrawals(run)
        run.slots(run.n(5))

    def leave(self, run: Run) -> None:
        w = run.world
        if int(w.read(w.protocol.vault.functions.lockedFunds(self.whale.address, w.usdc.address))):
            run.send(self.whale, w.protocol.vault.functions.claimLockedFunds(w.usdc.address, self.whale.address),
                     malicious=True, force=False, label="whale cashes its claim")  # fmt: skip
            run.slot()


class WhaleRoundTripLarge(WhaleRoundTrip):
    """The same round trip with three times the Vault's free balance."""

    key = "whale-roundtrip-large"
    title = "Whale round trip, three times the Vault"
    multiple = 3.0


class PoolHolding(_Griefer):
    """A griefer holds the ETH pool ``offset`` below the feeds for ``hold_blocks`` blocks (trading against
    the arbitrageur every block at its own cost). The feeds agree with each other and are fresh: only the
    pool is off. A watchtower that answers with a protocol-wide withdrawal pause makes every user wait
    (and spends the guardian's pause cooldown); honest users withdraw meanwhile."""

    key = "pool-holding"
    title = "Griefer holds the AMM pool a few percent off the feeds"
    incident = "pool-price griefing of an off-chain reference (issue 10, class 6)"
    offset = 0.045
    hold_blocks = 420  # longer than the watchtower's 5-minute TWAP: a flash of a few blocks moves nothing

    def setup(self, run: Run) -> None:
        w = run.world
        self.griefer_actor = w.actors["attacker"]
        eth = w.markets["ETH-PERP"]
        w.fund(self.griefer_actor, 20_000_000)
        w.mint(eth.token, self.griefer_actor.address, 5_000 * 10**eth.decimals)

    def play(self, run: Run) -> None:
        w = run.world
        eth = w.markets["ETH-PERP"]
        run.slots(run.n(10))
        t = run.traffic
        for _ in range(run.n(self.hold_blocks, 60)):
            target = w.true_price["ETH-PERP"] * (1 - self.offset)
            # The arbitrageur trades the pool back every few blocks; the griefer back-runs it (lower tip)
            # in those blocks and otherwise tops the pool up to its target.
            off = abs(w.pool_price("ETH-PERP") / w.true_price["ETH-PERP"] - 1)
            arb_now = t._slot % t.arbitrage_every == 0 and off >= 0.003
            t.arbitrage("ETH-PERP", eth.pool, 0.002, price=target, actor=self.griefer_actor, malicious=True,
                        after_arbitrage=arb_now)  # fmt: skip
            run.slot()
        self.honest_withdrawals(run)
        run.slots(run.n(5))


class PoolHoldingShallow(PoolHolding):
    """A shallower, longer hold: 3.5% for 600 blocks."""

    key = "pool-holding-shallow"
    title = "Griefer holds the AMM pool 3.5% off for longer"
    offset = 0.035
    hold_blocks = 600


VARIANTS = (WhaleRoundTrip, WhaleRoundTripLarge, PoolHolding, PoolHoldingShallow)

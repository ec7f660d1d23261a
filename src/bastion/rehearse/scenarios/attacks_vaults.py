"""Attacks on vulnerable variants: reentrancy through a token hook, an unprotected setter, a rounding
bug drained slowly, and a share-inflation (donation) attack on a new vault."""

from __future__ import annotations

from bastion.rehearse.chain import Actor
from bastion.rehearse.scenarios.base import Outcome, Run, Scenario
from bastion.rehearse.world import USD, VARIANT_TX_OUTFLOW_BPS, World, variant_limiter

WAD = 10**18


def _variant_common(w: World) -> tuple[str, str, bool, tuple, int]:
    return (
        w.protocol.timelock.address,
        w.actors["watchtower"].address,
        w.guarded,
        variant_limiter(),
        VARIANT_TX_OUTFLOW_BPS,
    )


def _depositors(run: Run, count: int, total_usd: int) -> list[tuple[Actor, int]]:
    """``count`` honest users (after the traders) and what each deposits, in whole dollars."""
    w = run.world
    users = w.honest[12 : 12 + count]
    each = run.n(total_usd) // count
    return [(u, each * (90 + 20 * (i % 2)) // 100) for i, u in enumerate(users)]


class Reentrancy(Scenario):
    """Reentrancy through a token callback (ERC-777-style receive hook) into a vault.

    Models The DAO (June 2016) and imBTC on Uniswap v1 / Lendf.me (April 2020): the vault pays before it
    zeroes the caller's balance; the token calls the recipient back on receipt; the attacker's contract
    withdraws again from inside the callback, six times per transaction, round after round.
    Target: ``VulnerableCallbackVault`` (token: ``HookToken``).
    """

    key = "reentrancy"
    title = "Reentrancy through a token callback"
    incident = "The DAO 2016, imBTC/Lendf.me 2020"
    frames = 6

    def setup(self, run: Run) -> None:
        w = run.world
        gov, guardian, guarded, limiter, cap = _variant_common(w)
        self.token = w.deploy("HookToken", "Hooked USD", "hUSD", 6, w.actors["deployer"].address)
        w.watch_assets["hUSD"] = {"address": self.token.address, "decimals": 6}
        self.vault = w.deploy_variant(
            "callback_vault", "VulnerableCallbackVault", self.token.address, gov, guardian, guarded, limiter, cap
        )
        self.depositors = _depositors(run, 8, 1_000_000)
        for user, usd in self.depositors:
            w.mint(self.token, user.address, usd * USD)
            w.approve(user, self.token, self.vault.address)
            w.act(user, self.vault.functions.deposit(usd * USD))
        self.attacker = w.actors["attacker"]
        self.capital = run.n(40_000) * USD
        w.mint(self.token, self.attacker.address, self.capital)
        w.settle_in(6 * 3600, self.vault)

    def play(self, run: Run) -> None:
        w = run.world
        run.slots(run.n(10))
        rec = w.clock.deploy(self.attacker, "CallbackReentrancyAttack", self.vault.address)
        run.slot()
        self.attack = w.contract("CallbackReentrancyAttack", w.clock.contract_address(rec))
        self.at_risk = sum(usd for _, usd in self.depositors) * USD
        run.send(
            self.attacker,
            self.token.functions.transfer(self.attack.address, self.capital),
            label="fund attack contract",
        )
        run.slots(2)
        for _ in range(run.n(12)):
            held = w.clock.balance_of(self.token, self.attack.address)
            if w.clock.balance_of(self.token, self.vault.address) < USD or held == 0:
                break
            run.send(
                self.attacker,
                self.attack.functions.attack(held, self.frames),
                malicious=True,
                label="reentrant withdrawal",
            )
            run.slot()
        run.slots(run.n(10))

    def measure(self, run: Run, out: Outcome) -> None:
        w = run.world
        honest_claims = sum(int(w.read(self.vault.functions.balanceOf(u.address))) for u, _ in self.depositors)
        backing = w.clock.balance_of(self.token, self.vault.address)
        out.value_at_risk = self.at_risk
        out.value_lost = max(0, honest_claims - backing)
        out.honest_lost = out.value_lost
        held = w.clock.balance_of(self.token, self.attacker.address) + w.clock.balance_of(
            self.token, self.attack.address
        )
        out.attacker_gain = max(0, held - self.capital)


class AccessControl(Scenario):
    """An access-control bug drained over several transactions.

    Models the Parity multisig takeover (July 2017), Poly Network (August 2021) and the many unprotected
    setter / forgotten-initializer incidents since: ``transferOwnership`` lacks its check, so the attacker
    makes itself the vault's strategy manager and "rebalances" 10% of the funds to itself per transaction.
    Target: ``VulnerableSetterVault``.
    """

    key = "access-control"
    title = "Unprotected setter, drained over several transactions"
    incident = "Parity multisig 2017, Poly Network 2021"

    def setup(self, run: Run) -> None:
        w = run.world
        gov, guardian, guarded, limiter, cap = _variant_common(w)
        self.vault = w.deploy_variant(
            "setter_vault", "VulnerableSetterVault", w.usdc.address, w.actors["deployer"].address, gov, guardian,
            guarded, limiter, cap,
        )  # fmt: skip
        self.depositors = _depositors(run, 8, 1_000_000)
        for user, usd in self.depositors:
            w.fund(user, usd)
            w.approve(user, w.usdc, self.vault.address)
            w.act(user, self.vault.functions.deposit(usd * USD))
        self.attacker = w.actors["attacker"]
        w.settle_in(6 * 3600, self.vault)

    def play(self, run: Run) -> None:
        w = run.world
        run.slots(run.n(10))
        self.at_risk = sum(usd for _, usd in self.depositors) * USD
        self.before = w.clock.balance_of(w.usdc, self.attacker.address)
        run.send(self.attacker, self.vault.functions.transferOwnership(self.attacker.address), malicious=True,
                 label="take ownership", gas=100_000)  # fmt: skip
        first = True
        for _ in range(run.n(30)):
            balance = w.clock.balance_of(w.usdc, self.vault.address)
            amount = balance * 1_000 // 10_000
            if amount < USD:
                break
            run.send(self.attacker, self.vault.functions.rebalance(self.attacker.address, amount), malicious=True,
                     label="rebalance to self", gas=300_000 if first else None)  # fmt: skip
            first = False
            run.slot()
        run.slots(run.n(10))

    def measure(self, run: Run, out: Outcome) -> None:
        w = run.world
        a = self.attacker.address
        claims = int(w.read(self.vault.functions.lockedFunds(a, w.usdc.address))) if w.guarded else 0
        received = w.clock.balance_of(w.usdc, a) - self.before
        out.value_at_risk = self.at_risk
        out.attacker_gain = min(self.at_risk, max(0, received + claims))
        out.value_lost = out.attacker_gain
        out.honest_lost = out.value_lost


class RoundingDrain(Scenario):
    """An accounting (rounding-direction) bug drained slowly over many transactions: the case a monitor
    must catch.

    Models rounding-direction exploits (Compound-fork exchange rates, ERC-4626 vaults, Balancer v2's
    November 2025 incident): each ``withdraw`` of just under two units' worth burns one unit; every
    transaction takes ~25 units' value, far below any per-transaction or rate limit, and the fund's own
    solvency check still holds. Target: ``RoundingBugVault``.
    """

    key = "rounding-drain"
    title = "Rounding bug drained slowly over many transactions"
    incident = "Compound-fork and ERC-4626 rounding exploits, Balancer v2 2025"
    unit_price = 100 * USD
    calls = 25

    def setup(self, run: Run) -> None:
        w = run.world
        gov, guardian, guarded, limiter, cap = _variant_common(w)
        self.vault = w.deploy_variant("rounding_fund", "RoundingBugVault", w.usdc.address, self.unit_price, gov,
                                      guardian, guarded, limiter, cap)  # fmt: skip
        w.unit_price_vaults["rounding_fund"] = {
            "vault": "rounding_fund",
            "assets": "managedAssets()",
            "supply": "totalUnits()",
            "initial_price": self.unit_price * WAD,
        }
        self.depositors = _depositors(run, 8, 500_000)
        for user, usd in self.depositors:
            usd -= usd % 100
            w.fund(user, usd)
            w.approve(user, w.usdc, self.vault.address)
            w.act(user, self.vault.functions.deposit(usd * USD))
        self.attacker = w.actors["attacker"]
        self.capital = run.n(100_000) * USD
        w.fund(self.attacker, self.capital // USD)
        w.settle_in(6 * 3600, self.vault)

    def _honest_value(self, w: World) -> int:
        units = sum(int(w.read(self.vault.functions.unitsOf(u.address))) for u, _ in self.depositors)
        managed, total = (
            int(w.read(self.vault.functions.managedAssets())),
            int(w.read(self.vault.functions.totalUnits())),
        )
        return units * managed // total if total else 0

    def play(self, run: Run) -> None:
        w = run.world
        run.slots(run.n(10))
        rec = w.clock.deploy(self.attacker, "RoundingDrain", self.vault.address)
        run.slot()
        self.drain = w.contract("RoundingDrain", w.clock.contract_address(rec))
        self.at_risk = self._honest_value(w)
        run.send(
            self.attacker, w.usdc.functions.transfer(self.drain.address, self.capital), label="fund drain contract"
        )
        run.slot()
        run.send(self.attacker, self.drain.functions.buy(self.capital), label="buy units")
        run.slot()
        for _ in range(run.n(150, 20)):
            units = int(w.read(self.vault.functions.unitsOf(self.drain.address)))
            if units < self.calls:
                cash = w.clock.balance_of(w.usdc, self.attacker.address)
                if cash >= self.unit_price * self.calls:
                    run.send(
                        self.attacker, w.usdc.functions.transfer(self.drain.address, cash), label="refund contract"
                    )
                    run.slot()
                    run.send(self.attacker, self.drain.functions.buy(cash), label="buy units")
                    run.slot()
                    continue
            run.send(self.attacker, self.drain.functions.drain(self.calls), malicious=True, label="rounding drain")
            run.slot()
        run.slots(run.n(5))

    def measure(self, run: Run, out: Outcome) -> None:
        w = run.world
        out.value_at_risk = self.at_risk
        out.value_lost = max(0, self.at_risk - self._honest_value(w))
        out.honest_lost = out.value_lost
        managed, total = (
            int(w.read(self.vault.functions.managedAssets())),
            int(w.read(self.vault.functions.totalUnits())),
        )
        units = int(w.read(self.vault.functions.unitsOf(self.drain.address)))
        claims = int(w.read(self.vault.functions.lockedFunds(self.drain.address, w.usdc.address))) if w.guarded else 0
        held = (w.clock.balance_of(w.usdc, self.attacker.address) + w.clock.balance_of(w.usdc, self.drain.address)
                + claims + (units * managed // total if total else 0))  # fmt: skip
        out.attacker_gain = max(0, held - self.capital)


class Donation(Scenario):
    """A share-inflation (first depositor / donation) attack on a new vault.

    Models the ERC-4626 inflation attack and the donation-driven exchange-rate attacks on empty markets
    (Euler's donateToReserves March 2023, Hundred Finance April 2023, Sonne Finance May 2024): the attacker
    sees the first deposit into a new vault in the mempool, front-runs it by minting one share and
    donating 100k, so every later deposit below the donation mints zero shares; it redeems everything at
    the end. Target: ``DonationVault``.
    """

    key = "donation"
    title = "Share inflation by donation (first depositor)"
    incident = "ERC-4626 inflation; Euler 2023, Hundred 2023, Sonne 2024"

    def setup(self, run: Run) -> None:
        w = run.world
        gov, guardian, guarded, limiter, cap = _variant_common(w)
        self.vault = w.deploy_variant("donation_vault", "DonationVault", w.usdc.address, gov, guardian, guarded,
                                      limiter, cap)  # fmt: skip
        w.unit_price_vaults["donation_vault"] = {
            "vault": "donation_vault",
            "assets": "totalAssets()",
            "supply": "totalShares()",
            "initial_price": WAD,
        }
        count = 10
        self.victims = _depositors(run, count, 600_000)
        for user, usd in self.victims:
            w.fund(user, usd)
            w.approve(user, w.usdc, self.vault.address)
        self.attacker = w.actors["attacker"]
        self.donation = run.n(100_000) * USD
        w.fund(self.attacker, self.donation // USD + 1)

    def play(self, run: Run) -> None:
        w = run.world
        rec = w.clock.deploy(self.attacker, "DonationAttack", self.vault.address)
        run.slot()
        self.attack = w.contract("DonationAttack", w.clock.contract_address(rec))
        run.send(
            self.attacker,
            w.usdc.functions.transfer(self.attack.address, self.donation + 1),
            label="fund attack contract",
        )
        run.slots(run.n(5))
        self.deposited: dict[str, int] = {}
        self.at_risk = sum(usd for _, usd in self.victims) * USD
        self.before = w.clock.balance_of(w.usdc, self.attacker.address)
        for i, (user, usd) in enumerate(self.victims):
            rec = run.send(user, self.vault.functions.deposit(usd * USD), label="honest deposit", gas=300_000)
            if i == 0:  # seen in the mempool: front-run it with a higher tip
                run.send(self.attacker, self.attack.functions.strike(self.donation), malicious=True,
                         label="front-run: mint 1 share + donate", gas=400_000, tip_gwei=3.0)  # fmt: skip
            self.deposited[user.address] = usd * USD
            del rec
            run.slots(run.n(4))
        run.send(self.attacker, self.attack.functions.cashOut(), malicious=True, label="redeem the inflated share")
        run.slots(run.n(5))

    def measure(self, run: Run, out: Outcome) -> None:
        w = run.world
        lost = 0
        for user, _ in self.victims:
            paid = self.deposited.get(user.address, 0)
            kept = w.clock.balance_of(w.usdc, user.address)
            shares = int(w.read(self.vault.functions.sharesOf(user.address)))
            worth = int(w.read(self.vault.functions.previewRedeem(shares)))
            funded = paid  # what the user had before depositing
            lost += max(0, funded - kept - worth)
        out.value_at_risk = self.at_risk
        out.value_lost = lost
        out.honest_lost = lost
        gained = w.clock.balance_of(w.usdc, self.attacker.address) - self.before
        out.attacker_gain = max(0, gained - self.donation - 1)

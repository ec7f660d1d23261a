"""Attacks with privileged keys used within their bounds (issue 10, classes 4 and 5): a compromised
timelock proposer that schedules a batch of dangerous operations at once, and a stolen guardian key
whose "tighten-only" parameter powers make honest positions liquidatable for an accomplice."""

from __future__ import annotations

from eth_utils import keccak

from bastion.protocol.client import WAD
from bastion.protocol.deploy import param_key
from bastion.rehearse.chain import Actor
from bastion.rehearse.scenarios.attacks_keys import PROPOSER_ROLE, ZERO32, plant_malicious_engine
from bastion.rehearse.scenarios.base import Outcome, Run, Scenario
from bastion.rehearse.world import DAY, HOUR, MAX_AMOUNT, USD, ZERO

LIQUIDATED = "0x" + keccak(text="Liquidated(address,address,uint256,uint256,uint256)").hex()


class TimelockBatch(Scenario):
    """A batch of dangerous timelock operations from one compromised proposer (class 4).

    The attacker holds an ops multisig's proposer key and schedules ``n_ops`` operations in the same
    block, each on its own: a malicious engine for the Vault, the per-transaction outflow cap at 100%, a
    limiter that never limits, the ETH oracle on one feed with 100% jumps, and itself proposed as the
    Router's governance (it accepts once the proposal is executed). After the delay it executes whatever
    was not cancelled and drains the Vault if the engine swap survived. One cancel per operation is
    needed; one per incident lets the rest through."""

    key = "timelock-batch"
    title = "Compromised proposer schedules five dangerous operations at once"
    incident = "governance takeovers by batch (Beanstalk 2022 style; issue 10, class 4)"
    weakness = "4"
    n_ops = 5

    def setup(self, run: Run) -> None:
        w = run.world
        self.proposer = w.actors["ops_proposer"]
        w.governance(w.protocol.timelock.functions.grantRole(PROPOSER_ROLE, self.proposer.address))

    def operations(self, run: Run, engine: str) -> list[tuple[str, bytes]]:
        w = run.world
        p = w.protocol
        eth = w.markets["ETH-PERP"]
        attacker = w.actors["attacker"].address
        calls = [
            p.vault.functions.setEngine(engine),
            p.router.functions.setMaxTxOutflow(10_000),
            p.vault.functions.updateAssetParams(w.usdc.address, (10_000, 300, MAX_AMOUNT, 300, 0, 3)),
            p.oracle.functions.setMarket(eth.id, (eth.primary.address, 3 * DAY, ZERO, 0, 0, 10_000, 1, 0)),
            p.router.functions.transferGovernance(attacker),
        ]
        return [(c.address, bytes.fromhex(c._encode_transaction_data()[2:])) for c in calls[: self.n_ops]]

    def play(self, run: Run) -> None:
        w = run.world
        p = w.protocol
        attacker = w.actors["attacker"]
        engine = plant_malicious_engine(run, attacker)
        self.at_risk = int(w.read(p.vault.functions.freeBalance()))
        self.before = w.clock.balance_of(w.usdc, attacker.address)
        delay = int(w.read(p.timelock.functions.getMinDelay()))
        self.ops = []
        for i, (target, data) in enumerate(self.operations(run, engine.address)):
            salt = keccak(text=f"routine maintenance {i}")
            self.ops.append((target, data, salt))
            run.send(self.proposer, p.timelock.functions.schedule(target, 0, data, ZERO32, salt, delay),
                     malicious=True, label=f"schedule dangerous op {i}")  # fmt: skip
        run.slots(run.n(10))
        run.wait(1800)  # the humans' reaction time
        run.slots(5)
        run.wait(delay)
        for target, data, salt in self.ops:
            run.send(attacker, p.timelock.functions.execute(target, 0, data, ZERO32, salt), malicious=True,
                     force=False, label="execute what survived")  # fmt: skip
        run.slot()
        if str(w.read(p.router.functions.pendingGovernance())).lower() == attacker.address.lower():
            run.send(attacker, p.router.functions.acceptGovernance(), malicious=True, label="take the Router")
            run.slot()
        for _ in range(run.n(6)):
            free = int(w.read(p.vault.functions.freeBalance()))
            if free < USD or str(w.read(p.vault.functions.engine())).lower() != engine.address.lower():
                break
            run.send(attacker, engine.functions.drain(p.vault.address, attacker.address, free), malicious=True,
                     label="drain")  # fmt: skip
            run.slot()
        run.slots(run.n(5))

    def measure(self, run: Run, out: Outcome) -> None:
        w = run.world
        p = w.protocol
        a = w.actors["attacker"].address
        claims = int(w.read(p.vault.functions.lockedFunds(a, w.usdc.address)))
        out.value_at_risk = self.at_risk
        out.attacker_gain = max(0, w.clock.balance_of(w.usdc, a) - self.before + claims)
        out.value_lost = min(out.attacker_gain, self.at_risk)
        cancelled = executed = 0
        for target, data, salt in self.ops:
            op = w.read(p.timelock.functions.hashOperation(target, 0, data, ZERO32, salt))
            if w.read(p.timelock.functions.isOperationDone(op)):
                executed += 1
            elif not w.read(p.timelock.functions.isOperation(op)):
                cancelled += 1
        self.cancelled, self.executed = cancelled, executed
        out.notes.append(f"{cancelled} of {len(self.ops)} operations cancelled, {executed} executed")
        if str(w.read(p.router.functions.governance())).lower() == a.lower():
            out.notes.append("the attacker accepted the Router's governance")


class GuardianTighten(Scenario):
    """A stolen guardian key tightens liquidation parameters within every bound (class 5).

    Every hour (the registry's minimum interval) the attacker raises each market's maintenance margin and
    liquidation penalty by one ``maxStep`` through ``emergencyTighten``, for ``hours`` hours, towards the
    bounds. Honest positions at 4-7x that were safe under governance's parameters become liquidatable;
    its accomplice liquidates them first (a higher tip than the keeper's) and takes the liquidator's share
    of the penalties. Counted: liquidations that only the guardian's tightening made possible."""

    key = "guardian-tighten"
    title = "Stolen guardian key tightens margins; an accomplice liquidates"
    incident = "privileged 'safety' powers turned on users (issue 10, class 5)"
    weakness = "5"
    hours = 8
    leverages = (4.0, 5.0, 6.0, 7.0, 4.5, 6.5)
    deposit = 30_000
    params = ("maintenanceMarginBps", "liquidationPenaltyBps")

    def setup(self, run: Run) -> None:
        w = run.world
        self.victims = w.honest[22 : 22 + len(self.leverages)]
        for user in self.victims:
            w.fund(user, self.deposit)
            w.approve(user, w.usdc, w.protocol.vault.address)
            w.act(user, w.protocol.router.functions.deposit(self.deposit * USD))
            run.traffic.watched_accounts.append(user.address)

    def play(self, run: Run) -> None:
        w = run.world
        p = w.protocol
        key = w.actors["watchtower"]
        rogue = Actor("rogue guardian", key.address, key.key)
        self.accomplice = w.actors["accomplice"]
        self.acc_before = w.clock.balance_of(w.usdc, self.accomplice.address)
        markets = list(w.markets.values())
        for i, (user, lev) in enumerate(zip(self.victims, self.leverages, strict=True)):
            m = markets[i % len(markets)]
            size = int(self.deposit * lev / w.true_price[m.symbol] * WAD) * (1 if i % 2 == 0 else -1)
            run.send(user, p.router.functions.trade(m.id, size, 0), label=f"honest {lev:g}x position")
        run.slots(run.n(10))
        self.base_mm = {m.symbol: int(w.read(p.registry.functions.get(param_key(m.id, "maintenanceMarginBps"))))
                        for m in markets}  # fmt: skip
        self.value_at_risk = 0
        for user in self.victims:
            for m in markets:
                size = int(w.read(p.engine.functions.positionOf(user.address, m.id))[0])
                self.value_at_risk += int(abs(size) / WAD * w.true_price[m.symbol] * 0.05 * USD)  # max penalty
        self.start_block = w.clock.block_number + 1
        self.guardian_only: set[str] = set()
        for hour in range(self.hours):
            for m in markets:
                for name in self.params:
                    pk = param_key(m.id, name)
                    rules = w.read(p.registry.functions.rulesOf(pk))
                    value = min(int(rules[1]), int(w.read(p.registry.functions.get(pk))) + int(rules[4]))
                    fn = p.registry.functions.emergencyTighten(pk, value, int(rules[6]), keccak(text=f"r{hour}"))
                    run.send(rogue, fn, malicious=True, force=False, label=f"tighten {m.symbol} {name}")
            run.slot()
            for _ in range(3):
                self._liquidate(run, markets)
                run.slot()
            run.wait(HOUR - 6 * w.clock.block_time)
        run.slots(run.n(10))

    def _liquidate(self, run: Run, markets) -> None:
        """The accomplice liquidates every victim below maintenance; one safe under governance's own
        maintenance margin is counted as liquidatable only because of the guardian."""
        w = run.world
        p = w.protocol
        for user in self.victims:
            equity, maintenance, _ = w.read(p.engine.functions.health(user.address))
            if maintenance == 0 or equity >= maintenance:
                continue
            base = 0
            for m in markets:
                size = int(w.read(p.engine.functions.positionOf(user.address, m.id))[0])
                base += int(abs(size) / WAD * w.true_price[m.symbol] * USD) * self.base_mm[m.symbol] // 10_000
            if equity >= base:
                self.guardian_only.add(user.address.lower())
            run.send(self.accomplice, p.router.functions.liquidate(user.address), malicious=True, force=False,
                     tip_gwei=5.0, label="accomplice liquidates")  # fmt: skip

    def measure(self, run: Run, out: Outcome) -> None:
        w = run.world
        p = w.protocol
        logs = w.w3.eth.get_logs(
            {"fromBlock": self.start_block, "toBlock": "latest", "address": p.engine.address, "topics": [LIQUIDATED]}
        )
        penalties = 0
        count = 0
        for lg in logs:
            account = "0x" + bytes(lg["topics"][1])[-20:].hex()
            if account.lower() in self.guardian_only:
                count += 1
                penalties += int.from_bytes(bytes(lg["data"])[32:64], "big")
        out.guardian_only_liquidations = count
        out.value_at_risk = self.value_at_risk
        out.value_lost = min(penalties, self.value_at_risk)
        out.honest_lost = out.value_lost
        acc = w.clock.balance_of(w.usdc, self.accomplice.address) - self.acc_before
        out.attacker_gain = max(0, acc + max(0, int(w.read(p.engine.functions.collateralOf(self.accomplice.address)))))
        out.notes.append(f"{count} position(s) liquidated only because of the guardian's tightening")


class GuardianTightenMargin(GuardianTighten):
    """The same key raising only the maintenance margin, for longer (to its bound), against more
    leveraged positions (7-9x: closer to governance's own maintenance margin)."""

    key = "guardian-tighten-margin"
    title = "Stolen guardian key raises maintenance margins to the bound; an accomplice liquidates"
    hours = 14
    leverages = (7.0, 8.0, 9.0, 7.5, 8.5)
    deposit = 20_000
    params = ("maintenanceMarginBps",)


class GuardianTightenQuick(GuardianTighten):
    """A quick strike: margins and penalties raised for three hours only, against 7.5-9x positions (the
    first steps already reach them)."""

    key = "guardian-tighten-quick"
    title = "Stolen guardian key: three hours of tightening against high leverage"
    hours = 3
    leverages = (8.0, 9.0, 8.5, 7.5)
    deposit = 40_000


VARIANTS = (TimelockBatch, GuardianTighten, GuardianTightenMargin, GuardianTightenQuick)

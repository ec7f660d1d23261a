"""Attacks with stolen keys: a malicious upgrade queued by a compromised proposer, and a compromised
guardian key that tries to freeze the protocol."""

from __future__ import annotations

from eth_utils import keccak

from bastion.rehearse.chain import Actor
from bastion.rehearse.scenarios.base import Outcome, Run, Scenario
from bastion.rehearse.world import DAY, HOUR, USD

PROPOSER_ROLE = keccak(text="PROPOSER_ROLE")
ZERO32 = b"\0" * 32


def plant_malicious_engine(run: Run, attacker: Actor):
    """After some honest traffic, the attacker deploys the engine it means to install; returns it."""
    w = run.world
    run.slots(run.n(10))
    rec = w.clock.deploy(attacker, "MaliciousEngine")
    run.slot()
    return w.contract("MaliciousEngine", w.clock.contract_address(rec))


class MaliciousUpgrade(Scenario):
    """A malicious upgrade queued in the timelock by a compromised proposer key.

    Models governance and admin-key takeovers (Beanstalk April 2022, Tornado Cash governance May 2023,
    compromised deployer/admin keys): the attacker holds the key of a second timelock proposer (an ops
    multisig's hot key) and schedules ``Vault.setEngine(maliciousEngine)``; after the 48-hour delay it
    executes it and drains the Vault through its own engine. The guardian Safe (canceller) must cancel it:
    the watchtower proposes the cancel, the humans co-sign it.
    """

    key = "malicious-upgrade"
    title = "Malicious upgrade queued by a compromised proposer key"
    incident = "Beanstalk 2022, Tornado Cash governance 2023"

    def setup(self, run: Run) -> None:
        w = run.world
        self.proposer = w.actors["ops_proposer"]
        w.governance(w.protocol.timelock.functions.grantRole(PROPOSER_ROLE, self.proposer.address))

    def play(self, run: Run) -> None:
        w = run.world
        p = w.protocol
        attacker = w.actors["attacker"]
        engine = plant_malicious_engine(run, attacker)
        self.at_risk = int(w.read(p.vault.functions.freeBalance()))
        self.before = w.clock.balance_of(w.usdc, attacker.address)
        data = bytes.fromhex(p.vault.functions.setEngine(engine.address)._encode_transaction_data()[2:])
        salt = keccak(text="routine engine upgrade")
        delay = int(w.read(p.timelock.functions.getMinDelay()))
        run.send(self.proposer, p.timelock.functions.schedule(p.vault.address, 0, data, ZERO32, salt, delay),
                 malicious=True, label="schedule setEngine(malicious)")  # fmt: skip
        run.slots(run.n(10))
        run.wait(1800)  # the humans' reaction time
        run.slots(5)
        run.wait(delay)
        run.send(attacker, p.timelock.functions.execute(p.vault.address, 0, data, ZERO32, salt), malicious=True,
                 label="execute the upgrade")  # fmt: skip
        run.slot()
        for _ in range(run.n(6)):
            free = int(w.read(p.vault.functions.freeBalance()))
            if free < USD:
                break
            run.send(
                attacker, engine.functions.drain(p.vault.address, attacker.address, free), malicious=True, label="drain"
            )
            run.slot()
        run.slots(run.n(5))

    def measure(self, run: Run, out: Outcome) -> None:
        w = run.world
        a = w.actors["attacker"].address
        claims = int(w.read(w.protocol.vault.functions.lockedFunds(a, w.usdc.address)))
        out.value_at_risk = self.at_risk
        out.attacker_gain = max(0, w.clock.balance_of(w.usdc, a) - self.before + claims)
        out.value_lost = min(out.attacker_gain, self.at_risk)


class RogueGuardian(Scenario):
    """A compromised guardian key tries to freeze the protocol indefinitely and grief its users.

    Models the key-compromise risk of every fast guardian (Multichain July 2023, many bridge and admin
    hot-key thefts): the attacker holds the watchtower's guardian key. It pauses every pausable operation
    for as long as it can, forces the markets reduce-only, tries to pause exits and to extend beyond the
    bounds, and re-pauses whenever it may, hour after hour for a week. It can take nothing; the figure is
    how long honest users could not withdraw. Defences: ScopedPause's bounds (guardian pause at most 24 h,
    then a 48 h cooldown; exits never pausable) and the humans rotating the guardian through the timelock.
    """

    key = "rogue-guardian"
    title = "Compromised guardian key tries to freeze the protocol"
    incident = "hot-key compromises (Multichain 2023 and others)"
    ops = 0x3F  # DEPOSIT, WITHDRAW, OPEN, TRADE, BORROW, FLASH_LOAN
    exits = (1 << 8) | (1 << 11)  # CLOSE, LIQUIDATE

    def play(self, run: Run) -> None:
        w = run.world
        p = w.protocol
        key = w.actors["watchtower"]
        rogue = Actor("rogue guardian", key.address, key.key)
        run.slots(run.n(10))
        hours = run.n(7 * 24, 48)
        self.horizon = hours
        self.frozen = 0
        max_pause = int(w.read(p.router.functions.pauseParams())[0])
        for hour in range(hours):
            if not w.read(p.router.functions.isPaused(1, 0)):
                run.send(
                    rogue, p.router.functions.pause(0, self.ops, max_pause), malicious=True, label="pause everything"
                )
            if hour == 0:
                run.send(rogue, p.router.functions.pause(0, self.exits, max_pause), malicious=True, label="pause exits")
                run.send(rogue, p.router.functions.extendPause(0, w.clock.timestamp + 30 * DAY), malicious=True,
                         label="extend the pause by 30 days")  # fmt: skip
            for m in w.markets.values():
                state = w.read(p.oracle.functions.marketState(m.id))[0]
                if state[2] <= w.clock.timestamp:  # not forced now
                    run.send(
                        rogue, p.oracle.functions.forceReduceOnly(m.id, DAY), malicious=True, label="force reduce-only"
                    )
            run.slot()
            if w.read(p.router.functions.isPaused(1, 0)):
                self.frozen += 1
            run.wait(HOUR - 2 * w.clock.block_time)

    def measure(self, run: Run, out: Outcome) -> None:
        refused = [r for r in run.world.clock.records if r.malicious and r.guard_said_no]
        if refused:
            first = refused[0]
            out.protective = f"guard refused the rogue guardian ({first.reason})"
            out.protective_block = first.block or first.slot
            out.protective_ts = run.world.clock.block_timestamp(out.protective_block)
        out.value_at_risk = 0  # a guardian can take nothing; the cost is time
        out.freeze_hours = float(self.frozen)
        out.freeze_horizon_hours = float(self.horizon)
        out.notes.append(f"withdrawals frozen {self.frozen} of {self.horizon} hours")

"""What a scenario is, what one run of it measures, and the run context it plays in.

A ``Scenario`` sets its world up (automine), plays it slot by slot on the stepped clock through a ``Run``
(which drives honest traffic and the off-chain defence around every block), and measures what it put at
risk and what was lost. The harness adds what every scenario measures the same way: the first
malicious transaction, the first protective action after it, the watchtower's first finding, guard
trips and honest transactions the guards refused.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from eth_utils import keccak

from bastion.rehearse.chain import Actor, TxRecord
from bastion.rehearse.defences import Defence
from bastion.rehearse.traffic import Traffic
from bastion.rehearse.world import USD, World

ATTACK = "attack"
BENIGN = "benign"


@dataclass
class Outcome:
    """The figures of one (scenario, defence level) run. Amounts in stablecoin base units (1e-6 USD)."""

    scenario: str
    level: str
    kind: str
    value_at_risk: int = 0
    value_lost: int = 0  # lost by honest users and the protocol within the horizon
    attacker_gain: int = 0  # taken by the attacker: received, or owed to it as limiter claims
    attacker_frozen: int = 0  # the attacker's (ill-gotten) balance held inside by a pause at the end
    first_malicious_block: int | None = None
    first_malicious_ts: int | None = None
    incident_block: int | None = None  # where the incident starts (first malicious tx, or the fault)
    protective: str = ""
    protective_block: int | None = None
    protective_ts: int | None = None
    first_finding_block: int | None = None
    first_finding: str = ""
    findings: int = 0
    actions: int = 0
    guard_events: list[str] = field(default_factory=list)
    watchtower_actions: list[str] = field(default_factory=list)  # "block: kind (playbook) status"
    trips: int = 0  # guard trips and pauses during the run (benign: all of them are false trips)
    designed_delays: int = 0  # limiter trips in a genuine rush for the exit (the bank run): delay, not loss
    honest_blocked: int = 0  # honest transactions a guard refused or reverted
    honest_blocked_reasons: list[str] = field(default_factory=list)
    honest_delayed: int = 0  # honest funds not yet paid out at the end (queued claims, pauses)
    honest_lost: int = 0
    honest_paid_in_full: bool | None = None
    freeze_hours: float | None = None  # S9: hours honest users could not use the protocol
    freeze_horizon_hours: float | None = None
    aftermath_hours: float = 0.0  # chain time run after the attack, until its consequences ended
    griefer: bool = False  # the attacker holds no keys: it can only make honest users wait
    honest_max_delay_h: float | None = None  # griefing: longest wait of an honest withdrawal it caused
    guardian_only_liquidations: int = 0  # positions liquidated only because a guardian tightened a parameter
    blocks: int = 0
    chain_seconds: int = 0
    wall_seconds: float = 0.0
    reaction_wall_ms: float | None = None  # watchtower: median wall time to process a block and act
    humans: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def preserved(self) -> float | None:
        """Share of the value at risk that was not lost (None when nothing was at risk)."""
        if self.value_at_risk <= 0:
            return None
        return max(0.0, 1.0 - self.value_lost / self.value_at_risk)

    @property
    def protect_blocks(self) -> int | None:
        if self.protective_block is None or self.first_malicious_block is None:
            return None
        return self.protective_block - self.first_malicious_block

    @property
    def protect_seconds(self) -> int | None:
        if self.protective_ts is None or self.first_malicious_ts is None:
            return None
        return self.protective_ts - self.first_malicious_ts

    @property
    def detected_within_one_block(self) -> bool | None:
        if self.kind != ATTACK:
            return None
        if self.first_finding_block is None:
            return False
        ref = self.first_malicious_block if self.first_malicious_block is not None else self.incident_block
        return ref is not None and self.first_finding_block <= ref + 1

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            preserved=self.preserved,
            protect_blocks=self.protect_blocks,
            protect_seconds=self.protect_seconds,
            detected_within_one_block=self.detected_within_one_block,
        )
        return out


@dataclass
class Run:
    """One run: the world, its honest traffic, its off-chain defence, and the scale (1.0 = full size)."""

    world: World
    traffic: Traffic
    defence: Defence
    scale: float = 1.0
    on_slot: Callable[[int], None] | None = None
    extra: list[TxRecord] = field(default_factory=list)  # honest transactions a scenario sends itself
    incident_block: int | None = None

    @property
    def clock(self):
        return self.world.clock

    def n(self, full: int, minimum: int = 1) -> int:
        """A count scaled by the run's size."""
        return max(minimum, round(full * self.scale))

    def slot(self, seconds: int | None = None) -> int:
        """One block: honest traffic, the watchtower's mempool scan, mining, the watchtower's turn."""
        self.traffic.step()
        self.defence.before_block()
        number = self.clock.mine(seconds)
        self.defence.after_block()
        if self.on_slot is not None:
            self.on_slot(1)
        return number

    def slots(self, count: int) -> None:
        for _ in range(count):
            self.slot()

    def quiet(self, seconds: int) -> int:
        """Let ``seconds`` of chain time pass in one block (nothing happens meanwhile, prices included)."""
        self.traffic.hold_prices()
        self.defence.before_block()
        number = self.clock.mine(seconds)
        self.defence.after_block()
        if self.on_slot is not None:
            self.on_slot(1)
        return number

    def wait(self, seconds: int) -> int:
        """Let ``seconds`` pass in one quiet block, then a block in which the honest feeder catches up
        (feeds left untouched meanwhile would otherwise read as stale)."""
        self.quiet(seconds)
        self.traffic.refresh_feeds()
        self.defence.before_block()
        number = self.clock.mine()
        self.defence.after_block()
        if self.on_slot is not None:
            self.on_slot(1)
        return number

    def refresh(self) -> int:
        """One block in which the honest feeder pushes every running feed (e.g. when the run starts)."""
        self.traffic.refresh_feeds()
        self.defence.before_block()
        number = self.clock.mine()
        self.defence.after_block()
        return number

    def send(self, actor: Actor, fn: Any, *, malicious: bool = False, **kw: Any) -> TxRecord:
        rec = self.clock.send(actor, fn, malicious=malicious, **kw)
        if not malicious and actor.name.startswith("user"):
            self.extra.append(rec)
        return rec

    def settle_limiters(self) -> None:
        """The keeper settles every outflow limiter of the run (releasing queued claims as headroom
        allows) and cashes every released claim of an honest user (anyone may call; the funds go only to
        the claimant). Sent now, mined with the next block."""
        w = self.world
        keeper = w.actors["keeper"]
        for contract in [w.protocol.vault, *w.variants.values()]:
            try:
                queued, _released = w.read(contract.functions.queueInfo(w.usdc.address))
            except Exception:  # a variant without a limiter on the stablecoin
                continue
            if not queued:
                continue
            w.clock.send(keeper, contract.functions.releaseLockedFunds(w.usdc.address), label="keeper settles")
            for user in w.honest:
                if int(w.read(contract.functions.lockedFunds(user.address, w.usdc.address))):
                    w.clock.send(keeper, contract.functions.claimLockedFunds(w.usdc.address, user.address),
                                 label="claim for a user")  # fmt: skip

    def mark_incident(self) -> None:
        """The incident starts in the block being built (for faults that are not a malicious transaction)."""
        if self.incident_block is None:
            self.incident_block = self.clock.block_number + 1


class Scenario:
    """Base class: subclasses set the metadata and implement ``setup``, ``play`` and ``measure``."""

    key: ClassVar[str]
    title: ClassVar[str]
    kind: ClassVar[str] = ATTACK
    incident: ClassVar[str] = ""  # the real incident class it models, one line
    weakness: ClassVar[str] = ""  # the weakness class of issue 10 it probes (1-6), if any
    griefer: ClassVar[bool] = False  # an attacker with no keys that can only delay honest users
    traders: ClassVar[int] = 12  # honest background traders

    def setup(self, run: Run) -> None:
        """Deploy and fund what the scenario needs (automine phase)."""

    def play(self, run: Run) -> None:
        raise NotImplementedError

    def leave(self, run: Run) -> None:
        """After the attack, once per step of the aftermath: the attacker tries to take out what it still
        has inside (it waits out a pause, cashes its limiter claims late). Default: nothing."""

    def measure(self, run: Run, out: Outcome) -> None:
        """Fill the scenario-specific figures of ``out``."""


# -- guard events -------------------------------------------------------------------------------------
def _topic(sig: str) -> str:
    return "0x" + keccak(text=sig).hex()


_EVENTS = {
    _topic("AssetRateLimitBreached(address,uint256,uint256,uint256)"): "limiter trip",
    _topic("Paused(uint256,uint32,uint256,address)"): "pause",
    _topic("StatusChanged(bytes32,uint8,uint8,uint256,uint256)"): "oracle status",
    _topic("JumpAccepted(bytes32,uint256,uint256,bool,uint256)"): "oracle jump",
    _topic("ReduceOnlyForced(bytes32,uint256,address)"): "forced reduce-only",
    _topic("Cancelled(bytes32)"): "timelock cancel",
}
_STATUS = ("Ok", "Stale", "Invalid", "Deviation", "JumpPending")


@dataclass(frozen=True)
class GuardEvent:
    block: int
    kind: str
    address: str
    detail: str

    @property
    def trip(self) -> bool:
        """Whether this event restricts users (a recovery to Ok or a cancel does not)."""
        return self.kind != "timelock cancel" and not self.detail.endswith("-> Ok")


def guard_events(world: World, from_block: int) -> list[GuardEvent]:
    """Every guard trip, pause, oracle status change and timelock cancel since ``from_block``."""
    addresses = [
        c["address"] for c in world.watch_contracts.values() if c.get("protected") or c.get("kind") == "timelock"
    ]
    logs = world.w3.eth.get_logs(
        {"fromBlock": from_block, "toBlock": "latest", "address": addresses, "topics": [list(_EVENTS)]}
    )
    labels = {c["address"].lower(): name for name, c in world.watch_contracts.items()}
    out = []
    for lg in logs:
        topic = "0x" + lg["topics"][0].hex().removeprefix("0x")
        kind = _EVENTS[topic]
        data = bytes(lg["data"])
        detail = ""
        if kind == "oracle status":
            prev, cur = int.from_bytes(data[0:32], "big"), int.from_bytes(data[32:64], "big")
            detail = f"{_STATUS[prev]} -> {_STATUS[cur]}"
        elif kind == "oracle jump":
            detail = "corroborated" if int.from_bytes(data[64:96], "big") else "confirmed"
        out.append(GuardEvent(int(lg["blockNumber"]), kind, labels.get(lg["address"].lower(), lg["address"]), detail))
    return out


def median_ms(values: list[float]) -> float | None:
    return round(statistics.median(values) * 1000, 1) if values else None


def usd(amount: int) -> str:
    return f"{amount / USD:,.0f}"

"""Run scenarios at defence levels, each on a fresh embedded chain, and collect their ``Outcome``s."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from bastion.rehearse.defences import Defence, make_defence
from bastion.rehearse.scenarios import SCENARIOS
from bastion.rehearse.scenarios.base import ATTACK, Outcome, Run, guard_events, median_ms
from bastion.rehearse.traffic import Traffic
from bastion.rehearse.world import DAY, HOUR, Level, World

LEVELS = tuple(Level)


def run_one(
    key: str,
    level: Level | str,
    *,
    seed: int = 7,
    scale: float = 1.0,
    on_slot: Callable[[int], None] | None = None,
    defence: Defence | None = None,
) -> Outcome:
    """Build a fresh world, set the scenario up, play it with the level's defences, measure it."""
    level = Level(level)
    scenario = SCENARIOS[key]()
    started = time.perf_counter()
    world = World.build(level, seed)
    defence = defence if defence is not None else make_defence(level)
    world.defence = defence
    try:
        traffic = Traffic(world, traders=world.honest[: scenario.traders])
        run = Run(world, traffic, defence, scale, on_slot)
        traffic.setup()
        scenario.setup(run)
        world.settle_in(6 * 3600, world.protocol.vault)  # the protocol has been running for a while
        world.run_phase()
        defence.start(world)
        run.refresh()  # fresh feeds after the set-up's time jumps
        scenario.play(run)
        hours = aftermath(run, scenario) if scenario.kind == ATTACK else 0.0
        out = Outcome(key, level.value, scenario.kind, aftermath_hours=hours, griefer=scenario.griefer)
        _common(run, out)
        scenario.measure(run, out)
    finally:
        defence.stop()
        world.close()
    errors = getattr(defence, "errors", [])
    out.notes.extend(f"watchtower error: {e}" for e in errors[:3])
    out.wall_seconds = round(time.perf_counter() - started, 2)
    return out


AFTERMATH_MIN_S = 72 * HOUR  # the floor: consequences are counted for at least 72 h
AFTERMATH_MAX_S = 14 * DAY  # a bound on the run: a pause or a claim queue longer than this is a finding
AFTERMATH_STEP_S = 4 * HOUR


def aftermath(run: Run, scenario) -> float:
    """After the attack, let chain time pass (in ``AFTERMATH_STEP_S`` steps, each followed by blocks of
    honest traffic) until every pause has expired and every limiter claim queued by the end of the attack
    has been released, and at least ``AFTERMATH_MIN_S`` have passed; each step the keeper settles the
    limiters, honest users cash their claims, and the attacker tries to leave with what it still has
    inside (claims it queues meanwhile count as taken; they do not extend the run). The hours it ran."""
    w = run.world
    start = w.clock.timestamp
    queued = _queued(w)
    while True:
        now = w.clock.timestamp
        end = min(start + AFTERMATH_MAX_S, max(start + AFTERMATH_MIN_S, consequences_end(w, queued)))
        if now >= end:
            break
        run.wait(min(AFTERMATH_STEP_S, end - now))
        run.settle_limiters()
        scenario.leave(run)
        run.slots(2)
    return round((w.clock.timestamp - start) / HOUR, 1)


def _limited(w: World) -> list[Any]:
    """Every outflow limiter of the run: the Vault and the guarded variants."""
    return [w.protocol.vault, *w.variants.values()]


def _queued(w: World) -> dict[str, int]:
    """Per outflow limiter: the total ever queued as claims (its FIFO cursor) now."""
    out = {}
    for contract in _limited(w):
        try:
            out[contract.address] = int(w.read(contract.functions.queueInfo(w.usdc.address))[0])
        except Exception:  # a variant without a limiter on the stablecoin
            continue
    return out


def consequences_end(w: World, queued: dict[str, int]) -> int:
    """When the last pause, forced reduce-only or limiter trip of the run ends, and the claims in
    ``queued`` (per limiter: the queue's cursor to reach) are released: a timestamp (``now + 1`` while
    claims wait for headroom, which only time brings)."""
    p = w.protocol
    now = w.clock.timestamp
    ends = [0]
    pausable = [(p.router, range(len(w.markets) + 1)), *((v, range(1)) for v in w.variants.values())]
    for contract, scopes in pausable:
        for scope in scopes:
            try:
                ends.append(int(w.read(contract.functions.scopeOf(scope))[1]))
            except Exception:  # a variant without pauses
                break
    for m in w.markets.values():
        ends.append(int(w.read(p.oracle.functions.marketState(m.id))[0][2]))
    for contract in _limited(w):
        try:
            ends.append(int(w.read(contract.functions.tripInfo(w.usdc.address))[0]))
            released = int(w.read(contract.functions.queueInfo(w.usdc.address))[1])
        except Exception:  # a variant without a limiter on the stablecoin
            continue
        if released < queued.get(contract.address, 0):
            ends.append(now + 1)
    return max(ends)


def _common(run: Run, out: Outcome) -> None:
    w = run.world
    records = w.clock.records
    malicious = [r for r in records if r.malicious]
    if malicious:
        first = min(malicious, key=lambda r: r.block or r.slot or 0)
        out.first_malicious_block = first.block or first.slot
        out.first_malicious_ts = w.clock.block_timestamp(out.first_malicious_block)
    out.incident_block = run.incident_block or out.first_malicious_block
    findings = run.defence.findings()
    actions = run.defence.actions()
    out.findings = len(findings)
    out.actions = len([a for a in actions if a.kind != "notify"])
    start = out.incident_block or w.start_block
    later = [f for f in findings if f.block is not None and f.block >= start]
    if later:
        out.first_finding_block = later[0].block
        out.first_finding = later[0].detector
    events = guard_events(w, w.start_block)
    out.guard_events = [f"{e.block}: {e.kind} {e.detail} ({e.address})".replace(" ()", "") for e in events]
    out.watchtower_actions = [
        f"{a.block if a.block is not None else '-'}: {a.kind} ({a.playbook}) {a.status}" for a in actions
    ]
    trips = [e for e in events if e.trip]
    mined_actions = [a for a in actions if a.block is not None and a.status == "mined"]
    out.trips = len(trips) + len([a for a in mined_actions if a.kind not in ("pause", "call")])
    if out.first_malicious_block is not None:
        candidates: list[tuple[int, str]] = []
        for r in malicious:
            if r.guard_said_no:
                candidates.append((r.block or r.slot or 0, f"guard refused the attack ({r.reason})"))
        for r in run.extra:  # the scenario's own honest users: its potential victims
            where = r.block or r.slot or 0
            if r.guard_said_no and where >= out.first_malicious_block:
                candidates.append((where, f"guard refused a victim's transaction ({r.reason})"))
        for e in trips:
            if e.block >= out.first_malicious_block:
                candidates.append((e.block, f"{e.kind} {e.detail}".strip() + f" on {e.address}"))
        for a in mined_actions:
            if a.block >= out.first_malicious_block:
                candidates.append((a.block, f"watchtower {a.kind} ({a.playbook})"))
        for e in events:
            if e.kind == "timelock cancel" and e.block >= out.first_malicious_block:
                candidates.append((e.block, "Safe cancelled the timelocked operation"))
        if candidates:
            block, what = min(candidates)
            out.protective, out.protective_block = what, block
            out.protective_ts = w.clock.block_timestamp(block)
    honest = [r for r in run.traffic.records + run.extra if r.guard_said_no]
    out.honest_blocked = len(honest)
    out.honest_blocked_reasons = sorted({r.reason for r in honest})
    out.reaction_wall_ms = median_ms(run.defence.reaction_wall_s)
    out.humans = run.defence.humans()
    latest = w.w3.eth.get_block("latest")
    out.blocks = int(latest["number"]) - w.start_block + 1
    out.chain_seconds = int(latest["timestamp"]) - w.clock.block_timestamp(w.start_block)


def _run_job(args: tuple[str, str, int, float]) -> Outcome:
    key, level, seed, scale = args
    return run_one(key, level, seed=seed, scale=scale)


def run_matrix(
    keys: Sequence[str],
    levels: Iterable[Level | str],
    *,
    seed: int = 7,
    scale: float = 1.0,
    jobs: int = 1,
    on_done: Callable[[Outcome], None] | None = None,
    on_slot: Callable[[int], None] | None = None,
) -> list[Outcome]:
    """Every scenario at every level; ``jobs`` > 1 runs that many chains in parallel processes."""
    todo = [(k, Level(lv).value, seed, scale) for k in keys for lv in levels]
    outcomes: list[Outcome] = []
    if jobs <= 1:
        for k, lv, sd, sc in todo:
            out = run_one(k, lv, seed=sd, scale=sc, on_slot=on_slot)
            outcomes.append(out)
            if on_done:
                on_done(out)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_run_job, job) for job in todo]
            for fut in as_completed(futures):
                out = fut.result()
                outcomes.append(out)
                if on_done:
                    on_done(out)
    order = {(k, Level(lv).value): i for i, (k, lv, _, _) in enumerate(todo)}
    return sorted(outcomes, key=lambda o: order[(o.scenario, o.level)])


def is_attack(out: Outcome) -> bool:
    return out.kind == ATTACK

"""`bastion demo`: the whole story on the embedded chain, in well under a minute.

1. Deploy the reference clearinghouse with every guard; honest traders and a would-be attacker deposit.
2. Start the watchtower (in-process thread, SQLite store in a temporary directory) and switch the chain
   to a 1 s block time. Honest traffic runs in every block (small trades, deposits, withdrawals, the
   honest feeder's small price updates).
3. The attack: the attacker holds the keys of both price feeders (each feed has its own signer; the
   attacker stole both). Over several blocks it pushes both feeds of ETH-PERP up and down by 9.9%: the
   OracleGuard holds any price more than 10% from the AMM pool's TWAP (its independent reference), so the
   attacker stays just inside that band and the 15% jump limit, and the guard accepts every move. With a
   trading account it rides each swing: open before the push, close after it, withdraw, open the other way.
4. The watchtower sees the first push in the block that holds it (the feeds agree with each other but
   not with the AMM pool's TWAP), broadcasts its pre-signed pause of withdrawals (every market: the
   withdraw scope) and forces ETH-PERP reduce-only; both are mined first in the next block. Exits stay
   open; the attacker's next withdrawals and new positions are refused.
5. The same attack, from the same chain snapshot, without the watchtower: the counterfactual.
6. A timeline, value at risk / lost / saved, and an incident report in Markdown.

Only the block of the first malicious transaction is out of any off-chain watcher's reach; everything
after it is the watchtower's to stop.
"""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from web3 import Web3

from bastion.chain.contracts import Sender, connect
from bastion.chain.node import AnvilNode
from bastion.chain.rpc import RpcClient
from bastion.protocol.client import WAD, Protocol
from bastion.protocol.deploy import FEED_DECIMALS, USDC_DECIMALS, Manifest, deploy_system, dev_keys, dev_roles
from bastion.protocol.scripted import GWEI, Planned, ScriptedSender, Sent

USD = 10**USDC_DECIMALS
DEV_ACCOUNTS = 16
FEEDERS, TRADERS, ATTACKER = {"primary": 1, "secondary": 8}, (9, 10, 11, 12), 13  # dev_roles' feeders
MARKET = "ETH-PERP"
# 9.9%: inside the OracleGuard's band around the pool TWAP (deploy.REFERENCE_BOUND_BPS, 10%) and its 15%
# jump limit; a larger push is held at the last good price, so a feed-key thief gains the most just inside.
SWING_BPS = 990
ATTACK_SIZE = 300 * WAD  # ETH per swing (notional ~900k USD, 10% initial margin)
ATTACK_DEPOSIT = 150_000 * USD
ATTACK_WITHDRAW = 100_000 * USD  # per swing: the first two fit in the limiter's headroom
SWINGS = 5
WARMUP_BLOCKS = 4
RUNNING_FOR = 6 * 3600  # seconds the protocol has been live before the story starts
TAIL_BLOCKS = 2


def _usd(amount: int | float) -> str:
    return f"{amount / USD:,.0f}"


# -- the script ---------------------------------------------------------------------------------
@dataclass
class World:
    node: AnvilNode
    w3: Web3
    manifest: Manifest
    protocol: Protocol
    rpc: RpcClient
    sender: ScriptedSender


def _encode(fn) -> bytes:
    return bytes.fromhex(fn._encode_transaction_data()[2:])


def build_world(node: AnvilNode) -> World:
    """Deploy everything (automine), fund the honest traders and the attacker."""
    w3 = connect(node.http_url)
    accounts = node.accounts
    admin = Sender.from_key(w3, accounts[0].private_key)
    manifest = deploy_system(admin, dev_roles(accounts), dev_keys(accounts))
    protocol = Protocol(w3, manifest)
    plans = [
        (40_000, "ETH-PERP", 5 * WAD),
        (40_000, "ETH-PERP", -3 * WAD),
        (30_000, "BTC-PERP", WAD // 5),
        (30_000, None, 0),
    ]
    for index, (usd, symbol, size) in zip(TRADERS, plans, strict=True):
        trader = Sender.from_key(w3, accounts[index].private_key)
        admin.transact(protocol.usdc.functions.mint(trader.address, 2 * usd * USD))
        protocol.approve(trader)
        protocol.deposit(trader, usd * USD)
        if symbol:
            protocol.trade(trader, symbol, size)
    attacker = Sender.from_key(w3, accounts[ATTACKER].private_key)
    admin.transact(protocol.usdc.functions.mint(attacker.address, ATTACK_DEPOSIT))
    protocol.approve(attacker)
    protocol.deposit(attacker, ATTACK_DEPOSIT)
    # A protocol that has been live for a while: a first withdrawal settles the limiter's bucket on the
    # deposits, it refills over one window, and the feeder has kept reporting.
    protocol.withdraw(Sender.from_key(w3, accounts[TRADERS[-1]].private_key), 1_000 * USD)
    node.increase_time(RUNNING_FOR)
    for symbol, market in manifest.markets.items():
        # The keeper's job every TWAP window: the reference averages the last window, not the whole run.
        admin.transact(protocol.twap(symbol).functions.update())
        for which, index in FEEDERS.items():
            answer = market["price_usd"] * 10**FEED_DECIMALS
            Sender.from_key(w3, accounts[index].private_key).transact(
                protocol.feed(symbol, which).functions.setAnswer(answer)
            )
    rpc = RpcClient([node.http_url], timeout=10.0)
    keys = {i: accounts[i].private_key for i in (*FEEDERS.values(), *TRADERS, ATTACKER)}
    return World(node, w3, manifest, protocol, rpc, ScriptedSender(rpc, node.chain_id, keys))


def _feed_pushes(world: World, price_usd: float, *, malicious: bool) -> list[Planned]:
    answer = round(price_usd * 10**FEED_DECIMALS)
    out = []
    for which in ("primary", "secondary"):
        feed = world.protocol.feed(MARKET, which)
        out.append(
            Planned(
                FEEDERS[which],
                feed.address,
                _encode(feed.functions.setAnswer(answer)),
                f"feeder pushes {MARKET} {which} {price_usd:,.2f}",
                role="feeder",
                gas=200_000,
                tip=3 * GWEI,
                malicious=malicious,
            )
        )
    return out


def build_script(world: World, seed: int = 5) -> list[list[Planned]]:
    """Transactions per block: honest warm-up, the attack's swings, a quiet tail."""
    rng = random.Random(seed)
    p = world.protocol
    r = p.router.functions
    mid = p.market_id(MARKET)
    btc = p.market_id("BTC-PERP")
    base = world.manifest.markets[MARKET]["price_usd"]
    high = base * (10_000 + SWING_BPS) / 10_000

    def honest(block: int) -> list[Planned]:
        out = []
        for index in rng.sample(TRADERS, 2):
            kind = rng.choice(("eth", "eth", "btc", "deposit", "withdraw"))
            if kind == "eth":
                delta = rng.choice((-2, -1, 1, 2)) * WAD
                out.append(
                    Planned(
                        index, p.router.address, _encode(r.trade(mid, delta, 0)), f"trader trades {delta / WAD:+g} ETH"
                    )
                )
            elif kind == "btc":
                delta = rng.choice((-1, 1)) * WAD // 20
                out.append(
                    Planned(
                        index, p.router.address, _encode(r.trade(btc, delta, 0)), f"trader trades {delta / WAD:+g} BTC"
                    )
                )
            elif kind == "deposit":
                out.append(Planned(index, p.router.address, _encode(r.deposit(1_000 * USD)), "trader deposits 1,000"))
            else:
                out.append(Planned(index, p.router.address, _encode(r.withdraw(1_000 * USD)), "trader withdraws 1,000"))
        return out

    def attacker(fn, label: str, malicious: bool = True) -> Planned:
        return Planned(
            ATTACKER, p.router.address, _encode(fn), label, role="attacker", tip=2 * GWEI, malicious=malicious
        )

    blocks: list[list[Planned]] = []
    for i in range(WARMUP_BLOCKS):
        txs = honest(i)
        if i % 2 == 0:  # the honest feeder's small updates
            txs += _feed_pushes(world, base * (1 + rng.choice((-1, 1)) * 0.001), malicious=False)
        blocks.append(txs)
    blocks[-1] += _feed_pushes(world, base, malicious=False)
    # the attacker's position before the first push (looks like any large trader)
    blocks[-1].append(
        attacker(r.trade(mid, ATTACK_SIZE, 0), f"attacker opens +{ATTACK_SIZE // WAD} ETH", malicious=False)
    )
    up = True
    for swing in range(SWINGS):
        price = high if up else base
        txs = honest(WARMUP_BLOCKS + swing) + _feed_pushes(world, price, malicious=True)
        txs.append(attacker(r.close(mid), f"attacker closes at {price:,.0f}"))
        txs.append(attacker(r.withdraw(ATTACK_WITHDRAW), f"attacker withdraws {_usd(ATTACK_WITHDRAW)}"))
        if swing < SWINGS - 1:
            delta = -ATTACK_SIZE if up else ATTACK_SIZE
            txs.append(attacker(r.trade(mid, delta, 0), f"attacker opens {delta / WAD:+g} ETH at {price:,.0f}"))
        blocks.append(txs)
        up = not up
    for i in range(TAIL_BLOCKS):
        blocks.append(honest(WARMUP_BLOCKS + SWINGS + i))
    return blocks


# -- running it ---------------------------------------------------------------------------------
@dataclass
class RunResult:
    label: str
    sent: list[Sent]
    first_block: int  # block of the first transaction of the script
    block_seen_at: dict[int, float] = field(default_factory=dict)  # block -> wall time the driver saw it
    usdc_received: int = 0  # tokens that reached the attacker's wallet
    claims: int = 0  # withdrawals queued by the limiter for the attacker
    equity_before: int = 0
    equity_after: int = 0
    vault_before: int = 0

    @property
    def gain(self) -> int:
        """The attacker's gain: tokens received + queued claims + equity change in the protocol."""
        return self.usdc_received + self.claims + self.equity_after - self.equity_before

    @property
    def first_malicious(self) -> Sent | None:
        ok = [s for s in self.sent if s.planned.malicious and s.status == 1]
        return min(ok, key=lambda s: s.block or 0) if ok else None

    def count(self, role: str, status: int | None) -> int:
        return sum(1 for s in self.sent if s.planned.role == role and s.status == status)


def _attacker_state(world: World) -> tuple[int, int, int]:
    p = world.protocol
    who = world.sender.address(ATTACKER)
    wallet = p.usdc.functions.balanceOf(who).call()
    claim = p.vault.functions.claimInfo(p.usdc.address, who).call()[0]
    equity = p.engine.functions.health(who).call()[0]
    return wallet, claim, equity


def _head(world: World) -> int:
    return int(world.rpc.call("eth_blockNumber"), 16)


def run_script(world: World, script: list[list[Planned]], label: str, *, interval: bool) -> RunResult:
    """Send each block's transactions for the next block. ``interval``: the chain mines on its own clock
    (the driver sends right after it sees a block); else the driver mines each block itself."""
    wallet0, claim0, equity0 = _attacker_state(world)
    vault0 = world.protocol.usdc.functions.balanceOf(world.protocol.vault.address).call()
    world.sender.resync()
    sent: list[Sent] = []
    head = _head(world)
    result = RunResult(label, sent, head + 1, equity_before=equity0, vault_before=vault0)
    for txs in script:
        sent.extend(world.sender.send_all(txs))
        if interval:
            head = _wait_block(world, head + 1, result)
        else:
            world.rpc.call("evm_mine")
            head += 1
            result.block_seen_at[head] = time.time()
    if interval:
        head = _wait_block(world, head + 1, result)  # let stragglers land
    world.sender.settle(sent)
    wallet1, claim1, equity1 = _attacker_state(world)
    result.usdc_received = wallet1 - wallet0
    result.claims = claim1 - claim0
    result.equity_after = equity1
    return result


def _wait_block(world: World, number: int, result: RunResult, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        head = _head(world)
        if head >= number:
            result.block_seen_at.setdefault(number, time.time())
            return head
        time.sleep(0.01)
    raise RuntimeError(f"block {number} was not mined within {timeout:g}s")


# -- the story ----------------------------------------------------------------------------------
@dataclass
class DemoResult:
    protected: RunResult
    unprotected: RunResult
    findings: list[Any]
    actions: list[Any]
    incidents: list[Any]
    report: Path
    manifest: Manifest
    detected: bool
    paused: bool

    @property
    def value_saved(self) -> int:
        return self.unprotected.gain - self.protected.gain


def run_demo(console: Console | None = None, *, block_time: float = 1.0, out_dir: Path | None = None) -> DemoResult:
    from bastion.tower.runner import start_watchtower

    console = console or Console()
    out_dir = out_dir or Path("runs")
    started = time.monotonic()
    with AnvilNode(accounts=DEV_ACCOUNTS) as node, tempfile.TemporaryDirectory(prefix="bastion-demo-") as tmp:
        console.print(f"[bold]1. Deploy[/] the reference clearinghouse on an embedded chain ({node.http_url})")
        world = build_world(node)
        m = world.manifest
        console.print(
            f"   {len(m.contracts)} contracts, markets {', '.join(m.markets)}; 4 honest traders and a large trader "
            f"(the future attacker) deposited; vault holds {_usd(world.protocol.guards().vault_balance)} USDC"
        )
        script = build_script(world)
        snap = node.snapshot()

        console.print(
            f"[bold]2. Watchtower[/] starts (SQLite store in {tmp}); the chain now mines every {block_time:g} s"
        )
        node.rpc("evm_setAutomine", False)
        node.rpc("evm_setIntervalMining", max(1, round(block_time)))
        tower = start_watchtower(m, None, node.http_url, node.ws_url, workdir=Path(tmp) / "watch")
        try:
            console.print(
                f"[bold]3. Honest traffic[/] for {WARMUP_BLOCKS} blocks, then the attack: stolen keys of both "
                f"feeders push {MARKET} ±{SWING_BPS / 100:.1f}% on both feeds, {SWINGS} times,"
                " while the attacker rides each swing"
            )
            protected = run_script(world, script, "with the watchtower", interval=True)
            tower.wait_action(kind="pause", status=("mined", "reverted", "failed"), timeout=5)
            tower.wait_for(lambda: all(a.status not in ("planned", "sent") for a in tower.actions()), timeout=3)
            findings, actions, incidents = tower.findings(), tower.actions(), tower.incidents()
        finally:
            tower.stop()
        node.rpc("evm_setIntervalMining", 0)
        console.print("[bold]4. Counterfactual[/]: the same attack from the same snapshot, watchtower off")
        node.revert(snap)
        unprotected = run_script(world, script, "without the watchtower", interval=False)
        node.rpc("evm_setAutomine", True)

    first = protected.first_malicious
    detection = _detection(findings, first)
    pause = next((a for a in actions if a.kind == "pause"), None)
    detected = detection is not None
    paused = pause is not None and pause.status == "mined"
    result = DemoResult(protected, unprotected, findings, actions, incidents, Path(), m, detected, paused)
    _print_outcome(console, result, detection, pause)
    result.report = write_report(result, detection, pause, out_dir)
    console.print(f"incident report: {result.report}")
    console.print(
        f"demo finished in {time.monotonic() - started:.1f} s: "
        f"{'detected' if detected else 'NOT detected'}, {'paused' if paused else 'NOT paused'}, "
        f"value saved {_usd(result.value_saved)} USDC; chain stopped"
    )
    return result


def _detection(findings: list[Any], first: Sent | None) -> Any:
    if first is None:
        return None
    hits = [
        f
        for f in findings
        if f.severity == "critical" and f.block_number is not None and f.block_number >= (first.block or 0)
    ]
    return min(hits, key=lambda f: (f.block_number, f.detected_at)) if hits else None


def _timeline(result: DemoResult, detection: Any, pause: Any) -> list[tuple[str, str, str]]:
    p = result.protected
    first = p.first_malicious
    rows: list[tuple[str, str, str]] = []
    if first is None:
        return rows
    t0 = p.block_seen_at.get(first.block or -1)

    def dt(at: float | None) -> str:
        return "" if at is None or t0 is None else f"{(at - t0) * 1000:+,.0f} ms"

    rows.append((str(first.block), "+0 ms", f"first malicious tx {first.tx_hash[:12]}…: {first.planned.label}"))
    if detection is not None:
        rows.append(
            (
                str(detection.block_number),
                dt(detection.detected_at),
                f"detected: {detection.detector}: {detection.title}",
            )
        )
    for a in result.actions:
        if a.sent_at is not None:
            what = f"{a.kind} broadcast ({_describe_action(a)})"
            rows.append(("", dt(a.sent_at), what))
    for a in result.actions:
        if a.mined_block is not None:
            rows.append((str(a.mined_block), dt(p.block_seen_at.get(a.mined_block)), f"{a.kind} {a.status}"))
    refused = [s for s in p.sent if s.planned.role == "attacker" and s.status == 0 and s.block]
    if refused:
        s = refused[0]
        rows.append((str(s.block), dt(p.block_seen_at.get(s.block)), f"attacker refused: {s.planned.label} reverted"))
    return rows


def _describe_action(a: Any) -> str:
    pl = a.payload
    if a.kind == "pause":
        return f"Router.pause(scope {pl.get('scope')}, {'|'.join(pl.get('ops', []))}, {pl.get('duration')} s)"
    if a.kind == "force_reduce_only":
        return f"OracleGuard.forceReduceOnly({pl.get('market')}, {pl.get('duration')} s)"
    return str(pl.get("function", a.kind))


def _print_outcome(console: Console, result: DemoResult, detection: Any, pause: Any) -> None:
    table = Table(title="Timeline (with the watchtower)")
    for col in ("block", "t", "event"):
        table.add_column(col)
    for row in _timeline(result, detection, pause):
        table.add_row(*row)
    console.print(table)
    values = Table(title="Value (USDC)")
    for col in ("", "with the watchtower", "without"):
        values.add_column(col, justify="right")
    p, u = result.protected, result.unprotected
    values.add_row("value at risk (vault balance before the attack)", _usd(p.vault_before), _usd(u.vault_before))
    values.add_row("attacker's wallet received", _usd(p.usdc_received), _usd(u.usdc_received))
    values.add_row("attacker's queued claims (limiter)", _usd(p.claims), _usd(u.claims))
    values.add_row(
        "attacker's equity gain left in the protocol",
        _usd(p.equity_after - p.equity_before),
        _usd(u.equity_after - u.equity_before),
    )
    values.add_row("[bold]value lost (attacker's total gain)", _usd(p.gain), _usd(u.gain))
    values.add_row("[bold]value saved", _usd(result.value_saved), "")
    values.add_row("attacker transactions refused", str(p.count("attacker", 0)), str(u.count("attacker", 0)))
    values.add_row("honest transactions refused", str(p.count("honest", 0)), str(u.count("honest", 0)))
    console.print(values)
    frozen = p.equity_after - p.equity_before
    if frozen > 0:
        console.print(
            f"   with the watchtower, {_usd(frozen)} of the attacker's gain is still inside the protocol, frozen by "
            "the withdrawal pause: within reach of governance while the pause lasts"
        )


def _status(s: Sent) -> str:
    if s.status == 1:
        return "ok"
    if s.status == 0:
        return "reverted"
    return s.error or "-"


def write_report(result: DemoResult, detection: Any, pause: Any, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"incident-{stamp}.md"
    p, u = result.protected, result.unprotected
    first = p.first_malicious
    lines = [
        f"# Incident report: compromised price feeder on {MARKET}",
        "",
        f"Generated by `bastion demo` at {stamp} on the embedded chain (chain id {result.manifest.chain_id}).",
        "",
        "## Summary",
        "",
        f"- First malicious transaction: block {first.block if first else '-'}, `{first.tx_hash if first else '-'}` "
        f"({first.planned.label if first else '-'}).",
        f"- Detected: {'yes' if result.detected else 'no'}"
        + (
            f", block {detection.block_number}, by `{detection.detector}` ({detection.severity}): {detection.title}."
            if detection
            else "."
        ),
        f"- Paused: {'yes' if result.paused else 'no'}"
        + (f", {_describe_action(pause)} mined in block {pause.mined_block}." if pause and pause.mined_block else "."),
        f"- Value at risk (vault balance before the attack): {_usd(p.vault_before)} USDC.",
        f"- Value lost (the attacker's gain) with the watchtower: {_usd(p.gain)} USDC; without: {_usd(u.gain)} USDC.",
        f"- Value saved: **{_usd(result.value_saved)} USDC**.",
        "",
        "## Timeline",
        "",
        "| block | t (from the block being seen) | event |",
        "|---|---|---|",
    ]
    lines += [f"| {b} | {t} | {e.replace('|', '/')} |" for b, t, e in _timeline(result, detection, pause)]
    lines += ["", "## Findings", "", "| block | detector | severity | title |", "|---|---|---|---|"]
    lines += [
        f"| {f.block_number} | {f.detector} | {f.severity} | {f.title.replace('|', '/')} |" for f in result.findings
    ]
    lines += ["", "## Actions", "", "| playbook | action | status | tx | mined in block |", "|---|---|---|---|---|"]
    lines += [
        f"| {a.playbook} | {_describe_action(a).replace('|', '/')} | {a.status} | `{a.tx_hash}` | {a.mined_block} |"
        for a in result.actions
    ]
    lines += [
        "",
        "## With and without the watchtower",
        "",
        "| | with | without |",
        "|---|---:|---:|",
        f"| attacker withdrew | {_usd(p.usdc_received)} | {_usd(u.usdc_received)} |",
        f"| attacker's queued claims | {_usd(p.claims)} | {_usd(u.claims)} |",
        f"| attacker's equity gain in the protocol | {_usd(p.equity_after - p.equity_before)} | "
        f"{_usd(u.equity_after - u.equity_before)} |",
        f"| value lost | {_usd(p.gain)} | {_usd(u.gain)} |",
        f"| attacker transactions refused | {p.count('attacker', 0)} | {u.count('attacker', 0)} |",
        f"| honest transactions refused | {p.count('honest', 0)} | {u.count('honest', 0)} |",
        "",
        "The block holding the first malicious transaction is beyond any off-chain watcher: its swing and",
        "withdrawal went through in both runs. From the next block on, withdrawals are paused (every market:",
        "withdraw is a protocol-wide operation) and the market is reduce-only: exits stay open, new risk and",
        "money leaving are refused. The gain still inside the protocol is frozen while the pause lasts.",
        "",
        "## Transactions (with the watchtower)",
        "",
        "| block | role | what | status |",
        "|---|---|---|---|",
    ]
    lines += [f"| {s.block} | {s.planned.role} | {s.planned.label} | {_status(s)} |" for s in p.sent]
    path.write_text("\n".join(lines) + "\n")
    return path

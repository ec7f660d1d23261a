"""Watchtower throughput: ingestion (normalization + decoding) and every detector (the generic ones
and those of the reference clearinghouse) over synthetic blocks of realistic protocol traffic, in
memory (no network: chain reads answer from a fixed table), on one core.

Traffic per transaction: a receipt with 1-3 ERC-20 Transfer logs (deposits into and withdrawals
out of the protected vault, transfers between users), an event of the protocol the registry does
not know (kept raw), a ``callTracer`` trace of 2-3 frames; some contract creations; every 50th
block holds a timelock ``CallScheduled``; one transaction in 20 swaps on the market's AMM pool
(two ``Sync``), one block in 10 holds both feeds' ``AnswerUpdated``, one in 25 a guard's ``Paused``.
Timings are medians of ``repeats`` runs; memory held per transaction of the block history
(``held_bytes_per_tx``, with spam ``held_bytes_per_tx_spam``) is measured with ``tracemalloc``. Prints a
table, then a LAST line of JSON with ``transactions`` and ``tx_per_s`` (the full pipeline).

Run: ``PYTHONPATH=src python bench/bench_throughput.py`` (or ``run()`` from ``bastion bench``).
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import sys
import time
from types import MappingProxyType
from typing import Any

from eth_abi import encode

from bastion.tower.service import run_detectors, tune_gc
from bastion.watch.decode import TRANSFER_TOPIC, AbiRegistry, event_topic
from bastion.watch.detectors import REGISTRY
from bastion.watch.detectors.abi import sel
from bastion.watch.detectors.governance import GOVERNANCE_ABI, selector
from bastion.watch.ingest import normalize_block
from bastion.watch.protocol import MarketInfo, Protocol, build_protocol
from bastion.watch.view import History, StaticView

TARGET_TX_PER_S = 5_000
SPAM_PER_BLOCK = 200
SPAM_TARGET_RATIO = 3.0  # median per-block time with spam / without
VAULT = "0x" + "a1" * 20
TOKEN = "0x" + "b2" * 20
TIMELOCK = "0x" + "c3" * 20
SCHEDULED = event_topic("CallScheduled(bytes32,uint256,address,uint256,bytes,bytes32,uint256)")
UNKNOWN = event_topic("PositionOpened(address,uint256,int256)")
ROUTER = "0x" + "d4" * 20
ENGINE = "0x" + "e5" * 20
FEED1, FEED2, POOL, GUARD = ("0x" + c * 20 for c in ("f1", "f2", "a7", "9a"))
MARKET_ID = "0x" + b"ETH-PERP".ljust(32, b"\0").hex()
ANSWER_UPDATED = event_topic("AnswerUpdated(int256,uint256,uint256)")
SYNC = event_topic("Sync(uint112,uint112)")
PAUSED = event_topic("Paused(uint256,uint32,uint256,address)")


def _event(name: str, *inputs: tuple[str, str, bool]) -> dict[str, Any]:
    return {"type": "event", "name": name, "inputs": [{"name": n, "type": t, "indexed": i} for n, t, i in inputs]}


PROTOCOL_ABI = [
    _event("AnswerUpdated", ("current", "int256", True), ("roundId", "uint256", True), ("updatedAt", "uint256", False)),
    _event("Sync", ("reserve0", "uint112", False), ("reserve1", "uint112", False)),
    _event(
        "Paused",
        ("market", "uint256", True),
        ("ops", "uint32", False),
        ("until", "uint256", False),
        ("by", "address", True),
    ),
]


def _h(rng: random.Random) -> str:
    return "0x" + rng.randbytes(32).hex()


def _addr_topic(a: str) -> str:
    return "0x" + "00" * 12 + a[2:]


def synthetic_blocks(n_blocks: int, txs_per_block: int, seed: int = 7) -> list[tuple[dict, list, list]]:
    """Raw JSON-RPC answers (block with full txs, receipts, callTracer traces) for ``n_blocks``."""
    rng = random.Random(seed)
    users = ["0x" + rng.randbytes(20).hex() for _ in range(500)]
    out = []
    parent = _h(rng)
    for number in range(1, n_blocks + 1):
        block_hash = _h(rng)
        txs, receipts, traces = [], [], []
        for i in range(txs_per_block):
            tx_hash = _h(rng)
            sender = rng.choice(users)
            create = rng.random() < 0.01
            to = None if create else VAULT
            logs = []
            for _ in range(rng.randint(1, 3)):
                kind = rng.random()
                src, dst = (
                    (sender, VAULT) if kind < 0.45 else (VAULT, sender) if kind < 0.9 else (sender, rng.choice(users))
                )
                amount = rng.randint(1, 5_000) * 10**6
                logs.append(
                    {
                        "address": TOKEN,
                        "topics": [TRANSFER_TOPIC, _addr_topic(src), _addr_topic(dst)],
                        "data": "0x" + amount.to_bytes(32, "big").hex(),
                    }
                )
            logs.append(
                {
                    "address": VAULT,
                    "topics": [UNKNOWN, _addr_topic(sender)],
                    "data": "0x" + encode(["uint256", "int256"], [rng.randint(1, 10**9), -5]).hex(),
                }
            )
            if i % 20 == 7:  # a swap on the pool inside a protocol transaction (small: no manipulation)
                for r0 in (2_000 * 10**18, 2_001 * 10**18):
                    data = encode(["uint112", "uint112"], [r0, 6_000_000 * 10**6])
                    logs.append({"address": POOL, "topics": [SYNC], "data": "0x" + data.hex()})
            if number % 10 == 0 and i == 1:  # the feeder's two updates
                for feed in (FEED1, FEED2):
                    topics = [ANSWER_UPDATED, "0x" + _word(3_000 * 10**8).hex(), "0x" + _word(number).hex()]
                    logs.append({"address": feed, "topics": topics, "data": "0x" + _word(_ts(number)).hex()})
            if number % 25 == 0 and i == 2:  # a guard acted
                topics = [PAUSED, "0x" + _word(1).hex(), _addr_topic(sender)]
                data = encode(["uint32", "uint256"], [4, _ts(number) + 3_600])
                logs.append({"address": ROUTER, "topics": topics, "data": "0x" + data.hex()})
            if number % 50 == 0 and i == 0:
                data = bytes.fromhex(selector("upgradeTo(address)")[2:]) + bytes(12) + bytes.fromhex(VAULT[2:])
                payload = encode(
                    ["address", "uint256", "bytes", "bytes32", "uint256"],
                    [VAULT, 0, data, bytes(32), 86_400],
                )
                logs.append(
                    {
                        "address": TIMELOCK,
                        "topics": [SCHEDULED, _h(rng), "0x" + "00" * 32],
                        "data": "0x" + payload.hex(),
                    }
                )
            for j, lg in enumerate(logs):
                lg.update(
                    {
                        "logIndex": hex(len(receipts) * 4 + j),
                        "transactionHash": tx_hash,
                        "transactionIndex": hex(i),
                        "blockNumber": hex(number),
                        "blockHash": block_hash,
                    }
                )
            txs.append(
                {
                    "hash": tx_hash,
                    "from": sender,
                    "to": to,
                    "value": "0x0",
                    "nonce": hex(rng.randint(0, 999)),
                    "gas": hex(300_000),
                    "type": "0x2",
                    "maxFeePerGas": hex(30 * 10**9),
                    "maxPriorityFeePerGas": hex(10**9),
                    "input": "0x" + rng.randbytes(100).hex(),
                    "blockNumber": hex(number),
                    "blockHash": block_hash,
                    "transactionIndex": hex(i),
                }
            )
            created = "0x" + rng.randbytes(20).hex() if create else None
            receipts.append(
                {
                    "transactionHash": tx_hash,
                    "blockHash": block_hash,
                    "status": "0x1",
                    "gasUsed": hex(rng.randint(50_000, 250_000)),
                    "effectiveGasPrice": hex(20 * 10**9),
                    "contractAddress": created,
                    "logs": logs,
                }
            )
            root = {
                "type": "CREATE" if create else "CALL",
                "from": sender,
                "to": created or VAULT,
                "value": "0x0",
                "input": "0x1234",
                "output": "0x",
                "gasUsed": "0x5208",
                "calls": [
                    {
                        "type": "CALL",
                        "from": created or VAULT,
                        "to": TOKEN,
                        "value": "0x0",
                        "input": "0xa9059cbb",
                        "output": "0x01",
                        "gasUsed": "0x100",
                    }
                ],
            }
            traces.append({"txHash": tx_hash, "result": root})
        raw = {
            "number": hex(number),
            "hash": block_hash,
            "parentHash": parent,
            "timestamp": hex(_ts(number)),
            "baseFeePerGas": hex(10**9),
            "transactions": txs,
        }
        parent = block_hash
        out.append((raw, receipts, traces))
    return out


def with_spam(blocks: list[tuple[dict, list, list]], per_block: int = 200, seed: int = 11) -> list:
    """``blocks`` with ``per_block`` dust transfers added to each: one base unit of the protected asset
    into the vault, each from a fresh address (the worst case for anything kept per account)."""
    rng = random.Random(seed)
    out = []
    for raw, receipts, traces in blocks:
        raw = {**raw, "transactions": list(raw["transactions"])}
        receipts, traces = list(receipts), list(traces)
        number, block_hash = raw["number"], raw["hash"]
        for k in range(per_block):
            i = len(raw["transactions"])
            tx_hash, sender = _h(rng), "0x" + rng.randbytes(20).hex()
            log = {
                "address": TOKEN,
                "topics": [TRANSFER_TOPIC, _addr_topic(sender), _addr_topic(VAULT)],
                "data": "0x" + (1).to_bytes(32, "big").hex(),
                "logIndex": hex(10_000 + k),
                "transactionHash": tx_hash,
                "transactionIndex": hex(i),
                "blockNumber": number,
                "blockHash": block_hash,
            }
            raw["transactions"].append(
                {
                    "hash": tx_hash,
                    "from": sender,
                    "to": TOKEN,
                    "value": "0x0",
                    "nonce": "0x0",
                    "gas": hex(60_000),
                    "type": "0x2",
                    "maxFeePerGas": hex(30 * 10**9),
                    "maxPriorityFeePerGas": hex(10**9),
                    "input": "0xa9059cbb" + _addr_topic(VAULT)[2:] + (1).to_bytes(32, "big").hex(),
                    "blockNumber": number,
                    "blockHash": block_hash,
                    "transactionIndex": hex(i),
                }
            )
            receipts.append(
                {
                    "transactionHash": tx_hash,
                    "blockHash": block_hash,
                    "status": "0x1",
                    "gasUsed": hex(35_000),
                    "effectiveGasPrice": hex(20 * 10**9),
                    "contractAddress": None,
                    "logs": [log],
                }
            )
            root = {
                "type": "CALL",
                "from": sender,
                "to": TOKEN,
                "value": "0x0",
                "input": "0xa9059cbb",
                "output": "0x01",
                "gasUsed": "0x88b8",
            }
            traces.append({"txHash": tx_hash, "result": root})
        out.append((raw, receipts, traces))
    return out


def block_times(blocks: list[tuple[dict, list, list]]) -> list[float]:
    """Seconds each block takes (ingest + every detector), in order, through one pipeline."""
    registry = AbiRegistry()
    registry.register(GOVERNANCE_ABI)
    registry.register(PROTOCOL_ABI)
    protocol, answers = _protocol_and_answers()
    history = History(256)
    view = StaticView(1, protocol, history, erc20={(TOKEN, VAULT): 10**9 * 10**6}, answers=answers)
    detectors = _detectors()
    out = []
    for raw, receipts, traces in blocks:
        start = time.perf_counter()
        block = normalize_block(1, raw, receipts, traces, registry)
        view.block_number = block.number
        run_detectors(detectors, block, view)
        history.append(block)
        out.append(time.perf_counter() - start)
    return out


def held_bytes_per_tx(blocks: list[tuple[dict, list, list]], history_blocks: int = 256) -> int:
    """Memory the watchtower holds per transaction of its block history (blocks, memoized summaries and
    detector state, after every detector ran on each block), measured with ``tracemalloc``."""
    import tracemalloc

    registry = AbiRegistry()
    registry.register(GOVERNANCE_ABI)
    registry.register(PROTOCOL_ABI)
    protocol, answers = _protocol_and_answers()
    history = History(history_blocks)
    view = StaticView(1, protocol, history, erc20={(TOKEN, VAULT): 10**9 * 10**6}, answers=answers)
    detectors = _detectors()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for raw, receipts, traces in blocks:
            block = normalize_block(1, raw, receipts, traces, registry)
            view.block_number = block.number
            run_detectors(detectors, block, view)
            history.append(block)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    held = sum(len(b.txs) for b in history)
    return round(grown / max(1, held))


def _ts(number: int) -> int:
    return 1_700_000_000 + 2 * number


def _word(*values: int) -> bytes:
    return b"".join(v.to_bytes(32, "big", signed=True) for v in values)


def _detectors() -> list:
    configs = {
        "large_transfer": {"min_amount": {TOKEN: 4_990 * 10**6}},
        "outflow_rate": {"window_blocks": 50, "max_fraction_bps": 500},
        "attacker_prep": {"window_blocks": 50},
        "governance": {},
        "ownership": {},
        "proxy_upgrade": {},
        "contract_paused": {},
        "oracle_drift": {},
        "unit_price": {"vaults": {"vault": {"vault": VAULT}}},
        "account_extraction": {"window_blocks": 50},
        "deposit_roundtrip": {"window_blocks": 50},
        "emergency_param": {},
        "flow_anomaly": {"window_blocks": 200, "min_history": 20},
        "oracle_deviation": {"recheck_blocks": 10},
        "stale_feed": {},
        "price_manipulation": {},
        "guard_event": {},
        "solvency": {"asset": TOKEN},
    }
    return REGISTRY.build(configs)


def _protocol_and_answers() -> tuple[Protocol, dict[tuple[str, bytes], bytes]]:
    """The reference-protocol shape (vault, engine, router, one market with its feeds and pool) and the
    fixed answers of every read the protocol detectors make (fresh feeds, a quiet pool, a solvent vault)."""
    base = build_protocol(
        "bench",
        1,
        {
            "vault": {"address": VAULT},
            "engine": {"address": ENGINE},
            "router": {"address": ROUTER},
            "oracle_guard": {"address": GUARD, "protected": False},
            "timelock": {"address": TIMELOCK, "kind": "timelock", "protected": False},
        },
        {"USD": {"address": TOKEN, "decimals": 6}},
    )
    market = MarketInfo("ETH-PERP", 0, MARKET_ID, FEED1, FEED2, POOL)
    protocol = Protocol(
        base.name,
        1,
        base.contracts,
        base.assets,
        MappingProxyType({"ETH-PERP": market}),
        MappingProxyType({}),
        MappingProxyType({"feed_decimals": 8}),
    )
    spot = 3_000 * 10**18
    fresh = _ts(10**6)  # updatedAt in the future of every synthetic block: never stale
    round_data = _word(1, 3_000 * 10**8, fresh, fresh, 1)
    guard_config = _word(int(FEED1, 16), 10_800, 8, 200, 1_500, 3_600, int(FEED2, 16), 10_800, 8, 900)
    answers = {
        (FEED1, sel("latestRoundData()")): round_data,
        (FEED2, sel("latestRoundData()")): round_data,
        (GUARD, sel("configOf(bytes32)")): guard_config,
        (POOL, sel("priceCumulative()")): _word(0),
        (POOL, sel("lastUpdate()")): _word(_ts(0)),
        (POOL, sel("spotPrice()")): _word(spot),
        (POOL, sel("reserve0()")): _word(2_000 * 10**18),
        (POOL, sel("reserve1()")): _word(6_000_000 * 10**6),
        (VAULT, sel("outstandingClaims()")): _word(0),
        (ENGINE, sel("obligations()")): _word(10**9 * 10**6 - 10),
        (ENGINE, sel("settled()")): _word(0),
    }
    return protocol, answers


def run_once(blocks: list[tuple[dict, list, list]], *, detect: bool = True) -> tuple[float, int, int]:
    """Seconds to normalize (and optionally detect on) every block; transactions; findings."""
    registry = AbiRegistry()
    registry.register(GOVERNANCE_ABI)
    registry.register(PROTOCOL_ABI)
    protocol, answers = _protocol_and_answers()
    history = History(256)
    view = StaticView(1, protocol, history, erc20={(TOKEN, VAULT): 10**9 * 10**6}, answers=answers)
    detectors = _detectors()
    n_tx = n_findings = 0
    start = time.perf_counter()
    for raw, receipts, traces in blocks:
        block = normalize_block(1, raw, receipts, traces, registry)
        n_tx += len(block.txs)
        if detect:
            view.block_number = block.number
            n_findings += len(run_detectors(detectors, block, view))
        history.append(block)
    return time.perf_counter() - start, n_tx, n_findings


def _median(blocks, repeats: int, detect: bool) -> tuple[float, int, int]:
    runs = [run_once(blocks, detect=detect) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), runs[0][1], runs[0][2]


def run(n_blocks: int = 100, txs_per_block: int = 100, repeats: int = 5, out: Any = None) -> dict[str, Any]:
    """The benchmark; returns (and prints last) the JSON result."""
    out = out or sys.stdout
    blocks = synthetic_blocks(n_blocks, txs_per_block)
    run_once(blocks[:5])  # warm caches and imports
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)  # CPython's default: the baseline
        base_ingest, n_tx, _ = _median(blocks, repeats, False)
        base_full, _, _ = _median(blocks, repeats, True)
        tune_gc()  # what the service runs with
        t_ingest, _, _ = _median(blocks, repeats, False)
        t_full, _, n_findings = _median(blocks, repeats, True)
        # spam: the same blocks with 200 dust transfers each into the vault; per-block medians
        spammed = with_spam(blocks, SPAM_PER_BLOCK)
        normal_ms = statistics.median(statistics.median(block_times(blocks)) for _ in range(repeats)) * 1e3
        spam_ms = statistics.median(statistics.median(block_times(spammed)) for _ in range(repeats)) * 1e3
    finally:
        gc.set_threshold(*saved)
    held_normal, held_spam = held_bytes_per_tx(blocks), held_bytes_per_tx(spammed)
    print(f"memory held per transaction: {held_normal:,} B normal, {held_spam:,} B with spam", file=out)
    rows = [
        ("ingest, default gc", base_ingest),
        ("ingest + detectors, default gc", base_full),
        ("ingest, service gc", t_ingest),
        ("ingest + detectors, service gc", t_full),
    ]
    print(
        f"per block: {normal_ms:.2f} ms normal, {spam_ms:.2f} ms with {SPAM_PER_BLOCK} dust transfers "
        f"({spam_ms / normal_ms:.2f}x)",
        file=out,
    )
    print(f"{'stage (' + str(n_tx) + ' txs)':<34} {'median s':>9} {'tx/s':>10} {'vs baseline':>12}", file=out)
    for name, t in rows:
        print(f"{name:<34} {t:>9.4f} {n_tx / t:>10,.0f} {base_full / t:>11.2f}x", file=out)
    result = {
        "benchmark": "watch_throughput",
        "blocks": n_blocks,
        "transactions": n_tx,
        "logs_per_tx": round(sum(len(r["logs"]) for _, rs, _ in blocks for r in rs) / n_tx, 2),
        "findings": n_findings,
        "repeats": repeats,
        "ingest_tx_per_s": round(n_tx / t_ingest),
        "tx_per_s": round(n_tx / t_full),
        "baseline_default_gc_tx_per_s": round(n_tx / base_full),
        "speedup_vs_baseline": round(base_full / t_full, 2),
        "target_tx_per_s": TARGET_TX_PER_S,
        "meets_target": n_tx / t_full >= TARGET_TX_PER_S,
        "spam_dust_per_block": SPAM_PER_BLOCK,
        "normal_block_ms": round(normal_ms, 2),
        "spam_block_ms": round(spam_ms, 2),
        "spam_block_ms_ratio": round(spam_ms / normal_ms, 2),
        "spam_target_ratio": SPAM_TARGET_RATIO,
        "meets_spam_target": spam_ms / normal_ms <= SPAM_TARGET_RATIO,
        "held_bytes_per_tx": held_normal,
        "held_bytes_per_tx_spam": held_spam,
    }
    print(json.dumps(result), file=out)
    return result


if __name__ == "__main__":
    run()

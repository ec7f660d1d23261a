"""Detect-to-broadcast latency of the watchtower on the reference clearinghouse, over many attack trials.

One anvil (manual mining), the reference protocol deployed, one watchtower in a background thread with
the shipped config (``configs/watch.protocol.toml``: every protocol and generic detector, traces on,
the SQLite store on disk, new heads over WebSocket, the pause pre-signed). Each trial, from the same
``evm_snapshot``:

1. the compromised feeder's two transactions (both ETH-PERP feeds +14.9%) wait in the pool;
2. the bench mines the block that holds them (``evm_mine``: an ordinary block; the watchtower does not
   read the mempool) and notes ``t0`` when the node answers: the block is available at the RPC;
3. the watchtower hears the head over WebSocket, fetches the block (receipts, traces), runs every
   detector, stores the finding and its incident, and its playbook broadcasts the pre-signed
   ``Router.pause(0, WITHDRAW, 1 h)``; the relayer records ``sent_at`` once the node accepted it;
4. ``block_interval`` after ``t0`` the bench mines the next block on its own clock (the watchtower
   never triggers it) and checks whether the pause is in it;
5. the bench mines until every action of the trial is mined (the pool is empty), then ``evm_revert``
   to the snapshot; the watchtower handles the reorg (its findings retracted, its nonce
   resynchronized, the pause pre-signed again) before the next trial starts.

Latency = ``sent_at - t0``. Reported: p50, p90, p99, max (ms) and the share of trials whose pause was
mined in the very next block. The last line printed is JSON with ``trials``,
``detect_to_broadcast_ms_p50``, ``detect_to_broadcast_ms_p99`` and ``mined_next_block_ratio``.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bastion.chain.contracts import Sender, connect
from bastion.chain.node import AnvilNode
from bastion.chain.rpc import RpcClient
from bastion.protocol.client import Protocol
from bastion.protocol.deploy import FEED_DECIMALS, deploy_system, dev_keys, dev_roles
from bastion.protocol.scripted import GWEI, Planned, ScriptedSender

TARGET_MS = 100.0
TARGET_RATIO = 0.99
FEEDERS = {"primary": 1, "secondary": 8}  # dev_roles: each feed has its own signer; the thief holds both


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100])."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def _pushes(protocol: Protocol, answer: int) -> list[Planned]:
    out = []
    for which in ("primary", "secondary"):
        feed = protocol.feed("ETH-PERP", which)
        data = bytes.fromhex(feed.functions.setAnswer(answer)._encode_transaction_data()[2:])
        out.append(Planned(FEEDERS[which], feed.address, data, f"push {which}", role="feeder", gas=200_000, tip=GWEI))
    return out


class _SlowWebhook:
    """A local webhook receiver that answers each notification after ``delay_s`` seconds."""

    def __init__(self, delay_s: float) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(delay_s)
                hook.received += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _config_with_notifier(url: str, delay_s: float) -> Any:
    """The shipped config plus a webhook channel at ``url`` (which every notify action reaches)."""
    from bastion.tower.config import validate_config
    from bastion.tower.runner import default_config_path
    from bastion.watch.config import parse_file

    path = default_config_path()
    data = parse_file(path)
    data["notifiers"] = {"slow": {"type": "webhook", "url": url, "timeout_s": delay_s + 5, "retries": 0}}
    return validate_config(data, path.parent)


def run(
    trials: int = 100,
    block_interval: float = 1.0,
    *,
    warmup: int = 3,
    out: Any = None,
    workdir: str | Path | None = None,
    notifier_delay_s: float | None = None,
) -> dict[str, Any]:
    """The benchmark; returns (and prints last) the JSON result. ``notifier_delay_s``: a webhook
    channel is configured that answers only after that many seconds (it must not slow the pause)."""
    from bastion.tower.runner import start_watchtower

    hook = _SlowWebhook(notifier_delay_s) if notifier_delay_s else None
    config = _config_with_notifier(hook.url, notifier_delay_s) if hook else None

    out = out or sys.stdout
    latencies: list[float] = []
    from_call: list[float] = []
    next_block = 0
    misses: list[int] = []
    with AnvilNode(accounts=16) as node, tempfile.TemporaryDirectory(prefix="bastion-latency-") as tmp:
        w3 = connect(node.http_url)
        manifest = deploy_system(
            Sender.from_key(w3, node.accounts[0].private_key), dev_roles(node.accounts), dev_keys(node.accounts)
        )
        protocol = Protocol(w3, manifest)
        rpc = RpcClient([node.http_url], timeout=10.0)
        sender = ScriptedSender(rpc, node.chain_id, {i: node.accounts[i].private_key for i in FEEDERS.values()})
        node.rpc("evm_setAutomine", False)
        node.rpc("evm_mine")
        tower = start_watchtower(
            manifest,
            config,
            node.http_url,
            node.ws_url,
            workdir=Path(workdir or tmp) / "watch",
            service={"poll_interval": 2.0},  # the WebSocket head is the trigger; polling is the fallback
        )
        relayer = tower.service.relayers["guardian"]
        malicious_price = manifest.markets["ETH-PERP"]["price_usd"] * 11_490 // 10_000
        try:
            snap = node.snapshot()
            _settle(tower, node, relayer)
            for trial in range(warmup + trials):
                sender.resync()
                before = {a.id for a in tower.actions()}
                # a slightly different price each trial: distinct transactions, so no two trials mine the
                # same block (a block that comes back after a reorg keeps its findings and incident)
                sender.send_all(_pushes(protocol, malicious_price * 10**FEED_DECIMALS + trial))
                t_call = time.time()
                node.rpc("evm_mine")
                t0 = time.time()
                n = int(node.rpc("eth_blockNumber"), 16)
                time.sleep(max(0.0, t0 + block_interval - time.time()))
                node.rpc("evm_mine")  # the next block, on the bench's clock
                pause = tower.wait_for(
                    lambda before=before: next(
                        (a for a in tower.actions() if a.id not in before and a.kind == "pause" and a.sent_at),
                        None,
                    ),
                    timeout=5.0,
                )
                if pause is None:
                    raise RuntimeError(f"trial {trial}: no pause was broadcast ({tower.error or 'no error'})")
                receipt = rpc.call("eth_getTransactionReceipt", pause.tx_hash)
                extra = 0
                while receipt is None and extra < 3:  # broadcast too late for block n+1: mine it out of the pool
                    node.rpc("evm_mine")
                    extra += 1
                    receipt = rpc.call("eth_getTransactionReceipt", pause.tx_hash)
                mined_in = int(receipt["blockNumber"], 16) if receipt else None
                if trial >= warmup:
                    latencies.append((pause.sent_at - t0) * 1000)
                    from_call.append((pause.sent_at - t_call) * 1000)
                    if mined_in == n + 1:
                        next_block += 1
                    else:
                        misses.append(trial - warmup)
                _drain(tower, node, n + 1 + extra)
                node.revert(snap)
                snap = node.snapshot()
                _settle(tower, node, relayer)
        finally:
            tower.stop()
            rpc.close()
            if hook is not None:
                hook.close()
    result = {
        "benchmark": "watch_latency",
        "trials": len(latencies),
        "block_interval_s": block_interval,
        "notifier_delay_s": notifier_delay_s,
        "notifications_delivered": hook.received if hook is not None else None,
        "detect_to_broadcast_ms_p50": round(statistics.median(latencies), 2),
        "detect_to_broadcast_ms_p90": round(_percentile(latencies, 90), 2),
        "detect_to_broadcast_ms_p99": round(_percentile(latencies, 99), 2),
        "detect_to_broadcast_ms_max": round(max(latencies), 2),
        "from_mine_call_ms_p50": round(statistics.median(from_call), 2),
        "from_mine_call_ms_p99": round(_percentile(from_call, 99), 2),
        "mined_next_block_ratio": round(next_block / len(latencies), 4),
        "missed_trials": misses,
        "slowest_ms": [round(x, 1) for x in sorted(latencies)[-5:]],
        "target_ms": TARGET_MS,
        "meets_target": _percentile(latencies, 99) <= TARGET_MS and next_block / len(latencies) >= TARGET_RATIO,
    }
    print(
        f"{len(latencies)} trials: detect-to-broadcast p50 {result['detect_to_broadcast_ms_p50']} ms, "
        f"p90 {result['detect_to_broadcast_ms_p90']} ms, p99 {result['detect_to_broadcast_ms_p99']} ms, "
        f"max {result['detect_to_broadcast_ms_max']} ms; pause mined in the next block in "
        f"{next_block}/{len(latencies)} trials",
        file=out,
    )
    print(json.dumps(result), file=out)
    return result


def _drain(tower: Any, node: AnvilNode, head: int) -> None:
    """Mine until every action of the trial is mined and seen (the pool is empty before the revert)."""
    for _ in range(5):
        tower.wait_synced(head, timeout=5.0)
        if tower.wait_for(lambda: all(a.status not in ("planned", "sent") for a in tower.actions()), timeout=0.5):
            return
        node.rpc("evm_mine")
        head += 1
    raise RuntimeError(f"actions still pending after 5 blocks: {[a for a in tower.actions() if a.status == 'sent']}")


def _settle(tower: Any, node: AnvilNode, relayer: Any) -> None:
    """Let the watchtower see the (reverted) head, handle the reorg and pre-sign its pause again."""
    head = int(node.rpc("eth_blockNumber"), 16)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        ticks = tower.service.ticks
        tower.service.wake.set()
        tower.wait_for(lambda ticks=ticks: tower.service.ticks > ticks, timeout=5.0, interval=0.002)
        if tower.checkpoint() == head and relayer.presigned_ready() > 0 and not tower.service.wake.is_set():
            return
    raise RuntimeError(f"the watchtower did not settle on block {head} ({tower.error or 'no error'})")


if __name__ == "__main__":
    run()

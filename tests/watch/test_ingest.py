"""Ingest on a real anvil: checkpoint and backfill, reorgs of depth 1-5, malformed answers and
undecodable logs (logged and skipped, never a crash)."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request

import pytest
from eth_utils import keccak
from tests.watch.conftest import USD

from bastion.chain.rpc import RpcMalformed
from bastion.store import Repository
from bastion.tower.service import WatchService
from bastion.watch.decode import TRANSFER_TOPIC
from bastion.watch.ingest import MalformedData, normalize_block


def findings(svc, live_only=False):
    with svc.db.session() as s:
        return [f for f in Repository.findings(s) if not (live_only and f.retracted)]


def test_block_shape_from_anvil(world, tmp_path):
    world.drain(10 * USD)
    svc = WatchService(world.config(tmp_path), configure_logging=False)
    head = svc.fetcher.head()
    block = svc.fetcher.fetch(head)
    assert block.number == head and block.chain_id == 31337
    (tx,) = block.txs
    assert tx.sender == world.attacker.address.lower() and tx.to == world.vault.address.lower()
    assert tx.status == 1 and tx.gas_used > 0 and tx.selector == keccak(text="withdraw(address,address,uint256)")[:4]
    transfer = next(lg for lg in tx.logs if lg.name == "Transfer")
    assert transfer.args["from"] == world.vault.address.lower()
    assert transfer.args["value"] == 10 * USD
    # traces: the top call and the vault's call to the token
    assert block.traces is not None
    assert [(f.path, f.to) for f in block.traces] == [
        ((), world.vault.address.lower()),
        ((0,), world.token.address.lower()),
    ]
    svc.close()


def test_checkpoint_resume_and_backfill(world, tmp_path):
    cfg = world.config(tmp_path)
    svc = WatchService(cfg, configure_logging=False)
    svc.run_once()
    world.drain(300_000 * USD)
    svc.run_once()
    assert len(findings(svc)) == 1
    first_head = svc.follower.checkpoint()[0]
    svc.close()
    # the watchtower is down while three more drains happen
    for _ in range(3):
        world.drain(100_000 * USD)
    world.node.mine(2)
    svc2 = WatchService(cfg, configure_logging=False)
    processed = svc2.run_once()
    assert processed == world.w3.eth.block_number - first_head  # only the missed blocks
    got = findings(svc2)
    assert len(got) == 4 and len({f.key for f in got}) == 4
    assert svc2.run_once() == 0 and len(findings(svc2)) == 4  # nothing twice
    svc2.close()


def _withdraw_request(world, amount):
    data = world.vault.functions.withdraw(
        world.token.address, world.attacker.address, amount
    )._encode_transaction_data()
    return {"from": world.attacker.address, "to": world.vault.address, "data": data, "gas": hex(200_000)}


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_reorg_retracts_orphaned_findings(world, tmp_path, depth):
    svc = WatchService(world.config(tmp_path), configure_logging=False)
    svc.run_once()
    for _ in range(depth):
        world.drain(100_000 * USD)
    svc.run_once()
    orphaned = findings(svc)
    assert len(orphaned) == depth
    # replace the last `depth` blocks: each new block drains a different amount
    world.node.rpc("anvil_reorg", depth, [[_withdraw_request(world, (7 + i) * 10_000 * USD), i] for i in range(depth)])
    svc.run_once()
    all_rows = findings(svc)
    retracted = [f for f in all_rows if f.retracted]
    live = [f for f in all_rows if not f.retracted]
    assert {f.key for f in retracted} == {f.key for f in orphaned}
    assert sorted(f.details["amount"] for f in live) == [(7 + i) * 10_000 * USD for i in range(depth)]
    canonical = {world.node.rpc("eth_getBlockByNumber", hex(f.block_number), False)["hash"] for f in live}
    assert canonical == {f.block_hash for f in live}
    with svc.db.session() as s:
        statuses = sorted(i.status for i in Repository.incidents(s))
    assert "open" in statuses and len(statuses) >= 1
    svc.close()


def test_reorg_to_empty_blocks_retracts_incident(world, tmp_path):
    svc = WatchService(world.config(tmp_path), configure_logging=False)
    svc.run_once()
    world.drain(200_000 * USD)
    svc.run_once()
    world.node.rpc("anvil_reorg", 1, [])
    svc.run_once()
    (f,) = findings(svc)
    assert f.retracted
    with svc.db.session() as s:
        assert [i.status for i in Repository.incidents(s)] == ["retracted"]
    svc.close()


class JunkProxy:
    """A local JSON-RPC endpoint that forwards to anvil but answers junk while ``junk`` says so."""

    def __init__(self, receiver, upstream):
        self.upstream = upstream
        self.mode = "forward"
        receiver.responder = self.respond

    def respond(self, req):
        payload = req.json()
        if self.mode == "garbage":
            return 200, b"<html>502 bad gateway</html>"
        if self.mode == "bad-block":
            first = payload[0] if isinstance(payload, list) else payload
            if first["method"] == "eth_getBlockByNumber" and first["params"][1] is True:
                items = payload if isinstance(payload, list) else [payload]
                out = [
                    {"jsonrpc": "2.0", "id": p["id"], "result": {"hash": "0xnot-a-hash", "transactions": 7}}
                    for p in items
                ]
                return 200, json.dumps(out if isinstance(payload, list) else out[0]).encode()
        r = urllib.request.Request(self.upstream, req.body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=10) as resp:
            return 200, resp.read()


def test_malformed_block_is_a_typed_error_and_skipped_until_good(world, tmp_path, http_receiver):
    proxy = JunkProxy(http_receiver, world.node.http_url)
    cfg = world.config(tmp_path, networks={"local": {"rpc_urls": [http_receiver.url], "max_rounds": 1}})
    svc = WatchService(cfg, configure_logging=False)
    svc.run_once()
    cp = svc.follower.checkpoint()
    world.drain(300_000 * USD)
    proxy.mode = "bad-block"
    with pytest.raises(RpcMalformed):
        svc.run_once()
    assert svc.follower.checkpoint() == cp  # nothing half-processed
    proxy.mode = "forward"
    svc.run_once()
    assert len(findings(svc)) == 1
    svc.close()


def test_service_loop_survives_junk_endpoint(world, tmp_path, http_receiver, caplog):
    proxy = JunkProxy(http_receiver, world.node.http_url)
    cfg = world.config(tmp_path, networks={"local": {"rpc_urls": [http_receiver.url], "max_rounds": 1}})
    svc = WatchService(cfg, configure_logging=False)
    svc.run_once()
    proxy.mode = "garbage"
    world.drain(300_000 * USD)
    caplog.set_level(logging.ERROR, logger="bastion")
    thread = threading.Thread(target=svc.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not any(getattr(r, "event", None) == "tick_error" for r in caplog.records):
        assert time.monotonic() < deadline, "no tick_error logged"
        time.sleep(0.02)
    assert thread.is_alive()  # logged, not crashed
    proxy.mode = "forward"
    deadline = time.monotonic() + 20
    while not findings(svc):
        assert time.monotonic() < deadline, "the loop did not recover"
        time.sleep(0.05)
    svc.stop()
    thread.join(10)
    assert not thread.is_alive()


def test_failover_from_junk_endpoint_to_anvil(world, tmp_path, http_receiver):
    proxy = JunkProxy(http_receiver, world.node.http_url)
    proxy.mode = "garbage"
    dead = "http://127.0.0.1:9"  # discard port: connection refused
    cfg = world.config(tmp_path, networks={"local": {"rpc_urls": [dead, http_receiver.url, world.node.http_url]}})
    svc = WatchService(cfg, configure_logging=False)
    world.drain(300_000 * USD)
    svc.run_once()
    assert len(findings(svc)) == 1
    health = {h["endpoint"]: h for h in svc.rpc.health()}
    assert health["http://127.0.0.1:9"]["errors"] >= 1
    assert health[http_receiver.url]["errors"] >= 1
    assert health[world.node.http_url.rstrip("/")]["errors"] == 0
    svc.close()


def test_undecodable_logs_are_kept_raw(world, tmp_path):
    logger = world.deployer.deploy("WatchLogger")
    vault_topic = "0x" + "00" * 12 + world.vault.address[2:].lower()
    # a "Transfer" from the vault whose data is 5 bytes instead of 32: cannot decode
    world.deployer.transact(logger.functions.emitRaw(TRANSFER_TOPIC, vault_topic, vault_topic, b"\x01\x02\x03\x04\x05"))
    svc = WatchService(world.config(tmp_path), configure_logging=False)
    svc.run_once()
    block = svc.fetcher.fetch(svc.fetcher.head())
    (lg,) = block.txs[0].logs
    assert lg.name is None and lg.data == b"\x01\x02\x03\x04\x05" and lg.topics[0] == TRANSFER_TOPIC
    assert svc.abis.undecodable >= 1
    assert findings(svc) == []
    svc.close()


def test_normalize_rejects_junk_shapes():
    for junk in [None, [], {"hash": "0x1"}, {"hash": "0x" + "00" * 32, "transactions": [1, 2]}]:
        with pytest.raises(MalformedData):
            normalize_block(1, junk, [])


def test_slow_endpoint_times_out_and_fails_over(world, tmp_path, http_receiver):
    def slow(req):
        time.sleep(1.5)
        return 200, b'{"jsonrpc":"2.0","id":1,"result":"0x1"}'

    http_receiver.responder = slow
    cfg = world.config(
        tmp_path, networks={"local": {"rpc_urls": [http_receiver.url, world.node.http_url], "timeout": 0.3}}
    )
    svc = WatchService(cfg, configure_logging=False)
    world.drain(300_000 * USD)
    svc.run_once()
    assert len(findings(svc)) == 1
    slow_ep = next(h for h in svc.rpc.health() if h["endpoint"] == http_receiver.url)
    assert slow_ep["errors"] >= 1 and "Timeout" in slow_ep["last_error"]
    assert slow_ep["consecutive_failures"] >= 1  # it cools down, exponentially longer each time
    text = svc.metrics.render().decode()
    assert "ReadTimeout" in text  # counted in bastion_watch_rpc_calls_total by outcome
    svc.close()

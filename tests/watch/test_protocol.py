"""The watchtower on the reference clearinghouse, on a real anvil: the manifest adapter, the protocol
detectors (oracle deviation, stale feeds, price manipulation, guard events, solvency), the protocol
playbooks (pause a scope with a pre-signed transaction, force reduce-only, extend a limiter trip,
emergency-tighten a parameter, cancel a timelocked operation through the Safe, dry run) and the
in-process runner. One deployment per module; every test starts from the same chain snapshot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner
from web3 import Web3

from bastion.chain import AnvilNode, Sender, connect
from bastion.chain.artifacts import ArtifactError, load_artifact
from bastion.chain.rpc import RpcClient
from bastion.protocol.client import WAD, Protocol
from bastion.protocol.deploy import OWN_INFLOW_MEMORY, Manifest, deploy_system, dev_keys, dev_roles, param_key
from bastion.protocol.scripted import Planned, ScriptedSender
from bastion.respond.keys import Signer, signer_from_hex
from bastion.store import Repository
from bastion.tower.commands import app
from bastion.tower.runner import build_config, default_config_path, start_watchtower
from bastion.tower.runner import dev_keys as watch_keys
from bastion.tower.service import WatchService
from bastion.watch.config import parse_file
from bastion.watch.protocol import load_manifest, protocol_from_data

USD = 10**6
FEED = 10**8
ZERO = "0x" + "00" * 20
WITHDRAW, OPEN = 1, 2


@dataclass
class Ref:
    node: AnvilNode
    w3: Web3
    manifest: Manifest
    path: Path
    p: Protocol
    rpc: RpcClient

    def sender(self, i: int) -> Sender:
        return Sender.from_key(self.w3, self.node.accounts[i].private_key)

    def scripted(self, *indices: int) -> ScriptedSender:
        return ScriptedSender(self.rpc, self.node.chain_id, {i: self.node.accounts[i].private_key for i in indices})


@pytest.fixture(scope="module")
def ref(tmp_path_factory) -> Iterator[Ref]:
    try:
        load_artifact("Router")
        load_artifact("PoolManipulator")
    except ArtifactError as exc:
        pytest.skip(f"forge artifacts missing: {exc}")
    with AnvilNode(accounts=16) as node:
        w3 = connect(node.http_url)
        manifest = deploy_system(
            Sender.from_key(w3, node.accounts[0].private_key), dev_roles(node.accounts), dev_keys(node.accounts)
        )
        path = tmp_path_factory.mktemp("manifest") / "deployment.json"
        manifest.write(path)
        rpc = RpcClient([node.http_url])
        yield Ref(node, w3, manifest, path, Protocol(w3, manifest), rpc)
        rpc.close()


@pytest.fixture
def chain(ref: Ref) -> Iterator[Ref]:
    snap = ref.node.snapshot()
    yield ref
    ref.node.rpc("evm_setAutomine", True)
    ref.node.revert(snap)


def service(ref: Ref, tmp_path: Path, *, detectors=None, playbooks=None, dry_run=None, **svc) -> WatchService:
    data = parse_file(default_config_path())
    if detectors is not None:
        data["detectors"] = detectors
    if playbooks is not None:
        data["playbooks"] = playbooks
    cfg = build_config(
        ref.path,
        data,
        ref.node.http_url,
        None,
        str(tmp_path / "watch.db"),
        dry_run=dry_run,
        start_block=ref.w3.eth.block_number + 1,
        service=svc,
    )
    signers = {k: signer_from_hex(v) for k, v in watch_keys().items()}
    return WatchService(cfg, configure_logging=False, signers=signers)


@contextmanager
def one_block(ref: Ref) -> Iterator[None]:
    """Transactions sent inside land in one block, mined on exit."""
    ref.node.rpc("evm_setAutomine", False)
    try:
        yield
        ref.node.rpc("evm_mine")
    finally:
        ref.node.rpc("evm_setAutomine", True)


def push(ref: Ref, primary: int | None, secondary: int | None, market: str = "ETH-PERP") -> list:
    """The feeders (account 1: primary, account 8: secondary) set the feeds (whole USD) in one block; the
    sent transactions."""
    signer = {"primary": 1, "secondary": 8}
    s = ref.scripted(*signer.values())
    planned = []
    for which, price in (("primary", primary), ("secondary", secondary)):
        if price is not None:
            fn = ref.p.feed(market, which).functions.setAnswer(price * FEED)
            data = bytes.fromhex(fn._encode_transaction_data()[2:])
            planned.append(Planned(signer[which], fn.address, data, which, gas=200_000))
    with one_block(ref):
        sent = s.send_all(planned)
    s.settle(sent)
    assert all(x.status == 1 for x in sent)
    return sent


def findings(svc: WatchService, detector: str | None = None) -> list:
    with svc.db.session() as s:
        rows = Repository.findings(s, include_retracted=False)
    return [f for f in rows if detector is None or f.detector == detector]


def actions(svc: WatchService) -> list:
    with svc.db.session() as s:
        return Repository.actions(s)


# -- the manifest adapter ------------------------------------------------------------------------
def test_deployment_manifest_becomes_the_protocol(ref):
    proto = load_manifest(ref.path)
    c = ref.manifest.contracts
    assert proto.protected == {c["vault"].lower(), c["engine"].lower(), c["router"].lower()}
    assert proto.assets["USDC"].address == c["usdc"].lower() and proto.assets["USDC"].decimals == 6
    assert proto.timelocks == {c["timelock"].lower()}
    assert proto.contracts["safe"].kind == "safe"
    assert any(i.get("name") == "AssetRateLimitBreached" for i in proto.contracts["vault"].abi)
    eth = proto.market("ETH-PERP")
    assert (eth.scope, eth.index) == (1, 0) and proto.market(eth.id) is eth
    assert eth.pool == ref.manifest.markets["ETH-PERP"]["pool"].lower()
    assert proto.resolve("ETH-PERP.feed_secondary") == eth.feed_secondary
    assert proto.resolve("watchtower") == ref.node.accounts[5].address.lower()
    assert proto.market_of_pool(eth.pool) is eth and proto.market_of_feed(eth.feed_primary) is eth
    # the generic shape still loads
    generic = protocol_from_data(
        {"contracts": {"v": {"address": c["vault"]}}, "assets": {"X": {"address": c["usdc"], "decimals": 6}}}
    )
    assert generic.protected == {c["vault"].lower()} and not generic.markets


def test_watch_check_with_a_manifest(ref, tmp_path, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("BASTION_WATCHTOWER_KEY", ref.node.accounts[5].private_key)  # --check needs the keys
    monkeypatch.setenv("BASTION_SAFE_OWNER_KEY", ref.node.accounts[2].private_key)
    config = str(default_config_path())
    ok = runner.invoke(app, ["watch", "--config", config, "--manifest", str(ref.path), "--check"])
    assert ok.exit_code == 0, ok.output
    assert "3 protected contract(s), 2 market(s)" in ok.output and "7 playbook(s)" in ok.output
    bad = runner.invoke(app, ["watch", "--config", config, "--manifest", str(tmp_path / "nope.json"), "--check"])
    assert bad.exit_code == 2
    lines = [line for line in bad.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("config error: protocol.manifest:") and "bastion deploy" in lines[0]


# -- detectors -----------------------------------------------------------------------------------
def test_oracle_deviation_sees_a_compromised_feeder(chain, tmp_path):
    svc = service(chain, tmp_path, detectors={"oracle_deviation": {}}, playbooks=[])
    push(chain, 3_003, 3_003)  # an honest move
    svc.run_once()
    assert findings(svc) == []
    sent = push(chain, 3_447, 3_447)  # both feeds, same block: corroborated, the guard would accept it
    svc.run_once()
    (f,) = findings(svc)
    assert f.severity == "critical" and f.tx_hash == sent[0].tx_hash
    assert f.actor == chain.node.accounts[1].address.lower()
    assert f.details["market"] == "ETH-PERP" and f.details["scope"] == 1
    # amounts above 2**53 are stored as decimal strings (exact)
    assert int(f.details["twap"]) == 3_000 * WAD and int(f.details["price"]) == 3_447 * WAD
    assert f.details["deviation_bps"] == 1_490
    push(chain, 3_100, None)  # the primary alone: the feeds disagree (3.3% > 1%), the TWAP is within 5%...
    svc.run_once()
    new = findings(svc)[1:]
    assert [x.details["reference"] for x in new] == ["secondary"] and new[0].severity == "high"
    svc.close()


def test_stale_feed_is_reported_once_when_it_goes_stale(chain, tmp_path):
    svc = service(chain, tmp_path, detectors={"stale_feed": {}}, playbooks=[])
    chain.node.mine()
    svc.run_once()
    assert findings(svc) == []
    chain.node.increase_time(3 * 3600 + 10)  # past the OracleGuard's 3 h heartbeats
    chain.node.mine()
    svc.run_once()
    stale = findings(svc)
    assert sorted(":".join(f.key.split(":")[4:]) for f in stale) == [
        "BTC-PERP:primary",
        "BTC-PERP:secondary",
        "ETH-PERP:primary",
        "ETH-PERP:secondary",
    ]
    assert all(f.severity == "high" and f.details["heartbeat_s"] == 3 * 3600 for f in stale)
    chain.node.mine()
    svc.run_once()
    assert len(findings(svc)) == 4  # still stale: not reported again
    svc.close()


def _manipulator(ref: Ref):
    m = ref.sender(0).deploy("PoolManipulator")
    ref.sender(0).transact(ref.p.usdc.functions.mint(m.address, 2_000_000 * USD))
    return m


def test_price_manipulation_inside_a_protocol_transaction(chain, tmp_path):
    m = _manipulator(chain)
    pool = chain.manifest.markets["ETH-PERP"]["pool"]
    view_call = chain.p.router.functions.pauseScopeOf(chain.p.market_id("ETH-PERP"))._encode_transaction_data()
    svc = service(chain, tmp_path, detectors={"price_manipulation": {"max_move_bps": 500}}, playbooks=[])
    attacker = chain.sender(12)
    # the pool alone, nothing of the protocol touched: not this detector's business
    chain.sender(0).transact(m.functions.swapCallSwap(pool, 1_000_000 * USD, ZERO, b""))
    svc.run_once()
    assert findings(svc) == []
    # swap in (the spot jumps ~36%), call the protocol, swap back: the flash-loan pattern
    receipt = attacker.transact(m.functions.swapCallSwap(pool, 1_000_000 * USD, chain.p.router.address, view_call))
    svc.run_once()
    (f,) = findings(svc)
    assert f.severity == "critical" and f.tx_hash == "0x" + receipt["transactionHash"].hex().removeprefix("0x")
    assert f.details["market"] == "ETH-PERP" and f.details["move_bps"] > 3_000 and f.details["syncs"] == 2
    assert f.details["final_move_bps"] < 100  # the price came back: only the in-transaction move shows it
    svc.close()


def _forget_own_deposits(ref: Ref) -> None:
    """Let the maker's deposit age past the Vault's own-deposit memory: its withdrawals then draw on the
    limiter's shared headroom like anyone's (a deposit of the last week would come back unlimited)."""
    ref.node.increase_time(OWN_INFLOW_MEMORY + 1)
    ref.node.mine(1)


def test_guard_events_are_read_from_the_contracts(chain, tmp_path):
    _forget_own_deposits(chain)
    svc = service(chain, tmp_path, detectors={"guard_event": {}}, playbooks=[])
    watchtower, eth = chain.sender(5), chain.p.market_id("ETH-PERP")
    watchtower.transact(chain.p.router.functions.pause(1, 1 << OPEN, 600))
    push(chain, 3_300, 3_000)  # the feeds now disagree by 10%: the guard turns reduce-only when read
    chain.sender(9).transact(chain.p.oracle.functions.checkedPrice(eth))
    chain.sender(6).transact(chain.p.router.functions.withdraw(300_000 * USD))  # above the limiter's headroom
    svc.run_once()
    by_event = {f.details["event"]: f for f in findings(svc)}
    assert set(by_event) == {"Paused", "StatusChanged", "AssetRateLimitBreached", "FundsLocked"}
    assert by_event["Paused"].details["scope"] == 1 and by_event["Paused"].details["market"] == "ETH-PERP"
    assert "by the watchtower" in by_event["Paused"].title
    sc = by_event["StatusChanged"]
    assert sc.severity == "high" and sc.details["current"] == "deviation" and sc.details["market"] == "ETH-PERP"
    trip = by_event["AssetRateLimitBreached"]
    assert trip.severity == "high" and trip.details["token"] == chain.manifest.contracts["usdc"].lower()
    assert int(by_event["FundsLocked"].details["amount"]) == 300_000 * USD
    svc.close()


def test_solvency_drift_is_critical(chain, tmp_path):
    svc = service(chain, tmp_path, detectors={"solvency": {"max_drift": 1_000}}, playbooks=[])
    trader = chain.sender(8)
    chain.sender(0).transact(chain.p.usdc.functions.mint(trader.address, 10_000 * USD))
    chain.p.approve(trader)
    chain.p.deposit(trader, 10_000 * USD)  # through the books: no drift
    svc.run_once()
    assert findings(svc) == []
    chain.sender(0).transact(chain.p.usdc.functions.mint(chain.p.vault.address, 5_000 * USD))  # outside the books
    svc.run_once()
    (f,) = findings(svc)
    assert (
        f.severity == "critical" and int(f.details["drift"]) == 5_000 * USD and int(f.details["surplus"]) >= 5_000 * USD
    )
    svc.close()


# -- playbooks -----------------------------------------------------------------------------------
def test_compromised_feeder_is_contained_with_the_presigned_pause(chain, tmp_path):
    svc = service(chain, tmp_path)  # the shipped config: every detector and playbook
    svc.run_once()
    relayer = svc.relayers["guardian"]
    assert relayer.presigned_ready() >= 1
    wanted = (0).to_bytes(32, "big") + (1 << WITHDRAW).to_bytes(32, "big")  # pause(0, WITHDRAW, ...)
    (ready,) = [pre.tx_hash for pre in relayer._presigned.values() if pre.data[4:68] == wanted]
    push(chain, 3_447, 3_447)
    svc.run_once()
    pause, reduce_only = actions(svc)
    assert (pause.kind, reduce_only.kind) == ("pause", "force_reduce_only")
    assert pause.tx_hash == ready  # the pre-signed bytes, broadcast as they were
    assert pause.payload["scope"] == 0 and pause.payload["ops"] == ["WITHDRAW"]
    svc.run_once()
    assert [a.status for a in actions(svc)] == ["mined", "mined"]
    assert chain.p.router.functions.isPaused(WITHDRAW, 0).call() is True
    assert chain.p.router.functions.isPaused(OPEN, 1).call() is False  # the scope is withdrawals only
    assert chain.p.market("ETH-PERP").reduce_only is True and chain.p.market("BTC-PERP").reduce_only is False
    with svc.db.session() as s:
        (inc, *_) = Repository.incidents(s)
    assert inc.severity == "critical" and inc.first_block is not None
    assert inc.detected_at <= inc.action_sent_at <= inc.action_mined_at
    svc.close()


def test_dry_run_records_and_sends_nothing(chain, tmp_path):
    svc = service(chain, tmp_path, dry_run=True)
    guardian = chain.node.accounts[5].address
    nonce = chain.w3.eth.get_transaction_count(guardian)
    push(chain, 3_447, 3_447)
    svc.run_once()
    svc.run_once()
    acts = actions(svc)
    assert [a.kind for a in acts] == ["pause", "force_reduce_only"] and all(a.status == "dry_run" for a in acts)
    assert chain.w3.eth.get_transaction_count(guardian) == nonce
    assert chain.p.router.functions.isPaused(WITHDRAW, 0).call() is False
    svc.close()


def test_limiter_trip_is_extended_and_manipulation_tightens_margins(chain, tmp_path):
    _forget_own_deposits(chain)
    push(chain, 3_000, 3_000)  # fresh feeds after the week
    svc = service(chain, tmp_path)
    usdc = chain.manifest.contracts["usdc"]
    chain.sender(6).transact(chain.p.router.functions.withdraw(300_000 * USD))  # the maker trips the limiter
    until, cap = chain.p.vault.functions.tripInfo(usdc).call()
    svc.run_once()
    svc.run_once()
    (extend,) = [a for a in actions(svc) if a.kind == "extend_limiter"]
    assert extend.status == "mined"
    assert chain.p.vault.functions.tripInfo(usdc).call()[0] == min(cap, until + 3600) > until
    # a flash-loan style manipulation through the protocol: the market's new risk stops, margins tighten
    m = _manipulator(chain)
    pool = chain.manifest.markets["ETH-PERP"]["pool"]
    call = chain.p.router.functions.pauseScopeOf(chain.p.market_id("ETH-PERP"))._encode_transaction_data()
    chain.sender(12).transact(m.functions.swapCallSwap(pool, 1_000_000 * USD, chain.p.router.address, call))
    svc.run_once()
    svc.run_once()
    by_kind = {a.kind: a for a in actions(svc)}
    assert by_kind["pause"].status == "mined" and by_kind["pause"].payload["scope"] == 1
    assert chain.p.router.functions.isPaused(OPEN, 1).call() is True
    assert by_kind["emergency_tighten"].status == "mined"
    key = param_key(chain.p.market_id("ETH-PERP"), "initialMarginBps")
    assert chain.p.registry.functions.get(key).call() == 1_500  # one maxStep (500) above 1,000
    svc.close()


def _safe_exec(ref: Ref, to: str, data: bytes, owners: list[Account], signatures: dict[str, bytes] | None = None):
    safe = ref.p.safe
    nonce = safe.functions.nonce().call()
    digest = safe.functions.getTransactionHash(to, 0, data, 0, 0, 0, 0, ZERO, ZERO, nonce).call()
    sigs = dict(signatures or {})
    for o in owners:
        sigs[o.address.lower()] = Signer(o).sign_digest(digest)
    packed = b"".join(sigs[k] for k in sorted(sigs))
    return ref.sender(0).transact(safe.functions.execTransaction(to, 0, data, 0, 0, 0, 0, ZERO, ZERO, packed))


def test_timelocked_engine_swap_is_cancelled_through_the_safe(chain, tmp_path):
    owners = [Account.from_key(chain.node.accounts[i].private_key) for i in (2, 3, 4)]
    tl, vault = chain.p.timelock, chain.p.vault
    evil = vault.functions.setEngine(chain.node.accounts[12].address)._encode_transaction_data()
    salt = b"\x07" * 32
    schedule = tl.functions.schedule(vault.address, 0, evil, bytes(32), salt, 48 * 3600)
    svc = service(chain, tmp_path)
    # the Safe's owners 3 and 4 were phished into scheduling it
    _safe_exec(chain, tl.address, bytes.fromhex(schedule._encode_transaction_data()[2:]), owners[1:])
    op = tl.functions.hashOperation(vault.address, 0, evil, bytes(32), salt).call()
    assert tl.functions.isOperationPending(op).call()
    svc.run_once()
    (finding,) = findings(svc, "governance")
    assert finding.details["operation_id"] == "0x" + op.hex()
    with svc.db.session() as s:
        (proposal,) = Repository.safe_proposals(s)
    assert proposal.signer == owners[0].address.lower()  # the watchtower's owner key signed the cancel
    assert proposal.to == tl.address.lower()
    # a second (honest) owner co-signs; anyone executes: the Safe, the timelock's canceller, cancels
    data = bytes.fromhex(proposal.data[2:])
    _safe_exec(chain, tl.address, data, [owners[1]], {owners[0].address.lower(): bytes.fromhex(proposal.signature[2:])})
    assert not tl.functions.isOperation(op).call()
    svc.close()


# -- the runner ----------------------------------------------------------------------------------
def test_runner_watches_in_the_background(chain, tmp_path):
    tower = start_watchtower(chain.manifest, None, chain.node.http_url, chain.node.ws_url, workdir=tmp_path)
    try:
        assert tower.running and tower.checkpoint() == chain.w3.eth.block_number
        sent = push(chain, 3_447, 3_447)
        pause = tower.wait_action(kind="pause", status="mined", timeout=10)
        assert pause is not None and pause.mined_block is not None and pause.sent_at <= pause.mined_at
        (f, *_) = [x for x in tower.findings() if x.detector == "oracle_deviation"]
        assert f.tx_hash == sent[0].tx_hash and f.block_number == sent[0].block
        assert pause.mined_block > f.block_number and f.detected_at <= pause.sent_at
        inc = next(i for i in tower.incidents() if i.id == f.incident_id)
        assert inc.first_tx_hash == f.tx_hash and inc.action_mined_at is not None
        assert json.loads((tmp_path / "manifest.json").read_text())["contracts"] == chain.manifest.contracts
    finally:
        tower.stop()
    assert not tower.running
    assert tower.actions()  # records stay readable after stop


def test_latency_benchmark_runs(tmp_path):
    import io

    from bastion.benchmarks.latency import run

    out = io.StringIO()
    result = run(trials=2, warmup=1, block_interval=0.3, out=out, workdir=tmp_path)
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    assert last == result
    assert last["trials"] == 2
    for key in ("detect_to_broadcast_ms_p50", "detect_to_broadcast_ms_p99", "mined_next_block_ratio"):
        assert key in last
    assert 0 < last["detect_to_broadcast_ms_p50"] <= last["detect_to_broadcast_ms_p99"]

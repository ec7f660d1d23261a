"""The risk engine against the reference protocol on a real anvil: RISK tightenings, timelock proposals
through the guardian Safe, the registry's interval, emergency tightenings that expire unless renewed, and
report hashes that match the stored reports."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from eth_abi import decode
from eth_utils import keccak
from sqlalchemy import select
from web3 import Web3

from bastion.chain.contracts import Sender, TransactionFailed, connect
from bastion.chain.node import AnvilNode
from bastion.protocol.client import Protocol
from bastion.protocol.deploy import Manifest, deploy_system, dev_keys, dev_roles, param_key
from bastion.respond.keys import signer_from_hex
from bastion.respond.safe import SafeTx
from bastion.risk.chainread import ChainReader, MarketObservation, depth_1pct, hourly_returns
from bastion.risk.config import parse_risk_config
from bastion.risk.decide import Kind
from bastion.risk.engine import RiskEngine
from bastion.risk.estimators import CongestionInputs
from bastion.risk.reports import verify_report
from bastion.sim.data import btc_hourly_log_returns
from bastion.store import Database, SafeProposal

TIGHTENED, EMERGENCY_TIGHTENED, EMERGENCY_RENEWED = 2, 3, 4
WAITING = 1


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[AnvilNode, Manifest]]:
    with AnvilNode(accounts=10) as node:
        w3 = connect(node.http_url)
        sender = Sender.from_key(w3, node.accounts[0].private_key)
        yield node, deploy_system(sender, dev_roles(node.accounts), dev_keys(node.accounts))


@dataclass
class Env:
    node: AnvilNode
    w3: Web3
    p: Protocol
    engine: RiskEngine
    db: Database
    reports: Path

    def key(self, name: str, market: str = "ETH-PERP") -> bytes:
        return param_key(self.p.market_id(market), name)

    def get(self, name: str, market: str = "ETH-PERP") -> int:
        return self.p.registry.functions.get(self.key(name, market)).call()

    def advance(self, seconds: int) -> None:
        self.node.increase_time(seconds)
        self.node.mine()


@pytest.fixture
def env(world, tmp_path: Path) -> Iterator[Env]:
    node, manifest = world
    snap = node.snapshot()
    w3 = connect(node.http_url)
    p = Protocol(w3, manifest)
    cfg = parse_risk_config(
        {
            "simulation": {"n_paths": 60, "n_accounts": 40, "horizon_hours": 6},
            "output": {"reports_dir": str(tmp_path / "reports"), "store": str(tmp_path / "risk.sqlite")},
        }
    )
    db = Database(tmp_path / "risk.sqlite")
    acc = node.accounts
    engine = RiskEngine(
        p, cfg, risk=Sender.from_key(w3, acc[7].private_key), owner=signer_from_hex(acc[2].private_key), db=db
    )
    try:
        yield Env(node, w3, p, engine, db, tmp_path / "reports")
    finally:
        db.dispose()
        node.revert(snap)


def outcome(result, name: str, market: str = "ETH-PERP"):
    return next(o for o in result.outcomes if o.decision.name == name and o.decision.market == market)


def updates(env: Env, tx_hash: str) -> list[dict]:
    receipt = env.w3.eth.get_transaction_receipt(tx_hash)
    return [e["args"] for e in env.p.registry.events.ParameterUpdated().process_receipt(receipt)]


def test_tightening_goes_out_through_risk_with_the_report_hash(env: Env):
    before = env.get("maxOpenInterest")
    result = env.engine.cycle()
    o = outcome(result, "maxOpenInterest")
    assert o.decision.kind is Kind.TIGHTEN and o.status == "sent", o
    after = env.get("maxOpenInterest")
    assert after == o.decision.value < before
    assert before - after <= env.p.registry.functions.rulesOf(env.key("maxOpenInterest")).call()[4]  # maxStep
    (ev,) = updates(env, o.tx_hash)
    assert ev["action"] == TIGHTENED and ev["by"] == env.node.accounts[7].address
    # The hash on chain is the sha256 of the stored report, which names the change.
    stored = result.report_path.read_bytes()
    assert ev["reportHash"] == result.report_hash == hashlib.sha256(stored).digest()
    assert result.report_path.name == "0x" + ev["reportHash"].hex() + ".json"
    assert verify_report(result.report_path) == ev["reportHash"]
    report = env.engine.reports.read(ev["reportHash"])
    change = next(d for d in report["decisions"] if d["name"] == "maxOpenInterest" and d["market"] == "ETH-PERP")
    assert change["value"] == after and change["kind"] == "tighten"
    assert report["markets"]["ETH-PERP"]["simulation"]["metrics"]["bad_debt_probability"]["value"] >= 0.0
    assert any(e["kind"] == "tighten" and e["tx_hash"] == o.tx_hash for e in env.engine.ledger.entries())


def test_loosening_becomes_a_safe_proposal_of_a_timelock_schedule(env: Env):
    mm_before = env.get("maintenanceMarginBps")
    result = env.engine.cycle()
    o = outcome(result, "maintenanceMarginBps")
    assert o.decision.kind is Kind.PROPOSE and o.decision.direction == "loosen" and o.status == "proposed"
    assert env.get("maintenanceMarginBps") == mm_before  # nothing applied
    with env.db.session() as s:
        (row,) = s.scalars(select(SafeProposal)).all()
    assert row.to == env.p.timelock.address.lower() and row.safe == env.p.safe.address.lower()
    data = bytes.fromhex(row.data[2:])
    assert data[:4] == keccak(text="scheduleBatch(address[],uint256[],bytes[],bytes32,bytes32,uint256)")[:4]
    targets, values, payloads, _pred, salt, delay = decode(
        ["address[]", "uint256[]", "bytes[]", "bytes32", "bytes32", "uint256"], data[4:]
    )
    assert salt == result.report_hash and delay == env.p.timelock.functions.getMinDelay().call()
    set_base = keccak(text="setBase(bytes32,uint256,bytes32)")[:4]
    calls = [(t, p) for t, p in zip(targets, payloads, strict=True) if p[:4] == set_base]
    mm_key = env.key("maintenanceMarginBps")
    (mm_call,) = [p for _, p in calls if decode(["bytes32", "uint256", "bytes32"], p[4:])[0] == mm_key]
    assert decode(["bytes32", "uint256", "bytes32"], mm_call[4:])[1] == o.decision.value < mm_before
    # The limiter and oracle changes ride in the same operation, as governance calls.
    sigs = {p[:4] for p in payloads}
    assert keccak(text="updateAssetParams(address,(uint16,uint32,uint256,uint32,uint8,uint8))")[:4] in sigs
    # A second owner co-signs; the Safe schedules the operation; still nothing applied before the delay.
    tx = SafeTx(row.safe, row.chain_id, row.to, int(row.value), data, row.operation, row.nonce)
    assert tx.hash().hex() == row.safe_tx_hash[2:]
    acc = env.node.accounts
    second = signer_from_hex(acc[3].private_key).sign_digest(tx.hash())
    first = bytes.fromhex(row.signature[2:])
    sigs_sorted = b"".join(s for _, s in sorted([(acc[2].address.lower(), first), (acc[3].address.lower(), second)]))
    executor = Sender.from_key(env.w3, acc[0].private_key)
    zero = "0x" + "00" * 20
    to = Web3.to_checksum_address(row.to)
    executor.transact(env.p.safe.functions.execTransaction(to, 0, data, 0, 0, 0, 0, zero, zero, sigs_sorted))
    op = bytes.fromhex(result.operation_id[2:])
    assert env.p.timelock.functions.getOperationState(op).call() == WAITING
    assert env.get("maintenanceMarginBps") == mm_before
    # While it waits, the engine does not propose the same loosening again.
    again = outcome(env.engine.cycle(), "maintenanceMarginBps")
    assert again.decision.kind is Kind.HOLD and "pending" in again.decision.reasons[-1]
    # After the delay anyone executes it, and every call in it lands (feeds fresh for setMarket).
    env.advance(delay + 1)
    keys = {a.address: a.private_key for a in acc}
    for market, spec in env.p.markets.items():
        for which in ("primary", "secondary"):  # each feed by its own signer
            feeder = Sender.from_key(env.w3, keys[env.p.feed_signer(which)])
            feeder.transact(env.p.feed(market, which).functions.setAnswer(spec["price_usd"] * 10**8))
    checksummed = [Web3.to_checksum_address(t) for t in targets]
    executor.transact(env.p.timelock.functions.executeBatch(checksummed, values, payloads, b"\0" * 32, salt))
    assert env.get("maintenanceMarginBps") == o.decision.value
    limiter = outcome(result, "limitBps", "vault").decision
    assert env.p.vault.functions.assetConfig(env.p.usdc.address).call()[0] == limiter.value
    jump = outcome(result, "maxJumpBps").decision
    assert env.p.oracle.functions.configOf(env.p.market_id("ETH-PERP")).call()[4] == jump.value


def test_min_interval_defers_instead_of_reverting(env: Env):
    key = env.key("maxOpenInterest")
    # The guardian moved the parameter a moment ago: the registry's clock (shared) has started.
    guardian = Sender.from_key(env.w3, env.node.accounts[5].private_key)
    cap = env.get("maxOpenInterest")
    guardian.transact(env.p.registry.functions.emergencyTighten(key, cap - 10**18, 3_600, b"\1" * 32))
    first = outcome(env.engine.cycle(), "maxOpenInterest")
    assert first.decision.kind is Kind.DEFER and first.status == "deferred" and first.tx_hash is None
    assert env.get("maxOpenInterest") == cap - 10**18
    rules = env.p.registry.functions.rulesOf(key).call()
    assert first.decision.retry_at == rules[2] + rules[5]
    # Sending it anyway is what the engine avoided: the registry would refuse it.
    risk = Sender.from_key(env.w3, env.node.accounts[7].private_key)
    with pytest.raises(TransactionFailed, match="TooSoon"):
        risk.transact(env.p.registry.functions.tighten(key, cap // 2, b"\0" * 32))
    env.advance(rules[5] + 1)
    second = outcome(env.engine.cycle(), "maxOpenInterest")
    assert second.status == "sent" and env.get("maxOpenInterest") == second.decision.value
    # And right after its own change, the next step waits again.
    third = outcome(env.engine.cycle(), "maxOpenInterest")
    assert third.decision.kind is Kind.DEFER and env.get("maxOpenInterest") == second.decision.value


def stressed(obs: dict[str, MarketObservation]) -> dict[str, MarketObservation]:
    """The same chain state seen through a storm: a violent last day and a congested network."""
    base = np.array(btc_hourly_log_returns()[-1_440:])
    base[-24:] = 0.03 * np.where(np.arange(24) % 2 == 0, 1.0, -1.0)
    storm = CongestionInputs(base_fee_wei=30 * 10**9, gas_used_ratio=1.0, pending_txs=10_000)
    return {
        s: dataclasses.replace(o, returns_hourly=base, congestion=storm, history_source="test storm")
        for s, o in obs.items()
    }


def test_emergency_tightening_is_renewed_while_the_storm_lasts_then_expires(env: Env):
    key = env.key("maintenanceMarginBps")
    base = env.get("maintenanceMarginBps")
    first = outcome(env.engine.cycle(stressed(env.engine.observe())), "maintenanceMarginBps")
    assert first.decision.kind is Kind.EMERGENCY and first.status == "sent"
    (ev,) = updates(env, first.tx_hash)
    assert ev["action"] == EMERGENCY_TIGHTENED
    eff, b, ov, _until = env.p.registry.functions.state(key).call()
    assert (eff, b, ov) == (first.decision.value, base, first.decision.value) and eff > base
    ttl = env.engine.cfg.policy.emergency_ttl_seconds
    renew_gap = ttl - env.engine.cfg.policy.renew_before_seconds + 60
    # The storm goes on: escalate one step at a time, then renew the override at its value.
    renewed = None
    for _ in range(6):
        env.advance(renew_gap)
        o = outcome(env.engine.cycle(stressed(env.engine.observe())), "maintenanceMarginBps")
        assert o.status == "sent", o
        if o.decision.kind is Kind.RENEW:
            renewed = o
            break
        assert o.decision.kind is Kind.EMERGENCY and o.decision.value > o.decision.current
    assert renewed is not None
    (ev,) = updates(env, renewed.tx_hash)
    eff2, _, ov2, until2 = env.p.registry.functions.state(key).call()
    assert ev["action"] == EMERGENCY_RENEWED and ov2 == eff2 == renewed.decision.value
    renewed_at = env.w3.eth.get_block(env.w3.eth.get_transaction_receipt(renewed.tx_hash)["blockNumber"])
    assert until2 == renewed_at["timestamp"] + ttl
    # The storm passes: no more renewals; the override lapses back to the base by itself.
    calm = outcome(env.engine.cycle(), "maintenanceMarginBps")
    assert calm.decision.kind is Kind.HOLD and any("not renewed" in r for r in calm.decision.reasons)
    env.advance(ttl + 1)
    assert env.get("maintenanceMarginBps") == base


def test_chain_reader_helpers():
    # Constant product: buying dq of base moves the price by ((y + dq) / y)^2.
    y = 6_000_000 * 10**6
    dq = depth_1pct(y)
    assert abs(((y + dq) / y) ** 2 - 1.01) < 1e-9 and depth_1pct(0) == 0
    # Rounds every 30 min resampled hourly: the last answer at or before each hour.
    t0 = 1_700_000_000 - 1_700_000_000 % 3_600
    rounds = [(t0 + 1_800 * i, 100 + i) for i in range(10)]
    r, used = hourly_returns(rounds, t0 + 5 * 3_600 + 10, hours=100)
    assert np.allclose(r, np.diff(np.log([100, 102, 104, 106, 108, 109])))
    assert used == 6


def test_bundled_fallback_when_the_chain_is_young(env: Env):
    obs = env.engine.observe()["ETH-PERP"]
    assert obs.history_source == "bundled" and obs.returns_hourly.size == 1_440
    assert any("bundled" in n for n in obs.notes)
    assert obs.liquidity.amm_depth_1pct == depth_1pct(2_000 * 3_000 * 10**6)
    assert obs.liquidity.insurance_fund == 100_000 * 10**6


def test_feed_history_from_rounds_and_from_events_agree(env: Env, tmp_path: Path):
    feeder = Sender.from_key(env.w3, env.node.accounts[1].private_key)
    feed = env.p.feed("ETH-PERP")
    closes = 3_000 * np.exp(np.cumsum(np.array(btc_hourly_log_returns()[-40:])))
    for price in closes:
        env.advance(3_600)
        feeder.transact(feed.functions.setAnswer(int(price * 10**8)))
    seen = {}
    for source in ("events", "rounds"):
        est = {"history_source": source, "history_hours": 48, "min_history_hours": 24, "min_rounds": 20}
        cfg = parse_risk_config({"estimators": est, "output": {"reports_dir": str(tmp_path / source), "dry_run": True}})
        engine = RiskEngine(env.p, cfg, dry_run=True)
        obs = engine.observe()["ETH-PERP"]
        assert obs.history_source == "chain" and obs.rounds_seen >= 20
        seen[source] = obs.returns_hourly
        assert engine.reader.feed_rounds(feed.address)[-1][1] == int(closes[-1] * 10**8)
    assert np.array_equal(seen["events"], seen["rounds"])
    # The resampled returns are the pushed ones (one round per hour), up to the last whole hour: the
    # newest round counts once the clock passes the next hour.
    pushed = np.diff(np.log(np.floor(closes * 10**8)))
    got = seen["events"][-30:]
    assert any(np.allclose(got, pushed[pushed.size - 30 - lag : pushed.size - lag]) for lag in (0, 1))
    # The other market kept its single round: bundled data there.
    assert engine.observe()["BTC-PERP"].history_source == "bundled"


def test_pending_pool_counts_transactions_waiting_for_a_block():
    with AnvilNode(no_mining=True) as node:
        w3 = connect(node.http_url)
        sender = Sender.from_key(w3, node.accounts[0].private_key)
        for i in range(3):
            sender.send({"to": node.accounts[1].address, "value": 1, "gas": 21_000, "nonce": i}, wait=False)
        reader = ChainReader.__new__(ChainReader)
        reader.w3 = w3
        assert reader._pending_count() == 3


def test_margins_stay_ordered_now_and_after_proposals():
    from bastion.risk.decide import Decision, keep_margins_ordered

    def d(name: str, kind: Kind, cur: int, val: int) -> Decision:
        return Decision("M", name, kind, cur, val, val, "x", ("r",))

    # A RISK tightening of maintenance above the live initial margin is held.
    mm, im = keep_margins_ordered(d("mm", Kind.EMERGENCY, 500, 1_200), d("im", Kind.HOLD, 1_000, 1_000))
    assert mm.kind is Kind.HOLD and im.kind is Kind.HOLD and "held" in mm.reasons[-1]
    # A proposed loosening of initial below the maintenance margin that stays is held too.
    mm, im = keep_margins_ordered(d("mm", Kind.HOLD, 500, 500), d("im", Kind.PROPOSE, 1_000, 400))
    assert mm.kind is Kind.HOLD and im.kind is Kind.HOLD
    # Both loosened together in one operation: fine.
    mm, im = keep_margins_ordered(d("mm", Kind.PROPOSE, 500, 250), d("im", Kind.PROPOSE, 1_000, 500))
    assert mm.kind is Kind.PROPOSE and im.kind is Kind.PROPOSE

"""A protocol that is not the reference one, watched with the shipped generic config only.

The protocol (test/watch/ThirdParty.sol) is an Ownable + AccessControl vault behind a UUPS proxy, an
OpenZeppelin TimelockController, a Chainlink-style feed and a Uniswap-V2-style pair, deployed on anvil.
The watchtower runs ``configs/watch.example.toml``'s detector section untouched; the test only fills
in the deployment's addresses under the example's own contract names (and drops the example's keys,
playbooks and notifiers, which belong to another deployment). Each suspicious action must be
detected with the expected severity, and honest traffic must stay quiet.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from eth_utils import keccak

from bastion.chain import AnvilNode, Sender, connect, load_artifact
from bastion.chain.artifacts import ArtifactError
from bastion.store import Repository
from bastion.tower.config import validate_config
from bastion.tower.service import WatchService

ROOT = Path(__file__).resolve().parents[2]
USDC = 10**6
ETH = 10**18
FEED = 10**8  # feed decimals


@pytest.fixture(scope="module")
def tp():
    try:
        load_artifact("TPVault")
    except ArtifactError as exc:
        pytest.skip(f"forge artifacts missing: {exc}")
    with AnvilNode() as node:
        w3 = connect(node.http_url)
        acc = node.accounts
        owner, manager, attacker, whale, feeder, user = (Sender.from_key(w3, acc[i].private_key) for i in range(6))
        usdc = owner.deploy("MintableToken", "USD Coin", "USDC", 6, owner.address)
        weth = owner.deploy("MintableToken", "Wrapped Ether", "WETH", 18, owner.address)
        pair = owner.deploy("TPPair", weth.address, usdc.address)
        owner.transact(weth.functions.mint(pair.address, 1_000 * ETH))
        owner.transact(usdc.functions.mint(pair.address, 2_000_000 * USDC))
        owner.transact(pair.functions.sync())
        feed = owner.deploy("MockAggregator", 8, "ETH / USD", feeder.address)
        impl = owner.deploy("TPVault")
        init = impl.functions.initialize(usdc.address, owner.address)._encode_transaction_data()
        proxy = owner.deploy("TPProxy", impl.address, bytes.fromhex(init[2:]))
        vault = w3.eth.contract(address=proxy.address, abi=load_artifact("TPVault").abi)
        timelock = owner.deploy("TimelockController", 60, [owner.address], [owner.address], owner.address)
        v2 = owner.deploy("TPVaultV2")
        for who, amount in ((whale, 300_000), (user, 700_000)):
            owner.transact(usdc.functions.mint(who.address, amount * USDC))
            who.transact(usdc.functions.approve(vault.address, amount * USDC))
            who.transact(vault.functions.deposit(amount * USDC))
        feeder.transact(feed.functions.setAnswer(2_000 * FEED))
        yield {
            "node": node,
            "w3": w3,
            "owner": owner,
            "manager": manager,
            "attacker": attacker,
            "whale": whale,
            "feeder": feeder,
            "usdc": usdc,
            "pair": pair,
            "feed": feed,
            "vault": vault,
            "timelock": timelock,
            "v2": v2,
        }


def shipped_config(tp, tmp_path: Path):
    data = tomllib.loads((ROOT / "configs" / "watch.example.toml").read_text())
    addresses = {
        "vault": (tp["vault"].address, "TPVault"),
        "timelock": (tp["timelock"].address, "TimelockController"),
        "eth_usd_feed": (tp["feed"].address, "MockAggregator"),
        "eth_usdc_pair": (tp["pair"].address, "TPPair"),
    }
    contracts = {}
    for name, entry in data["protocol"]["contracts"].items():
        if name in addresses:  # the example's other contracts (its Safe) are not part of this deployment
            contracts[name] = {**entry, "address": addresses[name][0], "abi": addresses[name][1]}
    assert set(contracts) == set(addresses), "the example config names these contracts"
    data["protocol"]["contracts"] = contracts
    data["protocol"]["assets"]["USDC"]["address"] = tp["usdc"].address
    data["service"].update(database=str(tmp_path / "watch.db"), start_block=0, pending=False)
    data["networks"] = {"local": {"rpc_urls": [tp["node"].http_url]}}
    data["service"]["network"] = "local"
    for deployment_specific in ("keys", "playbooks", "notifiers"):
        data.pop(deployment_specific, None)
    return validate_config(data, tmp_path)


def test_generic_detectors_catch_each_suspicious_action(tp, tmp_path):
    node, owner, feeder = tp["node"], tp["owner"], tp["feeder"]
    vault, feed, timelock = tp["vault"], tp["feed"], tp["timelock"]
    snap = node.snapshot()
    svc = WatchService(shipped_config(tp, tmp_path), configure_logging=False)
    seen: set[str] = set()

    def new() -> list:
        svc.run_once()
        with svc.db.session() as s:
            rows = [f for f in Repository.findings(s) if not f.retracted and f.key not in seen]
        seen.update(f.key for f in rows)
        return rows

    def found(rows, detector: str) -> list:
        return [f for f in rows if f.detector == detector]

    try:
        assert new() == [], "deployment, deposits and the first feed answer are not suspicious"

        # honest traffic: the feeder tracks the pair within 0.3%; small withdrawals
        for i in range(12):
            feeder.transact(feed.functions.setAnswer((2_000 * FEED) * (10_000 + (30 if i % 2 else -30)) // 10_000))
        assert new() == [], "honest feed updates stay quiet"

        # a 30% withdrawal (the whale's whole deposit)
        receipt = tp["whale"].transact(vault.functions.withdraw(300_000 * USDC))
        rows = new()
        (big,) = found(rows, "large_transfer")
        assert big.severity == "high" and big.tx_hash == "0x" + bytes(receipt["transactionHash"]).hex()
        assert "300,000 USDC" in big.title
        assert {f.detector for f in rows} <= {"large_transfer", "outflow_rate", "flow_anomaly"}

        # a role grant: DEFAULT_ADMIN_ROLE to an outsider is high, a manager role medium
        owner.transact(vault.functions.grantRole(bytes(32), tp["attacker"].address))
        owner.transact(vault.functions.grantRole(keccak(text="MANAGER_ROLE"), tp["manager"].address))
        rows = new()
        sev = {f.details["role_name"]: f.severity for f in found(rows, "governance")}
        assert sev == {"DEFAULT_ADMIN_ROLE": "high", "MANAGER_ROLE": "medium"}
        assert {f.detector for f in rows} == {"governance"}

        # a timelock-scheduled upgrade: reported when scheduled, inside the veto window
        upgrade = vault.functions.upgradeToAndCall(tp["v2"].address, b"")._encode_transaction_data()
        owner.transact(timelock.functions.schedule(vault.address, 0, upgrade, bytes(32), bytes(32), 60))
        rows = new()
        (sched,) = found(rows, "governance")
        assert sched.severity == "high" and sched.details["category"] == "upgrade"
        assert sched.details["target"] == vault.address.lower()

        # a direct ownership transfer, then the new owner upgrades the proxy directly
        owner.transact(vault.functions.transferOwnership(tp["attacker"].address))
        rows = new()
        (own,) = found(rows, "ownership")
        assert own.severity == "high" and own.details["new"] == tp["attacker"].address.lower()
        assert {f.detector for f in rows} == {"ownership"}
        tp["attacker"].transact(vault.functions.upgradeToAndCall(tp["v2"].address, b""))
        rows = new()
        (up,) = found(rows, "proxy_upgrade")
        assert up.severity == "critical" and up.details["new"] == tp["v2"].address.lower()
        assert {f.detector for f in rows} == {"proxy_upgrade"}

        # a pause by the new manager: visible, not alarming
        tp["manager"].transact(vault.functions.pause())
        (paused,) = new()
        assert (paused.detector, paused.severity) == ("contract_paused", "medium")

        # a 50% feed jump, then back
        feeder.transact(feed.functions.setAnswer(3_000 * FEED))
        rows = new()
        (jump,) = found(rows, "oracle_deviation")
        assert jump.severity == "critical" and jump.details["reference_kind"] == "v2_pool"
        assert {f.detector for f in rows} == {"oracle_deviation"}
        feeder.transact(feed.functions.setAnswer(2_000 * FEED))
        assert new() == []

        # the feed swung +-2% around the pair 20 times: no single update is loud, the sum is
        blocks = []
        for i in range(20):
            price = (2_000 * FEED) * (10_000 + (200 if i % 2 == 0 else -200)) // 10_000
            blocks.append(feeder.transact(feed.functions.setAnswer(price))["blockNumber"])
        rows = new()
        (drift,) = found(rows, "oracle_drift")
        assert drift.severity == "high" and drift.block_number in blocks
        assert {f.detector for f in rows} == {"oracle_drift"}
    finally:
        svc.close()
        node.revert(snap)

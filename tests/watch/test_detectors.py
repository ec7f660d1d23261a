"""The generic detectors on real anvil traffic, and the registry (a new detector in ~20 lines)."""

from __future__ import annotations

from eth_utils import keccak
from pydantic import Field
from tests.watch.conftest import USD

from bastion.store import Repository
from bastion.tower.service import WatchService
from bastion.watch.detectors import REGISTRY, Detector, DetectorConfig, Registry
from bastion.watch.events import Block
from bastion.watch.findings import Severity


def live(svc, detector=None):
    with svc.db.session() as s:
        rows = [f for f in Repository.findings(s) if not f.retracted]
    return [f for f in rows if detector is None or f.detector == detector]


def service(world, tmp_path, detectors, **kw):
    return WatchService(world.config(tmp_path, detectors=detectors, **kw), configure_logging=False)


def test_large_transfer_fraction_of_balance(world, tmp_path):
    svc = service(world, tmp_path, {"large_transfer": {"min_fraction_bps": 2_000}})
    world.drain(100_000 * USD)  # 10% of 1M: quiet
    world.drain(250_000 * USD)  # 27.7% of 900k: loud
    svc.run_once()
    (f,) = live(svc)
    assert f.details["amount"] == 250_000 * USD and f.details["balance_before"] == 900_000 * USD
    assert f.severity == "high"
    svc.close()


def test_outflow_rate_fires_once_when_the_window_crosses(world, tmp_path):
    svc = service(world, tmp_path, {"outflow_rate": {"window_blocks": 10, "max_fraction_bps": 500}})
    world.node.mine(10)  # the initial funding (an inflow) leaves the window
    svc.run_once()
    blocks = []
    for _ in range(4):  # 3% per block: crosses 5% at the second drain
        blocks.append(world.drain(30_000 * USD)["blockNumber"])
    svc.run_once()
    (f,) = live(svc)
    assert f.block_number == blocks[1]
    assert f.details["net_outflow"] == 60_000 * USD and f.details["tvl"] == 1_000_000 * USD
    assert f.details["fraction_bps"] == 600
    svc.close()


def test_outflow_rate_counts_gross_outflow_and_uses_seconds_windows(world, tmp_path):
    svc = service(
        world,
        tmp_path,
        {"outflow_rate": {"window_blocks": None, "window_seconds": 3600, "max_fraction_bps": 500}},
    )
    world.node.increase_time(7_200)  # the initial funding (an inflow) leaves the window
    world.node.mine(1)
    svc.run_once()
    world.drain(20_000 * USD)
    world.user.transact(world.token.functions.transfer(world.vault.address, 20_000 * USD))  # a deposit...
    world.drain(20_000 * USD)
    svc.run_once()
    assert live(svc) == []  # 4% of TVL out
    world.drain(20_000 * USD)  # ...does not hide the third withdrawal: 60,000 out, 6%
    svc.run_once()
    (f,) = live(svc)
    assert f.details["gross_outflow"] == 60_000 * USD and f.details["net_outflow"] == 40_000 * USD
    assert f.details["tvl"] == 1_000_000 * USD and "60,000 USD left the protocol" in f.title
    svc.close()


def test_flow_anomaly_floor_after_a_quiet_history(world, tmp_path):
    # No outflow for 20 blocks: the MAD is zero. A first small withdrawal is not an outlier, a large one
    # is, with a score on the scale of its share of the balance (not ~1e18 as with a one-unit floor).
    svc = service(world, tmp_path, {"flow_anomaly": {"window_blocks": 50, "min_history": 15, "z_threshold": 8}})
    world.node.mine(20)
    world.user.transact(world.vault.functions.withdraw(world.token.address, world.user.address, 500 * USD))
    svc.run_once()
    assert live(svc) == []
    world.drain(40_000 * USD)
    svc.run_once()
    (f,) = live(svc)
    assert 8 < f.details["z"] < 100  # 40,000 against a floor of 0.1% of ~1M
    assert "40,000 USD" in f.title
    svc.close()


def test_attacker_preparation_with_and_without_traces(world, tmp_path):
    attacker_contract = world.attacker.deploy("WatchAttacker")
    world.node.mine(3)
    world.attacker.transact(attacker_contract.functions.drain(world.vault.address, world.token.address, 5 * USD))
    for traces in (True, False):
        sub = tmp_path / str(traces)
        sub.mkdir()
        svc = service(
            world,
            sub,
            {"attacker_prep": {"window_blocks": 10}},
            service={"traces": traces, "database": str(sub / "w.db"), "start_block": 0},
        )
        svc.run_once()
        (f,) = live(svc)
        assert f.actor == attacker_contract.address.lower()
        assert f.subject == world.vault.address.lower()
        assert f.details["deployer"] == world.attacker.address.lower() and f.details["age_blocks"] == 4
        svc.close()
    # outside the window: quiet
    sub = tmp_path / "narrow"
    sub.mkdir()
    svc = service(
        world,
        sub,
        {"attacker_prep": {"window_blocks": 2, "max_age_blocks": 3}},
        service={"database": str(sub / "w.db"), "start_block": 0},
    )
    svc.run_once()
    assert live(svc) == []
    svc.close()


def test_attacker_preparation_suspects_outsiders_only(world, tmp_path):
    # The protocol's deployer makes a helper: not a suspect. An attack contract deployed 60 blocks before
    # it strikes, beyond the 10-block window, still is: from the history when it holds the deployment
    # (deployer known), from a code read at the block max_age_blocks back when it does not.
    helper = world.deployer.deploy("WatchAttacker")
    attack = world.attacker.deploy("WatchAttacker")
    world.node.mine(60)
    world.deployer.transact(helper.functions.drain(world.vault.address, world.token.address, 5 * USD))
    world.attacker.transact(attack.functions.drain(world.vault.address, world.token.address, 5 * USD))
    for history, config in (
        (80, {}),  # the history holds the vault's deployment: its deployer is the protocol's
        (32, {"trusted_deployers": [world.deployer.address]}),  # it does not: the config says so
    ):
        sub = tmp_path / str(history)
        sub.mkdir()
        svc = service(
            world,
            sub,
            {"attacker_prep": {"window_blocks": 10, "max_age_blocks": 120, **config}},
            service={"database": str(sub / "w.db"), "start_block": 0, "history_blocks": history},
        )
        svc.run_once()
        (f,) = live(svc)
        assert f.actor == attack.address.lower()
        if history == 80:
            assert f.details["deployer"] == world.attacker.address.lower() and f.details["age_blocks"] == 62
        else:
            assert f.details["deployer"] is None and "within 120 blocks" in f.title
        svc.close()


def test_flow_anomaly_robust_z(world, tmp_path):
    svc = service(world, tmp_path, {"flow_anomaly": {"window_blocks": 50, "min_history": 15, "z_threshold": 8}})
    for i in range(20):  # ordinary withdrawals of 100-290 USD
        world.user.transact(
            world.vault.functions.withdraw(world.token.address, world.user.address, (100 + 10 * i) * USD)
        )
    svc.run_once()
    assert live(svc) == []
    world.drain(40_000 * USD)
    svc.run_once()
    (f,) = live(svc)
    assert f.details["net_outflow"] == 40_000 * USD and f.details["z"] > 8
    svc.close()


def test_governance_call_scheduled_and_role_granted(world, tmp_path):
    d = world.deployer
    timelock = d.deploy("TimelockController", 60, [d.address], [d.address], d.address)
    contracts = {
        **world.contracts,
        "timelock": {"address": timelock.address, "kind": "timelock", "protected": False},
    }
    after_deploy = world.w3.eth.block_number + 1  # (the constructor's own grants are not the point here)
    svc = service(
        world,
        tmp_path,
        {"governance": {}},
        protocol={"name": "t", "contracts": contracts, "assets": world.assets},
        service={"database": str(tmp_path / "g.db"), "start_block": after_deploy},
    )
    canceller = keccak(text="CANCELLER_ROLE")
    d.transact(timelock.functions.grantRole(canceller, world.guardian.address))
    upgrade = keccak(text="upgradeTo(address)")[:4] + bytes(12) + bytes.fromhex(world.attacker.address[2:])
    benign = bytes.fromhex(world.vault.functions.setLimit(1)._encode_transaction_data()[2:])
    d.transact(timelock.functions.schedule(world.vault.address, 0, upgrade, bytes(32), bytes(32), 60))
    d.transact(timelock.functions.schedule(world.vault.address, 0, benign, bytes(32), bytes(32), 60))
    svc.run_once()
    found = {f.details.get("category") or f.details.get("role_name"): f for f in live(svc)}
    assert set(found) == {"upgrade", "CANCELLER_ROLE"}
    up = found["upgrade"]
    assert up.severity == "high" and up.details["timelock"] == timelock.address.lower()
    op_id = timelock.functions.hashOperation(world.vault.address, 0, upgrade, bytes(32), bytes(32)).call()
    assert up.details["operation_id"] == "0x" + op_id.hex()
    assert found["CANCELLER_ROLE"].severity == "medium"
    svc.close()


def test_a_new_detector_is_a_small_class():
    registry = Registry()

    @registry.add
    class BigMint(Detector):
        id = "big_mint"
        severity = Severity.HIGH
        description = "A protected asset minted more than max_amount in one transfer"

        class Config(DetectorConfig):
            max_amount: int = Field(gt=0)

        def run(self, event: Block, view):
            zero = "0x" + "00" * 20
            return [
                self.finding(event, f"mint of {lg.args['value']}", tx_hash=lg.tx_hash, subject=lg.address)
                for lg in event.logs()
                if lg.name == "Transfer" and lg.args["from"] == zero and lg.args["value"] > self.config.max_amount
            ]

    (det,) = registry.build({"big_mint": {"max_amount": 10}})
    assert det.level == Severity.HIGH and "big_mint" in registry and "big_mint" not in REGISTRY
    assert set(REGISTRY.ids()) >= {
        "large_transfer",
        "outflow_rate",
        "attacker_prep",
        "governance",
        "flow_anomaly",
    }


def test_emergency_param_reports_each_use_by_caller(world, tmp_path):
    world.guardian.transact(world.vault.functions.setLimit(5 * USD))
    for expected, severity in (([world.guardian.address], "medium"), ([], "high")):
        sub = tmp_path / severity
        sub.mkdir()
        svc = service(
            world,
            sub,
            {"emergency_param": {"functions": ["setLimit(uint256)"], "expected": expected}},
            service={"database": str(sub / "w.db"), "start_block": 0},
        )
        svc.run_once()
        (f,) = live(svc)
        assert f.severity == severity and f.actor == world.guardian.address.lower()
        assert f.details["function"] == "setLimit(uint256)" and f.title.startswith("setLimit on vault by ")
        svc.close()


def test_account_extraction_nets_each_accounts_deposits(world, tmp_path):
    svc = service(world, tmp_path, {"account_extraction": {"window_blocks": 20, "max_fraction_bps": 1_000}})
    world.node.mine(20)  # the funding leaves the window
    svc.run_once()
    user, vault, token = world.user, world.vault, world.token
    user.transact(token.functions.transfer(vault.address, 200_000 * USD))  # a deposit...
    user.transact(vault.functions.withdraw(token.address, user.address, 200_000 * USD))  # ...taken back: net 0
    for _ in range(3):  # the attacker takes 6% per transaction: crosses 10% at the second
        world.drain(60_000 * USD)
    svc.run_once()
    (f,) = live(svc, "account_extraction")  # the depositor is not a suspect
    assert f.actor == world.attacker.address.lower() and f.details["net_take"] == 120_000 * USD
    assert "120,000 USD net" in f.title
    svc.close()


def test_deposit_roundtrip_reported_at_the_withdrawal_of_ones_own_deposit(world, tmp_path):
    svc = service(world, tmp_path, {"deposit_roundtrip": {"window_blocks": 20}})
    world.node.mine(20)  # the funding leaves the window
    svc.run_once()
    user, vault, token = world.user, world.vault, world.token
    user.transact(token.functions.transfer(vault.address, 400_000 * USD))  # an ordinary deposit: quiet
    svc.run_once()
    assert live(svc, "deposit_roundtrip") == []
    world.drain(300_000 * USD)  # a large outflow that was never paid in: not a round trip
    user.transact(vault.functions.withdraw(token.address, user.address, 400_000 * USD))  # 36% of 1.1M, its own
    svc.run_once()
    (f,) = live(svc, "deposit_roundtrip")
    assert f.actor == world.user.address.lower() and f.severity == "medium"
    assert f.details["deposited"] == f.details["amount"] == 400_000 * USD
    assert f.details["holdings"] == 1_100_000 * USD
    svc.close()


def test_deposit_roundtrip_adds_up_split_withdrawals(world, tmp_path):
    svc = service(world, tmp_path, {"deposit_roundtrip": {"window_blocks": 20}})
    world.node.mine(20)
    svc.run_once()
    user, vault, token = world.user, world.vault, world.token
    user.transact(token.functions.transfer(vault.address, 400_000 * USD))
    for _ in range(4):  # 100k each (7%, 7.5%, 8%, 8.7% of what is left): their sum crosses 20% at the third
        user.transact(vault.functions.withdraw(token.address, user.address, 100_000 * USD))
    svc.run_once()
    (f,) = live(svc, "deposit_roundtrip")  # once, at the crossing
    assert f.details["amount"] == 300_000 * USD and f.details["holdings"] == 1_400_000 * USD
    svc.close()


def test_owner_and_implementation_changed_without_events_are_read_from_storage(world, tmp_path):
    admin = world.deployer.deploy("TPSilentAdmin")
    contracts = {"admin": {"address": admin.address, "protected": False}}
    svc = service(
        world,
        tmp_path,
        {"ownership": {}, "proxy_upgrade": {}},
        protocol={"name": "t", "contracts": contracts, "assets": world.assets},
        service={"database": str(tmp_path / "s.db"), "start_block": world.w3.eth.block_number + 1},
    )
    world.deployer.transact(admin.functions.setImplementation(world.vault.address))  # first set: from zero
    svc.run_once()
    assert live(svc) == []
    world.deployer.transact(admin.functions.setImplementation(world.token.address))
    world.deployer.transact(admin.functions.setOwner(world.attacker.address))
    svc.run_once()
    found = {f.detector: f for f in live(svc)}
    assert set(found) == {"ownership", "proxy_upgrade"}
    up, own = found["proxy_upgrade"], found["ownership"]
    assert up.severity == "critical" and up.details["source"] == "slot"
    assert up.details["new"] == world.token.address.lower() and up.details["previous"] == world.vault.address.lower()
    assert own.details["source"] == "owner()" and own.details["new"] == world.attacker.address.lower()
    svc.close()

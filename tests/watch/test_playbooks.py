"""Playbooks on a real anvil: cancel a timelocked upgrade, propose a Safe 1.4.1 transaction that the
Safe accepts, tighten a parameter within bounds, and dry-run everything."""

from __future__ import annotations

from eth_account import Account
from eth_utils import keccak
from tests.watch.conftest import USD

from bastion.chain import load_artifact
from bastion.store import Repository
from bastion.tower.service import WatchService

ZERO = "0x" + "00" * 20


def _timelock_world(world, tmp_path, monkeypatch, playbook_actions, dry_run=False):
    d = world.deployer
    timelock = d.deploy("TimelockController", 60, [d.address], [d.address], d.address)
    d.transact(timelock.functions.grantRole(keccak(text="CANCELLER_ROLE"), world.guardian.address))
    monkeypatch.setenv("G_KEY", world.node.accounts[1].private_key)
    contracts = {
        **world.contracts,
        "timelock": {"address": timelock.address, "kind": "timelock", "protected": False},
    }
    cfg = world.config(
        tmp_path,
        service={"database": str(tmp_path / "p.db"), "start_block": world.w3.eth.block_number + 1},
        protocol={"name": "t", "contracts": contracts, "assets": world.assets},
        detectors={"governance": {"role_granted": False}},
        keys={"guardian": {"env": "G_KEY"}},
        playbooks=[
            {
                "name": "veto",
                "on": ["governance"],
                "min_severity": "high",
                "dry_run": dry_run,
                "actions": playbook_actions,
            }
        ],
    )
    return timelock, WatchService(cfg, configure_logging=False)


def _schedule_upgrade(world, timelock, salt=b"\x00" * 32):
    upgrade = keccak(text="upgradeTo(address)")[:4] + bytes(12) + bytes.fromhex(world.attacker.address[2:])
    world.deployer.transact(timelock.functions.schedule(world.vault.address, 0, upgrade, bytes(32), salt, 60))
    return timelock.functions.hashOperation(world.vault.address, 0, upgrade, bytes(32), salt).call()


def test_timelocked_upgrade_is_cancelled(world, tmp_path, monkeypatch):
    timelock, svc = _timelock_world(world, tmp_path, monkeypatch, [{"type": "cancel_timelock"}])
    op = _schedule_upgrade(world, timelock)
    assert timelock.functions.isOperationPending(op).call()
    svc.run_once()
    svc.run_once()
    assert not timelock.functions.isOperation(op).call()  # cancelled on chain
    with svc.db.session() as s:
        (action,) = Repository.actions(s)
        assert action.kind == "cancel_timelock" and action.status == "mined"
        assert action.idempotency_key.endswith("0x" + op.hex())
    # a second dangerous operation in the same incident gets its own cancel
    op2 = _schedule_upgrade(world, timelock, salt=b"\x01" * 32)
    svc.run_once()
    svc.run_once()
    assert not timelock.functions.isOperation(op2).call()
    svc.close()


def test_dry_run_records_and_sends_nothing(world, tmp_path, monkeypatch):
    timelock, svc = _timelock_world(world, tmp_path, monkeypatch, [{"type": "cancel_timelock"}], dry_run=True)
    op = _schedule_upgrade(world, timelock)
    nonce = world.w3.eth.get_transaction_count(world.guardian.address)
    svc.run_once()
    svc.run_once()
    assert timelock.functions.isOperationPending(op).call()
    assert world.w3.eth.get_transaction_count(world.guardian.address) == nonce
    with svc.db.session() as s:
        (action,) = Repository.actions(s)
        assert action.status == "dry_run" and action.dry_run and action.payload["operation_id"] == "0x" + op.hex()
    svc.close()


def _deploy_safe(world, owners, threshold):
    d = world.deployer
    singleton = d.deploy("Safe")
    proxy = d.deploy("SafeProxy", singleton.address)
    safe = world.w3.eth.contract(address=proxy.address, abi=load_artifact("Safe").abi)
    d.transact(safe.functions.setup(owners, threshold, ZERO, b"", ZERO, ZERO, 0, ZERO))
    return safe


def test_safe_proposal_is_accepted_by_the_safe(world, tmp_path, monkeypatch):
    owner2 = Account.from_key(world.node.accounts[4].private_key)
    safe = _deploy_safe(world, [world.guardian.address, owner2.address], 2)
    safe_vault = world.deployer.deploy("WatchVault", safe.address, 1)  # a vault the Safe guards
    monkeypatch.setenv("OWNER_KEY", world.node.accounts[1].private_key)
    contracts = {
        **world.contracts,
        "safe": {"address": safe.address, "kind": "safe", "protected": False},
        "safe_vault": {"address": safe_vault.address, "protected": False},
    }
    cfg = world.config(
        tmp_path,
        protocol={"name": "t", "contracts": contracts, "assets": world.assets},
        keys={"owner": {"env": "OWNER_KEY"}},
        playbooks=[
            {
                "name": "multisig",
                "on": ["large_transfer"],
                "actions": [
                    {
                        "type": "safe_propose",
                        "safe": "safe",
                        "to": "safe_vault",
                        "function": "pause(bytes32)",
                        "args": ["keccak:withdraw"],
                        "key": "owner",
                    }
                ],
            }
        ],
    )
    svc = WatchService(cfg, configure_logging=False)
    world.drain(300_000 * USD)
    svc.run_once()
    with svc.db.session() as s:
        (p,) = Repository.safe_proposals(s)
        (action,) = Repository.actions(s)
    assert action.status == "done" and action.tx_hash == p.safe_tx_hash
    data = bytes.fromhex(p.data[2:])
    on_chain = safe.functions.getTransactionHash(safe_vault.address, 0, data, 0, 0, 0, 0, ZERO, ZERO, p.nonce).call()
    assert p.safe_tx_hash == "0x" + on_chain.hex()
    # the co-signer adds a signature; the Safe executes with both (sorted by owner address)
    from bastion.respond.keys import Signer

    sig2 = Signer(owner2).sign_digest(on_chain)
    sigs = dict([(world.guardian.address.lower(), bytes.fromhex(p.signature[2:])), (owner2.address.lower(), sig2)])
    packed = b"".join(sigs[k] for k in sorted(sigs))
    world.deployer.transact(safe.functions.execTransaction(safe_vault.address, 0, data, 0, 0, 0, 0, ZERO, ZERO, packed))
    assert safe_vault.functions.paused(keccak(text="withdraw")).call() is True
    svc.close()


def test_set_param_tightens_within_bounds(world, tmp_path, monkeypatch):
    monkeypatch.setenv("G_KEY", world.node.accounts[1].private_key)
    cfg = world.config(
        tmp_path,
        keys={"guardian": {"env": "G_KEY"}},
        playbooks=[
            {
                "name": "tighten",
                "on": ["large_transfer"],
                "actions": [
                    {
                        "type": "set_param",
                        "target": "vault",
                        "function": "setLimit(uint256)",
                        "getter": "limit()",
                        "factor_bps": 1_000,
                        "min": 20_000 * USD,
                        "max": 10**15,
                    }
                ],
            }
        ],
    )
    svc = WatchService(cfg, configure_logging=False)
    assert world.vault.functions.limit().call() == 100_000 * USD
    world.drain(300_000 * USD)
    svc.run_once()
    svc.run_once()
    assert world.vault.functions.limit().call() == 20_000 * USD  # 10% would be 10k: clamped to the floor
    svc.close()

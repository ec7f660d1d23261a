"""Per-operation veto on a real anvil: a compromised proposer schedules five dangerous operations in one
block; the watchtower proposes one Safe cancel per operation, each on its own Safe nonce, in order; the
Safe's owners execute them one after the other and every operation is gone."""

from __future__ import annotations

from eth_account import Account
from eth_utils import keccak
from tests.watch.test_playbooks import ZERO, _deploy_safe

from bastion.respond.keys import Signer
from bastion.store import Repository
from bastion.tower.service import WatchService


def test_five_dangerous_operations_at_once_get_five_cancels_on_ordered_nonces(world, tmp_path, monkeypatch):
    d = world.deployer
    owner2 = Account.from_key(world.node.accounts[4].private_key)
    safe = _deploy_safe(world, [world.guardian.address, owner2.address], 2)
    timelock = d.deploy("TimelockController", 60, [d.address], [d.address], d.address)
    d.transact(timelock.functions.grantRole(keccak(text="CANCELLER_ROLE"), safe.address))
    monkeypatch.setenv("OWNER_KEY", world.node.accounts[1].private_key)
    contracts = {
        **world.contracts,
        "timelock": {"address": timelock.address, "kind": "timelock", "protected": False},
        "safe": {"address": safe.address, "kind": "safe", "protected": False},
    }
    cfg = world.config(
        tmp_path,
        service={"database": str(tmp_path / "v.db"), "start_block": world.w3.eth.block_number + 1},
        protocol={"name": "t", "contracts": contracts, "assets": world.assets},
        detectors={"governance": {"role_granted": False}},
        keys={"owner": {"env": "OWNER_KEY"}},
        playbooks=[
            {
                "name": "veto",
                "on": ["governance"],
                "actions": [
                    {
                        "type": "safe_propose",
                        "safe": "safe",
                        "to": "timelock",
                        "function": "cancel(bytes32)",
                        "args": ["$detail.operation_id"],
                        "key": "owner",
                    }
                ],
            }
        ],
    )
    svc = WatchService(cfg, configure_logging=False)
    # Five upgrades of five targets, scheduled in ONE block by the (compromised) proposer.
    ops = []
    world.node.rpc("evm_setAutomine", False)
    for i in range(5):
        target = world.w3.to_checksum_address("0x" + keccak(text=f"target {i}")[:20].hex())
        call = keccak(text="upgradeTo(address)")[:4] + bytes(12) + bytes.fromhex(world.attacker.address[2:])
        salt = keccak(text=f"salt {i}")
        tx = timelock.functions.schedule(target, 0, call, bytes(32), salt, 60).build_transaction(
            {"from": d.address, "nonce": world.w3.eth.get_transaction_count(d.address) + i, "gas": 300_000}
        )
        world.w3.eth.send_transaction(tx)
        ops.append(timelock.functions.hashOperation(target, 0, call, bytes(32), salt).call())
    world.node.rpc("evm_mine")
    world.node.rpc("evm_setAutomine", True)
    assert all(timelock.functions.isOperationPending(op).call() for op in ops)
    svc.run_once()
    svc.run_once()
    with svc.db.session() as s:
        proposals = sorted(Repository.safe_proposals(s), key=lambda p: p.nonce)
        actions = Repository.actions(s)
    assert len(actions) == 5 and len({a.idempotency_key for a in actions}) == 5
    assert [p.nonce for p in proposals] == [0, 1, 2, 3, 4]  # distinct, ordered, from the Safe's nonce
    cancelled = {"0x" + bytes.fromhex(p.data[2:])[4:36].hex() for p in proposals}
    assert cancelled == {"0x" + op.hex() for op in ops}
    # The co-signer signs each; the Safe executes them in nonce order.
    for p in proposals:
        data = bytes.fromhex(p.data[2:])
        digest = safe.functions.getTransactionHash(timelock.address, 0, data, 0, 0, 0, 0, ZERO, ZERO, p.nonce).call()
        assert p.safe_tx_hash == "0x" + digest.hex()
        sigs = {world.guardian.address.lower(): bytes.fromhex(p.signature[2:]),
                owner2.address.lower(): Signer(owner2).sign_digest(digest)}  # fmt: skip
        packed = b"".join(sigs[k] for k in sorted(sigs))
        d.transact(safe.functions.execTransaction(timelock.address, 0, data, 0, 0, 0, 0, ZERO, ZERO, packed))
    assert not any(timelock.functions.isOperation(op).call() for op in ops)
    assert safe.functions.nonce().call() == 5
    # A later proposal queues after them: the Safe's nonce now, not a reused one.
    svc.run_once()
    svc.close()

"""Issue 12, cases 1 and 2 on a real anvil: a mined pause orphaned by a reorg is re-sent, and the
pause of an incident found again after a reorg is signed with the node's nonce, not a stale one."""

from __future__ import annotations

import pytest
from tests.watch.conftest import USD

from bastion.chain import TransactionFailed
from bastion.store import Repository
from bastion.tower.service import WatchService

PAUSE = {
    "name": "contain",
    "on": ["large_transfer"],
    "min_severity": "high",
    "actions": [{"type": "pause", "target": "vault", "function": "pause(bytes32)", "args": ["keccak:withdraw"]}],
}


def service(world, tmp_path, monkeypatch, **sections) -> WatchService:
    monkeypatch.setenv("TEST_GUARDIAN_KEY", world.node.accounts[1].private_key)
    cfg = world.config(tmp_path, keys={"guardian": {"env": "TEST_GUARDIAN_KEY"}}, playbooks=[PAUSE], **sections)
    return WatchService(cfg, configure_logging=False)


def paused(world) -> bool:
    return world.vault.functions.paused(world.vault.functions.WITHDRAW().call()).call()


def guardian_txs(world, first: int) -> int:
    """Guardian transactions in the canonical chain from block ``first`` on."""
    out = 0
    for n in range(first, world.w3.eth.block_number + 1):
        block = world.w3.eth.get_block(n, full_transactions=True)
        out += sum(1 for tx in block.transactions if tx["from"] == world.guardian.address)
    return out


def attack_and_pause(world, svc) -> int:
    svc.run_once()
    world.drain(300_000 * USD)
    svc.run_once()  # finding, pause sent (automine: mined at once)
    svc.run_once()  # confirmed
    assert paused(world)
    with svc.db.session() as s:
        (action,) = Repository.actions(s)
        assert action.status == "mined"
        return action.mined_block


@pytest.mark.parametrize("how", ["rollback", "reorg"])
def test_orphaned_pause_is_sent_again(world, tmp_path, monkeypatch, how):
    svc = service(world, tmp_path, monkeypatch)
    pause_block = attack_and_pause(world, svc)
    # the pause's block is orphaned; the attack's block stays
    if how == "rollback":
        world.node.rpc("anvil_rollback", 1)
    else:
        world.node.rpc("anvil_reorg", 1, [])
    assert not paused(world)
    world.drain(100_000 * USD)  # the same attacker again: same incident
    for _ in range(3):
        svc.run_once()
    assert paused(world)
    with pytest.raises(TransactionFailed):
        world.drain(1 * USD)
    assert guardian_txs(world, pause_block) == 1  # exactly one pause on the canonical chain
    with svc.db.session() as s:
        (action,) = Repository.actions(s)
        assert action.status == "mined"
        outcomes = [a.outcome for a in Repository.attempts(s, action.id)]
        assert outcomes == ["orphaned", "mined"]
    svc.close()


def _withdraw_request(world, amount):
    data = world.vault.functions.withdraw(
        world.token.address, world.attacker.address, amount
    )._encode_transaction_data()
    return {"from": world.attacker.address, "to": world.vault.address, "data": data, "gas": hex(200_000)}


@pytest.mark.parametrize("depth", [2, 3])
def test_pause_after_reorg_uses_the_nodes_nonce(world, tmp_path, monkeypatch, depth):
    # re-checked until 2 blocks deep on a dev chain by default; deeper reorgs need a deeper setting
    sections = {} if depth == 2 else {"relayer": {"final_depth": depth + 1}}
    svc = service(world, tmp_path, monkeypatch, **sections)
    attack_and_pause(world, svc)
    if depth == 3:  # one more empty block on top of the pause
        world.node.mine(1)
        svc.run_once()
    first = world.w3.eth.block_number - depth + 1
    # the attack and the pause are orphaned; the attack is mined again in the new branch
    world.node.rpc("anvil_reorg", depth, [[_withdraw_request(world, 250_000 * USD), 0]])
    assert not paused(world)
    for _ in range(4):
        svc.run_once()
    assert paused(world)
    assert guardian_txs(world, first) == 1
    with svc.db.session() as s:
        old, new = Repository.actions(s)
        assert old.status == "orphaned" and "retracted" in old.error
        assert new.status == "mined"
    svc.close()

"""The relayer on a real anvil: nonces, replacement of a stuck transaction, idempotency, crash
resume, pre-signed transactions, and the key never reaching logs, reprs or the database."""

from __future__ import annotations

import json
import logging

import pytest
from eth_account import Account
from sqlalchemy import text

from bastion.chain.rpc import RpcClient
from bastion.respond.keys import KeyRefError, Signer, load_signer, signer_from_hex
from bastion.respond.relayer import Relayer
from bastion.store import Database, Repository
from bastion.watch.config import RelayerConfig


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


def pause_data(world, scope: str = "withdraw") -> bytes:
    from eth_utils import keccak

    return bytes.fromhex(world.vault.functions.pause(keccak(text=scope))._encode_transaction_data()[2:])


def limit_data(world, value: int) -> bytes:
    return bytes.fromhex(world.vault.functions.setLimit(value)._encode_transaction_data()[2:])


@pytest.fixture
def relayer(world, tmp_path):
    db = Database(tmp_path / "r.db")
    clock = Clock()
    r = Relayer(
        RpcClient([world.node.http_url]),
        db,
        signer_from_hex(world.node.accounts[1].private_key),
        31337,
        RelayerConfig(replace_after_s=5),
        clock=clock,
    )
    r.clock_ = clock
    yield r
    r.rpc.close()
    db.dispose()


def attempts(r: Relayer, key: str):
    with r.db.session() as s:
        return Repository.attempts(s, Repository.action(s, key).id)


def test_local_nonces_are_sequential(world, relayer):
    world.node.rpc("evm_setAutomine", False)
    rows = [
        relayer.submit(f"k{i}", to=world.vault.address, data=limit_data(world, 1000 + i), gas=100_000) for i in range(3)
    ]
    assert [r.nonce for r in rows] == [0, 1, 2]
    assert len(world.node.rpc("txpool_content")["pending"][world.guardian.address.lower()]) == 3
    world.node.rpc("evm_mine")
    assert [relayer.wait(f"k{i}").status for i in range(3)] == ["mined"] * 3
    assert world.vault.functions.limit().call() == 1002


def test_stuck_transaction_is_replaced_with_higher_fees(world, relayer):
    world.node.rpc("evm_setAutomine", False)
    first = relayer.submit("pause-1", to=world.vault.address, data=pause_data(world), gas=100_000)
    assert first.status == "sent"
    relayer.poll()
    assert len(attempts(relayer, "pause-1")) == 1  # not stuck yet
    relayer.clock_.t += 6
    relayer.poll()
    a1, a2 = attempts(relayer, "pause-1")
    assert a2.nonce == a1.nonce
    assert a2.max_fee_per_gas > a1.max_fee_per_gas and a2.max_priority_fee_per_gas > a1.max_priority_fee_per_gas
    pool = world.node.rpc("txpool_content")["pending"][world.guardian.address.lower()]
    assert [t["hash"] for t in pool.values()] == [a2.tx_hash]  # the replacement took the slot
    world.node.rpc("evm_mine")
    row = relayer.wait("pause-1")
    assert row.status == "mined" and row.tx_hash == a2.tx_hash
    assert [a.outcome for a in attempts(relayer, "pause-1")] == ["replaced", "mined"]


def test_same_action_is_never_sent_twice(world, relayer):
    a = relayer.submit("incident-7:contain:0", to=world.vault.address, data=pause_data(world))
    b = relayer.submit("incident-7:contain:0", to=world.vault.address, data=pause_data(world))
    assert a.id == b.id and a.tx_hash == b.tx_hash
    assert len(attempts(relayer, "incident-7:contain:0")) == 1
    # a second relayer process (same database, fresh memory) does not send it either
    other = Relayer(RpcClient([world.node.http_url]), relayer.db, relayer.signer, 31337)
    c = other.submit("incident-7:contain:0", to=world.vault.address, data=pause_data(world))
    assert c.id == a.id
    assert world.w3.eth.get_transaction_count(world.guardian.address) == 1


def test_resume_rebroadcasts_the_recorded_bytes(world, relayer):
    world.node.rpc("evm_setAutomine", False)
    row = relayer.submit("k", to=world.vault.address, data=pause_data(world), gas=100_000)
    world.node.rpc("anvil_dropTransaction", row.tx_hash)  # as if the node lost it while we were down
    assert world.node.rpc("txpool_content")["pending"] == {}
    fresh = Relayer(RpcClient([world.node.http_url]), relayer.db, relayer.signer, 31337)
    fresh.resume()
    world.node.rpc("evm_mine")
    assert fresh.wait("k").tx_hash == row.tx_hash  # same signed bytes, same hash, no second nonce
    assert world.w3.eth.get_transaction_count(world.guardian.address) == 1


def test_presigned_pause_is_broadcast_as_signed(world, relayer):
    data = pause_data(world)
    tx_hash = relayer.presign("pause-withdraw", world.vault.address, data)
    row = relayer.submit("k", to=world.vault.address, data=data, presigned="pause-withdraw")
    assert row.tx_hash == tx_hash
    assert relayer.wait("k").status == "mined"
    # a stale pre-signed transaction (its nonce was used since) is not broadcast: a fresh one is signed
    stale = relayer.presign("limit", world.vault.address, limit_data(world, 5))
    relayer.submit("other", to=world.vault.address, data=limit_data(world, 6))
    row = relayer.submit("k2", to=world.vault.address, data=limit_data(world, 5), presigned="limit")
    assert row.tx_hash != stale and row.nonce == 2
    assert relayer.wait("k2").status == "mined" and world.vault.functions.limit().call() == 5


def test_reverting_action_is_recorded_failed(world, relayer):
    bad = Relayer(relayer.rpc, relayer.db, signer_from_hex(world.node.accounts[5].private_key), 31337)
    row = bad.submit("not-guardian", to=world.vault.address, data=pause_data(world))
    assert row.status == "failed" and "revert" in (row.error or "").lower()
    # nothing was signed, so a later trigger may try again (and the relayer that can, succeeds)
    again = relayer.submit("not-guardian", to=world.vault.address, data=pause_data(world))
    assert again.id == row.id and relayer.wait("not-guardian").status == "mined"
    assert len(attempts(relayer, "not-guardian")) == 1


def test_key_never_in_logs_repr_or_db(world, relayer, caplog, monkeypatch, tmp_path):
    key_hex = world.node.accounts[1].private_key
    bare = key_hex[2:].lower()
    caplog.set_level(logging.DEBUG)
    world.node.rpc("evm_setAutomine", False)
    relayer.submit("a", to=world.vault.address, data=pause_data(world), gas=100_000)
    relayer.clock_.t += 10
    relayer.poll()
    world.node.rpc("evm_mine")
    relayer.wait("a")
    relayer.submit("b", to=world.vault.address, data=b"\x12\x34")  # reverts in the estimate: an error path
    signer = relayer.signer
    texts = [r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records]
    texts += [repr(signer), str(signer), repr(relayer)]
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(signer)
    # bad keys: errors name the variable, never the value
    monkeypatch.setenv("BAD_KEY", "0x" + "zz" * 32)
    with pytest.raises(KeyRefError) as err:
        load_signer(env="BAD_KEY")
    texts.append(str(err.value))
    monkeypatch.setenv("GOOD_KEY", key_hex)
    texts.append(repr(load_signer(env="GOOD_KEY")))
    with relayer.db.engine.connect() as conn:
        for table in ("actions", "action_attempts"):
            texts.append(json.dumps([list(map(str, r)) for r in conn.execute(text(f"SELECT * FROM {table}"))]))
    blob = "\n".join(texts).lower()
    assert caplog.records and "action" in blob
    assert bare not in blob and "zz" * 32 not in blob


def test_keystore_key(tmp_path, monkeypatch):
    acct = Account.create()
    path = tmp_path / "guardian.json"
    path.write_text(json.dumps(Account.encrypt(acct.key, "pw-123", kdf="pbkdf2", iterations=2_000)))
    monkeypatch.setenv("KS_PASSWORD", "pw-123")
    signer = load_signer(keystore=path, password_env="KS_PASSWORD")
    assert isinstance(signer, Signer) and signer.address == acct.address
    monkeypatch.setenv("KS_PASSWORD", "wrong")
    with pytest.raises(KeyRefError, match="did not decrypt"):
        load_signer(keystore=path, password_env="KS_PASSWORD")

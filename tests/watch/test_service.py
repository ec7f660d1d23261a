"""The service end to end on a real anvil: drain -> finding -> incident -> pause mined -> timeline."""

from __future__ import annotations

import pytest
from tests.watch.conftest import USD

from bastion.chain import TransactionFailed
from bastion.store import Repository
from bastion.tower.service import WatchService


def test_drain_is_detected_and_paused(world, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_GUARDIAN_KEY", world.node.accounts[1].private_key)
    cfg = world.config(
        tmp_path,
        keys={"guardian": {"env": "TEST_GUARDIAN_KEY"}},
        playbooks=[
            {
                "name": "contain",
                "on": ["large_transfer"],
                "min_severity": "high",
                "actions": [
                    {
                        "type": "pause",
                        "target": "vault",
                        "function": "pause(bytes32)",
                        "args": ["keccak:withdraw"],
                    }
                ],
            }
        ],
    )
    svc = WatchService(cfg, configure_logging=False)
    svc.run_once()
    with svc.db.session() as s:
        assert Repository.findings(s) == []  # setup traffic (mints into the vault) is not an outflow
    world.drain(300_000 * USD)
    svc.run_once()
    with svc.db.session() as s:
        findings = Repository.findings(s)
        assert [f.detector for f in findings] == ["large_transfer"]
        f = findings[0]
        assert f.subject == world.vault.address.lower()
        assert f.actor == world.attacker.address.lower()
        assert f.details["amount"] == 300_000 * USD
        incidents = Repository.incidents(s)
        assert len(incidents) == 1 and incidents[0].severity == "high"
        actions = Repository.actions(s)
        assert [a.kind for a in actions] == ["pause"]
    # automine: the pause is mined at once; the next tick confirms it
    svc.run_once()
    assert world.vault.functions.paused(world.vault.functions.WITHDRAW().call()).call() is True
    with svc.db.session() as s:
        inc = Repository.incidents(s)[0]
        assert Repository.actions(s)[0].status == "mined"
        assert inc.first_tx_hash == f.tx_hash
        assert inc.first_tx_at is not None and inc.detected_at and inc.action_sent_at and inc.action_mined_at
        assert inc.detected_at <= inc.action_sent_at <= inc.action_mined_at
    # a second drain in the same incident does not pause twice
    with pytest.raises(TransactionFailed):
        world.drain(1 * USD)  # the vault is paused now: the exploit reverts
    svc.run_once()
    with svc.db.session() as s:
        assert len(Repository.actions(s)) == 1
    svc.close()


def test_manifest_metrics_and_json_logs(world, tmp_path):
    import io
    import json
    import logging

    from bastion.tower.service import setup_logging

    manifest = tmp_path / "deployment.json"
    manifest.write_text(
        json.dumps({"name": "demo", "chain_id": 31337, "contracts": world.contracts, "assets": world.assets})
    )
    cfg = world.config(tmp_path, protocol={"name": "demo", "manifest": str(manifest), "contracts": {}, "assets": {}})
    svc = WatchService(cfg, configure_logging=False)
    assert svc.protocol.protected == {world.vault.address.lower()}
    assert svc.protocol.contracts["vault"].abi  # the artifact's ABI, loaded by name
    stream = io.StringIO()
    setup_logging("json", "INFO", stream)
    try:
        world.drain(300_000 * USD)
        svc.run_once()
    finally:
        logging.getLogger("bastion").handlers.clear()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    finding = next(line for line in lines if line.get("event") == "finding")
    assert finding["detector"] == "large_transfer" and finding["level"] == "warning"
    text = svc.metrics.render().decode()
    assert "bastion_watch_blocks_behind 0.0" in text
    assert 'bastion_watch_findings_total{detector="large_transfer",severity="high"} 1.0' in text
    assert "bastion_watch_block_seconds_count" in text and "bastion_watch_rpc_calls_total" in text
    svc.close()

"""Incidents people can work: escalation inside an open incident, and `bastion incidents`."""

from __future__ import annotations

import logging

from eth_utils import keccak
from typer.testing import CliRunner

from bastion.cli import app as cli
from bastion.store import IncidentRow, Repository
from bastion.tower.service import WatchService

CANCELLER = keccak(text="CANCELLER_ROLE")


def _setup(world, tmp_path, http_receiver):
    d = world.deployer
    timelock = d.deploy("TimelockController", 60, [d.address], [d.address], d.address)
    contracts = {**world.contracts, "timelock": {"address": timelock.address, "kind": "timelock", "protected": False}}
    cfg = world.config(
        tmp_path,
        service={"start_block": world.w3.eth.block_number + 1, "log_format": "text"},
        protocol={"name": "t", "contracts": contracts, "assets": world.assets},
        detectors={"governance": {}},
        notifiers={"ops": {"type": "webhook", "url": http_receiver.url, "backoff_s": 0.05}},
        playbooks=[
            {"name": "tell-ops", "on": ["governance"], "min_severity": "medium", "actions": [{"type": "notify"}]}
        ],
    )
    return timelock, WatchService(cfg, configure_logging=False)


def _tick(svc: WatchService) -> None:
    """One watch step, then deliver what it queued (the outbox worker's job in `bastion watch`)."""
    svc.run_once()
    svc.hub.outbox.drain()


def test_a_more_severe_finding_in_an_open_incident_notifies_again(world, tmp_path, http_receiver, caplog):
    timelock, svc = _setup(world, tmp_path, http_receiver)
    d = world.deployer
    caplog.set_level(logging.WARNING, logger="bastion")
    try:
        d.transact(timelock.functions.grantRole(CANCELLER, world.user.address))  # medium: opens the incident
        _tick(svc)
        assert [r.json()["severity"] for r in http_receiver.requests] == ["medium"]
        d.transact(timelock.functions.grantRole(CANCELLER, world.guardian.address))  # medium again: quiet
        _tick(svc)
        assert len(http_receiver.requests) == 1
        d.transact(timelock.functions.grantRole(bytes(32), world.attacker.address))  # high: escalation
        _tick(svc)
        assert [r.json()["severity"] for r in http_receiver.requests] == ["medium", "high"]
        with svc.db.session() as s:
            (inc,) = Repository.incidents(s)
            assert inc.severity == "high" and len(Repository.incident_findings(s, inc.id)) == 3
        text = [r.getMessage() for r in caplog.records]
        assert any("escalated to high by governance" in m for m in text)
        # the text log names the detector and the title
        assert any(m.startswith("finding governance (high): DEFAULT_ADMIN_ROLE granted to") for m in text)
    finally:
        svc.close()


def test_incidents_command_lists_shows_acks_and_resolves(world, tmp_path, http_receiver):
    timelock, svc = _setup(world, tmp_path, http_receiver)
    d = world.deployer
    db = svc.db.url  # the store the service uses (a SQLite file, or PostgreSQL under test-postgres)
    run = CliRunner()
    try:
        d.transact(timelock.functions.grantRole(CANCELLER, world.user.address))
        svc.run_once()
        out = run.invoke(cli, ["incidents", "list", "--db", db])
        assert out.exit_code == 0 and "CANCELLER_ROLE granted" in out.output and "open" in out.output
        out = run.invoke(cli, ["incidents", "show", "1", "--db", db])
        assert out.exit_code == 0, out.output
        assert "incident 1 [open] medium" in out.output and "governance" in out.output and "sent" in out.output
        assert run.invoke(cli, ["incidents", "ack", "1", "--db", db]).output.strip() == "incident 1 acknowledged"
        d.transact(timelock.functions.grantRole(CANCELLER, world.guardian.address))
        svc.run_once()  # an acknowledged incident still absorbs related findings
        with svc.db.session() as s:
            (inc,) = Repository.incidents(s)
            assert inc.status == "acknowledged" and len(Repository.incident_findings(s, inc.id)) == 2
        assert run.invoke(cli, ["incidents", "resolve", "1", "--db", db]).exit_code == 0
        d.transact(timelock.functions.grantRole(CANCELLER, world.attacker.address))
        svc.run_once()  # after resolve, a new finding opens a new incident
        with svc.db.session() as s:
            assert [(i.id, i.status) for i in s.query(IncidentRow).order_by(IncidentRow.id)] == [
                (1, "resolved"),
                (2, "open"),
            ]
        out = run.invoke(cli, ["incidents", "list", "--db", db, "--status", "open"])
        assert " 2 " in out.output and "resolved" not in out.output
    finally:
        svc.close()
    for args, expected in (
        (["show", "99", "--db", db], "incidents error: no incident 99"),
        (["list", "--db", str(tmp_path / "nope.db")], "incidents error: no database at"),
        (["list"], "incidents error: give --config FILE or --db PATH_OR_URL"),
        (["list", "--db", db, "--status", "weird"], "incidents error: --status must be one of"),
        (
            ["remedy", "1", "--db", db, "--rpc", world.node.http_url, "--manifest", str(tmp_path / "none.json")],
            "incidents error: manifest",
        ),
    ):
        res = run.invoke(cli, ["incidents", *args])
        assert res.exit_code == 2 and res.output.strip().startswith(expected), res.output
        assert len(res.output.strip().splitlines()) == 1

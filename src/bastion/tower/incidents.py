"""``bastion incidents``: work the watchtower's incidents from its database.

``list`` (newest first; ``--status``), ``show ID`` (timeline, findings, actions), ``ack ID`` (someone is
on it: the incident still absorbs new findings and still escalates) and ``resolve ID`` (done: a new
finding opens a new incident). The database comes from ``--config`` (its ``[service] database``) or
``--db`` (a SQLite path or a SQLAlchemy URL). Errors are one line with exit 2.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from bastion.store import Database, IncidentRow, Repository
from bastion.tower.config import load_config
from bastion.watch.config import ConfigError
from bastion.watch.incidents import timeline

app = typer.Typer(help="Incidents: list, show, acknowledge, resolve.", no_args_is_help=True)
STATUSES = ("open", "acknowledged", "closed", "resolved", "retracted")

ConfigOpt = typer.Option(None, "--config", "-c", help="the watch config (its [service] database)")
DbOpt = typer.Option(None, "--db", help="SQLite file or SQLAlchemy URL (instead of --config)")


def _fail(msg: str) -> typer.Exit:
    typer.echo(msg, err=True)
    return typer.Exit(2)


def _database(config: Path | None, db: str | None) -> Database:
    if (config is None) == (db is None):
        raise _fail("incidents error: give --config FILE or --db PATH_OR_URL (one of them)")
    if config is not None:
        try:
            cfg = load_config(config)
        except ConfigError as exc:
            raise _fail(str(exc)) from None
        url = cfg.service.database
        db = url if "://" in url else str(cfg.path(url))
    assert db is not None
    if "://" not in db and not Path(db).is_file():
        raise _fail(f"incidents error: no database at {db}: start the watchtower first, or fix the path")
    try:
        return Database(db)
    except Exception as exc:  # a bad URL or a missing driver: one line, never the URL's password
        raise _fail(f"incidents error: cannot open the database ({type(exc).__name__})") from None


def _get(database: Database, incident_id: int) -> IncidentRow:
    with database.session() as s:
        inc = s.get(IncidentRow, incident_id)
    if inc is None:
        raise _fail(f"incidents error: no incident {incident_id} (see `bastion incidents list`)")
    return inc


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + "Z"


@app.command("list")
def list_(
    config: Path | None = ConfigOpt,
    db: str | None = DbOpt,
    status: str | None = typer.Option(None, "--status", help=f"only these: {', '.join(STATUSES)}"),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000),
) -> None:
    """Incidents, newest first."""
    if status is not None and status not in STATUSES:
        raise _fail(f"incidents error: --status must be one of {', '.join(STATUSES)} (got {status!r})")
    database = _database(config, db)
    with database.session() as s:
        rows = [i for i in reversed(Repository.incidents(s)) if status is None or i.status == status][:limit]
    table = Table("id", "status", "severity", "title", "detectors", "blocks", "detected")
    for i in rows:
        blocks = f"{i.first_block}-{i.last_block}" if i.first_block is not None else "pending"
        table.add_row(
            str(i.id), i.status, i.severity, i.title, ", ".join(i.detectors or []), blocks, _when(i.detected_at)
        )
    Console(width=200, markup=False, highlight=False).print(table)
    database.dispose()


@app.command("show")
def show(
    incident_id: int = typer.Argument(..., help="the incident's id"),
    config: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    """One incident: what, when, its findings and the actions taken."""
    database = _database(config, db)
    inc = _get(database, incident_id)
    with database.session() as s:
        findings = Repository.incident_findings(s, incident_id, live_only=False)
        actions = [a for a in Repository.actions(s) if a.incident_id == incident_id]
        notes = [n for n in Repository.notifications(s) if n.incident_id == incident_id]
    out = Console(width=200, markup=False, highlight=False)
    out.print(f"incident {inc.id} [{inc.status}] {inc.severity}: {inc.title}")
    out.print(f"subject {inc.subject or '-'}; actors {', '.join(inc.actors or []) or '-'}")
    for entry in timeline(inc):
        out.print(f"  {entry.what:<20} {_when(entry.at)}" + (f"  {entry.ref}" if entry.ref else ""))
    table = Table("block", "detector", "severity", "title", "tx", title="findings")
    for f in findings:
        title = f.title + (" (retracted)" if f.retracted else "")
        table.add_row(str(f.block_number or "pending"), f.detector, f.severity, title, f.tx_hash or "-")
    out.print(table)
    acts = Table("playbook", "kind", "status", "target", "tx", "error", title="actions")
    for a in actions:
        acts.add_row(a.playbook, a.kind, a.status, a.target or "-", a.tx_hash or "-", (a.error or "")[:80])
    out.print(acts)
    sent = Table("channel", "status", "attempts", "sent", "error", title="notifications")
    for n in notes:
        sent.add_row(n.channel, n.status, str(n.attempts), _when(n.sent_at), (n.last_error or "")[:80])
    out.print(sent)
    database.dispose()


def _set_status(incident_id: int, config: Path | None, db: str | None, status: str, allowed: tuple[str, ...]) -> None:
    database = _database(config, db)
    with database.transaction() as s:
        inc = s.get(IncidentRow, incident_id)
        if inc is None:
            raise _fail(f"incidents error: no incident {incident_id} (see `bastion incidents list`)")
        if inc.status not in allowed:
            raise _fail(f"incidents error: incident {incident_id} is {inc.status}: cannot mark it {status}")
        inc.status = status
        inc.updated_at = time.time()
    typer.echo(f"incident {incident_id} {status}")
    database.dispose()


@app.command("ack")
def ack(
    incident_id: int = typer.Argument(..., help="the incident's id"),
    config: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    """Someone is on it. New related findings still join it, and a more severe one still escalates."""
    _set_status(incident_id, config, db, "acknowledged", ("open", "acknowledged"))


@app.command("resolve")
def resolve(
    incident_id: int = typer.Argument(..., help="the incident's id"),
    config: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    """Done. A new finding about the same addresses opens a new incident."""
    _set_status(incident_id, config, db, "resolved", ("open", "acknowledged", "closed", "resolved"))


@app.command("remedy")
def remedy(
    incident_id: int = typer.Argument(..., help="the incident's id"),
    rpc: str = typer.Option(..., "--rpc", help="JSON-RPC endpoint of the chain"),
    manifest: Path = typer.Option(..., "--manifest", help="the deployment manifest (`bastion deploy`)"),
    max_deviation_bps: int = typer.Option(300, "--max-deviation-bps", min=1, help="the oracle detector's bound"),
    config: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    """Governance's remedy for a price incident of the reference protocol: who closed at a price the
    watchtower flagged and what that price paid them, and the calls that void it (propose both through
    the guardian Safe to the timelock, in order), then the guardian's call that holds the pause."""
    from bastion.chain import connect
    from bastion.protocol.client import Protocol
    from bastion.protocol.deploy import Manifest
    from bastion.respond import remedy as remedies

    database = _database(config, db)
    _get(database, incident_id)
    with database.session() as s:
        findings = Repository.incident_findings(s, incident_id, live_only=True)
    database.dispose()
    try:
        protocol = Protocol(connect(rpc), Manifest.load(manifest))
        head = int(protocol.w3.eth.block_number)
        plan = remedies.plan(protocol, findings, head=head, max_deviation_bps=max_deviation_bps, incident=incident_id)
        delay = int(protocol.timelock.functions.getMinDelay().call())
    except ValueError as exc:
        raise _fail(f"incidents error: {exc}") from None
    except Exception as exc:  # an unreachable endpoint or a manifest of another chain: one line, no URL
        raise _fail(f"incidents error: cannot read the chain for the remedy ({type(exc).__name__})") from None
    if plan is None:
        typer.echo(f"incident {incident_id}: nobody closed at a flagged price; no remedy to queue")
        return
    typer.echo(f"incident {incident_id}: window {plan.window[0]}..{plan.window[1]}, report 0x{plan.report_hash.hex()}")
    for account, gain in plan.gains.items():
        typer.echo(f"  void up to {gain} (collateral units) of {account}")
    timelock = protocol.timelock.address
    for i, data in enumerate(remedies.schedule_calls(protocol.timelock, plan, delay), start=1):
        typer.echo(f"safe proposal {i}: to {timelock} data 0x{data.hex()}")
    hold = remedies.hold_call(protocol.router, plan)
    typer.echo(f"guardian, once proposal 2 is executed: to {protocol.router.address} data 0x{hold.hex()}")

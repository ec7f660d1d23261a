"""``bastion risk``: the risk engine's command (mounted by the main CLI with ``add_typer``, no name).

- ``bastion risk --config FILE`` runs continuously against a chain (the embedded one unless the config
  or ``--rpc-url``/``--manifest`` name one): observe, decide, re-simulate, report, act; a live table on a
  terminal, log lines otherwise.
- ``bastion risk --once`` prints one recommendation and its reasons. From the chain when ``--config``,
  ``--rpc-url`` or ``--manifest`` is given (nothing is sent unless ``--apply``); from the bundled hourly
  history otherwise.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

app = typer.Typer(help="Risk engine: bounded parameter recommendations.", no_args_is_help=False)


def _fmt(name: str, v: int) -> str:
    if name == "oi_cap":
        return f"${v / 10**6:,.0f}"
    return f"{v} bps"


def _fmt_param(name: str, v: int) -> str:
    """Registry units: bps, except the OI cap (whole units of the base asset) and the funding rate."""
    if name == "maxOpenInterest":
        return f"{v / 10**18:,.2f}"
    if name == "maxFundingRatePerDay":
        return f"{v / 10**18:.4%}"
    return str(v)


def _action(d: Any) -> str:
    if d.kind.value in ("hold", "defer"):
        return d.kind.value
    route = "TL" if d.kind.value == "propose" else "RISK"
    verb = d.kind.value if d.kind.value in ("emergency", "renew") else d.direction
    return f"{route} {verb}"


def _bundled(hours: int, base_fee_gwei: float, gas_used_ratio: float, pending: int, simulate: bool, as_json: bool):
    from bastion.risk.estimators import CongestionInputs
    from bastion.risk.policy import DEFAULT_LIQUIDITY, MarketSnapshot, default_state, recommend, simulate_proposal
    from bastion.sim.data import load_btc_hourly

    hist = load_btc_hourly()
    r = hist.log_returns()[-hours:]
    now = int(hist.unix[-1])
    snap = MarketSnapshot(
        returns_hourly=r,
        liquidity=DEFAULT_LIQUIDITY,
        congestion=CongestionInputs(int(base_fee_gwei * 10**9), gas_used_ratio, pending),
        timestamp=now,
    )
    rec = recommend(snap, default_state(last_changed=now - 7 * 86_400))
    out = rec.to_dict()
    if simulate:
        report, digest = simulate_proposal(rec.proposal(), snap)
        out["simulation"] = report
        out["report_hash"] = "0x" + digest.hex()
    if as_json:
        typer.echo(json.dumps(out, indent=2, sort_keys=True))
        return
    con = Console()
    con.print(
        f"market: bundled BTC/USD, last {hours} h to {hist.unix[-1]} (unix); hourly vol "
        f"{rec.vol.sigma:.3%} ({rec.vol.annualized:.0%} annualized, {rec.vol.method})"
    )
    t = Table("parameter", "current", "target", "proposed", "action", "route", "reasons")
    for c in rec.changes:
        t.add_row(
            c.name,
            _fmt(c.name, c.current),
            _fmt(c.name, c.target),
            _fmt(c.name, c.proposed),
            c.action.value,
            c.route or "-",
            "; ".join(c.reasons),
        )
    con.print(t)
    if simulate:
        m = out["simulation"]["metrics"]
        con.print(
            f"re-simulated: P(bad debt) {m['bad_debt_probability']['value']:.4f}, bad-debt ES99 "
            f"${m['bad_debt']['es_99']['value']:,.0f}; report hash {out['report_hash']}"
        )


# -- chain mode -------------------------------------------------------------------------------------


def cycle_table(result: Any, title: str, *, why: bool = False) -> Table:
    """Every decision of a cycle: parameter, now, target, action, new value and status (and the last
    reason). Values in bps, except maxOpenInterest (units of the base asset). TL: timelock proposal."""
    t = Table(title=title, title_justify="left", caption="bps; maxOpenInterest in base units; TL = timelock")
    for col in ("market", "parameter", "now", "target", "action", "to", "status"):
        t.add_column(col, no_wrap=col in ("now", "target", "to"), overflow="fold")
    if why:
        t.add_column("why", no_wrap=True, overflow="ellipsis", max_width=60)
    for o in result.outcomes:
        d = o.decision
        row = [
            d.market,
            d.name,
            _fmt_param(d.name, d.current),
            _fmt_param(d.name, d.target),
            _action(d),
            _fmt_param(d.name, d.value),
            o.status,
        ]
        t.add_row(*row, *([d.reasons[-1]] if why else []))
    return t


def reason_lines(result: Any) -> list[str]:
    return [f"{o.decision.market} {o.decision.name}: " + "; ".join(o.decision.reasons) for o in result.outcomes]


def _summary(result: Any) -> str:
    p = result.plan
    vols = ", ".join(
        f"{s}: vol {mp.stress.vol.sigma:.3%}/h stress, {mp.structural.vol.sigma:.3%}/h long-run "
        f"({mp.obs.history_source} history)"
        for s, mp in p.markets.items()
    )
    h = f"; report 0x{result.report_hash.hex()}" if result.report_hash else ""
    return f"block {p.block} (t={p.timestamp}): {vols}{h}"


def log_lines(n: int, result: Any) -> list[str]:
    lines = [f"cycle {n}: {_summary(result)}"]
    for o in result.outcomes:
        d = o.decision
        if o.status == "hold":
            continue
        where = f" tx {o.tx_hash}" if o.tx_hash else (f" ({o.detail})" if o.detail else "")
        lines.append(
            f"  {d.market} {d.name}: {_fmt_param(d.name, d.current)} -> {_fmt_param(d.name, d.value)} "
            f"{d.kind.value}/{d.direction} [{o.status}]{where}; {d.reasons[-1]}"
        )
    if len(lines) == 1:
        lines.append("  no change")
    if result.safe_tx_hash:
        lines.append(f"  Safe proposal {result.safe_tx_hash} (timelock op {result.operation_id}) awaits co-signers")
    return lines


def _load_cfg(config: Path | None, rpc_url: str | None, manifest: Path | None):
    from bastion.risk.config import RiskConfig, load_risk_config, parse_risk_config

    cfg = load_risk_config(config) if config else RiskConfig()
    if rpc_url is None and manifest is None:
        return cfg
    data = cfg.model_dump()
    if rpc_url is not None:
        data["chain"]["rpc_url"] = rpc_url
    if manifest is not None:
        data["chain"]["manifest"] = str(manifest)
    return parse_risk_config(data, "command line (--rpc-url/--manifest)")


def _chain(
    config: Path | None,
    rpc_url: str | None,
    manifest: Path | None,
    once: bool,
    apply: bool,
    dry_run: bool,
    cycles: int | None,
    as_json: bool,
) -> None:
    from bastion.risk.config import ConfigError
    from bastion.risk.service import open_runtime, run_loop

    err = Console(stderr=True)
    try:
        cfg = _load_cfg(config, rpc_url, manifest)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    dry = (once and not apply) or dry_run or cfg.output.dry_run
    con = Console()
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with open_runtime(cfg, dry_run=dry) as rt:
            where = cfg.chain.rpc_url or f"embedded chain {rt.node.http_url if rt.node else ''}"
            if once:
                result = rt.engine.cycle()
                if as_json:
                    typer.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
                    return
                con.print(f"risk engine on {where}{' (dry run: nothing sent)' if dry else ''}")
                con.print(cycle_table(result, _summary(result)))
                con.print("why:")
                for line in reason_lines(result):
                    con.print(f"  {line}", highlight=False, markup=False)
                for note in result.plan.notes + [n for mp in result.plan.markets.values() for n in mp.obs.notes]:
                    con.print(f"  note: {note}", highlight=False, markup=False)
                return
            live = cfg.output.display == "live" or (cfg.output.display == "auto" and con.is_terminal)
            con.print(f"risk engine on {where}, every {cfg.interval_seconds:g} s{' (dry run)' if dry else ''}")
            errors: list[str] = []

            def on_error(n: int, exc: Exception) -> None:
                line = f"cycle {n}: error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                errors.append(line)
                if not live:
                    con.print(line, highlight=False, markup=False)

            if not live:

                def on_log(n: int, result: Any) -> None:
                    stamp = time.strftime("%H:%M:%S")
                    for line in log_lines(n, result):
                        con.print(f"{stamp} {line}", highlight=False, soft_wrap=True, markup=False)

                run_loop(rt, cfg, on_log, on_error, cycles=cycles, stop=stop)
                return
            with Live(console=con, auto_refresh=False, transient=False) as view:
                last: list[Any] = []

                def show() -> None:
                    view.update(Group(*last, *[Text(e, style="red") for e in errors[-3:]]), refresh=True)

                def on_live(n: int, result: Any) -> None:
                    last[:] = [cycle_table(result, f"cycle {n}: {_summary(result)}", why=True)]
                    if result.safe_tx_hash:
                        last.append(Text(f"Safe proposal {result.safe_tx_hash} awaits co-signers"))
                    show()

                def on_live_error(n: int, exc: Exception) -> None:
                    on_error(n, exc)
                    show()

                run_loop(rt, cfg, on_live, on_live_error, cycles=cycles, stop=stop)
    except KeyboardInterrupt:
        con.print("stopped")
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _verify(path: Path, rpc_url: str | None, manifest: Path | None) -> None:
    from bastion.risk.reports import ReportMismatch, verify_report

    err = Console(stderr=True)
    try:
        digest = verify_report(path)
    except (OSError, ReportMismatch) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    typer.echo(f"0x{digest.hex()}  {path}: sha256 matches its name")
    if rpc_url is None or manifest is None:
        return
    from bastion.chain.contracts import connect
    from bastion.protocol.client import Protocol
    from bastion.protocol.deploy import Manifest
    from bastion.risk.engine import report_uses

    uses = report_uses(Protocol(connect(rpc_url), Manifest.load(manifest)), digest)
    for line in uses:
        typer.echo(f"  on chain: {line}")
    if not uses:
        msg = "this report hash appears in no registry update or timelock operation"
        err.print(f"[red]error:[/red] {msg}", highlight=False)
        raise typer.Exit(1)


@app.command("risk")
def risk(
    once: bool = typer.Option(False, "--once", help="One recommendation with its reasons, then exit."),
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML or YAML risk config."),
    rpc_url: str | None = typer.Option(None, "--rpc-url", help="JSON-RPC endpoint (needs --manifest)."),
    manifest: Path | None = typer.Option(None, "--manifest", help="Deployment manifest JSON (bastion deploy)."),
    apply: bool = typer.Option(False, "--apply", help="With --once on a chain: carry the actions out."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Decide and simulate; send and propose nothing."),
    cycles: int | None = typer.Option(None, "--cycles", min=1, help="Stop after this many cycles."),
    hours: int = typer.Option(24 * 60, "--hours", min=100, help="Bundled mode: hours of history."),
    base_fee_gwei: float = typer.Option(10.0, "--base-fee-gwei", min=0.0, help="Bundled mode: base fee."),
    gas_used_ratio: float = typer.Option(0.5, "--gas-used-ratio", min=0.0, max=1.0, help="Bundled mode."),
    pending: int = typer.Option(2_000, "--pending", min=0, help="Bundled mode: pending pool size."),
    simulate: bool = typer.Option(False, "--simulate", help="Bundled mode: re-simulate and print the hash."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table (--once)."),
    verify: Path | None = typer.Option(
        None, "--verify", help="Check a stored report's sha256 (and, with --rpc-url/--manifest, find it on chain)."
    ),
) -> None:
    """Turn volatility, liquidity and congestion into bounded parameter changes: tighten at once through
    the RISK role, loosen through the timelock (a Safe proposal), every change re-simulated and reported."""
    if verify is not None:
        _verify(verify, rpc_url, manifest)
        return
    on_chain = config is not None or rpc_url is not None or manifest is not None
    if once and not on_chain:
        _bundled(hours, base_fee_gwei, gas_used_ratio, pending, simulate, as_json)
        return
    _chain(config, rpc_url, manifest, once, apply, dry_run, cycles, as_json)

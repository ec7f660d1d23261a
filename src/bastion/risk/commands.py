"""``bastion risk``: typer command, wired into the main CLI by the lead. ``--once`` runs the policy on the
bundled hourly history with default parameters and bounds; the continuous on-chain mode comes later."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Risk engine: bounded parameter recommendations.", no_args_is_help=True)


def _fmt(name: str, v: int) -> str:
    if name == "oi_cap":
        return f"${v / 10**6:,.0f}"
    return f"{v} bps"


@app.command("risk")
def risk(
    once: bool = typer.Option(False, "--once", help="One recommendation from bundled data, then exit."),
    hours: int = typer.Option(24 * 60, "--hours", min=100, help="Hours of history for the volatility fit."),
    base_fee_gwei: float = typer.Option(10.0, "--base-fee-gwei", min=0.0, help="Network base fee."),
    gas_used_ratio: float = typer.Option(0.5, "--gas-used-ratio", min=0.0, max=1.0, help="Block fullness."),
    pending: int = typer.Option(2_000, "--pending", min=0, help="Pending pool size."),
    simulate: bool = typer.Option(False, "--simulate", help="Re-simulate the proposal and print its hash."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Recommend margins, OI cap, limiter threshold and oracle jump limit, bounded and classified."""
    from bastion.risk.estimators import CongestionInputs
    from bastion.risk.policy import (
        DEFAULT_LIQUIDITY,
        MarketSnapshot,
        default_state,
        recommend,
        simulate_proposal,
    )
    from bastion.sim.data import load_btc_hourly

    err = Console(stderr=True)
    if not once:
        err.print("error: only --once is available yet (the continuous on-chain mode is not wired)")
        raise typer.Exit(2)
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

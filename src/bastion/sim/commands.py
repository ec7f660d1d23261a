"""``bastion calibrate``: typer command, wired into the main CLI (``bastion bench sim`` lives in ``bastion.bench``)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bastion.paths import InputError, writable_dir
from bastion.sim.config import ConfigError, load_config

app = typer.Typer(help="Stress simulator: calibrate guard thresholds, benchmark the engine.", no_args_is_help=True)


@app.command()
def calibrate(
    config: Path = typer.Option(..., "--config", "-c", help="TOML or YAML calibration config."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output directory (default: config output_dir)."),
    backend: str = typer.Option("local", "--backend", help="local (NumPy, this process) or ray."),
    ray_address: str | None = typer.Option(None, "--ray-address", help="Existing Ray cluster (default: local)."),
    num_cpus: int = typer.Option(2, "--num-cpus", help="CPUs for a local Ray cluster."),
    prices: list[str] = typer.Option(
        [],
        "--prices",
        help="Price history [NAME=]FILE (repeat; same NAME joins files): CSV timestamp,price, "
        "candles, or a Chainlink rounds export. Replaces the config's `prices`.",
    ),
) -> None:
    """Run the stress test and threshold calibration; write report.md, report.json and PNGs."""
    from bastion.sim.backends import make_backend
    from bastion.sim.report import STAGES, run_calibration, stage_paths, write_report

    err = Console(stderr=True)
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if backend not in ("local", "ray"):
        err.print(f"[red]error:[/red] --backend: unknown backend {backend!r}: use local or ray", highlight=False)
        raise typer.Exit(2)
    out_dir = out or Path(cfg.output_dir)
    try:
        writable_dir(out_dir, "--out" if out else "output_dir")  # before computing: minutes of work would be lost
        from bastion.sim.prices import load_feeds

        feeds = load_feeds(prices, Path.cwd()) if prices else load_feeds(cfg.prices, config.resolve().parent)
    except InputError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    be = make_backend(backend, ray_address, num_cpus)
    totals = stage_paths(cfg)
    console = Console()
    try:
        with Progress(
            TextColumn("{task.description:<8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("paths"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bar:
            tasks = {s: bar.add_task(s, total=totals[s]) for s in STAGES}
            res = run_calibration(cfg, be, progress=lambda stage, n: bar.advance(tasks[stage], n), feeds=feeds)
    finally:
        be.close()
    files = write_report(res, out_dir)
    lim, orc, hist = res["limiter"], res["oracle"], res["history"]
    bd = res["stress"]["bad_debt"]
    console.print(
        f"bad debt VaR99 ${bd['var_99']['value']:,.0f}  ES99 ${bd['es_99']['value']:,.0f}  "
        f"P(insurance fund exhausted) {res['stress']['insurance_exhaustion_probability']['value']:.4f}"
    )
    console.print(
        f"limiter threshold {lim['recommended']:.2%} per window "
        f"(history: {hist['limiter']['recommended_trips_mean']:.1f} honest trips in "
        f"{hist['years']:.1f} years)"
    )
    console.print(
        f"oracle jump limit {orc['recommended']:.2%} per interval "
        f"(history: {hist['oracle']['recommended_trips']} honest trips in {hist['years']:.1f} years)"
    )
    for f in res["feeds"]:
        console.print(
            f"feed {f['name']}: heartbeat {f['heartbeat_s']} s, jump limit {f['jump_limit']:.2%} "
            f"({f['prices']:,} prices, {f['from_utc']} .. {f['to_utc']})"
        )
        for warning in f["warnings"]:
            err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    console.print(f"report: {files['markdown']}")

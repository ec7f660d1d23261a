"""``bastion bench``: the benchmarks (each prints a table, then one line of JSON).

- ``sim``: liquidation-cascade simulator, vectorized engine vs radCAD (``bastion.sim.bench``);
- ``throughput``: watchtower ingestion and every detector over synthetic blocks, in memory, one core;
- ``latency``: watchtower detect-to-broadcast latency over attack trials on anvil.
"""

from __future__ import annotations

import typer

app = typer.Typer(help="Benchmarks (each ends with one line of JSON).", no_args_is_help=True)


@app.callback()
def _bench_group() -> None:
    """Benchmarks."""


@app.command("sim")
def bench_sim(
    paths: int = typer.Option(20_000, "--paths", help="Paths per run of the vectorized engine."),
    radcad_paths: int = typer.Option(40, "--radcad-paths", help="Paths per run of the radCAD model."),
    repeats: int = typer.Option(5, "--repeats", help="Runs per engine (the median is reported)."),
) -> None:
    """Liquidation-cascade benchmark: vectorized engine vs the same model in radCAD (last line: JSON)."""
    from bastion.sim.bench import run_bench

    run_bench(paths=paths, radcad_paths=radcad_paths, repeats=repeats)


@app.command("throughput")
def bench_throughput(
    blocks: int = typer.Option(100, "--blocks", help="Synthetic blocks."),
    txs: int = typer.Option(100, "--txs", help="Transactions per block."),
    repeats: int = typer.Option(5, "--repeats", help="Runs (the median is reported)."),
) -> None:
    """Watchtower ingestion + every detector over synthetic protocol blocks, in memory (last line: JSON)."""
    from bastion.benchmarks.throughput import run
    from bastion.paths import InputError

    for option, value in (("--blocks", blocks), ("--txs", txs), ("--repeats", repeats)):
        if value < 1:
            raise InputError(f"{option} {value}: must be a positive whole number")

    run(n_blocks=blocks, txs_per_block=txs, repeats=repeats)


@app.command("latency")
def bench_latency(
    trials: int = typer.Option(100, "--trials", help="Attack trials (after 3 warm-up trials)."),
    block_interval: float = typer.Option(0.5, "--block-interval", help="Seconds between a block and the next."),
    slow_notifier: float | None = typer.Option(
        None, "--slow-notifier", min=0.0, help="Also notify a local webhook that answers after this many seconds."
    ),
) -> None:
    """Watchtower detect-to-broadcast latency over attack trials on anvil (last line: JSON)."""
    from bastion.benchmarks.latency import run

    run(trials=trials, block_interval=block_interval, notifier_delay_s=slow_notifier)

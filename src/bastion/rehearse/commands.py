"""``bastion rehearse``: run the exploit-rehearsal corpus and benchmark the defences.

Mount with ``app.add_typer(rehearse_app, name="rehearse")`` (the command is the group's callback, so
``bastion rehearse [SCENARIO ...] --defences ...`` works as written).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bastion.rehearse.world import Level

app = typer.Typer(
    name="rehearse",
    help="Exploit rehearsal: attacks and honest scenarios on a fresh local chain, defences off and on.",
    add_completion=False,
)


def _levels(value: str) -> list[Level]:
    out = []
    for part in value.split(","):
        part = part.strip().lower()
        if not part:
            continue
        try:
            out.append(Level(part))
        except ValueError:
            raise typer.BadParameter(f"unknown defence level {part!r}: use none, onchain, watchtower, all") from None
    return list(dict.fromkeys(out))


@app.callback(invoke_without_command=True, context_settings={"allow_interspersed_args": True})
def rehearse(
    scenarios: list[str] | None = typer.Argument(None, help="Scenario keys (default: the whole corpus)."),
    defences: str = typer.Option(
        "none,onchain,watchtower,all",
        "--defences",
        "-d",
        help="Defence levels, comma-separated: none, onchain, watchtower, all.",
    ),
    json_out: Path = typer.Option(Path("runs/rehearsal.json"), "--json", help="Write every figure here (JSON)."),
    chart: Path | None = typer.Option(None, "--chart", help="PNG chart (default: next to the JSON)."),
    doc: Path | None = typer.Option(None, "--doc", help="Markdown report (default: docs/rehearsal.md for a full run)."),
    scale: float = typer.Option(1.0, "--scale", min=0.1, max=1.0, help="Size of each run (1.0: full)."),
    seed: int = typer.Option(7, "--seed", help="Random seed of the honest traffic."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, max=8, help="Chains run in parallel (processes)."),
    list_only: bool = typer.Option(False, "--list", help="List the scenarios and exit."),
    render: Path | None = typer.Option(None, "--render", help="Re-render table, chart and report from a JSON file."),
) -> None:
    """Run scenarios at defence levels; print a table; write JSON, a PNG chart and a markdown report.

    The last line printed is a JSON summary: attacks, value_preserved_ratio (value-weighted over all
    attacks, defences all), attacks_detected_within_one_block, benign_false_trips, honest_funds_lost,
    griefing_max_honest_delay_h (longest wait of an honest withdrawal an unprivileged griefer caused) and
    guardian_only_liquidations (positions only a guardian's tightening made liquidatable)."""
    from bastion.rehearse import report
    from bastion.rehearse.harness import run_matrix
    from bastion.rehearse.scenarios import SCENARIOS

    console = Console() if sys.stdout.isatty() else Console(width=200)
    err = Console(stderr=True)
    if list_only:
        for key, cls in SCENARIOS.items():
            console.print(f"{key:<20} {cls.kind:<7} {cls.title}  [dim]({cls.incident})[/]")
        return
    if render is not None:
        from bastion.paths import InputError, readable_file

        try:
            outcomes, meta = report.read_json(readable_file(render, "--render"))
        except (ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, InputError):
                raise
            why = f"--render {render} is not a rehearsal results file ({exc})"
            raise InputError(f"{why}: give a file written by --json") from None
        summary = report.summarize(outcomes)
        _publish(
            console, outcomes, summary, meta, render, chart, doc, full=set(meta.get("scenarios", [])) == set(SCENARIOS)
        )
        return
    keys = list(scenarios or SCENARIOS)
    unknown = [k for k in keys if k not in SCENARIOS]
    if unknown:
        err.print(f"[red]error:[/] unknown scenario(s) {', '.join(unknown)}: see `bastion rehearse --list`")
        raise typer.Exit(2)
    try:
        levels = _levels(defences)
    except typer.BadParameter as exc:
        err.print(f"[red]error:[/] --defences: {exc}")
        raise typer.Exit(2) from None
    if not levels:
        err.print("[red]error:[/] --defences: give at least one level")
        raise typer.Exit(2)
    started = time.perf_counter()
    total = len(keys) * len(levels)
    with Progress(
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        runs = bar.add_task("runs (scenario x defences)", total=total)
        blocks = bar.add_task("blocks mined", total=None) if jobs == 1 else None

        def done(out) -> None:
            bar.advance(runs)
            bar.console.print(
                f"  {out.scenario:<20} {out.level:<10} preserved {report._pct(report.preserved_for_chart(out)):>7}"
                f"  trips {out.trips}  {out.blocks} blocks  {out.wall_seconds:.0f} s",
                highlight=False,
            )

        outcomes = run_matrix(
            keys,
            levels,
            seed=seed,
            scale=scale,
            jobs=jobs,
            on_done=done,
            on_slot=(lambda n: bar.advance(blocks, n)) if blocks is not None else None,
        )
    summary = report.summarize(outcomes)
    wall = round(time.perf_counter() - started, 1)
    meta = {
        "command": "bastion rehearse " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "bastion rehearse",
        "scale": scale,
        "seed": seed,
        "levels": [lv.value for lv in levels],
        "scenarios": keys,
        "wall_seconds": wall,
        "finished": report.now_iso(),
    }
    console.print(report.table(outcomes))
    chart_path = chart or json_out.with_suffix(".png")
    report.write_json(json_out, outcomes, summary, meta)
    report.chart(chart_path, outcomes)
    full = set(keys) == set(SCENARIOS) and scale == 1.0
    doc_path = doc or (Path("docs/rehearsal.md") if full else None)
    if doc_path is not None:
        doc_chart = doc_path.with_suffix(".png")
        if chart_path.exists() and chart_path.resolve() != doc_chart.resolve():
            shutil.copyfile(chart_path, doc_chart)
        report.write_markdown(
            doc_path, report.markdown(outcomes, summary, meta, doc_chart.name if chart_path.exists() else None)
        )
    for line in summary["missed"]:
        console.print(f"[yellow]target missed:[/] {line}", highlight=False)
    console.print(f"wrote {json_out}, {chart_path}" + (f", {doc_path}" if doc_path else ""), highlight=False)
    line = {k: summary[k] for k in (
        "attacks", "value_preserved_ratio", "attacks_detected_within_one_block", "benign_false_trips",
        "honest_funds_lost", "griefing_max_honest_delay_h", "guardian_only_liquidations", "attacks_better_than_none",
        "targets_met",
    )}  # fmt: skip
    line["runs"] = len(outcomes)
    line["wall_seconds"] = wall
    print(json.dumps(line), flush=True)


def _publish(
    console, outcomes, summary, meta, json_out: Path, chart: Path | None, doc: Path | None, *, full: bool
) -> None:
    """Print the table; write the chart and (for a full run, or when asked) the markdown report."""
    from bastion.rehearse import report

    console.print(report.table(outcomes))
    chart_path = chart or json_out.with_suffix(".png")
    report.chart(chart_path, outcomes)
    doc_path = doc or (Path("docs/rehearsal.md") if full else None)
    if doc_path is not None:
        doc_chart = doc_path.with_suffix(".png")
        if chart_path.exists() and chart_path.resolve() != doc_chart.resolve():
            shutil.copyfile(chart_path, doc_chart)
        text = report.markdown(outcomes, summary, meta, doc_chart.name if chart_path.exists() else None)
        report.write_markdown(doc_path, text)
    for line in summary["missed"]:
        console.print(f"[yellow]target missed:[/] {line}", highlight=False)
    console.print(f"wrote {json_out}, {chart_path}" + (f", {doc_path}" if doc_path else ""), highlight=False)


def main() -> None:  # python -m bastion.rehearse.commands
    app()


if __name__ == "__main__":
    main()

"""The `bastion` command line: one entry point for every ring of Bastion."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bastion.chain.artifacts import ArtifactError
from bastion.chain.contracts import Sender, TransactionFailed, connect
from bastion.chain.node import AnvilNode
from bastion.paths import SetupError
from bastion.protocol.deploy import check_system, deploy_system

app = typer.Typer(
    name="bastion",
    help="Bastion: defence in depth for EVM DeFi protocols (guards, watchtower, risk engine, proving ground).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()


def _print_node(node: AnvilNode) -> None:
    table = Table(title="Embedded chain", show_header=False)
    table.add_row("HTTP", node.http_url)
    table.add_row("WebSocket", node.ws_url)
    table.add_row("Chain id", str(node.chain_id))
    for i, acct in enumerate(node.accounts[:5]):
        table.add_row(f"Account {i}", acct.address)
    console.print(table)


@app.command()
def node(
    block_time: Annotated[float | None, typer.Option(help="Seconds between blocks (default: mine per tx).")] = None,
    manifest: Annotated[Path | None, typer.Option(help="Write the deployment manifest (JSON) here.")] = None,
    deploy: Annotated[bool, typer.Option(help="Deploy Bastion's contracts at start.")] = True,
) -> None:
    """Start the embedded chain, deploy what exists, print URLs, accounts and addresses; run until Ctrl-C."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with AnvilNode(block_time=block_time) as chain:
        _print_node(chain)
        if deploy:
            sender = Sender.from_key(connect(chain.http_url), chain.accounts[0].private_key)
            result = deploy_system(sender)
            for role, address in result.contracts.items():
                console.print(f"  {role:<20} {address}")
            if manifest:
                manifest.write_text(json.dumps(result.to_json(), indent=2))
                console.print(f"manifest written to {manifest}")
        console.print("[green]running[/]: Ctrl-C to stop")
        try:
            while not stop.wait(0.5):
                if not chain.running:
                    raise SetupError("anvil stopped unexpectedly")
        except KeyboardInterrupt:
            pass
    console.print("stopped")


@app.command()
def demo() -> None:
    """Start the embedded chain, deploy the system, check that every contract answers, and exit."""
    with AnvilNode() as chain:
        _print_node(chain)
        sender = Sender.from_key(connect(chain.http_url), chain.accounts[0].private_key)
        result = deploy_system(sender)
        console.print(f"deployed {len(result.contracts)} contract(s) in block {result.deployment_block}:")
        for role, address in result.contracts.items():
            console.print(f"  {role:<20} {address}")
        for line in check_system(sender, result):
            console.print(f"[green]ok[/] {line}")
    console.print("demo finished: chain stopped")


@app.command()
def version() -> None:
    """Print Bastion's version."""
    from bastion import __version__

    console.print(__version__)


def main() -> None:
    """Entry point: known failures become one red line and exit code 2, never a traceback."""
    try:
        app()
    except (SetupError, ArtifactError, TransactionFailed, ValueError) as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()

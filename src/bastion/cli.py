"""The `bastion` command line: one entry point for every ring of Bastion."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bastion.chain.contracts import Sender, TransactionFailed, connect
from bastion.chain.node import AnvilNode
from bastion.paths import BastionError, SetupError, writable_file
from bastion.protocol.deploy import Manifest, deploy_system, dev_keys, dev_roles

app = typer.Typer(
    name="bastion",
    help="Bastion: defence in depth for EVM DeFi protocols (guards, watchtower, risk engine, proving ground).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()

# Each ring brings its own commands; they are mounted here, on top of everything (nothing imports cli).
from bastion.bench import app as _bench_app  # noqa: E402
from bastion.risk.commands import app as _risk_app  # noqa: E402
from bastion.sim.commands import app as _sim_app  # noqa: E402
from bastion.tower.commands import cli_app as _watch_app  # noqa: E402
from bastion.tower.incidents import app as _incidents_app  # noqa: E402

app.add_typer(_sim_app)
app.add_typer(_risk_app)
app.add_typer(_bench_app, name="bench")
app.add_typer(_watch_app)
app.add_typer(_incidents_app, name="incidents")

# Exploit rehearsal (issue 6): `bastion rehearse [SCENARIO ...] --defences ...`
from bastion.rehearse.commands import app as _rehearse_app  # noqa: E402

app.add_typer(_rehearse_app, name="rehearse")


DEV_ACCOUNTS = 16


def _print_version(value: bool) -> None:
    if value:
        from bastion import __version__

        console.print(f"bastion {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Bastion: defence in depth for EVM DeFi protocols (guards, watchtower, risk engine, proving ground)."""


def _deploy_dev(chain: AnvilNode) -> Manifest:
    sender = Sender.from_key(connect(chain.http_url), chain.accounts[0].private_key)
    return deploy_system(sender, dev_roles(chain.accounts), dev_keys(chain.accounts))


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
    port: Annotated[int, typer.Option(help="Port for HTTP and WebSocket (default 0: a free one).")] = 0,
) -> None:
    """Start the embedded chain, deploy the whole system, print URLs, accounts and addresses; run until Ctrl-C."""
    if manifest:
        writable_file(manifest, "--manifest")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with AnvilNode(block_time=block_time, accounts=DEV_ACCOUNTS, port=port) as chain:
        _print_node(chain)
        if deploy:
            result = _deploy_dev(chain)
            for role, address in result.contracts.items():
                console.print(f"  {role:<20} {address}")
            if manifest:
                result.write(manifest)
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
    """The whole story on an embedded chain (1 s blocks): deploy, watchtower, honest traffic, a compromised
    price feeder's attack, detection, pause; timeline, value saved and an incident report. Ends by itself."""
    from bastion.demo import run_demo

    run_demo(console)


@app.command()
def deploy(
    manifest: Annotated[Path, typer.Option(help="Where to write the deployment manifest (JSON).")] = Path(
        "deployment.json"
    ),
    rpc_url: Annotated[
        str | None, typer.Option(help="Deploy to this JSON-RPC endpoint instead of the embedded chain.")
    ] = None,
) -> None:
    """Deploy the whole system (guards, timelock, Safe, protocol, tokens, feeds, AMM) and write its manifest.

    With --rpc-url, the dev accounts' well-known keys must be funded there (a local anvil, for example);
    the embedded chain is started, deployed to, and kept running until Ctrl-C otherwise."""
    writable_file(manifest, "--manifest")  # before deploying: a deployment whose addresses are lost is wasted
    if rpc_url:
        w3 = connect(rpc_url)
        if not w3.is_connected():
            raise SetupError(f"no JSON-RPC answer at {rpc_url}: check the URL or start the node")
        from bastion.chain.node import dev_accounts

        accounts = dev_accounts(DEV_ACCOUNTS)
        sender = Sender.from_key(w3, accounts[0].private_key)
        result = deploy_system(sender, dev_roles(accounts), dev_keys(accounts))
        result.write(manifest)
        console.print(f"deployed to {rpc_url}; manifest written to {manifest}")
        return
    node(block_time=None, manifest=manifest, deploy=True, port=0)


@app.command()
def init(
    project: Annotated[
        Path, typer.Option(help="The Foundry project (default: here); to watch it, run there or set BASTION_ROOT.")
    ] = Path("."),
    out: Annotated[Path | None, typer.Option(help="Config to write (default: PROJECT/bastion.watch.toml).")] = None,
    rpc_url: Annotated[str, typer.Option(help="JSON-RPC endpoint to watch.")] = "http://127.0.0.1:8545",
    chain_id: Annotated[int, typer.Option(help="Its chain id.")] = 31337,
    force: Annotated[bool, typer.Option(help="Overwrite an existing config.")] = False,
) -> None:
    """Write a commented watch config for a Foundry project: its contracts (from out/), generic detectors
    on, notifiers stubbed. Build the project first (forge build)."""
    from bastion.init import init_project

    project = project.resolve()
    target = out or project / "bastion.watch.toml"
    contracts = init_project(project, target, rpc_url, chain_id, force)
    for c in contracts:
        console.print(f"  {c.name:<32} {c.source}")
    console.print(f"wrote {target} ({len(contracts)} contract(s)): set their addresses, then")
    console.print(f"  bastion watch --config {target} --check")


@app.command()
def version() -> None:
    """Print Bastion's version."""
    from bastion import __version__

    console.print(__version__)


def main() -> None:
    """Entry point: known failures become one red line and exit code 2, never a traceback."""
    try:
        app()
    except (BastionError, TransactionFailed, ValueError) as exc:
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()

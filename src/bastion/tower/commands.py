"""``bastion watch``: run the watchtower (``--config FILE``) or only validate the config (``--check``).

``app`` is a Typer app with one command, ``watch`` (run alone:
``python -m bastion.tower.commands watch --config configs/watch.example.toml --check``); ``cli_app`` is
the same command without a group callback, which the main CLI mounts with ``add_typer(cli_app)``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from bastion.chain.redact import redact
from bastion.tower.config import load_config
from bastion.watch.config import ConfigError, check_environment

app = typer.Typer(help="The watchtower: ingest, detect, correlate, respond.", no_args_is_help=True)


@app.callback()
def _root() -> None:
    """Bastion watchtower."""


def watch(
    config: Path = typer.Option(Path("configs/watch.toml"), "--config", "-c", help="TOML or YAML config file"),
    check: bool = typer.Option(False, "--check", help="validate the config (and the manifest) and exit"),
    manifest: Path | None = typer.Option(
        None, "--manifest", "-m", help="deployment manifest (bastion deploy's, or the generic shape)"
    ),
    rpc_url: str | None = typer.Option(None, "--rpc-url", help="JSON-RPC endpoint (replaces the config's)"),
    ws_url: str | None = typer.Option(None, "--ws-url", help="WebSocket endpoint for new heads"),
    dry_run: bool = typer.Option(False, "--dry-run", help="record every action, send nothing"),
) -> None:
    """Watch a chain with the configured detectors and playbooks."""
    try:
        cfg = load_config(config, manifest=manifest, rpc_url=rpc_url, ws_url=ws_url, dry_run=dry_run or None)
        check_environment(cfg)
        protocol = None
        if cfg.protocol.manifest is not None:
            from bastion.watch.protocol import load_manifest

            protocol = load_manifest(cfg.path(cfg.protocol.manifest), cfg.protocol.name)
    except (ConfigError, ValueError) as exc:
        msg = str(exc)
        typer.echo(msg if msg.startswith("config error") else f"config error: protocol.manifest: {msg}", err=True)
        raise typer.Exit(2) from None
    if check:
        what = ""
        if protocol is not None:
            from bastion.tower.service import check_targets

            try:
                check_targets(cfg, protocol)
            except ConfigError as exc:
                typer.echo(str(exc), err=True)
                raise typer.Exit(2) from None
            what = (
                f", protocol {protocol.name}: {len(protocol.protected)} protected contract(s), "
                f"{len(protocol.markets)} market(s)"
            )
        typer.echo(
            f"config ok: network {cfg.network_name} ({len(cfg.network.rpc_urls)} endpoint(s)), "
            f"{len(cfg.detector_configs)} detector(s), {len(cfg.playbooks)} playbook(s), "
            f"{len(cfg.notifiers)} notifier(s){what}"
        )
        return
    from bastion.chain.rpc import RpcError
    from bastion.respond.keys import KeyRefError
    from bastion.tower.service import StoreUnavailable, serve

    try:
        serve(cfg)
    except (KeyRefError, RpcError, ConfigError, StoreUnavailable) as exc:
        typer.echo(f"watch error: {redact(str(exc))}", err=True)
        raise typer.Exit(1) from None


app.command("watch")(watch)
cli_app = typer.Typer(no_args_is_help=True)
cli_app.command("watch")(watch)


if __name__ == "__main__":
    app()

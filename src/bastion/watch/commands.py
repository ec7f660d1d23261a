"""``bastion watch``: run the watchtower (``--config FILE``) or only validate the config (``--check``).

``app`` is a Typer app with one command, ``watch``; the main CLI mounts it with ``add_typer(app)``.
Run alone: ``python -m bastion.watch.commands watch --config configs/watch.example.toml --check``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from bastion.watch.config import ConfigError, load_config

app = typer.Typer(help="The watchtower: ingest, detect, correlate, respond.", no_args_is_help=True)


@app.callback()
def _root() -> None:
    """Bastion watchtower."""


@app.command("watch")
def watch(
    config: Path = typer.Option(Path("configs/watch.toml"), "--config", "-c", help="TOML or YAML config file"),
    check: bool = typer.Option(False, "--check", help="validate the config and exit"),
) -> None:
    """Watch a chain with the configured detectors and playbooks."""
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if check:
        typer.echo(
            f"config ok: network {cfg.network_name} ({len(cfg.network.rpc_urls)} endpoint(s)), "
            f"{len(cfg.detector_configs)} detector(s), {len(cfg.playbooks)} playbook(s), "
            f"{len(cfg.notifiers)} notifier(s)"
        )
        return
    from bastion.respond.keys import KeyRefError
    from bastion.watch.rpc import RpcError
    from bastion.watch.service import serve

    try:
        serve(cfg)
    except (KeyRefError, RpcError) as exc:
        typer.echo(f"watch error: {exc}", err=True)
        raise typer.Exit(1) from None


if __name__ == "__main__":
    app()

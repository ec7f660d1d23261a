"""The whole watchtower config: watch's sections plus the schemas the tower's actions and notifiers own.

``bastion.watch.config`` validates what detection needs and imports the plug-in modules; the actions'
and notifiers' schemas live with them in ``bastion.respond`` (where plug-ins register theirs), so the
file is checked in full here, where both are visible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bastion.respond.actions import check_actions
from bastion.respond.notifiers import check_notifiers
from bastion.watch.config import WatchConfig, read_config, validate_watch_config


def validate_config(data: dict[str, Any], base_dir: Path = Path(".")) -> WatchConfig:
    """Validate a parsed config, actions and notifiers included; ``ConfigError`` (one line) at the first
    problem."""
    cfg = validate_watch_config(data, base_dir)
    return cfg.model_copy(update={"action_configs": check_actions(cfg), "notifier_configs": check_notifiers(cfg)})


def load_config(path: str | Path, **overrides: Any) -> WatchConfig:
    """Load and validate a config file; ``overrides`` (manifest, rpc_url, ws_url, dry_run) replace what
    the file says (see ``read_config``)."""
    data, base_dir = read_config(path, **overrides)
    return validate_config(data, base_dir)

"""Where the project's files live: the repository root, forge's build output, the Node toolchain.

The root is found once: ``BASTION_ROOT`` if set, else the checkout this package was installed from
(editable install), else the nearest parent of the working directory holding ``foundry.toml``.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path


class SetupError(RuntimeError):
    """The project is not set up the way a command needs (missing build, missing binary)."""


@cache
def project_root() -> Path:
    env = os.environ.get("BASTION_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "foundry.toml").is_file():
            return parent
    for parent in [Path.cwd(), *Path.cwd().parents]:
        if (parent / "foundry.toml").is_file():
            return parent
    raise SetupError("cannot find the Bastion checkout (no foundry.toml above here): set BASTION_ROOT")


def foundry_bin(tool: str) -> Path:
    """Path to a Foundry binary (forge, anvil, cast) installed by ``npm ci`` from the pinned packages."""
    override = os.environ.get(f"BASTION_{tool.upper()}")
    if override:
        if not Path(override).is_file():
            raise SetupError(f"BASTION_{tool.upper()}={override} is not a file: unset it or point it at {tool}")
        return Path(override)
    path = project_root() / "node_modules" / "@foundry-rs" / f"{tool}-linux-amd64" / "bin" / tool
    if not path.is_file():
        raise SetupError(f"{tool} not found at {path}: run `make build` (it runs npm ci)")
    return path


def build_dir() -> Path:
    return project_root() / "out"


def contracts_dir() -> Path:
    return project_root() / "contracts"

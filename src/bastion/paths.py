"""Where Bastion's files live: its own bundle (artifacts, configs, data), the user's project, the Foundry tools.

Bastion's own contracts (ABI + bytecode, compiled from ``contracts/`` only) ship inside the package in
``bastion/data/artifacts`` (``make build`` stages them there in a checkout), so an installed wheel needs
no checkout. A *project* is a Foundry project whose ``out/`` holds extra ABIs (a user's contracts, or
this repository's test contracts): ``BASTION_ROOT`` if set, else the nearest parent of the working
directory holding ``foundry.toml``, else the checkout this package runs from.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from functools import cache
from pathlib import Path

from bastion.errors import BastionError

PACKAGE_DIR = Path(__file__).resolve().parent


class SetupError(BastionError, RuntimeError):
    """The project is not set up the way a command needs (missing build, missing binary)."""


class InputError(BastionError, ValueError):
    """A value the user gave (a path, a URL, a number) that cannot work; the message says what to do."""


def writable_file(path: str | Path, what: str) -> Path:
    """``path`` if a file can be written there; checked before any work whose result would be lost."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{what} {path}: directory {parent} does not exist: create it or choose another path")
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory: give a file path")
    if not (_can_append(path) if path.exists() else _can_create_in(parent)):
        raise InputError(f"{what} {path} is not writable: choose a writable path")
    return path


def writable_dir(path: str | Path, what: str) -> Path:
    """``path`` if it is, or can be created as, a writable directory (created later by the writer)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{what} {path} is a file, not a directory: choose a directory")
    existing = next((p for p in [path, *path.parents] if p.exists()), Path("."))
    if not existing.is_dir() or not _can_create_in(existing):
        raise InputError(f"{what} {path}: {existing} is not writable: choose a writable directory")
    return path


def _can_create_in(directory: Path) -> bool:
    # A real probe, not os.access: root passes access() checks on read-only mounts and /proc.
    try:
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


def _can_append(path: Path) -> bool:
    try:
        with open(path, "ab"):
            return True
    except OSError:
        return False


def readable_file(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist or is not a file: check the path")
    return path


def data_dir() -> Path:
    """Files shipped inside the package: bundled price history, staged artifacts and configs."""
    return PACKAGE_DIR / "data"


def bundled_artifacts_dir() -> Path:
    return data_dir() / "artifacts"


@cache
def checkout_root() -> Path | None:
    """The Bastion source checkout this package runs from (editable install), or None for a wheel."""
    for parent in PACKAGE_DIR.parents:
        if (parent / "foundry.toml").is_file() and (parent / "contracts" / "guards").is_dir():
            return parent
    return None


def configs_dir() -> Path:
    """The example and shipped configs: the checkout's ``configs/``, else the copy inside the wheel."""
    root = checkout_root()
    return root / "configs" if root else data_dir() / "configs"


@cache
def project_root() -> Path:
    env = os.environ.get("BASTION_ROOT")
    if env:
        return Path(env).resolve()
    for parent in [Path.cwd(), *Path.cwd().parents]:
        if (parent / "foundry.toml").is_file():
            return parent
    root = checkout_root()
    if root:
        return root
    raise SetupError("no Foundry project here (no foundry.toml above the working directory): set BASTION_ROOT")


def project_out_dir() -> Path | None:
    """The project's forge output, or None when there is no project (a wheel run outside one)."""
    try:
        return project_root() / "out"
    except SetupError:
        return None


def build_dir() -> Path:
    return project_root() / "out"


def contracts_dir() -> Path:
    return project_root() / "contracts"


def _npm_platform() -> str:
    system = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system(), platform.system().lower())
    arch = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine(), platform.machine()
    )
    return f"{system}-{arch}"


def foundry_bin(tool: str) -> Path:
    """A Foundry binary (forge, anvil, cast): ``BASTION_<TOOL>``, else the pinned npm package of the checkout
    or the working directory, else the one on PATH; otherwise a one-line error saying how to get it."""
    var = f"BASTION_{tool.upper()}"
    override = os.environ.get(var)
    if override:
        if not Path(override).is_file():
            raise SetupError(f"{var}={override} is not a file: unset it or point it at {tool}")
        return Path(override)
    package = Path("node_modules") / "@foundry-rs" / f"{tool}-{_npm_platform()}" / "bin" / tool
    roots = [r for r in (checkout_root(), Path.cwd()) if r is not None]
    for root in roots:
        if (root / package).is_file():
            return root / package
    on_path = shutil.which(tool)
    if on_path:
        return Path(on_path)
    raise SetupError(
        f"{tool} not found (not in {var}, node_modules or PATH): install Foundry (https://getfoundry.sh), "
        f"or `npm install @foundry-rs/{tool}-{_npm_platform()}`, or set {var}=/path/to/{tool}"
    )

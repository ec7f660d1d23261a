"""Forge build output (``out/``) loaded by contract name.

A name is either ``Vault`` or, when two sources define the same name, ``Vault.sol:Vault``. A missing
artifact, or one older than its source, is a one-line ``ArtifactError`` that says to run ``make build``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bastion.paths import SetupError, build_dir, project_root


class ArtifactError(SetupError):
    """A contract's build output is missing, ambiguous or stale."""


@dataclass(frozen=True)
class Artifact:
    name: str
    source: str  # project-relative source path, e.g. contracts/guards/OutflowLimiter.sol
    abi: list
    bytecode: str  # creation code, 0x-prefixed
    deployed_bytecode: str

    @property
    def deployable(self) -> bool:
        return len(self.bytecode) > 2


def _candidates(name: str) -> list[Path]:
    out = build_dir()
    if ":" in name:
        file_name, contract = name.split(":", 1)
        return [p for p in [out / file_name / f"{contract}.json"] if p.is_file()]
    return sorted(out.glob(f"*.sol/{name}.json"))


def load_artifact(name: str) -> Artifact:
    """The ABI and bytecode of contract ``name`` from forge's ``out/`` directory."""
    paths = _candidates(name)
    if not paths:
        raise ArtifactError(f"no build output for contract {name!r} in {build_dir()}: run `make build`")
    if len(paths) > 1:
        options = ", ".join(f"{p.parent.name}:{name}" for p in paths)
        raise ArtifactError(f"contract name {name!r} is ambiguous ({options}): use File.sol:{name}")
    path = paths[0]
    return _load(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=512)
def _load(path: Path, mtime_ns: int) -> Artifact:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"build output {path} is unreadable ({exc}): run `make build`") from None
    target = data.get("metadata", {}).get("settings", {}).get("compilationTarget", {})
    source = next(iter(target), "")
    source_path = project_root() / source if source else None
    if source_path and source_path.is_file() and source_path.stat().st_mtime_ns > mtime_ns:
        raise ArtifactError(f"build output for {path.stem} is older than {source}: run `make build`")
    return Artifact(
        name=path.stem,
        source=source,
        abi=data["abi"],
        bytecode=data["bytecode"]["object"],
        deployed_bytecode=data["deployedBytecode"]["object"],
    )

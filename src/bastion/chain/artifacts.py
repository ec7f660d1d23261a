"""Forge build output (``out/``) loaded by contract name.

A name is either ``Vault`` or, when two sources define the same name, ``Vault.sol:Vault``. A missing
artifact, or one older than its source, is a one-line ``ArtifactError`` that says to run ``make build``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from eth_utils import keccak

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
    artifact, compiled_hash = _load(path, path.stat().st_mtime_ns)
    _check_fresh(artifact, compiled_hash)
    return artifact


def _check_fresh(artifact: Artifact, compiled_hash: str | None) -> None:
    """Compare the source as it is now with the source the compiler saw (by content, not by mtime:
    a checkout that touches a file without changing it must not read as stale)."""
    if not artifact.source or not compiled_hash:
        return
    source_path = project_root() / artifact.source
    if not source_path.is_file():
        return
    if "0x" + keccak(source_path.read_bytes()).hex() != compiled_hash:
        raise ArtifactError(f"build output for {artifact.name} is older than {artifact.source}: run `make build`")


@lru_cache(maxsize=512)
def _load(path: Path, mtime_ns: int) -> tuple[Artifact, str | None]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"build output {path} is unreadable ({exc}): run `make build`") from None
    metadata = data.get("metadata", {})
    target = metadata.get("settings", {}).get("compilationTarget", {})
    source = next(iter(target), "")
    compiled_hash = metadata.get("sources", {}).get(source, {}).get("keccak256")
    artifact = Artifact(
        name=path.stem,
        source=source,
        abi=data["abi"],
        bytecode=data["bytecode"]["object"],
        deployed_bytecode=data["deployedBytecode"]["object"],
    )
    return artifact, compiled_hash

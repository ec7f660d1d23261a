"""Compiled contracts loaded by name: Bastion's own bundle first, then the project's forge ``out/``.

The bundle (``bastion/data/artifacts``) holds only what ``contracts/`` compiles to, plus the libraries
those sources import, so a test contract in ``out/`` that shares a name (``HookToken``) never shadows
the contract Bastion deploys. ``python -m bastion.chain.artifacts stage`` writes it from ``out/``.

A name is either ``Vault`` or, when two sources define the same name, ``Vault.sol:Vault``. A missing
artifact, or one older than its source, is a one-line ``ArtifactError`` that says to run ``make build``.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from eth_utils import keccak

from bastion.paths import SetupError, bundled_artifacts_dir, checkout_root, data_dir, project_out_dir, project_root


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


def artifact_dirs(project_first: bool = False) -> list[Path]:
    """Where contracts are looked up, in order: Bastion's bundle, then the project's ``out/`` (or the
    reverse for names a user wrote, such as a watch config's ABIs)."""
    dirs = [bundled_artifacts_dir()]
    out = project_out_dir()
    if out is not None and out.is_dir():
        dirs = [out, *dirs] if project_first else [*dirs, out]
    return dirs


def _in(out: Path, name: str) -> list[Path]:
    if ":" in name:
        file_name, contract = name.split(":", 1)
        return [p for p in [out / file_name / f"{contract}.json"] if p.is_file()]
    return sorted(out.glob(f"*.sol/{name}.json"))


def _candidates(name: str, project_first: bool) -> tuple[Path | None, list[Path]]:
    for out in artifact_dirs(project_first):
        found = _in(out, name)
        if found:
            return out, found
    return None, []


def load_artifact(name: str, *, project_first: bool = False) -> Artifact:
    """The ABI and bytecode of contract ``name``: Bastion's bundle first, then the project's ``out/``
    (``project_first``: the other way round, for a name the user wrote)."""
    where, paths = _candidates(name, project_first)
    if not paths:
        places = " or ".join(str(d) for d in artifact_dirs(project_first))
        raise ArtifactError(f"no build output for contract {name!r} in {places}: run `make build`")
    if len(paths) > 1:
        options = ", ".join(f"{p.parent.name}:{name}" for p in paths)
        raise ArtifactError(f"contract name {name!r} is ambiguous ({options}): use File.sol:{name}")
    path = paths[0]
    artifact, compiled_hash = _load(path, path.stat().st_mtime_ns)
    root = checkout_root() if where == bundled_artifacts_dir() else project_root()
    _check_fresh(artifact, compiled_hash, root)
    return artifact


def _check_fresh(artifact: Artifact, compiled_hash: str | None, root: Path | None) -> None:
    """Compare the source as it is now with the source the compiler saw (by content, not by mtime:
    a checkout that touches a file without changing it must not read as stale)."""
    if not artifact.source or not compiled_hash or root is None:
        return  # an installed wheel has no sources to compare with
    source_path = root / artifact.source
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


def stage(out: Path, forge_cache: Path, dest: Path) -> int:
    """Copy into ``dest`` the slim artifacts (ABI, bytecode, source hash) of every contract compiled from
    ``contracts/`` and of the libraries those sources import (the import graph comes from forge's cache);
    test contracts in ``out`` are left out. Returns the number staged."""
    try:
        files = json.loads(forge_cache.read_text())["files"]
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactError(f"forge cache {forge_cache} is unreadable ({exc}): run `make build`") from None
    needed = {name for name in files if name.startswith("contracts/")}
    needed |= {imp for name in needed for imp in files[name].get("imports", [])}
    if not needed:
        raise ArtifactError(f"no source from contracts/ in {forge_cache}: run `make build`")
    entries = []
    for path in sorted(out.glob("*.sol/*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ArtifactError(f"build output {path} is unreadable ({exc}): run `make build`") from None
        metadata = data.get("metadata") or {}
        target = next(iter(metadata.get("settings", {}).get("compilationTarget", {})), "")
        entries.append((path, data, metadata, target))
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    count = 0
    for path, data, metadata, target in entries:
        if target not in needed:
            continue
        slim = {
            "abi": data["abi"],
            "bytecode": {"object": data["bytecode"]["object"]},
            "deployedBytecode": {"object": data["deployedBytecode"]["object"]},
            "metadata": {
                "settings": {"compilationTarget": metadata["settings"]["compilationTarget"]},
                "sources": {target: {"keccak256": metadata["sources"][target]["keccak256"]}},
            },
        }
        target_path = tmp / path.parent.name / path.name
        target_path.parent.mkdir(parents=True, exist_ok=True)
        target_path.write_text(json.dumps(slim, separators=(",", ":")))
        count += 1
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    _load.cache_clear()
    return count


def main(argv: list[str]) -> int:
    """``stage [PROJECT_ROOT]``: what ``make build`` runs after forge."""
    if argv[:1] != ["stage"]:
        print("usage: python -m bastion.chain.artifacts stage [PROJECT_ROOT]", file=sys.stderr)
        return 2
    root = Path(argv[1]) if len(argv) > 1 else project_root()
    out = root / "out"
    try:
        count = stage(out, root / "cache" / "solidity-files-cache.json", bundled_artifacts_dir())
    except ArtifactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # The example configs travel with the artifacts, so a wheel carries both.
    configs = data_dir() / "configs"
    shutil.rmtree(configs, ignore_errors=True)
    shutil.copytree(root / "configs", configs)
    print(f"staged {count} contract artifacts from {out} and the configs into {data_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

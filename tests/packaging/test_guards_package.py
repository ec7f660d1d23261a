"""The guards as a dependency: `npm pack` of contracts/, installed into a fresh Foundry project outside the
repository, which compiles a vault inheriting OutflowLimiter and ScopedPause and runs forge tests on it.

Offline: OpenZeppelin comes from this checkout's node_modules (a file: dependency) and forge-std from the
copy the toolchain already has. Cost: ~25 s, almost all of it the Solidity compile of the fresh project.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from bastion.paths import checkout_root, foundry_bin

ROOT = checkout_root()
pytestmark = pytest.mark.skipif(ROOT is None, reason="needs the source checkout")
PROJECT = Path(__file__).parent / "guards_project"


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("pack")
    subprocess.run(
        ["npm", "pack", "--pack-destination", str(dest), "--loglevel=error"],
        cwd=ROOT / "contracts", check=True, capture_output=True,
    )  # fmt: skip
    (tgz,) = dest.glob("bastion-guards-*.tgz")
    return tgz


def test_the_tarball_carries_the_guard_sources_and_a_readme_and_nothing_else(tarball):
    with tarfile.open(tarball) as tar:
        names = {n.removeprefix("package/") for n in tar.getnames()}
    assert {"README.md", "package.json", "remappings.txt", "guards/OutflowLimiter.sol", "guards/ScopedPause.sol",
            "interfaces/AggregatorV3Interface.sol", "governance/ParameterRegistry.sol"} <= names  # fmt: skip
    # Rehearsal's deliberately vulnerable contracts, the reference protocol and tests stay out.
    assert not any(n.startswith(("rehearsal/", "protocol/", "world/", "examples/", "test/")) for n in names)


def test_a_fresh_foundry_project_inherits_the_packaged_guards(tarball, tmp_path):
    project = tmp_path / "my-protocol"
    shutil.copytree(PROJECT, project)
    deps = {
        "@openzeppelin/contracts": f"file:{ROOT / 'node_modules' / '@openzeppelin' / 'contracts'}",
        "bastion-guards": f"file:{tarball}",
    }
    (project / "package.json").write_text(json.dumps({"name": "my-protocol", "private": True, "dependencies": deps}))
    subprocess.run(
        ["npm", "install", "--offline", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=project, check=True, capture_output=True,
    )  # fmt: skip
    (project / "lib").mkdir()
    (project / "lib" / "forge-std").symlink_to(ROOT / "node_modules" / "@uniswap" / "v4-core" / "lib" / "forge-std")
    # The remappings the package ships, as the guide says to append them, plus forge-std's.
    remappings = (project / "node_modules" / "bastion-guards" / "remappings.txt").read_text()
    (project / "remappings.txt").write_text(remappings + "forge-std/=lib/forge-std/src/\n")
    (project / "foundry.toml").write_text(
        '[profile.default]\nsrc = "src"\ntest = "test"\nlibs = ["node_modules", "lib"]\n'
        'evm_version = "cancun"\noptimizer = true\noffline = true\nauto_detect_solc = false\n'
    )
    env = {**os.environ, "FOUNDRY_SOLC": str(ROOT / "tools" / "solc")}
    result = subprocess.run(
        [str(foundry_bin("forge")), "test"], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 passed; 0 failed" in result.stdout

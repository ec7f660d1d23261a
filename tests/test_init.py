"""`bastion init` in a user's Foundry project: its contracts from out/ (never tests, interfaces or
libraries), a commented config that `bastion watch --check` accepts, ABIs found by artifact name."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bastion import paths
from bastion.chain.artifacts import load_artifact
from bastion.paths import foundry_bin

BASTION = Path(sys.executable).with_name("bastion")

SOURCES = {
    "src/Vault.sol": """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;
import {Lib} from "./Lib.sol";
interface IVault { function deposit() external payable; }
contract Vault is IVault {
    mapping(address => uint256) public balanceOf;
    function deposit() external payable { balanceOf[msg.sender] = Lib.add(balanceOf[msg.sender], msg.value); }
    function withdraw(uint256 a) external { balanceOf[msg.sender] -= a; payable(msg.sender).transfer(a); }
}
""",
    "src/Lib.sol": """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;
library Lib { function add(uint256 a, uint256 b) internal pure returns (uint256) { return a + b; } }
""",
    "src/Token.sol": """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;
contract Token { mapping(address => uint256) public balanceOf; }
""",
    "test/Helper.sol": """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;
contract Helper { function one() external pure returns (uint256) { return 1; } }
""",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("user-project")
    (root / "foundry.toml").write_text('[profile.default]\nsrc = "src"\nout = "out"\nlibs = []\noffline = true\n')
    for rel, text in SOURCES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    env = {**os.environ, "FOUNDRY_SOLC": str(paths.checkout_root() / "tools" / "solc")}
    subprocess.run([str(foundry_bin("forge")), "build"], cwd=root, env=env, check=True, capture_output=True)
    return root


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "BASTION_ROOT"}  # found from the working directory
    return subprocess.run([str(BASTION), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_init_lists_the_projects_contracts_and_writes_a_config_watch_check_accepts(project):
    result = _run("init", cwd=project)
    assert result.returncode == 0, result.stderr
    config = project / "bastion.watch.toml"
    data = tomllib.loads(config.read_text())
    assert set(data["protocol"]["contracts"]) == {"vault", "token"}  # no test helper, interface or library
    assert data["protocol"]["contracts"]["vault"] == {
        "address": "0x0000000000000000000000000000000000000000",
        "abi": "Vault",
        "protected": True,
    }
    assert {"large_transfer", "outflow_rate", "attacker_prep", "governance"} <= set(data["detectors"])
    assert "# [notifiers.ops-webhook]" in config.read_text()  # stubbed, commented

    check = _run("watch", "--config", str(config), "--check", cwd=project)
    assert check.returncode == 0 and "config ok" in check.stdout, check.stderr


def test_the_named_abis_resolve_to_the_users_contracts_not_bastions(project, monkeypatch):
    """The user's `Vault` shares its name with Bastion's: the watch config gets the user's, while Bastion's
    own deployments keep theirs."""
    from bastion.watch.protocol import build_protocol

    monkeypatch.setenv("BASTION_ROOT", str(project))
    paths.project_root.cache_clear()
    try:
        contracts = tomllib.loads((project / "bastion.watch.toml").read_text())["protocol"]["contracts"]
        protocol = build_protocol("user", 31337, contracts, {})
        functions = {item["name"] for item in protocol.contracts["vault"].abi if item["type"] == "function"}
        assert functions == {"balanceOf", "deposit", "withdraw"}
        assert load_artifact("Vault").source == "contracts/protocol/Vault.sol"
    finally:
        paths.project_root.cache_clear()


def test_init_with_project_from_elsewhere_and_refusals(project, tmp_path):
    out = tmp_path / "watch.toml"
    assert _run("init", "--project", str(project), "--out", str(out), cwd=tmp_path).returncode == 0
    assert 'abi = "Token"' in out.read_text()
    again = _run("init", "--project", str(project), "--out", str(out), cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    not_foundry = _run("init", cwd=tmp_path)
    assert not_foundry.returncode == 2 and "no foundry.toml" in not_foundry.stderr

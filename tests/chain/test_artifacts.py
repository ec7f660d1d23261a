"""Forge build output by contract name, with one-line errors that say `make build`."""

from __future__ import annotations

import json
import os

import pytest
from eth_utils import keccak

from bastion import paths
from bastion.chain.artifacts import ArtifactError, load_artifact


def test_loads_a_built_contract():
    art = load_artifact("MintableToken")
    assert art.source == "contracts/world/MintableToken.sol"
    assert art.deployable and art.deployed_bytecode.startswith("0x")
    assert any(item.get("name") == "mint" for item in art.abi)


def test_qualified_name_loads_the_same_contract():
    assert load_artifact("MintableToken.sol:MintableToken") == load_artifact("MintableToken")


def test_missing_contract_says_run_make_build():
    with pytest.raises(ArtifactError, match=r"no build output for contract 'NoSuchThing'.*make build"):
        load_artifact("NoSuchThing")


@pytest.fixture
def fake_project(tmp_path, monkeypatch):
    """A throwaway project root with one source and one artifact, to age them independently."""
    (tmp_path / "foundry.toml").write_text("")
    src = tmp_path / "contracts" / "Thing.sol"
    src.parent.mkdir()
    src.write_text("// source")
    out = tmp_path / "out" / "Thing.sol" / "Thing.json"
    out.parent.mkdir(parents=True)
    out.write_text(
        json.dumps(
            {
                "abi": [],
                "bytecode": {"object": "0x00"},
                "deployedBytecode": {"object": "0x00"},
                "metadata": {
                    "settings": {"compilationTarget": {"contracts/Thing.sol": "Thing"}},
                    "sources": {"contracts/Thing.sol": {"keccak256": "0x" + keccak(b"// source").hex()}},
                },
            }
        )
    )
    monkeypatch.setenv("BASTION_ROOT", str(tmp_path))
    paths.project_root.cache_clear()
    yield src, out
    paths.project_root.cache_clear()


def test_changed_source_makes_the_artifact_stale(fake_project):
    src, _out = fake_project
    src.write_text("// source, edited")
    with pytest.raises(ArtifactError, match=r"older than contracts/Thing.sol: run `make build`"):
        load_artifact("Thing")


def test_touched_but_unchanged_source_is_fresh(fake_project):
    _src, out = fake_project
    os.utime(out, (1_000_000, 1_000_000))  # the source now looks newer than its build output
    assert load_artifact("Thing").source == "contracts/Thing.sol"


def test_unreadable_artifact_is_one_line(fake_project):
    _, out = fake_project
    out.write_text("{not json")
    with pytest.raises(ArtifactError, match="unreadable") as info:
        load_artifact("Thing")
    assert "\n" not in str(info.value)


def test_ambiguous_name_asks_for_file_name(fake_project):
    _, out = fake_project
    other = out.parent.parent / "Other.sol" / "Thing.json"
    other.parent.mkdir()
    other.write_text(out.read_text())
    with pytest.raises(ArtifactError, match="ambiguous"):
        load_artifact("Thing")


def _forge_artifact(source: str, name: str) -> dict:
    return {
        "abi": [{"type": "function", "name": f"from_{source.split('/')[0]}", "inputs": [], "outputs": []}],
        "bytecode": {"object": "0x6000"},
        "deployedBytecode": {"object": "0x00"},
        "metadata": {
            "settings": {"compilationTarget": {source: name}},
            "sources": {source: {"keccak256": "0x" + "00" * 32}},
        },
    }


def test_stage_keeps_contracts_and_their_imports_and_leaves_tests_out(tmp_path):
    """The bundle holds what contracts/ compiles to (and the libraries it imports), never test/ contracts."""
    from bastion.chain.artifacts import stage

    out = tmp_path / "out"
    for source, name in [
        ("contracts/rehearsal/HookToken.sol", "HookToken"),
        ("node_modules/lib/Dep.sol", "Dep"),
        ("test/guards/GuardedVault.t.sol", "HookToken"),
        ("node_modules/forge-std/Test.sol", "Test"),
    ]:
        path = out / source.rsplit("/", 1)[1] / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_forge_artifact(source, name)))
    cache = tmp_path / "solidity-files-cache.json"
    cache.write_text(
        json.dumps(
            {
                "files": {
                    "contracts/rehearsal/HookToken.sol": {"imports": ["node_modules/lib/Dep.sol"]},
                    "node_modules/lib/Dep.sol": {"imports": []},
                    "test/guards/GuardedVault.t.sol": {"imports": ["node_modules/forge-std/Test.sol"]},
                    "node_modules/forge-std/Test.sol": {"imports": []},
                }
            }
        )
    )
    dest = tmp_path / "bundle"
    assert stage(out, cache, dest) == 2
    staged = sorted(str(p.relative_to(dest)) for p in dest.rglob("*.json"))
    assert staged == ["Dep.sol/Dep.json", "HookToken.sol/HookToken.json"]


def test_a_test_contract_in_out_never_shadows_the_bundled_one(fake_project):
    """After `make test`, out/ holds test/guards/GuardedVault.t.sol:HookToken too: the bundle still wins."""
    _src, out = fake_project
    clash = out.parent.parent / "GuardedVault.t.sol" / "HookToken.json"
    clash.parent.mkdir()
    clash.write_text(json.dumps(_forge_artifact("test/guards/GuardedVault.t.sol", "HookToken")))
    assert load_artifact("HookToken").source.startswith("contracts/")
    # The project's own contracts are still found in its out/.
    assert load_artifact("Thing").source == "contracts/Thing.sol"

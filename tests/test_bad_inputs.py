"""Bad input outside the watch config: one line that says what, where and what to do; exit code 2; no
traceback, no secret; and checked before the work whose result it would lose."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bastion.paths import InputError, configs_dir
from bastion.store.db import Database

BASTION = Path(sys.executable).with_name("bastion")
UNWRITABLE = "/proc/bastion-test"  # refused even to root, unlike a chmod-ed directory


# The example watch config names its keys and webhook by environment variable, and `watch --check` refuses
# an unset one: throwaway values, so the checks below reach the input under test.
EXAMPLE_ENV = {
    "BASTION_GUARDIAN_KEY": "0x" + "11" * 32,
    "BASTION_OWNER_KEY": "0x" + "22" * 32,
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/T0/B0/x",
}


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **EXAMPLE_ENV}
    return subprocess.run([str(BASTION), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = (result.stderr + result.stdout).strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_database_in_a_missing_directory(tmp_path):
    with pytest.raises(InputError, match=r"directory .*nowhere does not exist: create it"):
        Database(tmp_path / "nowhere" / "bastion.db")
    with pytest.raises(InputError, match=r"does not exist"):
        Database(f"sqlite:///{tmp_path}/nowhere/bastion.db")


def test_postgres_url_without_the_driver_says_how_to_install_it_and_hides_the_password(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if psycopg were not installed
    with pytest.raises(InputError) as info:
        Database("postgresql+psycopg://bastion:hunter2@127.0.0.1:5432/bastion")
    message = str(info.value)
    assert "psycopg driver is not installed" in message and "bastion[postgres]" in message
    assert "hunter2" not in message


def test_manifest_with_contracts_not_an_object(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"contracts": 5}))
    result = _run("watch", "--check", "--config", str(configs_dir() / "watch.example.toml"), "--manifest",
                  str(manifest), cwd=tmp_path)  # fmt: skip
    _one_line_error(result, str(manifest), "'contracts' must be an object")
    from bastion.protocol.deploy import Manifest

    full = {"chain_id": 1, "deployment_block": 0, "contracts": 5}
    manifest.write_text(json.dumps(full))
    with pytest.raises(ValueError, match="'contracts' must be an object"):
        Manifest.load(manifest)


@pytest.mark.parametrize("where", [f"{UNWRITABLE}/deployment.json", "missing-dir/deployment.json"])
def test_deploy_manifest_to_an_unwritable_path_fails_before_deploying(tmp_path, where):
    # --rpc-url points nowhere: reaching it would be a different error, so the check came first.
    result = _run("deploy", "--manifest", where, "--rpc-url", "http://127.0.0.1:9", cwd=tmp_path)
    _one_line_error(result, "--manifest", where)


def test_calibrate_out_unwritable_fails_before_computing(tmp_path):
    result = _run("calibrate", "--config", str(configs_dir() / "calibrate.example.toml"), "--out", UNWRITABLE,
                  cwd=tmp_path)  # fmt: skip
    _one_line_error(result, "--out", "not writable")


def test_rehearse_render_a_missing_or_foreign_file(tmp_path):
    _one_line_error(_run("rehearse", "--render", "missing.json", cwd=tmp_path), "--render missing.json", "does not")
    (tmp_path / "other.json").write_text("{}")
    _one_line_error(_run("rehearse", "--render", "other.json", cwd=tmp_path), "not a rehearsal results file")


def test_bench_throughput_negative_blocks(tmp_path):
    _one_line_error(_run("bench", "throughput", "--blocks", "-5", cwd=tmp_path), "--blocks -5", "positive")

"""The `bastion` command line, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bastion.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def test_help_lists_the_commands():
    result = _run("--help")
    assert result.returncode == 0
    for command in ("node", "demo"):
        assert command in result.stdout


def test_demo_deploys_checks_and_exits_zero():
    result = _run("demo")
    assert result.returncode == 0, result.stderr
    assert "demo finished" in result.stdout
    assert "keeper liquidated" in result.stdout
    assert "Vault and guards" in result.stdout


def test_setup_problem_is_one_line_and_exit_2():
    result = _run("demo", env={"BASTION_ANVIL": "/nonexistent/anvil"})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "BASTION_ANVIL" in lines[0]
    assert "Traceback" not in result.stderr

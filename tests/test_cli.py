"""The `bastion` command line, run as a user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import bastion

_SRC = str(Path(bastion.__file__).resolve().parents[1])  # this checkout's code, whatever the working directory


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
    for command in ("node", "demo", "watch", "bench"):
        assert command in result.stdout


def test_demo_tells_the_whole_story_and_exits_zero(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bastion.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # the incident report goes to ./runs
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": _SRC + os.pathsep + os.environ.get("PYTHONPATH", "")},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "demo finished" in out
    assert "detected, paused" in out
    saved = re.search(r"value saved ([\d,]+) USDC", out)
    assert saved is not None and int(saved.group(1).replace(",", "")) > 0
    assert "first malicious tx" in out and "pause mined" in out
    reports = list((tmp_path / "runs").glob("incident-*.md"))
    assert len(reports) == 1
    text = reports[0].read_text()
    assert "## Timeline" in text and "Value saved" in text


def test_setup_problem_is_one_line_and_exit_2():
    result = _run("demo", env={"BASTION_ANVIL": "/nonexistent/anvil"})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "BASTION_ANVIL" in lines[0]
    assert "Traceback" not in result.stderr

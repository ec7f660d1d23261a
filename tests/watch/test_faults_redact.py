"""Issue 12, case 7: no error path prints a config value that could be a key, run as a user would
(``bastion watch``), with the key in several wrong places."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bastion.chain.redact import REDACTED, redact

KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


def _watch(tmp_path, body: str) -> subprocess.CompletedProcess:
    cfg = tmp_path / "watch.toml"
    cfg.write_text(body)
    return subprocess.run(
        [sys.executable, "-m", "bastion.cli", "watch", "--config", str(cfg), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


BASE = '[networks.local]\nrpc_urls = ["http://127.0.0.1:1"]\n'


@pytest.mark.parametrize(
    "body",
    [
        BASE + f'[keys.guardian]\nenv = "{KEY}"\n',  # the key where its variable's name belongs
        BASE + f'[keys.guardian]\nenv = "{KEY[2:]}"\n',  # without 0x
        BASE + f'[keys.guardian]\nkeystore = "k.json"\npassword_env = "{KEY}"\n',
        BASE + f'[service]\npoll_interval = "{KEY}"\n',  # where a number is expected
        BASE + f'[service]\ndatabase = {{ url = "{KEY}" }}\n',  # where a string is expected
        BASE + f'keys = "{KEY}"\n',  # where a table is expected
        BASE + f'[relayer]\nmax_fee_per_gas = "{KEY}"\n',
        f'[networks.local]\nrpc_urls = ["{KEY}"]\n',
    ],
)
def test_config_errors_never_echo_a_key(tmp_path, body):
    result = _watch(tmp_path, body)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    # not the key, nor any long piece of it
    digits = KEY[2:]
    for i in range(0, len(digits) - 12):
        assert digits[i : i + 12] not in out.lower(), out
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # one line, what and where


def test_redact_keeps_addresses_and_drops_key_like_runs():
    addr = "0x" + "ab" * 20
    assert redact(f"to {addr}") == f"to {addr}"
    assert redact(f"key {KEY} and {KEY[2:40]}") == f"key 0x{REDACTED} and {REDACTED}"
    assert redact("postgresql://bastion:hunter2@db:5432/x") == f"postgresql://{REDACTED}@db:5432/x"

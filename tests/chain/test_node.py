"""The embedded anvil: start, answer, accounts, options, clean stop, no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bastion.chain.contracts import connect
from bastion.chain.node import AnvilNode, running_anvil_pids
from bastion.paths import SetupError


def _children_anvils(parent_pid: int) -> list[int]:
    found = []
    for pid in running_anvil_pids():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent_pid:
            found.append(pid)
    return found


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid not in running_anvil_pids():
            return True
        time.sleep(0.05)
    return False


def test_node_starts_answers_and_stops():
    with AnvilNode(accounts=3) as node:
        w3 = connect(node.http_url)
        assert w3.eth.chain_id == 31337
        assert [a.address for a in node.accounts] == w3.eth.accounts
        assert node.ws_url.startswith("ws://127.0.0.1:")
        pid = node.pid
        assert pid in running_anvil_pids()
    assert not node.running
    assert _gone(pid)


def test_account_repr_hides_key():
    with AnvilNode(accounts=1) as node:
        acct = node.accounts[0]
        assert acct.private_key[2:] not in repr(acct)
        assert acct.private_key[2:] not in repr(node)


def test_no_mining_keeps_transactions_pending():
    with AnvilNode(no_mining=True, accounts=2) as node:
        w3 = connect(node.http_url)
        a, b = node.accounts
        w3.eth.send_transaction({"from": a.address, "to": b.address, "value": 1})
        assert w3.eth.block_number == 0
        assert len(node.rpc("txpool_content")["pending"]) == 1
        node.mine()
        assert w3.eth.block_number == 1


def test_block_time_mines_on_a_clock():
    with AnvilNode(block_time=0.2, accounts=1) as node:
        w3 = connect(node.http_url)
        deadline = time.monotonic() + 10
        while w3.eth.block_number < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert w3.eth.block_number >= 2


def test_state_dump_and_load(tmp_path):
    state = tmp_path / "state.json"
    with AnvilNode(dump_state=state, accounts=2) as node:
        w3 = connect(node.http_url)
        a, b = node.accounts
        w3.eth.send_transaction({"from": a.address, "to": b.address, "value": 12345})
        expected = w3.eth.get_balance(b.address)
    assert state.is_file()
    with AnvilNode(load_state=state, accounts=2) as node:
        assert connect(node.http_url).eth.get_balance(node.accounts[1].address) == expected


def test_bad_options_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="block_time"):
        AnvilNode(block_time=-1)
    with pytest.raises(ValueError, match="exclude each other"):
        AnvilNode(block_time=1, no_mining=True)
    with pytest.raises(SetupError, match="does not exist"):
        AnvilNode(load_state=tmp_path / "missing.json").start()


def test_fork_url_forks_a_running_chain():
    with AnvilNode(accounts=2) as upstream:
        w3 = connect(upstream.http_url)
        a, b = upstream.accounts
        w3.eth.send_transaction({"from": a.address, "to": b.address, "value": 777})
        balance = w3.eth.get_balance(b.address)
        with AnvilNode(fork_url=upstream.http_url, accounts=1) as fork:
            assert connect(fork.http_url).eth.get_balance(b.address) == balance


def test_missing_anvil_binary_is_a_setup_error(monkeypatch):
    monkeypatch.setenv("BASTION_ANVIL", "/nonexistent/anvil")
    with pytest.raises(SetupError, match="BASTION_ANVIL"):
        AnvilNode().start()


_HOLDER = """
import sys, time
from bastion.chain.node import AnvilNode
node = AnvilNode(accounts=1).start()
print("ready", node.pid, flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupted_program_leaves_no_anvil(how):
    """SIGINT/SIGTERM run the clean-up; even kill -9 of Python takes anvil down (PDEATHSIG)."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    assert line[0] == "ready", line
    anvil_pid = int(line[1])
    assert anvil_pid in running_anvil_pids()
    os.kill(proc.pid, how)
    proc.wait(timeout=15)
    assert _gone(anvil_pid), f"anvil {anvil_pid} outlived its parent after {how!r}"


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_bastion_node_leaves_no_anvil(how):
    proc = subprocess.Popen(
        [sys.executable, "-m", "bastion.cli", "node"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    output = []
    for line in proc.stdout:
        output.append(line)
        if "running" in line:
            break
    else:
        pytest.fail("bastion node never said it was running:\n" + "".join(output))
    anvils = _children_anvils(proc.pid)
    assert len(anvils) == 1
    os.kill(proc.pid, how)
    assert proc.wait(timeout=15) in (0, 1, 130, -how, 128 + how)
    assert _gone(anvils[0])


def test_a_chosen_port_is_used_and_a_bad_one_refused():
    import socket

    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with AnvilNode(port=port) as node:
        assert node.port == port and node.http_url.endswith(f":{port}")
        assert connect(node.http_url).eth.chain_id == 31337
    with pytest.raises(ValueError, match=r"port must be within 0\.\.65535"):
        AnvilNode(port=70000)


def test_anvil_discovery_order_and_the_error_that_says_how_to_get_it(tmp_path, monkeypatch):
    from bastion import paths

    monkeypatch.setenv("BASTION_ANVIL", str(tmp_path / "nowhere" / "anvil"))
    with pytest.raises(SetupError, match=r"BASTION_ANVIL=.* is not a file"):
        paths.foundry_bin("anvil")
    monkeypatch.delenv("BASTION_ANVIL")
    # No checkout, no node_modules here, only PATH: the Foundry install is used.
    monkeypatch.setattr(paths, "checkout_root", lambda: None)
    monkeypatch.chdir(tmp_path)
    fake = tmp_path / "bin" / "anvil"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    assert paths.foundry_bin("anvil") == fake
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SetupError, match=r"anvil not found .*getfoundry.sh.*npm install @foundry-rs/anvil-"):
        paths.foundry_bin("anvil")

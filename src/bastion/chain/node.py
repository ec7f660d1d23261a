"""An embedded local EVM node: anvil from Foundry on a free loopback port.

``AnvilNode`` starts anvil with ``--port 0``, reads the port from its "Listening on" line, waits
until it answers JSON-RPC, and stops it on exit. Three layers make sure no anvil outlives us:
the context manager, an ``atexit`` hook plus SIGTERM/SIGHUP handlers that turn into a normal exit,
and ``PR_SET_PDEATHSIG`` so the kernel kills anvil even when Python dies from ``kill -9``.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account

from bastion.paths import SetupError, foundry_bin

DEV_MNEMONIC = "test test test test test test test test test test test junk"
_LISTENING = re.compile(r"Listening on (\S+):(\d+)")
_live_nodes: set[AnvilNode] = set()
_lock = threading.Lock()


@dataclass(frozen=True)
class DevAccount:
    """A funded account of the local node. ``repr`` never shows the key."""

    address: str
    private_key: str

    def __repr__(self) -> str:
        return f"DevAccount({self.address})"


def dev_accounts(count: int) -> list[DevAccount]:
    """The first ``count`` accounts of the dev mnemonic (anvil's default funded accounts)."""
    Account.enable_unaudited_hdwallet_features()
    found = []
    for i in range(count):
        acct = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        found.append(DevAccount(acct.address, acct.key.to_0x_hex()))
    return found


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _stop_all_nodes() -> None:
    with _lock:
        nodes = list(_live_nodes)
    for node in nodes:
        node.stop()


def _exit_on_signal(signum: int, _frame) -> None:
    _stop_all_nodes()
    raise SystemExit(128 + signum)


_handlers_installed = False


def _install_exit_handlers() -> None:
    """atexit always; SIGTERM/SIGHUP only when nobody else handles them and we are the main thread."""
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_stop_all_nodes)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _exit_on_signal)


class AnvilNode:
    """A running anvil. Use as a context manager, or call ``start()`` and ``stop()``.

    Options mirror anvil's: ``block_time`` (seconds, mines on a clock), ``no_mining`` (transactions stay
    pending until ``evm_mine``), ``dump_state``/``load_state`` (JSON state file), ``fork_url``.
    """

    def __init__(
        self,
        *,
        block_time: float | None = None,
        no_mining: bool = False,
        accounts: int = 10,
        balance_eth: int = 10_000,
        chain_id: int = 31337,
        dump_state: str | Path | None = None,
        load_state: str | Path | None = None,
        fork_url: str | None = None,
        fork_block: int | None = None,
        gas_limit: int | None = None,
        extra_args: tuple[str, ...] = (),
        startup_timeout: float = 15.0,
        port: int = 0,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be within 0..65535 (0: a free one), got {port}")
        self.requested_port = port
        if block_time is not None and block_time <= 0:
            raise ValueError(f"block_time must be positive, got {block_time}: omit it for automine")
        if block_time is not None and no_mining:
            raise ValueError("block_time and no_mining exclude each other: choose one")
        if not 1 <= accounts <= 1000:
            raise ValueError(f"accounts must be within 1..1000, got {accounts}")
        self.block_time = block_time
        self.no_mining = no_mining
        self.n_accounts = accounts
        self.balance_eth = balance_eth
        self.chain_id = chain_id
        self.dump_state = Path(dump_state) if dump_state else None
        self.load_state = Path(load_state) if load_state else None
        self.fork_url = fork_url
        self.fork_block = fork_block
        self.gas_limit = gas_limit
        self.extra_args = extra_args
        self.startup_timeout = startup_timeout
        self.host = "127.0.0.1"
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None
        self._log_dir: tempfile.TemporaryDirectory | None = None
        self._accounts: list[DevAccount] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def command(self) -> list[str]:
        cmd = [
            str(foundry_bin("anvil")),
            "--host", self.host,
            "--port", str(self.requested_port),
            "--accounts", str(self.n_accounts),
            "--balance", str(self.balance_eth),
            "--mnemonic", DEV_MNEMONIC,
            "--chain-id", str(self.chain_id),
        ]  # fmt: skip
        if self.block_time is not None:
            cmd += ["--block-time", f"{self.block_time:g}"]
        if self.no_mining:
            cmd += ["--no-mining"]
        if self.dump_state:
            cmd += ["--dump-state", str(self.dump_state)]
        if self.load_state:
            if not self.load_state.is_file():
                raise SetupError(f"state file {self.load_state} does not exist: dump one with dump_state first")
            cmd += ["--load-state", str(self.load_state)]
        if self.fork_url:
            cmd += ["--fork-url", self.fork_url]
            if self.fork_block is not None:
                cmd += ["--fork-block-number", str(self.fork_block)]
        if self.gas_limit:
            cmd += ["--gas-limit", str(self.gas_limit)]
        return cmd + list(self.extra_args)

    def start(self) -> AnvilNode:
        if self._proc is not None:
            return self
        _install_exit_handlers()
        self._log_dir = tempfile.TemporaryDirectory(prefix="bastion-anvil-")
        log_path = Path(self._log_dir.name) / "anvil.log"
        # Output goes to a file, not a pipe: a busy node logs a lot and a full pipe would block it.
        with open(log_path, "wb") as log:
            self._proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        with _lock:
            _live_nodes.add(self)
        try:
            self.port = self._wait_for_port(log_path)
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_port(self, log_path: Path) -> int:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            text = log_path.read_text(errors="replace")
            match = _LISTENING.search(text)
            if match:
                return int(match.group(2))
            if self._proc.poll() is not None:
                tail = text.strip().splitlines()[-1:] or ["(no output)"]
                raise SetupError(f"anvil exited with code {self._proc.returncode} at start: {tail[0]}")
            time.sleep(0.01)
        raise SetupError(f"anvil printed no 'Listening on' line within {self.startup_timeout:g}s")

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                self.rpc("eth_chainId")
                return
            except OSError as exc:  # connection refused while the server binds
                last_error = exc
                time.sleep(0.01)
        raise SetupError(f"anvil at {self.http_url} did not answer within {self.startup_timeout:g}s: {last_error}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        with _lock:
            _live_nodes.discard(self)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # lets anvil write --dump-state
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log_dir is not None:
            self._log_dir.cleanup()
            self._log_dir = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort; the normal path is stop()
        with contextlib.suppress(Exception):
            self.stop()

    # -- addresses -------------------------------------------------------------------------------
    @property
    def http_url(self) -> str:
        if self.port is None:
            raise SetupError("the node is not started: call start() or use it as a context manager")
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return self.http_url.replace("http://", "ws://", 1)

    @property
    def accounts(self) -> list[DevAccount]:
        """The funded dev accounts, derived from the dev mnemonic (the same keys anvil prints)."""
        if self._accounts is None:
            self._accounts = dev_accounts(self.n_accounts)
        return self._accounts

    # -- raw JSON-RPC (no web3 needed for control calls) -----------------------------------------
    def rpc(self, method: str, *params, timeout: float = 10.0):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
        req = urllib.request.Request(self.http_url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            answer = json.loads(resp.read())
        if "error" in answer:
            raise RuntimeError(f"anvil {method} failed: {answer['error'].get('message', answer['error'])}")
        return answer["result"]

    def snapshot(self) -> str:
        return self.rpc("evm_snapshot")

    def revert(self, snapshot_id: str) -> bool:
        return bool(self.rpc("evm_revert", snapshot_id))

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))

    def increase_time(self, seconds: int) -> None:
        self.rpc("evm_increaseTime", hex(seconds))

    def __repr__(self) -> str:
        where = self.http_url if self.port else "not started"
        return f"AnvilNode({where}, pid={self.pid})"


def running_anvil_pids() -> list[int]:
    """PIDs of every anvil process on this machine (used by tests that check for orphans)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            if cmdline and os.path.basename(cmdline[0].decode(errors="replace")) == "anvil":
                pids.append(int(entry.name))
    return pids

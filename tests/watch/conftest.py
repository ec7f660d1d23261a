"""Fixtures for the watchtower tests: a real anvil, a small protected world on it, local HTTP and
SMTP receivers. No mock chain."""

from __future__ import annotations

import http.server
import json
import os
import socketserver
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from bastion.chain import AnvilNode, Sender, connect, load_artifact
from bastion.chain.artifacts import ArtifactError
from bastion.tower.config import validate_config
from bastion.watch.config import WatchConfig

USD = 10**6


# -- the store's backend: SQLite files, or with BASTION_TEST_DATABASE=postgres a PostgreSQL server
# these tests start themselves, one fresh database for every SQLite file a test would have opened
ON_POSTGRES = os.environ.get("BASTION_TEST_DATABASE", "sqlite").lower() == "postgres"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    from bastion.store.pgtest import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL server not available: {exc}")
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _store_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if not ON_POSTGRES:
        return
    import bastion.store.db as store_db

    server = request.getfixturevalue("postgres_server")
    original = store_db.normalize_url
    made: dict[str, str] = {}

    def on_postgres(url_or_path: str | Path) -> str:
        url = original(url_or_path)
        if not url.startswith("sqlite"):
            return url
        if url not in made:
            made[url] = server.create_database(f"t_{uuid.uuid4().hex[:16]}")
        return made[url]

    monkeypatch.setattr(store_db, "normalize_url", on_postgres)


def _need_artifacts() -> None:
    try:
        load_artifact("WatchVault")
        load_artifact("TimelockController")
    except ArtifactError as exc:
        pytest.skip(f"forge artifacts missing: {exc}")


@pytest.fixture
def anvil() -> Iterator[AnvilNode]:
    with AnvilNode() as node:
        yield node


@dataclass
class World:
    node: AnvilNode
    w3: Web3
    deployer: Sender
    guardian: Sender
    attacker: Sender
    user: Sender
    token: Any
    vault: Any

    @property
    def contracts(self) -> dict[str, dict[str, Any]]:
        return {"vault": {"address": self.vault.address, "abi": "WatchVault", "protected": True}}

    @property
    def assets(self) -> dict[str, dict[str, Any]]:
        return {"USD": {"address": self.token.address, "decimals": 6}}

    def drain(self, amount: int, to: str | None = None) -> Any:
        """The exploit: withdraw from the unguarded vault, straight from the attacker's account."""
        return self.attacker.transact(
            self.vault.functions.withdraw(self.token.address, to or self.attacker.address, amount)
        )

    def config(self, tmp_path: Path, **sections: Any) -> WatchConfig:
        data: dict[str, Any] = {
            "service": {
                "database": str(tmp_path / "watch.db"),
                "start_block": 0,
                "poll_interval": 0.05,
                "history_blocks": 32,
                "log_format": "json",
            },
            "networks": {"local": {"rpc_urls": [self.node.http_url], "ws_url": self.node.ws_url}},
            "protocol": {"name": "test", "contracts": self.contracts, "assets": self.assets},
            "detectors": {"large_transfer": {"min_fraction_bps": 2_000, "min_amount": {"USD": 50_000 * USD}}},
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return validate_config(data, tmp_path)


def make_world(node: AnvilNode, funds: int = 1_000_000 * USD) -> World:
    _need_artifacts()
    w3 = connect(node.http_url)
    acc = node.accounts
    deployer = Sender.from_key(w3, acc[0].private_key)
    guardian = Sender.from_key(w3, acc[1].private_key)
    attacker = Sender.from_key(w3, acc[2].private_key)
    user = Sender.from_key(w3, acc[3].private_key)
    token = deployer.deploy("MintableToken", "Test USD", "USD", 6, deployer.address)
    vault = deployer.deploy("WatchVault", guardian.address, 100_000 * USD)
    deployer.transact(token.functions.mint(vault.address, funds))
    deployer.transact(token.functions.mint(user.address, funds))
    return World(node, w3, deployer, guardian, attacker, user, token, vault)


@pytest.fixture
def world(anvil: AnvilNode) -> World:
    return make_world(anvil)


# -- local HTTP receiver -------------------------------------------------------------------------
@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, in order; then 200
    responder: Callable[[Received], tuple[int, bytes]] | None = None


class _Threaded(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    state = HttpReceiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            req = Received(self.path, {k: v for k, v in self.headers.items()}, body)
            state.requests.append(req)
            if state.responder is not None:
                status, out = state.responder(req)
            else:
                status = state.statuses.pop(0) if state.statuses else 200
                out = b'{"ok":true}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: Any) -> None:
            pass

    server = _Threaded(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


# -- a minimal SMTP sink --------------------------------------------------------------------------
@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list[bytes] = field(default_factory=list)
    fail_first: int = 0  # answer 451 to the first N DATA commands


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    state = SmtpSink("127.0.0.1", 0)

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 sink ready\r\n")
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                cmd = line.decode(errors="replace").strip().upper()
                if cmd.startswith(("EHLO", "HELO")):
                    self.wfile.write(b"250 sink\r\n")
                elif cmd.startswith(("MAIL", "RCPT", "RSET", "NOOP")):
                    self.wfile.write(b"250 ok\r\n")
                elif cmd == "DATA":
                    self.wfile.write(b"354 go ahead\r\n")
                    data = b""
                    while True:
                        chunk = self.rfile.readline()
                        if chunk in (b".\r\n", b".\n", b""):
                            break
                        data += chunk
                    if state.fail_first > 0:
                        state.fail_first -= 1
                        self.wfile.write(b"451 try again later\r\n")
                    else:
                        state.messages.append(data)
                        self.wfile.write(b"250 queued\r\n")
                elif cmd == "QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:
                    self.wfile.write(b"502 not implemented\r\n")

    class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()

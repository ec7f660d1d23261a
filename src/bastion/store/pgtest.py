"""A throwaway PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` on a temporary data directory,
TCP on a free loopback port, trust auth. The binaries come from the ``pgserver`` wheel (a dev
dependency) or, failing that, from ``PATH``. Run as root, the server runs as the ``postgres`` user
(created when missing), since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import warnings
from pathlib import Path

from bastion.errors import BastionError


class PostgresUnavailable(BastionError, RuntimeError):
    """No PostgreSQL server binaries here (the reason says what to install)."""


def _bin_dir() -> Path:
    try:
        with warnings.catch_warnings():  # it sets up a runtime dir at import and may warn about it
            warnings.simplefilter("ignore")
            import pgserver  # optional: only the tests need it

        candidate = Path(pgserver.__file__).parent / "pginstall" / "bin"
        if (candidate / "pg_ctl").exists():
            return candidate
    except ImportError:
        pass
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    raise PostgresUnavailable("no PostgreSQL binaries: pip install pgserver (in the dev extras), or put pg_ctl on PATH")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="bastion-pg-"))
        self.data = self.root / "data"
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                subprocess.run(
                    ["useradd", "-M", "-s", "/usr/sbin/nologin", "postgres"], check=True, capture_output=True
                )
            self.user = "postgres"
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            os.chmod(self.root, 0o700)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [str(self.bin / tool), *args], capture_output=True, text=True, user=self.user, timeout=120, cwd=self.root
        )
        if done.returncode != 0:
            raise PostgresUnavailable(f"{tool} failed: {(done.stderr or done.stdout).strip()[-300:]}")

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        with contextlib.suppress(PostgresUnavailable):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

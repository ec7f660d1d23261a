"""Engine, sessions and programmatic Alembic migrations.

``open_store(url)`` accepts any SQLAlchemy URL (``sqlite:///path.db`` by default,
``postgresql+psycopg://...`` for PostgreSQL) or a bare file path, and brings the schema to the
latest revision before returning. SQLite runs in WAL mode with a busy timeout, so a reader (a
dashboard, a test) never blocks the watchtower.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from bastion.paths import InputError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def normalize_url(url_or_path: str | Path) -> str:
    text = str(url_or_path)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).resolve()}"


def _check_url(url: str) -> None:
    """A one-line error for a database that cannot open, before SQLAlchemy's traceback would say it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        folder = Path(database).parent
        if database and database != ":memory:" and not folder.is_dir():
            raise InputError(f"database {database}: directory {folder} does not exist: create it or pick another")
        return
    try:
        parsed.get_dialect().import_dbapi()
    except ImportError:
        driver = parsed.get_driver_name()
        hint = "pip install 'bastion[postgres]'" if driver == "psycopg" else f"install the {driver} package"
        raise InputError(
            f"database {parsed.render_as_string(hide_password=True)}: the {driver} driver is not installed: {hint}"
        ) from None


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    try:
        _check_url(url)
    except ArgumentError as exc:
        raise InputError(f"database URL is not valid ({exc}): use sqlite:///FILE or postgresql+psycopg://...") from None
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (Alembic command API, no alembic.ini)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


class Database:
    def __init__(self, url: str | Path, *, run_migrations: bool = True) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)
        if run_migrations:
            migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self._sessions()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any exception."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

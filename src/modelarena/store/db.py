"""Database connections: engine creation (SQLite in WAL mode or PostgreSQL), sessions,
and bringing the schema up to date with Alembic on start-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

# Any failure of the database or its driver, for callers that report it.
DatabaseError = SQLAlchemyError

MIGRATIONS = Path(__file__).with_name("migrations")
# The server reaches the database from AnyIO's worker threads (40 by default): enough
# connections that no request waits for another's connection to come back.
POOL = {"pool_size": 40, "max_overflow": 10}


def shown_url(url: str) -> str:
    """The URL as it may be shown to a user: its password hidden. ValueError when it is
    not a database URL."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):
        raise ValueError(
            f"{url!r} is not a database URL; expected e.g. sqlite:///arena.db "
            "or postgresql+psycopg://user@host/db"
        ) from None


class Database:
    """One engine and session factory for a database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": 30},
                **(POOL if parsed.database not in (None, "", ":memory:") else {}),
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, **POOL)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    def migrate(self, revision: str = "head") -> None:
        """Create or upgrade every table to the newest schema (or to `revision`)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()

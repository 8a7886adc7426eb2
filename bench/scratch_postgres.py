"""A throwaway PostgreSQL database for a benchmark run: created on the test server the
suite uses (MODELARENA_TEST_POSTGRES), dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

from sqlalchemy import create_engine

POSTGRES_ADMIN_URL = os.environ.get(
    "MODELARENA_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_database() -> tuple[str, Callable[[], None]] | None:
    """(URL of a new empty database, a function that drops it), or None with a message
    when the server cannot be reached."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"modelarena_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        admin.dispose()
        print(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL} ({exc}); skipped")
        return None

    def drop() -> None:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name, drop

"""The arena database as the judge's commands open it (`judge agreement`, `from-battles`,
`label`): a URL that is wrong or a server that is down is a message, not a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from modelarena.judge.errors import JudgeError


@contextmanager
def arena_database(url: str) -> Iterator[Any]:
    """A `store.db.Database` for `url`, closed afterwards; database errors become
    JudgeErrors naming the database (its password hidden)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from modelarena.store.db import Database

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):
        raise JudgeError(
            f"{url!r} is not a database URL; expected e.g. sqlite:///arena.db "
            "or postgresql+psycopg://user@host/db"
        ) from None
    database = None
    try:
        database = Database(url)
        yield database
    except SQLAlchemyError as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        raise JudgeError(f"the arena database {shown} cannot be used: {reason}") from None
    finally:
        if database is not None:
            database.close()

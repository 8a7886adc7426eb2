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
    from modelarena.store.db import Database, DatabaseError, shown_url

    try:
        shown = shown_url(url)
    except ValueError as exc:
        raise JudgeError(str(exc)) from None
    database = None
    try:
        database = Database(url)
        yield database
    except DatabaseError as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        raise JudgeError(f"the arena database {shown} cannot be used: {reason}") from None
    finally:
        if database is not None:
            database.close()

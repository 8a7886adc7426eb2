"""What every command shares: the `--config` and `--db` options, settings and database
from them, logging for servers, command lists without cut lines, errors and warnings as
one line each (`Error: …` on stderr, exit status 2 unless a command's own convention says
1), a quick check that a server endpoint answers, and the look of the commands' tables."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML settings file", dir_okay=False)
]
DbOpt = Annotated[str | None, typer.Option("--db", help="SQLAlchemy database URL")]
# How long a command waits for a server to take the connection before it says so.
CONNECT_TIMEOUT_S = 3.0


class Group(TyperGroup):
    """A command group whose list of commands gives each one's first sentence whole,
    wrapped to the terminal's width, where Click would cut it with "..."."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=sys.maxsize)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def fail(message: str, status: int = 2) -> NoReturn:
    """Print `Error: message` on stderr and exit with `status`."""
    typer.secho(f"Error: {message}", fg="red", err=True)
    raise typer.Exit(status)


def warn(message: str) -> None:
    """Print `Warning: message` on stderr; the command goes on."""
    typer.secho(f"Warning: {message}", fg="yellow", err=True)


def settings(config: Path | None, **overrides: Any):
    """The settings from the file, the environment and `overrides`; a bad one fails."""
    from modelarena.config import load_settings

    try:
        return load_settings(config, **overrides)
    except Exception as exc:  # pydantic's message names the bad field
        fail(f"invalid configuration: {exc}")


def server_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    for noisy in ("alembic", "httpx", "httpcore"):  # one line per upstream call is too much
        logging.getLogger(noisy).setLevel(logging.WARNING)


def database(config: Path | None, db: str | None, *, must_exist: bool = False):
    """The database of the settings (or `--db`), migrated to the newest schema.

    With `must_exist` (commands that only read), a SQLite file that is not there is an
    error instead of a new, empty database. A database that cannot be opened is one line
    naming it (its password hidden).
    """
    from modelarena.store.db import Database, DatabaseError, shown_url

    url = settings(config, db_url=db).database_url
    try:
        shown = shown_url(url)
    except ValueError as exc:
        fail(str(exc))
    missing = _sqlite_file(url)
    if must_exist and missing is not None and not missing.is_file():
        fail(f"no database at {missing}: nothing to read (name the arena's with --db or --config)")
    try:
        opened = Database(url)
        opened.migrate()
    except DatabaseError as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        fail(f"the database {shown} cannot be used: {reason}")
    return opened


def _sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (sqlite:///relative.db, sqlite:////absolute.db); None
    for other databases, in-memory ones and SQLite's own `file:` URIs."""
    scheme, _, rest = url.partition("://")
    path = rest[1:].partition("?")[0]  # the host part between the slashes stays empty
    if scheme.split("+")[0] != "sqlite" or path in ("", ":memory:") or path.startswith("file:"):
        return None
    return Path(path).expanduser()


def reachable(url: str, status: int = 2) -> None:
    """Fail at once, naming `url`, when no server there takes a connection (refused,
    unknown host, or no answer in CONNECT_TIMEOUT_S). Any HTTP answer will do: the
    command's own calls then report what the server says."""
    import httpx

    try:
        with httpx.Client(timeout=CONNECT_TIMEOUT_S) as client:
            client.head(url)
    except httpx.ConnectTimeout:
        fail(f"cannot reach {url}: no answer in {CONNECT_TIMEOUT_S:g} s", status)
    except httpx.ConnectError as exc:
        reason = re.sub(r"^\[Errno -?\d+\] ", "", str(exc)) or "connection failed"
        fail(f"cannot reach {url}: {reason}; is a server running there?", status)
    except (httpx.HTTPError, httpx.InvalidURL):
        pass  # it answered, if not to this; a malformed URL is the command's to report


def table(title: str | None = None) -> Any:
    """A Rich table in the commands' look: a rule under the header and two spaces between
    columns, no frame, so that text keeps the width of a narrow terminal."""
    from rich import box
    from rich.table import Table

    return Table(
        title=title,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )


def shorten(text: str, width: int) -> str:
    """`text` in at most `width` characters: whole when it fits, else its start and its
    end around "…", the end kept up to its last part after a slash (a file name, a
    port and path) when that leaves room for the start."""
    if len(text) <= width:
        return text
    room = max(width - 1, 2)
    last = len(text) - text.rfind("/") if "/" in text else 0
    tail = max(room // 2, min(last, room - 6))
    return text[: room - tail] + "…" + text[len(text) - tail :]

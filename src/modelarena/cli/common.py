"""What every command shares: the `--config` and `--db` options, settings and database
from them, logging for servers, and errors as one line (exit status 2)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML settings file", dir_okay=False)
]
DbOpt = Annotated[str | None, typer.Option("--db", help="SQLAlchemy database URL")]


def settings(config: Path | None, **overrides: Any):
    """The settings from the file, the environment and `overrides`; a bad one fails."""
    from modelarena.config import load_settings

    try:
        return load_settings(config, **overrides)
    except Exception as exc:  # pydantic's message names the bad field
        fail(f"invalid configuration: {exc}")


def fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(2)


def server_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    for noisy in ("alembic", "httpx", "httpcore"):  # one line per upstream call is too much
        logging.getLogger(noisy).setLevel(logging.WARNING)


def database(config: Path | None, db: str | None):
    """The database of the settings (or `--db`), migrated to the newest schema."""
    from modelarena.store.db import Database

    chosen = settings(config, db_url=db)
    opened = Database(chosen.database_url)
    opened.migrate()
    return opened

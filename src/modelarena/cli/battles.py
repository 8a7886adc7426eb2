"""`modelarena battles export|import` and `modelarena conversations export`: the arena's
votes and conversations to and from files. (`export battles`, `export conversations` and
`import battles`, the older spellings, stay as hidden aliases.) Exports read an existing
database only, and say which."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelarena.cli.common import ConfigOpt, DbOpt, database, fail

battles = typer.Typer(
    help="The arena's votes: export them, or import FastChat battles.", no_args_is_help=True
)
conversations = typer.Typer(help="Every stored conversation, to a file.", no_args_is_help=True)
# The older spellings, hidden: `export battles|conversations`, `import battles`.
export = typer.Typer(help="Write stored battles or conversations to a file.", no_args_is_help=True)
importer = typer.Typer(help="Load battles from a file into the store.", no_args_is_help=True)

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="fastchat | jsonl | parquet")]


@battles.command("export")
@export.command("battles")
def export_battles(
    out: Annotated[Path, typer.Option("--out", "-o", help="file to write")],
    fmt: FormatOpt = "fastchat",
    include_named: Annotated[
        bool, typer.Option("--include-named", help="also side-by-side votes (anony = false)")
    ] = False,
    include_excluded: Annotated[
        bool,
        typer.Option(
            "--include-excluded",
            help="also battles flagged out of the ratings (their flags listed)",
        ),
    ] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Voted battles in FastChat's `clean_battle` format (JSON list), JSON lines or Parquet."""
    from modelarena.arena.export import FORMATS, battle_records
    from modelarena.store.db import shown_url

    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    _check_out(out)
    store = database(config, db, must_exist=True)
    modes = ("battle", "side_by_side") if include_named else ("battle",)
    records = battle_records(store, modes, include_excluded)
    _write(records, out, fmt)
    typer.echo(f"wrote {len(records)} battles from {shown_url(store.url)} to {out}")


@conversations.command("export")
@export.command("conversations")
def export_conversations(
    out: Annotated[Path, typer.Option("--out", "-o", help="file to write")],
    fmt: FormatOpt = "jsonl",
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Every conversation of every mode with turns, timings, token counts and votes."""
    from modelarena.arena.export import FORMATS, conversation_records
    from modelarena.store.db import shown_url

    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    _check_out(out)
    store = database(config, db, must_exist=True)
    records = conversation_records(store)
    _write(records, out, fmt)
    typer.echo(f"wrote {len(records)} conversations from {shown_url(store.url)} to {out}")


def _check_out(out: Path) -> None:
    """Refuse an output path that cannot be written before reading the database."""
    if out.is_dir():
        fail(f"cannot write {out}: it is a folder; give a file name")
    if not out.parent.is_dir():
        fail(f"cannot write {out}: there is no folder {out.parent}")


def _write(records: list, out: Path, fmt: str) -> None:
    from modelarena.arena.export import write_records

    try:
        write_records(records, out, fmt)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")


@battles.command("import")
@importer.command("battles")
def import_battles(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="PATH",
            help="FastChat battles (.json, .jsonl, .parquet)",
            exists=True,
            dir_okay=False,
        ),
    ],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Store battles from a FastChat-format file; battles already stored are skipped."""
    from modelarena.arena.export import import_battles as load
    from modelarena.rating import read_battles
    from modelarena.rating.errors import RatingError

    try:
        records = read_battles(path).to_pylist()
        added, skipped = load(database(config, db), records)
    except (RatingError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"imported {added} battles ({skipped} already stored)")

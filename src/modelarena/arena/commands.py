"""CLI commands of the arena: `export battles|conversations`, `import battles` and
`scores import`."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer

from modelarena.serving.commands import ConfigOpt, DbOpt, _database, _fail

export = typer.Typer(help="Write stored battles or conversations to a file.", no_args_is_help=True)
importer = typer.Typer(help="Load battles from a file into the store.", no_args_is_help=True)
scores = typer.Typer(help="Benchmark scores shown on the leaderboard.", no_args_is_help=True)

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="fastchat | jsonl | parquet")]


@export.command("battles")
def export_battles(
    out: Annotated[Path, typer.Option("--out", "-o", help="file to write")],
    fmt: FormatOpt = "fastchat",
    include_named: Annotated[
        bool, typer.Option(help="also side-by-side votes (anony = false)")
    ] = False,
    include_excluded: Annotated[
        bool, typer.Option(help="also battles flagged out of the ratings (their flags listed)")
    ] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Voted battles in FastChat's `clean_battle` format (JSON list), JSON lines or Parquet."""
    from modelarena.arena.export import FORMATS, battle_records, write_records

    if fmt not in FORMATS:
        _fail(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    modes = ("battle", "side_by_side") if include_named else ("battle",)
    records = battle_records(_database(config, db), modes, include_excluded)
    write_records(records, out, fmt)
    typer.echo(f"wrote {len(records)} battles to {out}")


@export.command("conversations")
def export_conversations(
    out: Annotated[Path, typer.Option("--out", "-o", help="file to write")],
    fmt: FormatOpt = "jsonl",
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Every conversation of every mode with turns, timings, token counts and votes."""
    from modelarena.arena.export import FORMATS, conversation_records, write_records

    if fmt not in FORMATS:
        _fail(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    records = conversation_records(_database(config, db))
    write_records(records, out, fmt)
    typer.echo(f"wrote {len(records)} conversations to {out}")


@importer.command("battles")
def import_battles(
    path: Annotated[
        Path,
        typer.Argument(
            help="FastChat battles (.json, .jsonl, .parquet)", exists=True, dir_okay=False
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
        added, skipped = load(_database(config, db), records)
    except (RatingError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"imported {added} battles ({skipped} already stored)")


@scores.command("import")
def import_scores(
    path: Annotated[
        Path,
        typer.Argument(
            help="CSV or JSON: model,benchmark,value rows, or a "
            "model column plus one column per benchmark",
            exists=True,
            dir_okay=False,
        ),
    ],
    source: Annotated[str | None, typer.Option(help="where the scores come from")] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Add benchmark scores (MT-Bench, MMLU, ...) per model, shown as leaderboard columns."""
    from modelarena.store.arena import upsert_scores

    try:
        rows = _score_rows(path)
    except ValueError as exc:
        _fail(f"{path}: {exc}")
    count = upsert_scores(_database(config, db), rows, source or path.name)
    typer.echo(f"stored {count} scores")


def _score_rows(path: Path) -> list[tuple[str, str, float]]:
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text())
        records = (
            data
            if isinstance(data, list)
            else [{"model": model, **values} for model, values in data.items()]
        )
    else:
        with path.open(newline="") as handle:
            records = list(csv.DictReader(handle))
    rows = []
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict) or not record.get("model"):
            raise ValueError(f"row {number} has no model")
        if "benchmark" in record:
            pairs = [(record["benchmark"], record.get("value"))]
        else:
            pairs = [(k, v) for k, v in record.items() if k != "model"]
        for benchmark, value in pairs:
            try:
                rows.append((str(record["model"]), str(benchmark), float(value)))
            except (TypeError, ValueError):
                raise ValueError(f"row {number}: {benchmark} = {value!r} is not a number") from None
    if not rows:
        raise ValueError("no scores found")
    return rows

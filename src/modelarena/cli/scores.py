"""`modelarena scores import`: benchmark scores (MT-Bench, MMLU, ...) per model, shown as
leaderboard columns."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer

from modelarena.cli.common import ConfigOpt, DbOpt, database, fail
from modelarena.cli.lm_eval_results import is_lm_eval_results, lm_eval_rows

scores = typer.Typer(help="Benchmark scores shown on the leaderboard.", no_args_is_help=True)


@scores.command("import")
def import_scores(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="PATH",
            help="CSV or JSON: model,benchmark,value rows, or a "
            "model column plus one column per benchmark; or lm-eval's results JSON",
            exists=True,
            dir_okay=False,
        ),
    ],
    source: Annotated[str | None, typer.Option(help="where the scores come from")] = None,
    model: Annotated[
        str | None,
        typer.Option(help="lm-eval results: the arena model they are for (default: its model=)"),
    ] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Add benchmark scores (MT-Bench, MMLU, ...) per model, shown as leaderboard columns."""
    from modelarena.store.arena import upsert_scores

    try:
        rows = _score_rows(path, model)
    except ValueError as exc:
        fail(f"{path}: {exc}")
    count = upsert_scores(database(config, db), rows, source or path.name)
    typer.echo(f"stored {count} scores")


def _score_rows(path: Path, model: str | None) -> list[tuple[str, str, float]]:
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text())
        if is_lm_eval_results(data):
            return _found(lm_eval_rows(data, model))
        if isinstance(data, list):
            records = data
        elif isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()):
            records = [{"model": name, **values} for name, values in data.items()]
        else:
            raise ValueError(
                "not a score table: expected a list of rows, {model: {benchmark: value}} "
                "or lm-eval's results JSON"
            )
    else:
        with path.open(newline="") as handle:
            records = list(csv.DictReader(handle))
    if model is not None:
        raise ValueError("--model is for lm-eval results; this table names its models")
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
                rows.append((str(record["model"]), str(benchmark), float(str(value))))
            except ValueError:
                raise ValueError(f"row {number}: {benchmark} = {value!r} is not a number") from None
    return _found(rows)


def _found(rows: list[tuple[str, str, float]]) -> list[tuple[str, str, float]]:
    if not rows:
        raise ValueError("no scores found")
    return rows

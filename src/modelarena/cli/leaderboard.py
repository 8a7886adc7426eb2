"""The `modelarena leaderboard` command: a battle file in; a table, JSON/CSV/Markdown or HTML out.

Only typer is imported at module level; numpy, pyarrow and the engine load inside the command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from modelarena.cli.common import fail, warn


class Method(StrEnum):
    bt = "bt"
    elo = "elo"


class Interval(StrEnum):
    sandwich = "sandwich"
    bootstrap = "bootstrap"
    none = "none"


class Ties(StrEnum):
    half = "half"
    drop = "drop"
    davidson = "davidson"
    rao_kupper = "rao-kupper"


class Preset(StrEnum):
    fastchat_2024 = "fastchat-2024"
    fastchat_2023_12 = "fastchat-2023-12"
    lmarena_2025 = "lmarena-2025"


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def leaderboard(
    battles: Annotated[
        Path,
        typer.Argument(
            metavar="BATTLES",
            help="Battle file: FastChat clean_battle .json, .jsonl, .csv or .parquet.",
        ),
    ],
    method: Annotated[
        Method | None, typer.Option(help="Bradley–Terry (default) or online Elo.")
    ] = None,
    preset: Annotated[
        Preset | None, typer.Option(help="Reproduce a published leaderboard's method.")
    ] = None,
    ci: Annotated[
        Interval | None,
        typer.Option(help="Intervals (default: sandwich for bt, bootstrap for elo)."),
    ] = None,
    bootstrap_rounds: Annotated[
        int | None,
        typer.Option(help="Bootstrap rounds (default 100); alone, it selects --ci bootstrap."),
    ] = None,
    anchor: Annotated[
        str | None, typer.Option(help="Fix one model's rating, as NAME=RATING.")
    ] = None,
    l2: Annotated[
        float | None, typer.Option(help="L2 penalty on w = (rating − 1000)/400 (default 0).")
    ] = None,
    ties: Annotated[
        Ties | None, typer.Option(help="Ties: half a win each (default), drop, or a tie model.")
    ] = None,
    reweight: Annotated[
        bool, typer.Option("--reweight", help="Weight pairs by 1/max(pair battles, 50).")
    ] = False,
    style_control: Annotated[
        bool, typer.Option("--style-control", help="Control for answer length and markdown.")
    ] = False,
    category: Annotated[
        list[str] | None,
        typer.Option(
            metavar="<str>",
            help="Only battles in this category (repeatable): long, multi-turn, "
            "code, math, language=NAME, or a column NAME / NAME=VALUE.",
        ),
    ] = None,
    include_named: Annotated[
        bool, typer.Option("--include-named", help="Use named battles too, not only anonymous.")
    ] = False,
    exclude_model: Annotated[
        list[str] | None,
        typer.Option(metavar="<str>", help="Leave out a model's battles (repeatable)."),
    ] = None,
    min_battles: Annotated[
        int, typer.Option(help="Drop models with fewer battles (repeated until stable).")
    ] = 0,
    language: Annotated[
        list[str] | None,
        typer.Option(metavar="<str>", help="Only battles in this language (repeatable)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only battles at or after this ISO date/time (UTC) or unix time."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only battles before this ISO date/time (UTC) or unix time.")
    ] = None,
    daily_vote_cap: Annotated[
        int | None, typer.Option(help="Keep each voter's first N votes per UTC day.")
    ] = None,
    dedup_percentile: Annotated[
        float | None,
        typer.Option(help="Cap each prompt's battles at this percentile of prompt counts."),
    ] = None,
    k: Annotated[float | None, typer.Option("--k", help="Elo K factor (default 4).")] = None,
    models_meta: Annotated[
        Path | None, typer.Option(help="File with model, organization, license columns.")
    ] = None,
    format: Annotated[Format, typer.Option(help="Output format.")] = Format.table,
    output: Annotated[
        Path | None, typer.Option(help="Write the output here instead of stdout.")
    ] = None,
    html: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML report here.")
    ] = None,
    manifest: Annotated[
        Path | None, typer.Option(help="Also write the reproducibility manifest (JSON) here.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the bootstrap and random choices.")] = 0,
) -> None:
    """Rank models from arena battles with Bradley–Terry or Elo, with confidence intervals."""
    # Small dense solves run faster on one BLAS thread, and the bootstrap runs its own
    # threads; set before numpy loads (a user's explicit setting wins).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from modelarena.rating.errors import RatingError

    settings = {
        "method": None if method is None else method.value,
        "ci": None if ci is None else ci.value,
        "rounds": bootstrap_rounds,
        "l2": l2,
        "ties": None if ties is None else ties.value,
        "k": k,
        "reweight": reweight or None,
        "style_control": style_control or None,
        "seed": seed,
    }
    try:
        filters = _filters(
            include_named,
            exclude_model,
            min_battles,
            language,
            since,
            until,
            daily_vote_cap,
            dedup_percentile,
            category,
            seed,
        )
        config = _config(preset, anchor, settings)
        if preset is not None:
            typer.echo(_wrapped(_preset_note(preset.value)), err=True)
        _run(battles, filters, config, models_meta, format, output, html, manifest)
    except (RatingError, OSError) as exc:
        fail(str(exc), status=1)


def _filters(
    include_named: bool,
    exclude_model: list[str] | None,
    min_battles: int,
    language: list[str] | None,
    since: str | None,
    until: str | None,
    daily_vote_cap: int | None,
    dedup_percentile: float | None,
    category: list[str] | None,
    seed: int,
):
    from modelarena.rating.data import Filters

    return Filters(
        anonymous_only=not include_named,
        exclude_models=tuple(exclude_model or ()),
        min_battles=min_battles,
        languages=tuple(language or ()),
        since=None if since is None else _time(since, "--since"),
        until=None if until is None else _time(until, "--until"),
        daily_vote_cap=daily_vote_cap,
        dedup_percentile=dedup_percentile,
        categories=tuple(category or ()),
        seed=seed,
    )


def _time(text: str, option: str) -> float:
    """Unix seconds from an ISO date or date-time (UTC unless it says otherwise), else a number.

    ISO comes first, so an 8-digit number such as 20240501 is a date, not a time in 1970.
    """
    import math

    from modelarena.rating.errors import RatingError

    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        moment = None
    if moment is not None:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds):
        raise RatingError(
            f"{option} {text!r} is neither an ISO date like 2024-05-01 (or 20240501) "
            "nor unix seconds"
        )
    return seconds


def _config(preset: Preset | None, anchor: str | None, settings: dict):
    from dataclasses import replace

    from modelarena.rating.errors import RatingError
    from modelarena.rating.presets import Anchor, RatingConfig
    from modelarena.rating.presets import preset as named_preset

    base = RatingConfig() if preset is None else named_preset(preset.value)
    if preset is not None and settings["method"] == "elo" and base.method != "elo":
        raise RatingError(
            f"--preset {preset.value} is a Bradley–Terry method, so it cannot run with "
            "--method elo; leave out one of them"
        )
    changes = {key: value for key, value in settings.items() if value is not None}
    if settings["ci"] is None and settings["rounds"] is not None:
        changes["ci"] = "bootstrap"  # asking for rounds asks for the bootstrap
    elif settings["ci"] is None and settings["method"] is not None:
        changes["ci"] = None  # let the method pick its default intervals
    if anchor is not None:
        name, equals, rating = anchor.rpartition("=")
        try:
            changes["anchor"] = Anchor(name, float(rating))
        except ValueError:
            raise RatingError(
                f"--anchor needs NAME=RATING, e.g. gpt-4=1200; got {anchor!r}"
            ) from None
        if not equals or not name:
            raise RatingError(f"--anchor needs NAME=RATING, e.g. gpt-4=1200; got {anchor!r}")
    config = replace(base, **changes)
    if preset is not None:  # named with the settings the options changed
        modified = sorted(
            key for key in changes if key != "seed" and getattr(config, key) != getattr(base, key)
        )
        config = replace(
            config, name=preset.value + (f" (changed: {', '.join(modified)})" if modified else "")
        )
    if settings["k"] is not None and config.method != "elo":
        raise RatingError(
            "--k is online Elo's K factor and has no effect on Bradley–Terry; "
            "use it with --method elo"
        )
    if settings["rounds"] is not None and config.ci != "bootstrap":
        raise RatingError(
            f"--bootstrap-rounds sets bootstrap rounds, but the intervals are --ci {config.ci}; "
            "use --ci bootstrap or leave out --bootstrap-rounds"
        )
    return config


def _preset_note(name: str) -> str:
    """One line: what the preset sets, and the default of each setting it changes."""
    from dataclasses import fields

    from modelarena.rating.presets import RatingConfig
    from modelarena.rating.presets import preset as named_preset

    chosen, default = named_preset(name), RatingConfig()
    shown = ["method", "ties", "l2", "ci"]
    shown += ["rounds"] if chosen.ci == "bootstrap" else []
    shown += ["k"] if chosen.method == "elo" else []
    shown += [
        item.name
        for item in fields(RatingConfig)
        if item.compare
        and item.name not in shown
        and getattr(chosen, item.name) != getattr(default, item.name)
    ]
    parts = []
    for setting in shown:
        value, usual = getattr(chosen, setting), getattr(default, setting)
        part = f"{setting} {_setting_text(value)}"
        parts.append(part if value == usual else f"{part} (default {_setting_text(usual)})")
    same = "; all as the defaults" if chosen == default else ""
    return f"Preset {name}: {', '.join(parts)}{same}."


def _wrapped(text: str) -> str:
    """`text` in lines as wide as the terminal, broken between words only."""
    import shutil
    import textwrap

    width = shutil.get_terminal_size().columns
    return textwrap.fill(text, width, break_long_words=False, break_on_hyphens=False)


def _setting_text(value) -> str:
    from modelarena.rating.presets import Anchor

    if isinstance(value, Anchor):
        return f"{value.model}={value.rating:g}" + (" if rated" if value.if_present else "")
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def _run(battles, filters, config, models_meta, fmt, output, html, manifest_path) -> None:
    from modelarena.rating.data import needed_columns, select_battles
    from modelarena.rating.leaderboard import rate
    from modelarena.rating.read import (
        available_columns,
        file_format,
        file_sha256,
        read_battles,
        read_models_meta,
    )
    from modelarena.rating.report import manifest, render_text, table, to_json

    with _input_errors(battles):
        columns = needed_columns(
            filters,
            style_control=config.style_control,
            time_order=config.method == "elo",
            available=available_columns(battles),
        )
        selection = select_battles(
            read_battles(battles, columns), filters, style_control=config.style_control
        )
    board = _with_progress(selection.battles, config, rate)
    meta = None
    if models_meta is not None:
        with _input_errors(models_meta):
            meta = read_models_meta(models_meta)
    source = {
        "path": str(battles),
        "format": file_format(battles),
        "bytes": battles.stat().st_size,
        "sha256": file_sha256(battles),
    }
    record = manifest(board, selection, filters, source)
    if fmt == Format.table:
        _print_table(table(board, meta), output)
    else:
        text = render_text(board, fmt.value, meta)
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, encoding="utf-8")
    if html is not None:
        from modelarena.rating.html import write_html

        write_html(board, html, record, meta)
    if manifest_path is not None:
        manifest_path.write_text(to_json(record), encoding="utf-8")
    for warning in board.warnings:
        warn(f"{warning}.")
    if board.bootstrap_unconverged:
        unbounded = [
            name
            for name, low, high in zip(board.models, board.ci_lower, board.ci_upper, strict=True)
            if abs(low) == float("inf") or abs(high) == float("inf")
        ]
        # A board rated group by group ran the rounds once per group.
        rounds = config.rounds * max(1, len(board.parts))
        warn(
            f"{board.bootstrap_unconverged} of {rounds} bootstrap rounds left "
            "some model without a finite rating (it won or lost all of its resampled battles, "
            f"or had none); unbounded intervals: {', '.join(unbounded) or 'none'}. More battles "
            "or a small --l2 penalty make them finite."
        )


@contextmanager
def _input_errors(path: Path) -> Iterator[None]:
    """Turn Arrow and value errors that the readers did not explain into one-line errors."""
    import pyarrow as pa

    from modelarena.rating.errors import BattleDataError, RatingError

    try:
        yield
    except RatingError:
        raise
    except (pa.ArrowException, ValueError) as exc:
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        raise BattleDataError(f"cannot use {path}: {reason}") from exc


def _with_progress(battles, config, rate):
    if config.ci != "bootstrap" or not sys.stderr.isatty():
        return rate(battles, config)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("bootstrap", total=config.rounds)
        return rate(battles, config, progress=lambda done: bar.update(task, completed=done))


def _print_table(grid, output: Path | None) -> None:
    from rich.console import Console

    if output is None:
        Console().print(grid)
        return
    with open(output, "w", encoding="utf-8") as handle:
        Console(file=handle, width=160, color_system=None).print(grid)

"""Leaderboard output: Rich terminal table, JSON, CSV and Markdown text, and the manifest.

The manifest records input hash, filter counts, settings and version so a board can be redone.
A board rated group by group is shown as one section per group, with its warning.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from modelarena.rating.board import Leaderboard
from modelarena.rating.data import Filters, Selection


def describe(board: Leaderboard) -> str:
    """One line saying how the ratings were computed."""
    config = board.config
    if config.method == "elo":
        method = f"online Elo (K={config.k:g})"
    else:
        ties = {"half": "ties ½", "drop": "ties dropped"}.get(config.ties, f"{config.ties} ties")
        method = f"Bradley–Terry, {ties}"
        if config.l2:
            method += f", L2 {config.l2:g}"
        if config.style_control:
            method += ", style control"
        if config.reweight:
            method += ", reweighted pairs"
    if config.ci == "none":
        ci = "no intervals"
    elif config.ci == "bootstrap":
        ci = f"{config.level:.0%} bootstrap intervals ({config.rounds} rounds)"
    else:
        ci = f"{config.level:.0%} sandwich intervals"
    anchor = ""
    if board.anchored and config.anchor:
        anchor = f", {board.anchored} fixed at {config.anchor.rating:g}"
        if board.parts:
            anchor += f" (other groups average {config.init:g})"
    battles = f"{board.num_battles.sum() / 2:,.0f} battles, {len(board.models)} models"
    if board.parts:
        battles += f" in {len(board.parts)} groups rated separately"
    return f"{method}; {ci}{anchor}; {battles}"


def coefficient_lines(board: Leaderboard) -> list[str]:
    """Style coefficients and tie parameter, one per line (each group's, named, if grouped)."""
    if board.parts:
        return [
            f"group {number}: {line}"
            for number, part in enumerate(board.parts, start=1)
            for line in coefficient_lines(part)
        ]
    lines = []
    for coefficient in (*board.style, *([board.tie] if board.tie else [])):
        interval = ""
        if math.isfinite(coefficient.lower):
            interval = f"  [{coefficient.lower:.4f}, {coefficient.upper:.4f}]"
        lines.append(f"{coefficient.name}: {coefficient.value:.4f}{interval}")
    return lines


def render_text(board: Leaderboard, fmt: str, meta: dict[str, dict[str, str]] | None = None) -> str:
    """The leaderboard as JSON (a list of objects), CSV or Markdown text."""
    records = board.records(meta)
    if fmt == "json":
        return to_json(records)
    columns = list(records[0])
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return buffer.getvalue()
    if fmt == "markdown":
        return _markdown(board, meta)
    raise ValueError(f"unknown format {fmt!r}")


def sections(board: Leaderboard) -> list[tuple[str | None, list[int], list[str]]]:
    """(title, row indices, coefficient lines) of each section of the table.

    One untitled section, or one per group of a board rated group by group.
    """
    if board.group is None:
        return [(None, list(range(len(board.models))), coefficient_lines(board))]
    return [
        (
            f"Group {number} ({len(part.models)} models)",
            [index for index, group in enumerate(board.group) if group == number],
            coefficient_lines(part),
        )
        for number, part in enumerate(board.parts, start=1)
    ]


def _interval(board: Leaderboard, index: int) -> str:
    """`+up/-down` around the rating; ∞ for an unbounded side, – without intervals."""
    lower, upper = board.ci_lower[index], board.ci_upper[index]
    if math.isnan(lower) or math.isnan(upper):
        return "–"
    rating = board.rating[index]
    up = "∞" if math.isinf(upper) else f"{upper - rating:.0f}"
    down = "∞" if math.isinf(lower) else f"{rating - lower:.0f}"
    return f"+{up}/-{down}"


def cells(
    board: Leaderboard, meta: dict[str, dict[str, str]] | None = None
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the human-readable table (terminal, Markdown, HTML)."""
    header = [
        "Rank",
        "UB",
        "Model",
        "Rating",
        f"{board.config.level:.0%} CI",
        "Battles",
        "Win rate",
    ]
    if meta is not None:
        header += ["Organization", "License"]
    rows = []
    for index, model in enumerate(board.models):
        row = [
            str(board.rank[index]),
            str(board.rank_upper[index]),
            model,
            f"{board.rating[index]:.0f}",
            _interval(board, index),
            f"{board.num_battles[index]:,.0f}",
            f"{board.win_rate[index]:.1%}",
        ]
        if meta is not None:
            info = meta.get(model, {})
            row += [info.get("organization", ""), info.get("license", "")]
        rows.append(row)
    return header, rows


def _markdown(board: Leaderboard, meta: dict[str, dict[str, str]] | None) -> str:
    header, rows = cells(board, meta)
    lines = [f"<!-- {describe(board)} -->"]
    lines += [f"> **Warning:** {warning}" for warning in board.warnings]
    for title, indices, extra in sections(board):
        if title is not None:
            lines += ["", f"### {title}", ""]
        elif board.warnings:
            lines.append("")
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(" --- " for _ in header) + "|")
        for index in indices:
            cell_text = (cell.replace("|", "\\|") for cell in rows[index])
            lines.append("| " + " | ".join(cell_text) + " |")
        if extra:
            lines += ["", *[f"- {line}" for line in extra]]
    return "\n".join(lines) + "\n"


# Columns of text: they give way when the terminal is narrow; the numbers never do.
_TEXT_COLUMNS = ("Model", "Organization", "License")
_GAP = 2  # spaces between two columns of the terminal table


def table(board: Leaderboard, meta: dict[str, dict[str, str]] | None = None) -> Any:
    """The leaderboard for a terminal: a Rich renderable that fits the width it is shown at.

    Headers stay whole and numbers are never cut. When the width is short, long model
    names (organisations, licences) keep their start and their end around "…", so versions
    and dates stay visible. The title names the preset, if any, and the method, broken into
    lines at its semicolons; coefficients go in the caption. A board rated group by group
    gives its description, then one table per group.
    """
    return _TerminalTable(board, meta)


class _TerminalTable:
    """Builds the tables when Rich renders them, for the width it renders them at."""

    def __init__(self, board: Leaderboard, meta: dict[str, dict[str, str]] | None) -> None:
        self.board = board
        self.meta = meta

    def __rich_console__(self, console: Any, options: Any) -> Any:
        yield from _tables(self.board, self.meta, options.max_width)


def _tables(board: Leaderboard, meta: dict[str, dict[str, str]] | None, width: int) -> list:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    header, rows = cells(board, meta)
    widths = _widths(header, rows, width)
    fitted = [
        [
            _shorten(cell, size) if name in _TEXT_COLUMNS else cell
            for cell, size, name in zip(row, widths, header, strict=True)
        ]
        for row in rows
    ]
    table_width = sum(widths) + _GAP * (len(widths) - 1)
    heading = _heading(board)
    grids: list[Any] = []
    for title, indices, extra in sections(board):
        # Text, not markup: model names may hold square brackets.
        grid = Table(
            title=Text(_lines([title] if title else heading, table_width)),
            caption=Text("\n".join(extra)) if extra else None,
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
        )
        for name, size in zip(header, widths, strict=True):
            left = name in _TEXT_COLUMNS
            grid.add_column(name, justify="left" if left else "right", width=size, no_wrap=True)
        for index in indices:
            grid.add_row(*map(Text, fitted[index]))
        grids.append(grid)
    if board.group is None:
        return grids
    return [Text(_lines(heading, width), justify="center"), *grids]


def _widths(header: list[str], rows: list[list[str]], width: int) -> list[int]:
    """Each column's width: numbers and headers whole; the text columns share the rest,
    the narrow ones whole and the wide ones cut to a common width (twice that for Model)."""
    natural = [max([len(name)] + [len(row[i]) for row in rows]) for i, name in enumerate(header)]
    weight = {
        i: 2 if name == "Model" else 1 for i, name in enumerate(header) if name in _TEXT_COLUMNS
    }
    room = width - _GAP * (len(header) - 1)
    room -= sum(size for i, size in enumerate(natural) if i not in weight)
    widths = list(natural)
    waiting = sorted(weight, key=lambda i: natural[i] / weight[i])
    while waiting:
        i = waiting.pop(0)
        share = room * weight[i] // (weight[i] + sum(weight[j] for j in waiting))
        share = min(share, room - sum(len(header[j]) for j in waiting))  # their headers whole
        widths[i] = max(len(header[i]), min(natural[i], share))
        room -= widths[i]
    return widths


def _shorten(text: str, width: int) -> str:
    """`text` in at most `width` characters: its start and its end around "…" if too long."""
    if len(text) <= width:
        return text
    end = (width - 1) // 2
    return text[: width - 1 - end] + "…" + (text[-end:] if end else "")


def _heading(board: Leaderboard) -> list[str]:
    """The parts of the table's title: the preset (and what was changed of it), if any,
    then the description, each part ending where a line may break."""
    parts = describe(board).split("; ")
    parts = [part + ";" for part in parts[:-1]] + parts[-1:]
    if board.config.name != "custom":
        parts.insert(0, f"{board.config.name}:")
    return parts


def _lines(parts: list[str], width: int) -> str:
    """The parts on as few lines of at most `width` as they fit (a longer part keeps a line
    of its own, for Rich to wrap)."""
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + 1 + len(part) <= width:
            lines[-1] += " " + part
        else:
            lines.append(part)
    return "\n".join(lines)


def manifest(
    board: Leaderboard,
    selection: Selection,
    filters: Filters,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything needed to reproduce `board`: input, filters and their counts, settings."""
    from modelarena import __version__

    config = asdict(board.config)
    removed = [{"filter": name, "battles": count} for name, count in selection.removed]
    if board.config.ties == "drop":
        removed.append({"filter": "ties (--ties drop)", "battles": board.ties_dropped})
    return {
        "modelarena_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "input": source or {},
        "rows_read": selection.rows_read,
        "filters": asdict(filters),
        "removed": removed,
        "battles_used": len(selection.battles) - board.ties_dropped,
        "models": len(board.models),
        "settings": config,
        "warnings": list(board.warnings),
        **_fitted(board),
        **({"groups": _groups(board)} if board.parts else {}),
    }


def _fitted(board: Leaderboard) -> dict[str, Any]:
    return {
        "anchored_model": board.anchored,
        "bootstrap_unconverged_rounds": board.bootstrap_unconverged,
        "style_coefficients": [asdict(c) for c in board.style],
        "tie_parameter": None if board.tie is None else asdict(board.tie),
    }


def _groups(board: Leaderboard) -> list[dict[str, Any]]:
    """Each group's models and fitted coefficients, for a board rated group by group."""
    return [
        {"group": number, "models": list(part.models), **_fitted(part)}
        for number, part in enumerate(board.parts, start=1)
    ]


def to_json(value: Any) -> str:
    """JSON text with NaN and infinities written as null (strict JSON)."""
    return json.dumps(_finite(value), indent=2, ensure_ascii=False) + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value

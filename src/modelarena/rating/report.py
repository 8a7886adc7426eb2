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


def table(board: Leaderboard, meta: dict[str, dict[str, str]] | None = None) -> Any:
    """A Rich Table of the leaderboard, with coefficients in its caption.

    A board rated group by group gives a renderable group: its description, then one
    table per group.
    """
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    # Text, not markup: model names may hold square brackets.
    header, rows = cells(board, meta)
    grids = []
    for title, indices, extra in sections(board):
        caption = "\n".join(extra)
        grid = Table(
            title=Text(title or describe(board)), caption=Text(caption) if caption else None
        )
        for name in header:
            left = name in ("Model", "Organization", "License")
            grid.add_column(name, justify="left" if left else "right", overflow="fold")
        for index in indices:
            grid.add_row(*map(Text, rows[index]))
        grids.append(grid)
    if board.group is None:
        return grids[0]
    return Group(Text(describe(board), justify="center"), *grids)


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

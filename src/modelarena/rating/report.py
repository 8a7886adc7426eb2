"""Leaderboard output: Rich terminal table, JSON, CSV and Markdown text, and the manifest.

The manifest records input hash, filter counts, settings and version so a board can be redone.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from modelarena.rating.data import Filters, Selection
from modelarena.rating.leaderboard import Leaderboard


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
    anchor = (
        f", {board.anchored} fixed at {config.anchor.rating:g}"
        if board.anchored and config.anchor
        else ""
    )
    battles = f"{board.num_battles.sum() / 2:,.0f} battles, {len(board.models)} models"
    return f"{method}; {ci}{anchor}; {battles}"


def coefficient_lines(board: Leaderboard) -> list[str]:
    """Style coefficients and tie parameter, one per line."""
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
    lines = [f"<!-- {describe(board)} -->", "| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join(" --- " for _ in header) + "|")
    for row in rows:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    extra = coefficient_lines(board)
    if extra:
        lines += ["", *[f"- {line}" for line in extra]]
    return "\n".join(lines) + "\n"


def table(board: Leaderboard, meta: dict[str, dict[str, str]] | None = None) -> Any:
    """A Rich Table of the leaderboard, with coefficients in its caption."""
    from rich.table import Table
    from rich.text import Text

    # Text, not markup: model names may hold square brackets.
    header, rows = cells(board, meta)
    caption = "\n".join(coefficient_lines(board))
    grid = Table(title=Text(describe(board)), caption=Text(caption) if caption else None)
    for name in header:
        left = name in ("Model", "Organization", "License")
        grid.add_column(name, justify="left" if left else "right", overflow="fold")
    for row in rows:
        grid.add_row(*map(Text, row))
    return grid


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
        "anchored_model": board.anchored,
        "bootstrap_unconverged_rounds": board.bootstrap_unconverged,
        "style_coefficients": [asdict(c) for c in board.style],
        "tie_parameter": None if board.tie is None else asdict(board.tie),
    }


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

"""Self-contained HTML report of a leaderboard: table, Plotly charts and the manifest.

plotly.js is embedded in the page, so the report works offline and from a file. A board rated
group by group gets one table per group and its ratings chart one series per group.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from modelarena.rating.board import Leaderboard
from modelarena.rating.report import cells, coefficient_lines, describe, sections, to_json

# Heatmaps show the best models only; beyond ~40 rows the cells are unreadable.
HEATMAP_MODELS = 40
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #ddd; text-align: right; }
td:nth-child(3), th:nth-child(3) { text-align: left; }
pre { background: #f6f6f6; padding: 1rem; overflow-x: auto; font-size: 0.8rem; }
.note { color: #555; }
.warning { color: #8a4b00; font-weight: 600; }
"""


def render_html(
    board: Leaderboard,
    manifest: dict[str, Any] | None = None,
    meta: dict[str, dict[str, str]] | None = None,
    title: str = "modelarena leaderboard",
) -> str:
    """The report page as a string (about 5 MB: it embeds plotly.js)."""
    import plotly.io as pio

    figures = [_ratings_figure(board), *_heatmaps(board)]
    charts = [
        pio.to_html(figure, include_plotlyjs=index == 0, full_html=False)
        for index, figure in enumerate(figures)
    ]
    coefficients = "".join(f"<li>{html.escape(line)}</li>" for line in coefficient_lines(board))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{html.escape(describe(board))}</p>',
        *(f'<p class="warning">Warning: {html.escape(text)}</p>' for text in board.warnings),
        _table_html(board, meta),
        f"<h2>Coefficients</h2><ul>{coefficients}</ul>" if coefficients else "",
        "<h2>Charts</h2>",
        *charts,
    ]
    if manifest is not None:
        parts.append("<h2>Manifest</h2><pre>" + html.escape(to_json(manifest)) + "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(
    board: Leaderboard,
    path: str | Path,
    manifest: dict[str, Any] | None = None,
    meta: dict[str, dict[str, str]] | None = None,
) -> None:
    """Write the report page to `path`."""
    Path(path).write_text(render_html(board, manifest, meta), encoding="utf-8")


def _table_html(board: Leaderboard, meta: dict[str, dict[str, str]] | None) -> str:
    """The table, or one titled table per group of a board rated group by group."""
    header, rows = cells(board, meta)
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    parts = []
    for title, indices, _ in sections(board):
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in rows[index]) + "</tr>"
            for index in indices
        )
        if title is not None:
            parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    return "\n".join(parts)


def _ratings_figure(board: Leaderboard) -> Any:
    """Ratings with interval bars; one series per group of a board rated group by group."""
    import plotly.graph_objects as go

    has_intervals = bool((~np.isnan(board.ci_lower)).any())
    up, down = board.ci_upper - board.rating, board.rating - board.ci_lower
    notes = [""] * len(board.models)
    if has_intervals:
        # An unbounded side is drawn past every finite bound and named in the hover text.
        bounded = np.r_[up[np.isfinite(up)], down[np.isfinite(down)], 0.0]
        reach = 2.0 * bounded.max() + 1.0
        notes = []
        for high, low in zip(np.isinf(up), np.isinf(down), strict=True):
            sides = [name for name, wide in (("above", high), ("below", low)) if wide]
            notes.append("<br>interval unbounded " + " and ".join(sides) if sides else "")
        up, down = np.where(np.isinf(up), reach, up), np.where(np.isinf(down), reach, down)
    figure = go.Figure()
    for title, indices, _ in sections(board):
        error = None
        if has_intervals:
            error = {
                "type": "data",
                "symmetric": False,
                "array": up[indices],
                "arrayminus": down[indices],
            }
        figure.add_trace(
            go.Scatter(
                x=[board.models[index] for index in indices],
                y=board.rating[indices],
                mode="markers",
                name=title or "",
                error_y=error,
                hovertext=[notes[index] for index in indices],
                hovertemplate="%{x}<br>rating %{y:.1f}%{hovertext}<extra></extra>",
            )
        )
    figure.update_layout(
        title="Ratings with 95% intervals" if has_intervals else "Ratings",
        xaxis_title="model",
        yaxis_title="rating",
        height=520,
        showlegend=board.group is not None,
    )
    return figure


def _heatmaps(board: Leaderboard) -> list[Any]:
    import plotly.graph_objects as go

    top = min(HEATMAP_MODELS, len(board.models))
    names = list(board.models[:top])
    shown = f" (top {top} of {len(board.models)})" if top < len(board.models) else ""
    figures = []
    for matrix, title, scale, text in (
        (board.observed, "Observed win rate of row vs column (ties ½)", "RdBu", ".2f"),
        (board.predicted, "Predicted win rate of row vs column", "RdBu", ".2f"),
        (board.battle_counts, "Battles between models", "Blues", ".0f"),
    ):
        values = matrix[:top, :top]
        figure = go.Figure(
            go.Heatmap(
                z=values,
                x=names,
                y=names,
                colorscale=scale,
                texttemplate="%{z:" + text + "}",
                hovertemplate="%{y} vs %{x}: %{z:" + text + "}<extra></extra>",
            )
        )
        figure.update_layout(
            title=title + shown,
            height=max(420, 22 * top + 200),
            yaxis_autorange="reversed",
            xaxis_side="top",
        )
        figures.append(figure)
    return figures

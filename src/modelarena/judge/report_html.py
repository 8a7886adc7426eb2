"""The `judge show --html` page: the report's tables and Plotly charts, with plotly.js from
the `plotly` package embedded in the page (works offline, from a file)."""

from __future__ import annotations

import html
from typing import Any

from modelarena.judge.report import Report, columns_of, format_cell, score_title

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; font-size: 0.9rem; margin-bottom: 1.5rem; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #ddd; text-align: right; }
td:first-child, th:first-child { text-align: left; }
.note { color: #555; }
"""


def render_html(report: Report, title: str = "modelarena judge report") -> str:
    """The whole page as a string (a few MB: it embeds plotly.js once)."""
    import plotly.io as pio

    sections: list[tuple[str, list[dict[str, Any]], Any]] = []
    if report.grades:
        sections.append(("Grades (1–10)", report.grades, _grades_figure(report)))
        if len(report.categories[0]) > 1:  # some category has a graded answer
            sections.append(("Grades by category", report.categories, _category_figure(report)))
    if report.win_rates:
        sections.append(("Pairwise win rates", report.win_rates, _win_rate_figure(report)))
    if report.score:
        sections.append((score_title(report.score), report.score["rows"], _score_figure(report)))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">Judge: {html.escape(report.judge)} · '
        + " · ".join(f"{html.escape(k.replace('_', ' '))}: {v}" for k, v in report.counts.items())
        + "</p>",
    ]
    for index, (heading, rows, figure) in enumerate(sections):
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(_table(rows))
        parts.append(pio.to_html(figure, include_plotlyjs=index == 0, full_html=False))
    parts.append("</body></html>")
    return "\n".join(parts)


def _table(rows: list[dict[str, Any]]) -> str:
    columns = columns_of(rows)
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(format_cell(c, row.get(c)))}</td>" for c in columns)
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _grades_figure(report: Report) -> Any:
    import plotly.graph_objects as go

    models = [row["model"] for row in report.grades]
    columns = [c for c in report.grades[0] if c.startswith("turn_")] + ["overall"]
    figure = go.Figure(
        [
            go.Bar(
                name=column.replace("_", " "),
                x=models,
                y=[row.get(column) for row in report.grades],
            )
            for column in columns
        ]
    )
    return figure.update_layout(barmode="group", yaxis={"title": "mean grade", "range": [0, 10]})


def _category_figure(report: Report) -> Any:
    import plotly.graph_objects as go

    categories = [c for c in report.categories[0] if c != "model"]
    figure = go.Figure(
        [
            go.Scatterpolar(
                name=row["model"],
                fill="toself",
                r=[row.get(c) or 0 for c in categories] + [row.get(categories[0]) or 0],
                theta=categories + categories[:1],
            )
            for row in report.categories
        ]
    )
    return figure.update_layout(polar={"radialaxis": {"range": [0, 10]}})


def _win_rate_figure(report: Report) -> Any:
    import plotly.graph_objects as go

    rows = report.win_rates
    models = [row["model"] for row in rows]
    figure = go.Figure(
        [
            go.Bar(name=name, x=models, y=[row[name] for row in rows])
            for name in ("wins", "ties", "losses")
        ]
    )
    return figure.update_layout(barmode="stack", yaxis={"title": "pairs"})


def _score_figure(report: Report) -> Any:
    import plotly.graph_objects as go

    score = report.score or {}
    rows = score["rows"]
    key, low, high = (
        ("score", "score_lower", "score_upper")
        if score["baseline"]
        else ("rating", "ci_lower", "ci_upper")
    )
    scale = 100.0 if score["baseline"] else 1.0
    values, errors_up, errors_down = [], [], []
    for row in rows:
        value = row[key] * scale
        values.append(value)
        # An unbounded side (None) draws no bar rather than an infinite one.
        errors_up.append(row[high] * scale - value if row[high] is not None else 0.0)
        errors_down.append(value - row[low] * scale if row[low] is not None else 0.0)
    figure = go.Figure(
        go.Scatter(
            x=[row["model"] for row in rows],
            y=values,
            mode="markers",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": errors_up,
                "arrayminus": errors_down,
            },
        )
    )
    axis = "win rate against the baseline (%)" if score["baseline"] else "rating"
    return figure.update_layout(yaxis={"title": axis})

"""`judge show`: MT-Bench grade tables, pairwise win rates and an Arena-Hard-style score
(Bradley–Terry over the games through the rating engine, bootstrap intervals, optional
style control), as one Report rendered to terminal tables or JSON."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from modelarena.judge import outcomes
from modelarena.judge.errors import JudgeError
from modelarena.judge.judgments import PAIRWISE

ANCHOR_RATING = 1000.0


@dataclass
class Report:
    """Everything `judge show` prints; rows are plain dicts, best model first."""

    judge: str
    grades: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    win_rates: list[dict[str, Any]] = field(default_factory=list)
    score: dict[str, Any] | None = None
    counts: dict[str, int] = field(default_factory=dict)


def build_report(
    records: list[dict[str, Any]],
    *,
    judge: str | None = None,
    baseline: str | None = None,
    strong_weight: int = 3,
    style_control: bool = False,
    rounds: int = 100,
    seed: int = 0,
    l2: float = 0.0,
) -> Report:
    """Tables of one judge's judgments (`judge` picks one when the records hold several)."""
    judges = sorted({r["judge"] for r in records})
    if judge is None and len(judges) > 1:
        raise JudgeError(
            f"judgments from several judges ({', '.join(judges)}); pick one with --judge"
        )
    judge = judge or judges[0]
    if judge not in judges:
        raise JudgeError(f"no judgments by {judge!r}; judges: {', '.join(judges)}")
    records = [r for r in records if r["judge"] == judge]
    report = Report(judge)
    grades = pd.DataFrame(outcomes.grades(records))
    if not grades.empty:
        report.grades, report.categories = _grade_tables(grades)
    pairs = outcomes.pairs(records)
    if pairs:
        report.win_rates = _win_rates(pairs)
    games = [r for r in records if r["kind"] == PAIRWISE]
    battles = outcomes.battles(records, strong_weight)
    if battles:
        report.score = _score(battles, baseline, strong_weight, style_control, rounds, seed, l2)
    status = Counter(p["status"] for p in pairs)
    report.counts = {
        "grades": len(grades),
        "grade_parse_failures": int(grades["score"].isna().sum()) if len(grades) else 0,
        "games": len(games),
        "game_parse_failures": sum(r.get("verdict") is None for r in games),
        **{
            f"pairs_{name}": status.get(name, 0)
            for name in (
                outcomes.CONSISTENT,
                outcomes.INCONSISTENT,
                outcomes.FAILED,
                outcomes.INCOMPLETE,
            )
        },
    }
    return report


def _grade_tables(grades: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    models = sorted(grades["model"].unique())
    graded = grades.dropna(subset=["score"])
    table = graded.pivot_table(
        index="model", columns="turn", values="score", aggfunc="mean"
    ).reindex(models)
    table.columns = [f"turn_{turn}" for turn in table.columns]
    by_model = graded.groupby("model")["score"]
    table["overall"] = by_model.mean().reindex(models)
    table["graded"] = by_model.size().reindex(models, fill_value=0)
    table["failures"] = grades["score"].isna().groupby(grades["model"]).sum().reindex(models)
    table = table.sort_values("overall", ascending=False, na_position="last")
    by_category = graded.pivot_table(
        index="model", columns="category", values="score", aggfunc="mean"
    ).reindex(table.index)
    return _rows(table), _rows(by_category)


def _win_rates(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tally: dict[str, Counter] = {}
    for pair in pairs:
        for model in (pair["model_1"], pair["model_2"]):
            counts = tally.setdefault(model, Counter())
            if pair["winner"] is None:
                counts[pair["status"]] += 1
            elif pair["winner"] == "tie":
                counts["ties"] += 1
                counts["inconsistent"] += pair["status"] == outcomes.INCONSISTENT
            else:
                counts["wins" if pair["winner"] == model else "losses"] += 1
    rows = []
    for model, counts in tally.items():
        decided = counts["wins"] + counts["losses"] + counts["ties"]
        rows.append(
            {
                "model": model,
                "wins": counts["wins"],
                "losses": counts["losses"],
                "ties": counts["ties"],
                "inconsistent": counts["inconsistent"],
                "failed": counts[outcomes.FAILED],
                "incomplete": counts[outcomes.INCOMPLETE],
                "win_rate": (counts["wins"] + counts["ties"] / 2) / decided if decided else None,
            }
        )
    return sorted(rows, key=lambda r: (r["win_rate"] is None, -(r["win_rate"] or 0)))


def _score(
    battles: list[dict[str, Any]],
    baseline: str | None,
    strong_weight: int,
    style_control: bool,
    rounds: int,
    seed: int,
    l2: float,
) -> dict[str, Any]:
    from modelarena.rating import Anchor, Filters, RatingConfig, RatingError, rate, select_battles

    models = {b["model_a"] for b in battles} | {b["model_b"] for b in battles}
    if baseline is None:
        baseline = _implied_baseline(battles, models)
    elif baseline not in models:
        raise JudgeError(
            f"baseline {baseline!r} is in no game; models: {', '.join(sorted(models))}"
        )
    if style_control and any(b["conv_metadata"] is None for b in battles):
        raise JudgeError("style control needs conv_metadata, which these judgments lack")
    unused = {"baseline"} if style_control else {"baseline", "conv_metadata"}
    battles = [{k: v for k, v in b.items() if k not in unused} for b in battles]
    try:
        selection = select_battles(
            battles, Filters(anonymous_only=False), style_control=style_control
        )
        board = rate(
            selection.battles,
            RatingConfig(
                ci="bootstrap" if rounds else "none",
                rounds=max(rounds, 1),
                seed=seed,
                style_control=style_control,
                l2=l2,
                anchor=Anchor(baseline, ANCHOR_RATING) if baseline else None,
            ),
        )
    except RatingError as exc:
        raise JudgeError(f"cannot fit scores to these verdicts: {exc}") from None
    rows = []
    for row in board.records():
        row = {k: row[k] for k in ("model", "rating", "ci_lower", "ci_upper", "num_battles")}
        if baseline:
            row["score"] = _expected_score(row["rating"])
            row["score_lower"] = _expected_score(row["ci_lower"], unbounded=0.0)
            row["score_upper"] = _expected_score(row["ci_upper"], unbounded=1.0)
        rows.append(row)
    return {
        "baseline": baseline,
        "strong_weight": strong_weight,
        "style_control": style_control,
        "bootstrap_rounds": rounds,
        "l2": l2,
        "rows": rows,
        "style": [asdict(c) for c in board.style],
    }


def _implied_baseline(battles: list[dict[str, Any]], models: set[str]) -> str | None:
    """The baseline `judge run --mode pairwise-baseline` recorded, else the one model that
    is in every game (when there is exactly one)."""
    recorded = {b["baseline"] for b in battles if b["baseline"]}
    if len(recorded) == 1 and recorded <= models:
        return recorded.pop()
    common = [m for m in models if all(m in (b["model_a"], b["model_b"]) for b in battles)]
    return common[0] if len(common) == 1 else None


def _expected_score(rating: float | None, unbounded: float | None = None) -> float | None:
    """Expected score against the baseline (anchored at ANCHOR_RATING; base 10, scale
    400); a rating without a finite value (an unbounded interval side) gives `unbounded`."""
    if rating is None:
        return unbounded
    return 1.0 / (1.0 + 10 ** ((ANCHOR_RATING - rating) / 400.0))


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for model, values in frame.iterrows():
        row: dict[str, Any] = {"model": model}
        for name, value in values.items():
            row[str(name)] = (
                None
                if pd.isna(value)
                else (int(value) if name in ("graded", "failures") else float(value))
            )
        rows.append(row)
    return rows


def to_json(report: Report) -> str:
    """The report as indented JSON: the same numbers, full precision."""
    return json.dumps(asdict(report), indent=2, ensure_ascii=False)


def print_report(report: Report, console: Console) -> None:
    """The report as Rich tables."""
    console.print(f"[bold]Judge:[/bold] {report.judge}")
    if report.grades:
        _print_rows(console, "MT-Bench grades (1–10)", report.grades)
        _print_rows(console, "Grades by category", report.categories)
    if report.win_rates:
        _print_rows(
            console,
            "Pairwise win rates (ties ½; order-dependent verdicts are ties)",
            report.win_rates,
        )
    if report.score:
        score = report.score
        _print_rows(console, score_title(score), score["rows"])
        for coefficient in score["style"]:
            console.print(f"style coefficient {coefficient['name']}: {coefficient['value']:+.3f}")
    console.print(
        " · ".join(f"{name.replace('_', ' ')}: {value}" for name, value in report.counts.items())
    )


def score_title(score: dict[str, Any]) -> str:
    """The heading of the scores: what they are against, and whether style-controlled."""
    title = "Bradley–Terry scores"
    if score["baseline"]:
        title += f": win rate against {score['baseline']}"
    return title + (" (style-controlled)" if score["style_control"] else "")


def columns_of(rows: list[dict[str, Any]]) -> list[str]:
    """Every key of the rows, in order of first appearance: a table's columns."""
    return list(dict.fromkeys(key for row in rows for key in row))


def _print_rows(console: Console, title: str, rows: list[dict[str, Any]]) -> None:
    table = Table(title=title, title_justify="left")
    columns = columns_of(rows)
    for column in columns:
        table.add_column(column.replace("_", " "), justify="left" if column == "model" else "right")
    for row in rows:
        table.add_row(*(format_cell(column, row.get(column)) for column in columns))
    console.print(table)


def format_cell(column: str, value: Any) -> str:
    """A value as a table shows it: rates in %, ratings whole, other numbers to 2 places."""
    if value is None:
        return "–"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "∞" if value > 0 else "-∞"
        if column.startswith(("score", "win_rate")):
            return f"{100 * value:.1f}%"
        return f"{value:.0f}" if column.startswith(("rating", "ci_")) else f"{value:.2f}"
    return str(value)

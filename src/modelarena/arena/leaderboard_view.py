"""What the leaderboard page and its downloads show: one category's board from the live
snapshot, style-controlled or raw, narrowed by the reader's filters, each row marked
preliminary or not, with the pairwise matrices and each model's rank in every category.

The page, its JSON and its CSV all go through `view`, so a shared link, the table on
screen and a download always hold the same models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelarena.arena.leaderboard_fit import Board, Snapshot
from modelarena.config import ArenaSettings

# Parameter-count classes of the size filter: [low, high) in parameters.
SIZES: dict[str, tuple[float, float]] = {
    "<1B": (0, 1e9),
    "1-10B": (1e9, 1e10),
    "10-100B": (1e10, 1e11),
    ">100B": (1e11, math.inf),
}
WAITING = (
    "These are the raw ratings (without style control) for now: the style-controlled "
    "ones are being computed and will replace them by themselves."
)
FALLBACK = (
    "Too few votes yet to separate style from quality, so these are the raw ratings "
    "(without style control)."
)


class LeaderboardQuery(BaseModel):
    """The reader's choices: a category, style control, and filters (all optional)."""

    model_config = ConfigDict(extra="forbid")

    category: str = "all"
    style: bool = Field(True, description="style-controlled ratings (false: raw)")
    organization: str | None = Field(None, max_length=200)
    license: str | None = Field(None, max_length=200, description="one licence, exactly")
    license_type: Literal["open", "proprietary", "unknown"] | None = None
    size: Literal["<1B", "1-10B", "10-100B", ">100B", "unknown"] | None = None
    min_votes: int = Field(0, ge=0)
    search: str | None = Field(None, max_length=200, description="part of a model's name")
    deprecated: bool = Field(False, description="include retired models")
    score: str | None = Field(None, max_length=200, description="a benchmark to filter on")
    score_min: float | None = Field(None, description="its least score")

    @model_validator(mode="after")
    def _score_named(self) -> LeaderboardQuery:
        if self.score_min is not None and not self.score:
            raise ValueError("score_min needs score: the benchmark it applies to")
        return self


@dataclass(frozen=True)
class View:
    board: Board
    style_control: bool
    message: str | None
    rows: list[dict[str, Any]]
    positions: list[int]  # each shown row's position in the board


def license_type(license: str | None) -> str:
    """'proprietary' for a licence named so, 'unknown' for none, else 'open' (weights)."""
    if not license or not license.strip():
        return "unknown"
    return "proprietary" if "proprietary" in license.lower() else "open"


def size_class(parameters: int | None) -> str:
    if not parameters:
        return "unknown"
    return next(name for name, (low, high) in SIZES.items() if low <= parameters < high)


def preliminary(row: dict[str, Any], settings: ArenaSettings) -> bool:
    """Too few votes, or an interval too wide, for the rating to be more than a first look."""
    low, high = row.get("ci_lower"), row.get("ci_upper")
    if low is None or high is None:
        return True
    return (
        row["num_battles"] < settings.leaderboard_preliminary_votes
        or (high - low) / 2 > settings.leaderboard_preliminary_interval
    )


def select(snapshot: Snapshot, query: LeaderboardQuery, settings: ArenaSettings) -> View:
    """The board the query asks for (raw when style control cannot be fitted yet) and its
    rows that pass the filters, each with `preliminary` and `license_type`."""
    board = snapshot.board(query.category, style=query.style)
    style_control, message = query.style, board.message
    if query.style and not board.rows:
        raw = snapshot.board(query.category)
        if raw.rows:
            waiting = not snapshot.styled
            board, style_control, message = raw, False, WAITING if waiting else FALLBACK
    rows, positions = [], []
    for position, row in enumerate(board.rows):
        if _passes(row, query):
            extra = {"preliminary": preliminary(row, settings)}
            rows.append(row | extra | {"license_type": license_type(row.get("license"))})
            positions.append(position)
    return View(board, style_control, message, rows, positions)


def _passes(row: dict[str, Any], query: LeaderboardQuery) -> bool:
    name = f"{row['model']} {row.get('display_name') or ''}".lower()
    score = row.get("scores", {}).get(query.score) if query.score else None
    return (
        (query.deprecated or not row.get("deprecated"))
        and (not query.organization or row.get("organization") == query.organization)
        and (not query.license or row.get("license") == query.license)
        and (not query.license_type or license_type(row.get("license")) == query.license_type)
        and (not query.size or size_class(row.get("parameters")) == query.size)
        and row["num_battles"] >= query.min_votes
        and (not query.search or query.search.strip().lower() in name)
        and (not query.score or score is not None)
        and (query.score_min is None or score is None or score >= query.score_min)
    )


def view(snapshot: Snapshot, query: LeaderboardQuery, settings: ArenaSettings) -> dict[str, Any]:
    """The page's JSON: the selected board, its shown rows, the pairwise matrices and the
    category overview of those rows, what can be chosen, and when it was computed."""
    shown = select(snapshot, query, settings)
    pairs = {
        name: [[matrix[i][j] for j in shown.positions] for i in shown.positions]
        for name, matrix in shown.board.pairs.items()
    }
    models = [row["model"] for row in shown.rows]
    return {
        "category": query.category,
        "categories": [
            {"name": name, "battles": board.battles} for name, board in snapshot.boards.items()
        ],
        "style_control": shown.style_control,
        "computed_at": snapshot.computed_at,
        "votes": snapshot.votes,
        "battles": shown.board.battles,
        "models": len(shown.board.rows),
        "benchmarks": snapshot.benchmarks,
        "message": shown.message,
        "coefficients": shown.board.coefficients if shown.style_control else [],
        "rules": {
            "preliminary_votes": settings.leaderboard_preliminary_votes,
            "preliminary_interval": settings.leaderboard_preliminary_interval,
        },
        "choices": _choices(snapshot.board("all", style=query.style).rows or shown.board.rows),
        "rows": shown.rows,
        "pairs": {"models": models, **pairs},
        "overview": _overview(snapshot, models, shown.style_control),
    }


def _choices(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The values the organization and licence filters offer (of every rated model)."""
    return {
        key: sorted({str(row[key]) for row in rows if row.get(key)})
        for key in ("organization", "license")
    }


def _overview(snapshot: Snapshot, models: list[str], style: bool) -> dict[str, Any]:
    """Each shown model's rank (by upper bound) in every category it was rated in (None
    where the category has too few votes for the chosen kind of rating)."""
    ranks: dict[str, dict[str, int | None]] = {model: {} for model in models}
    for name in snapshot.boards:
        board = snapshot.board(name, style=style)
        found = {row["model"]: row["rank_upper"] for row in board.rows}
        for model in models:
            ranks[model][name] = found.get(model)
    return {"categories": list(snapshot.boards), "ranks": ranks}

"""The live leaderboard over HTTP: `/api/leaderboard` (JSON) and `/api/leaderboard.csv`,
both taking the page's choices as query parameters (see leaderboard_view.py), so a
filtered view's link and its downloads agree."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from modelarena.arena import shapes
from modelarena.arena.api import arena
from modelarena.arena.assembly import Arena
from modelarena.arena.leaderboard_fit import Snapshot
from modelarena.arena.leaderboard_view import LeaderboardQuery, select, view
from modelarena.errors import APIError
from modelarena.vocabulary import BUILTIN_CATEGORIES, LABEL_CATEGORIES
from modelarena.web import openapi
from modelarena.web.responses import JSONResponse

router = APIRouter(prefix="/api", responses=openapi.errors(400, 404))
CATEGORIES = ("all", *BUILTIN_CATEGORIES, *LABEL_CATEGORIES)
CSV_COLUMNS = (
    "rank_upper",
    "model",
    "display_name",
    "rating",
    "ci_lower",
    "ci_upper",
    "num_battles",
    "preliminary",
    "group",
    "organization",
    "license",
    "license_type",
    "parameters",
    "context_length",
    "url",
    "deprecated",
)
Choices = Annotated[LeaderboardQuery, Query()]


def _checked(query: LeaderboardQuery, snapshot: Snapshot) -> LeaderboardQuery:
    if query.category not in CATEGORIES:
        raise APIError(
            404,
            f"No leaderboard category {query.category!r}; use one of {', '.join(CATEGORIES)}.",
            param="category",
            code="category_not_found",
        )
    if query.score and snapshot.computed_at and query.score not in snapshot.benchmarks:
        known = ", ".join(snapshot.benchmarks) or "none are imported"
        raise APIError(
            404,
            f"No benchmark score {query.score!r}; the scores are: {known}.",
            param="score",
            code="score_not_found",
        )
    return query


@router.get("/leaderboard", responses={200: {"model": shapes.Leaderboard}})
async def leaderboard(query: Choices, found: Arena = Depends(arena)) -> JSONResponse:
    snapshot = found.leaderboard.snapshot
    return JSONResponse(view(snapshot, _checked(query, snapshot), found.service.settings))


@router.get("/leaderboard.csv", responses=openapi.content("text/csv", "the leaderboard as CSV"))
async def leaderboard_csv(query: Choices, found: Arena = Depends(arena)) -> Response:
    snapshot = found.leaderboard.snapshot
    shown = select(snapshot, _checked(query, snapshot), found.service.settings)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, "style_control", *snapshot.benchmarks])
    for row in shown.rows:
        scores = row.get("scores", {})
        writer.writerow(
            [row.get(c) for c in CSV_COLUMNS]
            + [shown.style_control]
            + [scores.get(b) for b in snapshot.benchmarks]
        )
    kind = "style" if shown.style_control else "raw"
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={
            "Content-Disposition": (
                f'attachment; filename="leaderboard-{query.category}-{kind}.csv"'
            )
        },
    )

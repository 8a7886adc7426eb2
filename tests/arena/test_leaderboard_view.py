"""What the leaderboard page shows of a snapshot: filters, preliminary marks, the raw
boards while the style-controlled ones are computed (or cannot be yet), the pairwise
matrices and the category overview of the shown models only."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from modelarena.arena.leaderboard_fit import Board, Snapshot
from modelarena.arena.leaderboard_view import (
    FALLBACK,
    WAITING,
    LeaderboardQuery,
    license_type,
    size_class,
    view,
)
from modelarena.config import ArenaSettings

SETTINGS = ArenaSettings(leaderboard_preliminary_votes=100, leaderboard_preliminary_interval=30)


def row(model, rank, rating, votes, half, **meta):
    return {
        "model": model,
        "rank_upper": rank,
        "rating": rating,
        "ci_lower": rating - half,
        "ci_upper": rating + half,
        "num_battles": votes,
        "scores": meta.pop("scores", {}),
        **meta,
    }


ROWS = [
    row("big", 1, 1100, 500, 10, license="Proprietary", parameters=2e11, organization="B"),
    row("mid", 1, 1080, 400, 35, license="Apache-2.0", parameters=7e9, scores={"MT": 7.5}),
    row("small", 3, 950, 50, 20, license="MIT", parameters=5e8, scores={"MT": 6.0}),
    row("old", 4, 900, 300, 15, parameters=None, deprecated=True),
]
PAIRS = {"battles": [[None, 1, 2, 3], [1, None, 4, 5], [2, 4, None, 6], [3, 5, 6, None]]}


def snapshot(styled: bool = True, styled_rows: list | None = None) -> Snapshot:
    raw = Board(ROWS, 1250, None, [], PAIRS)
    code = Board(ROWS[1:3], 90)
    style = Board(ROWS if styled_rows is None else styled_rows, 1250, None, [], PAIRS)
    return Snapshot(
        1.0,
        1250,
        {"all": raw, "code": code},
        {"all": style, "code": Board([], 90, "too few")} if styled else {},
        ["MT"],
    )


def shown(**choices) -> list[str]:
    answer = view(snapshot(), LeaderboardQuery(**choices), SETTINGS)
    return [r["model"] for r in answer["rows"]]


def test_licence_types_and_size_classes():
    assert [license_type(x) for x in ("Proprietary", "proprietary (API)", "MIT", None, " ")] == [
        "proprietary",
        "proprietary",
        "open",
        "unknown",
        "unknown",
    ]
    assert [size_class(x) for x in (5e8, 1e9, 7e9, 7e10, 2e11, None)] == [
        "<1B",
        "1-10B",
        "1-10B",
        "10-100B",
        ">100B",
        "unknown",
    ]


def test_filters_each_narrow_the_rows():
    assert shown() == ["big", "mid", "small"]  # deprecated models only when asked
    assert shown(deprecated=True) == ["big", "mid", "small", "old"]
    assert shown(license_type="open") == ["mid", "small"]
    assert shown(license_type="unknown", deprecated=True) == ["old"]
    assert shown(license="MIT") == ["small"]
    assert shown(size="<1B") == ["small"]
    assert shown(size="unknown", deprecated=True) == ["old"]
    assert shown(organization="B") == ["big"]
    assert shown(min_votes=100) == ["big", "mid"]
    assert shown(search="MI") == ["mid"]
    assert shown(score="MT") == ["mid", "small"]
    assert shown(score="MT", score_min=7) == ["mid"]
    with pytest.raises(ValidationError, match="score_min needs score"):
        LeaderboardQuery(score_min=7)
    with pytest.raises(ValidationError):
        LeaderboardQuery(size="huge")
    with pytest.raises(ValidationError):
        LeaderboardQuery(catgory="code")  # a misspelt choice is refused, not ignored


def test_preliminary_matrices_and_overview_follow_the_shown_rows():
    answer = view(snapshot(), LeaderboardQuery(license_type="open"), SETTINGS)
    # "mid": enough votes but ± 35 > 30; "small": too few votes.
    assert [(r["model"], r["preliminary"]) for r in answer["rows"]] == [
        ("mid", True),
        ("small", True),
    ]
    assert view(snapshot(), LeaderboardQuery(), SETTINGS)["rows"][0]["preliminary"] is False
    assert answer["pairs"] == {"models": ["mid", "small"], "battles": [[None, 4], [4, None]]}
    # With style control, "code" has too few votes: a dash (None), not a raw rank.
    assert answer["overview"]["ranks"]["small"] == {"all": 3, "code": None}
    assert answer["categories"] == [
        {"name": "all", "battles": 1250},
        {"name": "code", "battles": 90},
    ]
    assert answer["choices"] == {
        "organization": ["B"],
        "license": ["Apache-2.0", "MIT", "Proprietary"],
    }


def test_raw_boards_while_style_control_is_computed_or_cannot_be_fitted():
    first = view(snapshot(styled=False), LeaderboardQuery(), SETTINGS)
    assert first["style_control"] is False and first["message"] == WAITING
    assert [r["model"] for r in first["rows"]] == ["big", "mid", "small"]
    too_few = view(snapshot(), LeaderboardQuery(category="code"), SETTINGS)
    assert too_few["style_control"] is False and too_few["message"] == FALLBACK
    assert too_few["coefficients"] == [] and too_few["battles"] == 90
    raw = view(snapshot(), LeaderboardQuery(style=False), SETTINGS)
    assert raw["style_control"] is False and raw["message"] is None

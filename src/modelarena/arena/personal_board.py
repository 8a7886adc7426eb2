"""A visitor's own leaderboard: Bradley–Terry fitted on their blind votes alone (under a
small L2 penalty, so a few one-sided votes give finite ratings), each row next to the
model's rating from everyone's votes. Shown once the visitor has enough votes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelarena.rating import Filters, RatingConfig, RatingError, rate, select_battles
from modelarena.store.history import VisitorVote

EVERYONE = ("rating", "ci_lower", "ci_upper", "rank_upper", "num_battles")
NEVER_MET = (
    "Some of these models never met each other in your battles, so how they compare "
    "across those groups is only a guess."
)


def personal_board(
    votes: list[VisitorVote],
    everyone: list[dict[str, Any]],
    describe: Callable[[str], dict[str, Any]],
    min_votes: int,
    l2: float,
) -> dict[str, Any]:
    """The board of `votes` (those no flag excludes, as on the public board), or why there
    is none yet. `everyone`: the public board's rows; `describe(model)`: its metadata."""
    counted = [v for v in votes if not v.excluded]
    answer: dict[str, Any] = {
        "votes": len(counted),
        "min_votes": min_votes,
        "enough": len(counted) >= min_votes,
        "l2": l2,
        "message": None,
        "rows": [],
    }
    if not answer["enough"]:
        left = min_votes - len(counted)
        answer["message"] = (
            f"Vote in {left} more blind {'battle' if left == 1 else 'battles'} to see "
            "your own leaderboard."
        )
        return answer
    records = [{"model_a": v.model_a, "model_b": v.model_b, "winner": v.winner} for v in counted]
    try:
        selection = select_battles(records, Filters(anonymous_only=False))
        board = rate(selection.battles, RatingConfig(l2=l2, name="personal"))
    except RatingError:
        answer["message"] = "Your votes cannot be rated yet; vote in a few more battles."
        return answer
    if board.warnings:
        answer["message"] = NEVER_MET
    public = {row["model"]: row for row in everyone}
    for row in board.records():
        meta = describe(row["model"])
        theirs = public.get(row["model"])
        answer["rows"].append(
            {
                "model": row["model"],
                "display_name": meta.get("display_name") or row["model"],
                "organization": meta.get("organization"),
                "rank": row["rank"],
                "rating": row["rating"],
                "ci_lower": row["ci_lower"],
                "ci_upper": row["ci_upper"],
                "num_battles": row["num_battles"],
                "win_rate": row["win_rate"],
                "everyone": {key: theirs.get(key) for key in EVERYONE} if theirs else None,
            }
        )
    return answer

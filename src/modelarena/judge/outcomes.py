"""From judgment records to outcomes: grades per model, pairs decided from both orders
(an order-dependent verdict is a tie), and per-game battles for the rating engine."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from modelarena.judge.judgments import PAIRWISE, SINGLE
from modelarena.judge.verdicts import preferred

# Pair statuses: decided the same way in both orders, decided differently (a tie), a
# parse failure in either order, or an order not judged (yet).
CONSISTENT, INCONSISTENT, FAILED, INCOMPLETE = "consistent", "inconsistent", "failed", "incomplete"


def grades(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per single grade: judge, model, question, turn, category, score (None when
    the verdict did not parse)."""
    return [
        {
            "judge": r["judge"],
            "model": r["model"],
            "question_id": str(r["question_id"]),
            "turn": int(r["turn"]),
            "category": r.get("category", ""),
            "score": r.get("score"),
        }
        for r in records
        if r["kind"] == SINGLE
    ]


def game_winner(record: dict[str, Any]) -> str | None:
    """The model a game's verdict prefers, 'tie', or None when it did not parse."""
    if record.get("verdict") is None:
        return None
    side, _ = preferred(record["verdict"])
    return {"A": record["model_a"], "B": record["model_b"]}.get(side, "tie")


def pairs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (judge, question, turn, pair), models in name order as model_1/model_2,
    `winner` a model name, 'tie' or None, and the pair's status."""
    games: dict[tuple, dict[tuple[str, str], dict[str, Any]]] = defaultdict(dict)
    for record in records:
        if record["kind"] != PAIRWISE:
            continue
        first, second = sorted((record["model_a"], record["model_b"]))
        key = (record["judge"], str(record["question_id"]), int(record["turn"]), first, second)
        games[key][(record["model_a"], record["model_b"])] = record
    rows = []
    for (judge, question, turn, first, second), orders in games.items():
        played = [orders.get((first, second)), orders.get((second, first))]
        category = next(r for r in played if r is not None).get("category", "")
        winners = [game_winner(r) if r is not None else None for r in played]
        if any(r is None for r in played):
            status, winner = INCOMPLETE, None
        elif any(w is None for w in winners):
            status, winner = FAILED, None
        elif winners[0] == winners[1]:
            status, winner = CONSISTENT, winners[0]
        else:
            status, winner = INCONSISTENT, "tie"
        rows.append(
            {
                "judge": judge,
                "question_id": question,
                "turn": turn,
                "category": category,
                "model_1": first,
                "model_2": second,
                "winner": winner,
                "status": status,
            }
        )
    return rows


def battles(records: list[dict[str, Any]], strong_weight: int = 3) -> list[dict[str, Any]]:
    """Each parsed game as a battle (Arena-Hard's way: both orders count, a strong verdict
    `[[A>>B]]` weighs `strong_weight`), with its conv_metadata for style control."""
    rows = []
    for record in records:
        if record["kind"] != PAIRWISE or record.get("verdict") is None:
            continue
        side, strong = preferred(record["verdict"])
        rows.append(
            {
                "model_a": record["model_a"],
                "model_b": record["model_b"],
                "winner": {"A": "model_a", "B": "model_b"}.get(side, "tie"),
                "weight": strong_weight if strong else 1,
                "conv_metadata": record.get("conv_metadata"),
                "baseline": record.get("baseline"),
            }
        )
    return rows

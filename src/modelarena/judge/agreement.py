"""Agreement of judges with human votes and with each other on the same (question, turn,
model pair): the share of matching verdicts with and without ties, and Cohen's κ, overall
and per category. Each (judge verdict, human vote) pairing is one item, as in MT-Bench."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from modelarena.judge import outcomes

HUMAN = "human"
ALL = "all"


def judge_labels(records: list[dict[str, Any]]) -> dict[str, dict[tuple, dict[str, Any]]]:
    """Per judge, the decided pairs: key (question, turn, model_1, model_2) -> label '1',
    '2' or 'tie' (order-dependent verdicts are ties) and the question's category."""
    labels: dict[str, dict[tuple, dict[str, Any]]] = {}
    for pair in outcomes.pairs(records):
        if pair["winner"] is None:
            continue
        key = (pair["question_id"], pair["turn"], pair["model_1"], pair["model_2"])
        label = (
            "tie"
            if pair["winner"] == "tie"
            else ("1" if pair["winner"] == pair["model_1"] else "2")
        )
        labels.setdefault(pair["judge"], {})[key] = {"label": label, "category": pair["category"]}
    return labels


def metrics(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Agreement and Cohen's κ of paired labels, with ties (three labels) and without
    (items where either side said tie are left out)."""
    without = [(x, y) for x, y in items if "tie" not in (x, y)]
    return {
        "items": len(items),
        "agreement": _share(items),
        "kappa": cohen_kappa(items),
        "items_without_ties": len(without),
        "agreement_without_ties": _share(without),
        "kappa_without_ties": cohen_kappa(without),
    }


def cohen_kappa(items: list[tuple[str, str]]) -> float | None:
    """(p_o − p_e) / (1 − p_e) with p_e from each rater's own label frequencies; None when
    undefined (no items, or both raters always give one same label)."""
    if not items:
        return None
    n = len(items)
    observed = sum(x == y for x, y in items) / n
    first, second = Counter(x for x, _ in items), Counter(y for _, y in items)
    expected = sum(first[label] * second[label] for label in first) / n**2
    return None if expected == 1 else (observed - expected) / (1 - expected)


def _share(items: list[tuple[str, str]]) -> float | None:
    return sum(x == y for x, y in items) / len(items) if items else None


def compare(
    labels: dict[str, dict[tuple, dict[str, Any]]],
    votes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Each judge against the human votes, then each pair of judges: metrics overall
    (category 'all') and per category, and how many keys matched."""
    rows: list[dict[str, Any]] = []
    unmatched: dict[str, int] = {}
    if votes:
        for judge, decided in labels.items():
            tagged = []
            for vote in votes:
                if vote["key"] in decided:
                    verdict = decided[vote["key"]]
                    categories = vote["categories"] or {verdict["category"]}
                    tagged.append(((verdict["label"], vote["label"]), categories))
            matched = {vote["key"] for vote in votes} & decided.keys()
            unmatched[f"{judge} pairs without votes"] = len(decided.keys() - matched)
            unmatched[f"votes without {judge} pairs"] = sum(
                vote["key"] not in decided for vote in votes
            )
            rows += _rows(judge, HUMAN, tagged, len(matched))
    for first, second in itertools.combinations(sorted(labels), 2):
        common = labels[first].keys() & labels[second].keys()
        tagged = [
            (
                (labels[first][k]["label"], labels[second][k]["label"]),
                {labels[first][k]["category"]},
            )
            for k in sorted(common)
        ]
        rows += _rows(first, second, tagged, len(common))
    return {"comparisons": rows, "unmatched": unmatched}


def _rows(
    first: str, second: str, tagged: list[tuple[tuple[str, str], Any]], keys: int
) -> list[dict[str, Any]]:
    rows = [
        {
            "first": first,
            "second": second,
            "category": ALL,
            "keys": keys,
            **metrics([item for item, _ in tagged]),
        }
    ]
    for category in sorted({c for _, categories in tagged for c in categories if c}):
        items = [item for item, categories in tagged if category in categories]
        rows.append(
            {"first": first, "second": second, "category": category, "keys": None, **metrics(items)}
        )
    return rows

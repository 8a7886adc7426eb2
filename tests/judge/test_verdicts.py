"""Verdict parsing: every documented form, the last verdict wins, and text without a
verdict is a failure with a reason (never a tie or a default grade)."""

from __future__ import annotations

import pytest

from modelarena.judge.verdicts import parse_preference, parse_score, preferred


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("[[8]]", 8.0),
        ("The answer is fine. [[8.5]]", 8.5),
        ("Rating: [[8]]", 8.0),
        ("Rating: [[ 7 ]]", 7.0),
        ("Format: [[5]] as in the example ... my rating is [[3]]", 3.0),
        ("[[1]]", 1.0),
        ("[[10]]", 10.0),
    ],
)
def test_scores(text, score):
    assert parse_score(text).value == score
    assert parse_score(text).error is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I would rate this highly.", "no [[rating]]"),
        ("Rating: 8/10", "no [[rating]]"),
        ("[8]", "no [[rating]]"),
        ("", "no [[rating]]"),
        ("Rating: [[11]]", "outside 1–10"),
        ("Rating: [[0]]", "outside 1–10"),
    ],
)
def test_score_failures_keep_a_reason(text, reason):
    verdict = parse_score(text)
    assert verdict.value is None and reason in verdict.error


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("[[A]]", "A>B"),
        ("[[B]]", "B>A"),
        ("[[C]]", "A=B"),
        ("[[A>>B]]", "A>>B"),
        ("[[A>B]]", "A>B"),
        ("[[A=B]]", "A=B"),
        ("[[B>A]]", "B>A"),
        ("[[B>>A]]", "B>>A"),
        ("[[ B > A ]]", "B>A"),
        ("[[B<<A]]", "A>>B"),
        ("[[A<B]]", "B>A"),
        ("Say [[A]] if A wins or [[B]] if B wins. My verdict: [[B]]", "B>A"),
        ("First I thought [[A>>B]], but on reflection [[A=B]]", "A=B"),
        ("[[B>A]] ... [[A]]", "A>B"),
        ("[[A=A]] is not a verdict, [[B]] is", "B>A"),
    ],
)
def test_preferences(text, label):
    assert parse_preference(text).value == label


@pytest.mark.parametrize("text", ["A is better.", "[A]", "[[D]]", "[[A=A]]", "[[8]]", ""])
def test_preference_failures_are_not_ties(text):
    verdict = parse_preference(text)
    assert verdict.value is None and "no [[A]]" in verdict.error


def test_strength_of_preferences():
    assert preferred("A>>B") == ("A", True)
    assert preferred("A>B") == ("A", False)
    assert preferred("A=B") == ("tie", False)
    assert preferred("B>A") == ("B", False)
    assert preferred("B>>A") == ("B", True)

"""Reading a judge's verdict out of its text: a grade `[[8]]` / `[[8.5]]` (1–10), or a
preference `[[A]]`/`[[B]]`/`[[C]]` or `[[A>>B]]` … `[[B>>A]]`. The last verdict wins; text
with none is a parse failure that keeps its reason, never a default."""

from __future__ import annotations

import re
from dataclasses import dataclass

SCORE_RANGE = (1.0, 10.0)
# Canonical preferences, strongest for A first.
PREFERENCES = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
_SCORE = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")
_PREFERENCE = re.compile(r"\[\[\s*([AB]\s*(?:>>|<<|>|<|=)\s*[AB]|[ABC])\s*\]\]")
_ALIASES = {
    "A": "A>B",
    "B": "B>A",
    "C": "A=B",  # MT-Bench's three-way verdicts
    "B<<A": "A>>B",
    "B<A": "A>B",
    "B=A": "A=B",
    "A<B": "B>A",
    "A<<B": "B>>A",
}


@dataclass(frozen=True)
class Verdict:
    """A parsed verdict: `value` (a float grade or a canonical preference), or `error`."""

    value: float | str | None
    error: str | None = None


def parse_score(text: str) -> Verdict:
    """The last `[[number]]` in the text, which must lie within 1–10."""
    matches = _SCORE.findall(text)
    if not matches:
        return Verdict(None, "no [[rating]] verdict in the judge's text")
    score = float(matches[-1])
    low, high = SCORE_RANGE
    if not low <= score <= high:
        return Verdict(None, f"rating {matches[-1]} is outside {low:g}–{high:g}")
    return Verdict(score)


def parse_preference(text: str) -> Verdict:
    """The last pairwise verdict in the text, as one of PREFERENCES."""
    for match in reversed(_PREFERENCE.findall(text)):
        label = re.sub(r"\s+", "", match)
        label = _ALIASES.get(label, label)
        if label in PREFERENCES:
            return Verdict(label)
    return Verdict(None, "no [[A]]/[[B]]/[[C]] or [[A>B]]-style verdict in the judge's text")


def preferred(preference: str) -> tuple[str, bool]:
    """('A' | 'B' | 'tie', strong?) of a canonical preference."""
    if preference == "A=B":
        return "tie", False
    return preference[0], ">>" in preference

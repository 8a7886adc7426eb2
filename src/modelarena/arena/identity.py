"""Identity leaks: an answer that names its own model or organization gives away a blind
battle, so such battles are flagged and kept out of the ratings by default."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any


def identity_terms(metadata: dict[str, Any]) -> list[str]:
    """Words that would reveal a model: its name's stem, display name (and its first
    word) and organization, each at least three characters long."""
    terms = set()
    name = str(metadata.get("name") or "")
    terms.add(re.split(r"[-_:/.]", name)[0])
    display = str(metadata.get("display_name") or "")
    if display:
        terms.add(display)
        terms.add(display.split()[0])
    organization = str(metadata.get("organization") or "")
    if organization:
        terms.add(organization)
        terms.add(organization.replace(" ", ""))
    for term in list(terms):  # "SmolLM2" also reveals itself as "SmolLM"
        stem = term.rstrip("0123456789.")
        if len(stem) >= 3:
            terms.add(stem)
    return sorted((t for t in terms if len(t) >= 3), key=str.lower)


def find_leak(answer: str, terms: Iterable[str]) -> str | None:
    """The first term the answer contains as a whole word (any case), or None."""
    for term in terms:
        if re.search(rf"(?<![\w]){re.escape(term)}(?![\w])", answer, re.IGNORECASE):
            return term
    return None

"""Prompt moderation: a pluggable check that may refuse a prompt before any model sees it.

The default refuses prompts containing a configured keyword. `arena.moderation` may name
another check as `module:function`; it takes the prompt text and returns a reason to
refuse it, or None.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence

Moderation = Callable[[str], str | None]


def keyword_moderation(keywords: Sequence[str]) -> Moderation:
    """Refuse prompts containing any of the keywords as whole words, in any case."""
    patterns = [re.compile(rf"(?<!\w){re.escape(k)}(?!\w)", re.IGNORECASE) for k in keywords if k]

    def check(prompt: str) -> str | None:
        return next(
            ("the prompt contains a blocked word" for p in patterns if p.search(prompt)), None
        )

    return check


def load_moderation(spec: str | None, keywords: Sequence[str]) -> Moderation:
    """The configured check: `module:function` when given, else the keyword list."""
    if not spec:
        return keyword_moderation(keywords)
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"arena.moderation must look like 'module:function', not {spec!r}")
    try:
        check = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load the moderation check {spec!r}: {exc}") from exc
    if not callable(check):
        raise ValueError(f"the moderation check {spec!r} is not callable")
    return check

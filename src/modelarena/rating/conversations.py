"""Read the turns of a battle's conversation (`conversation_a` / `conversation_b` values).

A conversation is a list of {"role", "content"} messages, or that list as a JSON string (CSV).
"""

from __future__ import annotations

import json
import re
from typing import Any

from modelarena.rating.errors import BattleDataError

_USER_ROLES = frozenset({"user", "human"})
_ASSISTANT_ROLES = frozenset({"assistant", "gpt", "model", "bot"})
# One approximate token: a CJK character, a run of up to 8 letters, up to 3 digits, or any
# other visible character. Close to BPE token counts of English and Chinese text.
_TOKEN = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
    r"|[^\W\d_]{1,8}|\d{1,3}|[^\w\s]"
)


def as_messages(value: Any) -> list[dict]:
    """The messages of one conversation value; None or an empty value gives an empty list."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError as exc:
            raise BattleDataError(f"a conversation is not valid JSON ({exc})") from None
    if not isinstance(value, list | tuple):
        raise BattleDataError(
            f"a conversation must be a list of messages, not {type(value).__name__}"
        )
    return [message for message in value if isinstance(message, dict)]


def texts(value: Any, role: str) -> list[str]:
    """The contents of the messages of one role, 'user' or 'assistant', in order."""
    roles = _USER_ROLES if role == "user" else _ASSISTANT_ROLES
    return [
        str(message.get("content") or "")
        for message in as_messages(value)
        if str(message.get("role", "")).lower() in roles
    ]


def count_tokens(text: str) -> int:
    """Approximate number of tokens in `text` (no tokenizer needed; see docs/rating.md)."""
    return len(_TOKEN.findall(text))

"""Battle categories computed from the conversations: language, long prompt, multi-turn, code, math.

Simple transparent rules on the prompt (and answers for code); see docs/rating.md for each rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

LONG_PROMPT_TOKENS = 500

_CODE_LINE = re.compile(
    r"^\s*(def \w+\(|class \w+[:(\s]|import \w|from [\w.]+ import|#include|public |private |"
    r"function \w*\s*\(|const \w+\s*=|let \w+\s*=|var \w+\s*=|select .+ from |for \(|while \(|"
    r"if \(|return\b.*;|console\.log|print\(|System\.out)",
    re.IGNORECASE | re.MULTILINE,
)
_CODE_WORDS = re.compile(
    r"\b(python|javascript|typescript|java|c\+\+|c#|golang|rust|kotlin|swift|php|ruby|sql|html|"
    r"css|regex|bash|powershell|code|coding|program|programming|script|debug|compile|compiler|"
    r"algorithm|api|json|dataframe|numpy|pandas|react|django|git|docker|linux|terminal)\b"
    r"|\b(write|implement|create|define|fix)\b[^.?!\n]{0,40}\b(function|class|method|program|script)\b",
    re.IGNORECASE,
)
_FENCE = re.compile(r"```")
_LATEX = re.compile(
    r"\\(frac|int|sum|sqrt|cdot|times|pi|alpha|beta|theta|infty|lim|log)\b|\$[^$\n]+\$"
)
_EQUATION = re.compile(
    r"\d\s*[-+*/^=<>×÷]\s*\(?\d|\b[a-z]\s*[=<>^]\s*[-\d(]|\b[a-z]\^\d|\|[^|\n]{1,20}\|\s*[<>]|"
    r"\b[a-z]\s*[-+*/]\s*[a-z]\s*=",
    re.IGNORECASE,
)
_MATH_WORDS = re.compile(
    r"\b(solve|equation|equations|integral|derivative|probability|prime|remainder|divisible|"
    r"polynomial|matrix|theorem|prove|inequality|integers?|calculate|compute|arithmetic|"
    r"geometry|triangle|perimeter|area|volume|radius|fraction|percentage|percent|average|"
    r"factorial|logarithm|algebra|calculus|statistics|median|mean|variance)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_QUANTITY_QUESTION = re.compile(
    r"\b(how (many|much|long|far|old)|what is the (total|sum|product|value|amount|number)|"
    r"total|altogether|in total)\b",
    re.IGNORECASE,
)
# Words that are frequent in one Latin-script language and rare in the others.
_STOPWORDS = {
    "English": "the and is are of to in that it you for with this what how be not on",
    "Spanish": "el la los las que de y es en por para una un con no se del como",
    "French": "le la les des est et que une un pour dans pas vous je il ce sur qui",
    "German": "der die das und ist nicht ein eine ich sie mit auf für den dem zu es",
    "Portuguese": "o a os as que de e é em um uma para com não do da você isso",
    "Italian": "il la che di e è un una per non con sono gli del della mi ti",
    "Dutch": "de het een en is van dat niet ik je op te zijn met voor wat",
    "Polish": "i w nie na się że jest z do to jak co czy o ale po",
    "Vietnamese": "và là của có không một những các được cho này với người trong",
    "Indonesian": "yang dan di ini itu dengan untuk tidak ada dari saya akan ke",
    "Turkish": "ve bir bu da de için ile ne ben mi çok daha olarak gibi",
}
_STOPWORD_SETS = {lang: frozenset(words.split()) for lang, words in _STOPWORDS.items()}
_WORD = re.compile(r"[^\W\d_]+")


def detect_language(text: str) -> str:
    """Best-guess language name of `text` (FastChat's naming, e.g. 'English'), or 'unknown'.

    Non-Latin scripts decide directly (Han → Chinese, kana → Japanese, Hangul → Korean,
    Cyrillic → Russian, ...); Latin text is told apart by its most frequent function words.
    """
    scripts = Counter(
        script for char in text if char.isalpha() and (script := _script(char)) is not None
    )
    if not scripts:
        return "unknown"
    if scripts["kana"]:
        return "Japanese"
    script, _ = scripts.most_common(1)[0]
    if script != "latin":
        return _SCRIPT_LANGUAGE[script]
    words = [word.lower() for word in _WORD.findall(text)]
    scores = {lang: sum(word in stop for word in words) for lang, stop in _STOPWORD_SETS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    return best if scores[best] > 0 else "English"


def is_long(prompt_tokens: float) -> bool:
    """A long prompt: at least LONG_PROMPT_TOKENS tokens over all user turns."""
    return prompt_tokens >= LONG_PROMPT_TOKENS


def is_code(prompt: str, answers: tuple[str, ...]) -> bool:
    """Code: the prompt holds code or programming words, or every answer holds a code block."""
    if _FENCE.search(prompt) or _CODE_LINE.search(prompt) or _CODE_WORDS.search(prompt):
        return True
    return all(_FENCE.search(answer) for answer in answers)


def is_math(prompt: str) -> bool:
    """Math: formulas, equations or math vocabulary, or a quantity question with numbers."""
    if _LATEX.search(prompt) or _EQUATION.search(prompt) or _MATH_WORDS.search(prompt):
        return True
    return bool(_QUANTITY_QUESTION.search(prompt)) and len(_NUMBER.findall(prompt)) >= 2


_SCRIPT_LANGUAGE = {
    "han": "Chinese",
    "hangul": "Korean",
    "cyrillic": "Russian",
    "arabic": "Arabic",
    "hebrew": "Hebrew",
    "greek": "Greek",
    "thai": "Thai",
    "devanagari": "Hindi",
}


def _script(char: str) -> str | None:
    code = ord(char)
    if code < 0x250:
        return "latin"
    if 0x3040 <= code <= 0x30FF:
        return "kana"
    if 0x3400 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF:
        return "han"
    if 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF:
        return "hangul"
    name = unicodedata.name(char, "")
    for script in ("LATIN", "CYRILLIC", "ARABIC", "HEBREW", "GREEK", "THAI", "DEVANAGARI"):
        if name.startswith(script):
            return script.lower()
    return None

"""LaTeX math in answers: the delimiters the markdown parser learns (`$…$`, `$$…$$`,
`\\(…\\)`, `\\[…\\]`) and their MathML, or the source as written where it is not valid.

Dollars follow Pandoc's rule, so that prices stay text: an opening `$` has no space after
it and no digit before it, a closing `$` no space before it and no digit after it ("$5
and $10" is text, "$x$" and "$2^{10}$" are math). The MathML is not sanitised here
(`\\href` and `\\style` write attributes): the caller sanitises the whole answer.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Sequence
from xml.etree.ElementTree import tostring

from latex2mathml.converter import convert_to_element
from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.dollarmath import dollarmath_plugin

# Longer formulas show as their source: conversion time grows with length, and answers
# are rendered again while they stream.
MAX_FORMULA_CHARS = 4000

# The closing delimiter of each opening one.
CLOSING = {"$": "$", "$$": "$$", "\\(": "\\)", "\\[": "\\]"}

# latex2mathml writes symbols as character references in text (which its own `convert`
# unescapes wholesale, letting `\\text{<b>}` through as markup): only those are restored.
ESCAPED_REFERENCE = re.compile(r"&amp;(#x[0-9A-Fa-f]+;|#[0-9]+;)")

# MathML elements and attributes an answer may keep (what latex2mathml writes, less
# `href` and `style`, which \href and \style would let an answer set).
MATHML_TAGS = {
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msup", "msub", "msubsup",
    "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mmultiscripts",
    "mprescripts", "none", "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom",
    "menclose", "merror",
}  # fmt: skip
MATHML_ATTRIBUTES = {
    "math": {"display", "tabindex"},
    "mi": {"mathvariant"},
    "mo": {"stretchy", "fence", "form", "accent", "minsize", "maxsize", "separator",
           "lspace", "rspace", "largeop", "movablelimits", "symmetric"},
    "mstyle": {"displaystyle", "scriptlevel", "mathcolor", "mathvariant", "mathsize"},
    "mfrac": {"linethickness"},
    "mover": {"accent"},
    "munder": {"accentunder"},
    "munderover": {"accent", "accentunder"},
    "mspace": {"width", "height", "depth", "linebreak"},
    "mpadded": {"width", "height", "depth", "lspace", "voffset", "mathbackground"},
    "menclose": {"notation"},
    "mtable": {"columnalign", "rowlines", "columnlines", "rowspacing", "columnspacing"},
    "mtd": {"columnalign", "columnspan", "rowspan"},
}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def to_mathml(tex: str, display: bool) -> str | None:
    """MathML for a formula, or None where latex2mathml cannot read it."""
    if not tex.strip() or len(tex) > MAX_FORMULA_CHARS:
        return None
    try:
        element = convert_to_element(tex, display="block" if display else "inline")
        if display:  # a formula wider than the answer scrolls: the keyboard must reach it
            element.set("tabindex", "0")
        return ESCAPED_REFERENCE.sub(r"&\1", tostring(element, encoding="unicode"))
    except Exception:  # its errors have no common base; RecursionError for deep nesting
        return None


def _bracket_rule(state: StateInline, silent: bool) -> bool:
    """`\\(…\\)` inline and `\\[…\\]` displayed, anywhere in a paragraph's text."""
    opening = state.src[state.pos : state.pos + 2]
    if opening not in ("\\(", "\\[") or _escaped(state.src, state.pos):
        return False
    end = state.src.find(CLOSING[opening], state.pos + 2)
    if end < 0 or not state.src[state.pos + 2 : end].strip():
        return False
    if not silent:
        token = state.push("math_inline" if opening == "\\(" else "math_inline_double", "", 0)
        token.content = state.src[state.pos + 2 : end]
        token.markup = opening
    state.pos = end + 2
    return True


def _escaped(src: str, pos: int) -> bool:
    """Whether the character at `pos` follows an odd number of backslashes."""
    backslashes = 0
    while pos - backslashes - 1 >= 0 and src[pos - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def _render(display: bool, block: bool):
    def render(
        _self, tokens: Sequence[Token], idx: int, _options: OptionsDict, _env: EnvType
    ) -> str:
        token = tokens[idx]
        mathml = to_mathml(token.content, display)
        if mathml is None:
            opening = token.markup
            mathml = html.escape(opening + token.content + CLOSING.get(opening, opening))
        return f"<p>{mathml}</p>\n" if block else mathml

    return render


def math_plugin(md: MarkdownIt) -> None:
    """Teaches `md` the four delimiters; code spans and blocks keep them as text."""
    dollarmath_plugin(
        md,
        allow_labels=False,
        allow_space=False,
        allow_digits=False,
        allow_blank_lines=False,
        double_inline=True,
    )
    md.inline.ruler.before("escape", "math_brackets", _bracket_rule)
    md.add_render_rule("math_inline", _render(display=False, block=False))
    md.add_render_rule("math_inline_double", _render(display=True, block=False))
    md.add_render_rule("math_block", _render(display=True, block=True))

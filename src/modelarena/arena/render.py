"""Model answers as safe HTML: markdown (CommonMark + tables + strikethrough) with code
highlighted by Pygments and LaTeX math as MathML, then sanitised by nh3 so that nothing
in an answer can run script in the page."""

from __future__ import annotations

import html
from typing import Any

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from modelarena.arena.latex import MATHML_ATTRIBUTES, MATHML_TAGS, math_plugin
from modelarena.store.arena import ConversationView, TurnView

_FORMATTER = HtmlFormatter(nowrap=True)
_TAGS = {
    "p",
    "br",
    "hr",
    "pre",
    "code",
    "span",
    "em",
    "strong",
    "del",
    "s",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "img",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    *MATHML_TAGS,
}
_ATTRIBUTES = {
    "span": {"class"},
    "code": {"class"},
    "pre": {"class"},
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
    **MATHML_ATTRIBUTES,
}


def _highlight(code: str, language: str, _attributes: str) -> str:
    try:
        lexer = get_lexer_by_name(language.strip().split()[0]) if language.strip() else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return html.escape(code)
    return highlight(code, lexer, _FORMATTER)


_MARKDOWN = (
    MarkdownIt("commonmark", {"html": False, "highlight": _highlight})
    .enable(["table", "strikethrough"])
    .use(math_plugin)
)


def render_markdown(text: str) -> str:
    """Sanitised HTML for an answer. Raw HTML in the text shows as text; links may only
    be http(s) or mailto and open with `rel="noopener noreferrer nofollow"`; math is
    MathML (see `latex.py`)."""
    return nh3.clean(
        _MARKDOWN.render(text),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        # A code block wider than the answer scrolls; the keyboard must reach it too.
        set_tag_attribute_values={"pre": {"tabindex": "0"}},
    )


# Code blocks' colours in each page theme: (the selector of a code block, Pygments' style).
CODE_STYLES = (("html:not(.dark) .answer pre", "default"), (".dark .answer pre", "github-dark"))


def highlight_css() -> str:
    """Pygments' colours for code blocks only (the answer around them keeps the page's
    background), a light style in the light theme and a dark one in the dark theme."""
    rules: list[str] = []
    for scope, style in CODE_STYLES:
        formatter = HtmlFormatter(style=style)
        rules += formatter.get_background_style_defs(scope)
        rules += formatter.get_token_style_defs(scope)
    return "\n".join(rules) + "\n"


def rendered_answers(view: ConversationView, turn: TurnView) -> dict[str, dict[str, Any]]:
    """Each side's answer of a turn as the pages show it: sanitised HTML, how it ended."""
    return {
        side: {
            "html": render_markdown(turn.answers[side] or ""),
            "finish_reason": turn.finish[side],
            "error": turn.errors[side],
        }
        for side in view.sides
    }

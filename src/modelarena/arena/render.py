"""Model answers as safe HTML: markdown (CommonMark + tables + strikethrough) with code
highlighted by Pygments, then sanitised by nh3 so that nothing in an answer can run
script in the page."""

from __future__ import annotations

import html

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

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
}


def _highlight(code: str, language: str, _attributes: str) -> str:
    try:
        lexer = get_lexer_by_name(language.strip().split()[0]) if language.strip() else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return html.escape(code)
    return highlight(code, lexer, _FORMATTER)


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "highlight": _highlight}).enable(
    ["table", "strikethrough"]
)


def render_markdown(text: str) -> str:
    """Sanitised HTML for an answer. Raw HTML in the text shows as text; links may only
    be http(s) or mailto and open with `rel="noopener noreferrer nofollow"`."""
    return nh3.clean(
        _MARKDOWN.render(text),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
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

"""LaTeX math in answers: each delimiter becomes MathML, prices and code stay text,
invalid LaTeX shows as written, and nothing a formula carries gets past the sanitiser."""

from __future__ import annotations

import re

import pytest

from modelarena.arena.render import render_markdown


def maths(html: str) -> list[str]:
    """The display attribute of each <math> element, in order."""
    return re.findall(r'<math display="(inline|block)"', html)


@pytest.mark.parametrize(
    ("text", "displays"),
    [
        ("Euler: $e^{i\\pi} + 1 = 0$.", ["inline"]),
        ("Powers: $2^{10}$ is 1024.", ["inline"]),
        ("$$\\frac{a}{b}$$", ["block"]),
        ("The sum\n$$\n\\sum_{i=1}^n i\n$$\nis known.", ["block"]),
        ("Inline \\(x^2\\) and displayed \\[\\int_0^1 x\\,dx\\]", ["inline", "block"]),
        ("\\[\n\\begin{pmatrix}1 & 2\\\\ 3 & 4\\end{pmatrix}\n\\]", ["block"]),
        ("In a list:\n\n- $a_1$\n- $a_2$\n", ["inline", "inline"]),
    ],
)
def test_each_delimiter_becomes_mathml(text, displays):
    html = render_markdown(text)
    assert maths(html) == displays, html
    assert "$" not in html and "\\(" not in html and "\\[" not in html


def test_formulas_keep_their_structure():
    html = render_markdown("$\\frac{1}{\\sqrt{x}} \\le \\mathbb{R}^n$")
    for element in ("<mfrac>", "<msqrt>", "<msup>", "<mo>≤</mo>", "<mi>ℝ</mi>"):
        assert element in html, html


@pytest.mark.parametrize(
    "text",
    [
        "It costs $5 and $10 with tax.",
        "Plans at $5/$10 a month.",
        "From $1,000 to $2,000.",
        "Between $ 3 and 4 $ dollars.",
        "An escaped \\$x\\$ stays text.",
        "One dollar sign: $x",
    ],
)
def test_dollar_amounts_are_not_math(text):
    html = render_markdown(text)
    assert "<math" not in html, html
    assert "$" in html


def test_code_keeps_its_dollars_and_brackets():
    text = "Inline `$x$` and `\\(y\\)`:\n\n```\n$$z$$ \\[w\\]\n```\n\n    $indented$\n"
    html = render_markdown(text)
    assert "<math" not in html, html
    for source in ("$x$", "\\(y\\)", "$$z$$ \\[w\\]", "$indented$"):
        assert source in html, html


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Broken: $x^$ here", "$x^$"),
        ("\\[\\begin{matrix} 1\\]", "\\[\\begin{matrix} 1\\]"),
        ("$$\\left( x$$", "$$\\left( x$$"),
    ],
)
def test_invalid_latex_shows_as_written(text, shown):
    html = render_markdown(text)
    assert "<math" not in html and shown in html, html


def test_a_formula_cannot_carry_script_links_or_styles():
    html = render_markdown(
        "$\\text{<script>alert(1)</script><img src=x onerror=alert(2)>}$ "
        "$\\href{javascript:alert(3)}{x}$ $\\style{position:fixed;inset:0}{y}$"
    )
    assert len(maths(html)) == 3, html
    assert "<script" not in html and "<img" not in html, html
    assert not re.search(r"\s(href|style|src|onerror)=", html), html  # no such attribute
    assert "&lt;script&gt;" in html  # the text itself is shown, as text


def test_text_inside_a_formula_is_text():
    html = render_markdown("$\\text{if a<b & c} x$")
    assert "<mtext>if&nbsp;a&lt;b&nbsp;&amp;&nbsp;c</mtext>" in html, html


def test_a_formula_still_streaming_stays_text_until_closed():
    assert "<math" not in render_markdown("The area is $\\pi r")
    assert maths(render_markdown("The area is $\\pi r^2$")) == ["inline"]


def test_only_displayed_formulas_take_keyboard_focus():
    html = render_markdown("$a$ and\n\n$$b$$")
    assert '<math display="inline">' in html and '<math display="block" tabindex="0">' in html

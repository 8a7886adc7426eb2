"""Style features from answers and conv_metadata, and recovery of planted style coefficients."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from modelarena.rating.aggregate import aggregate
from modelarena.rating.bt import fit_bt
from modelarena.rating.conversations import count_tokens, texts
from modelarena.rating.data import Filters, select_battles
from modelarena.rating.errors import BattleDataError
from modelarena.rating.intervals import sandwich_covariance
from modelarena.rating.style import (
    conversation_metadata,
    counts_from_conversations,
    counts_from_metadata,
    markdown_counts,
    style_features,
)

from .helpers import simulate

ANSWER = """# Title
## Part
Some **bold** and __also bold__ words, and **not closed.

1. first
2. second
- bullet
  * nested bullet

```python
# a comment, not a header
- not a list item
**not bold**
```
### Last
"""


def test_markdown_counts_skip_code_blocks():
    counts = markdown_counts(ANSWER)
    assert counts["header_count"] == {"h1": 1, "h2": 1, "h3": 1, "h4": 0, "h5": 0, "h6": 0}
    assert counts["list_count"] == {"ordered": 2, "unordered": 2}
    assert counts["bold_count"] == {"**": 1, "__": 1}


def test_token_estimate_is_close_to_word_pieces():
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("你好世界") == 4
    assert count_tokens("internationalization") == 3  # long words count as several pieces
    assert count_tokens("12345") == 2


def test_conversation_metadata_has_fastchat_layout():
    conversation_a = [
        {"role": "user", "content": "hi there"},
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "more"},
        {"role": "assistant", "content": "ok"},
    ]
    conversation_b = json.dumps(
        [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "plain"}]
    )
    metadata = conversation_metadata(conversation_a, conversation_b)
    assert metadata["sum_assistant_b_tokens"] == 1
    assert metadata["header_count_a"]["h2"] == 1
    assert metadata["turns"] == 2 and metadata["sum_user_tokens"] == 3
    assert texts(conversation_b, "assistant") == ["plain"]
    # Counting from metadata (dicts, JSON text, arrow structs) equals counting from the answers.
    from_answers = counts_from_conversations([conversation_a], [conversation_b])
    assert np.array_equal(counts_from_metadata([metadata]), from_answers)
    assert np.array_equal(counts_from_metadata([json.dumps(metadata)]), from_answers)
    assert np.array_equal(counts_from_metadata(pa.array([metadata])), from_answers)


def test_metadata_without_a_field_is_refused():
    metadata = conversation_metadata([], [])
    del metadata["bold_count_b"]
    with pytest.raises(BattleDataError, match="row 1 lacks 'bold_count_b'"):
        counts_from_metadata([metadata])
    with pytest.raises(BattleDataError, match="lacks 'bold_count_b'"):
        counts_from_metadata(pa.array([metadata]))


def test_selection_prefers_conv_metadata_and_falls_back_to_answers(battle_records):
    with_metadata = select_battles(battle_records, Filters(), style_control=True).battles
    without = [{k: v for k, v in r.items() if k != "conv_metadata"} for r in battle_records]
    from_text = select_battles(without, Filters(), style_control=True).battles
    assert np.array_equal(with_metadata.style, from_text.style)
    bare = [{k: r[k] for k in ("model_a", "model_b", "winner", "anony")} for r in battle_records]
    with pytest.raises(BattleDataError, match="style control needs"):
        select_battles(bare, Filters(), style_control=True)


def test_style_features_are_standardised_ratios():
    counts = np.array([[[10, 0, 0, 0], [30, 0, 0, 0]], [[30, 2, 0, 0], [10, 0, 0, 0]]], dtype=float)
    z, names = style_features(counts)
    assert names == ("length", "headers")  # lists and bold never vary
    assert np.allclose(z[:, 0], [-1.0, 1.0]) and np.allclose(z[:, 1], [-1.0, 1.0])


def test_planted_style_coefficients_are_recovered_within_5_percent():
    rng = np.random.default_rng(21)
    n = 400_000
    style = np.stack(
        [
            np.round(np.exp(rng.normal(6.0, 0.7, (n, 2)))),
            rng.poisson(1.5, (n, 2)),
            rng.poisson(4.0, (n, 2)),
            rng.poisson(2.5, (n, 2)),
        ],
        axis=-1,
    ).astype(float)
    beta = np.array([0.6, -0.45, 0.3, 0.35])
    battles = simulate(np.linspace(-1.0, 1.0, 10), n, rng, style=style, beta=beta)
    fit = fit_bt(aggregate(battles, style_control=True))
    assert np.all(np.abs(fit.beta - beta) <= 0.05 * np.abs(beta))
    se = np.sqrt(np.diag(sandwich_covariance(fit))[10:])
    assert np.all(np.abs(fit.beta - beta) <= 4 * se)


@pytest.mark.parametrize("as_text", [True, False])
def test_metadata_errors_name_input_rows(battle_records, as_text):
    """Rows count in input order even when filters removed rows before them."""
    rows = [dict(r, anony=i >= 5) for i, r in enumerate(battle_records[:60])]
    rows[20]["conv_metadata"] = {"turns": 1}
    rows[2]["conv_metadata"] = None  # a named battle: filtered out, never read
    if as_text:
        rows = [dict(r, conv_metadata=json.dumps(r["conv_metadata"])) for r in rows]
    with pytest.raises(BattleDataError, match="conv_metadata of row 21 lacks"):
        select_battles(rows, Filters(), style_control=True)

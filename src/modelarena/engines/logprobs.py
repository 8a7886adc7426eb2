"""Log-probabilities from one row of llama.cpp's logits.

The values are the model's log-softmax over its whole vocabulary, before any sampler
(temperature, top-k, top-p, penalties, grammar) reshapes the distribution — what vLLM
reports by default. Only sequences that asked pay for it: one numpy pass over the row.
"""

from __future__ import annotations

import llama_cpp as llama
import numpy as np

from modelarena.engines.base import TokenLogprob, TopLogprob
from modelarena.engines.llama_runtime import token_piece


class LogprobReader:
    """Reads rows of a context's logits; caches each token's text as it is first seen."""

    def __init__(self, ctx, vocab, n_vocab: int) -> None:
        self._ctx = ctx
        self._vocab = vocab
        self._n_vocab = n_vocab
        self._texts: dict[int, tuple[str, bytes]] = {}

    def row(self, row: int) -> np.ndarray:
        """The log-softmax of the logits of batch row `row` of the last decode."""
        pointer = llama.llama_get_logits_ith(self._ctx, row)
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).astype(np.float64)
        logits -= logits.max()
        logits -= np.log(np.exp(logits).sum())
        return logits

    def entry(self, logprobs: np.ndarray | None, token: int, top: int) -> TokenLogprob:
        """`token` with its log-probability in `logprobs` (None: nothing predicted it) and
        the `top` likeliest tokens, likeliest first."""
        text, piece = self.text(token)
        if logprobs is None:
            return TokenLogprob(text, piece, None)
        return TokenLogprob(text, piece, float(logprobs[token]), self._top(logprobs, top))

    def _top(self, logprobs: np.ndarray, count: int) -> list[TopLogprob]:
        if count <= 0:
            return []
        best = np.argpartition(logprobs, -count)[-count:]
        best = best[np.argsort(-logprobs[best], kind="stable")]
        return [TopLogprob(*self.text(int(t)), float(logprobs[t])) for t in best]

    def text(self, token: int) -> tuple[str, bytes]:
        """A token's text (control tokens spelled out) as a string and as bytes."""
        known = self._texts.get(token)
        if known is None:
            piece = token_piece(self._vocab, token, special=True)
            known = self._texts[token] = (piece.decode("utf-8", errors="replace"), piece)
        return known

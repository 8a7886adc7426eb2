"""Grammar-constrained sampling for one sequence, at close to unconstrained speed.

Checking a grammar against every token of the vocabulary costs more than the decode
step itself with the bundled models (SmolLM2 ran at half speed with llama.cpp's grammar
sampler first in its chain). So a token is sampled as usual first and only checked
against the grammar; only when the grammar refuses it are the logits filtered through
the grammar over the whole vocabulary and the token sampled again — the way llama.cpp's
own tools sample. Either way the result is a token the grammar allows, drawn by the
sequence's own sampler chain.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

import llama_cpp as llama
import numpy as np

# llama.cpp's `llama_token_data`: token id, logit, probability.
_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


class GrammarError(ValueError):
    """llama.cpp could not parse the grammar."""


class GrammarConstraint:
    """A GBNF grammar (root rule `root`) that every token of one sequence must follow."""

    def __init__(self, vocab: Any, n_vocab: int, grammar: str) -> None:
        self._grammar = llama.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
        if not self._grammar:
            raise GrammarError("llama.cpp could not parse the grammar")
        self._n_vocab = n_vocab
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self._all = np.zeros(n_vocab, dtype=_TOKEN_DATA)
        self._one = np.zeros(1, dtype=_TOKEN_DATA)
        self._all_view = _candidates(self._all)
        self._one_view = _candidates(self._one)
        self._all_data, self._one_data = self._all_view.data, self._one_view.data

    def sample(self, chain: Any, ctx: Any, row: int) -> int:
        """Sample row `row` of the context's logits with `chain`, within the grammar, and
        let both the chain and the grammar accept the token."""
        logits = np.ctypeslib.as_array(llama.llama_get_logits_ith(ctx, row), (self._n_vocab,))
        token = self._pick(chain, logits, constrained=False)
        if not self.allows(token):
            token = self._pick(chain, logits, constrained=True)
        self.accept(token)
        llama.llama_sampler_accept(chain, token)
        return token

    def accept(self, token: int) -> None:
        """Move the grammar past `token` (which it must allow)."""
        llama.llama_sampler_accept(self._grammar, token)

    def allows(self, token: int) -> bool:
        """Whether the grammar accepts `token` next."""
        self._one[0] = (token, 0.0, 0.0)
        _reset(self._one_view, self._one_data, 1)
        llama.llama_sampler_apply(self._grammar, ctypes.byref(self._one_view))
        return not math.isinf(self._one_view.data[0].logit)

    def free(self) -> None:
        if self._grammar:
            llama.llama_sampler_free(self._grammar)
            self._grammar = None

    def _pick(self, chain: Any, logits: np.ndarray, *, constrained: bool) -> int:
        self._all["id"] = self._ids
        self._all["logit"] = logits
        self._all["p"] = 0.0
        view = self._all_view
        _reset(view, self._all_data, self._n_vocab)
        if constrained:
            llama.llama_sampler_apply(self._grammar, ctypes.byref(view))
        llama.llama_sampler_apply(chain, ctypes.byref(view))
        return int(view.data[view.selected].id)


def _candidates(data: np.ndarray) -> Any:
    return llama.llama_token_data_array(
        data=data.ctypes.data_as(llama.llama_token_data_p), size=len(data), selected=-1
    )


def _reset(view: Any, data: Any, size: int) -> None:
    """Back to the whole buffer (a sampler may have shortened or moved it)."""
    view.data = data
    view.size = size
    view.selected = -1
    view.sorted = False


def grammar_parses(vocab: Any, grammar: str) -> bool:
    """Whether llama.cpp accepts the grammar (checked before a request is queued)."""
    sampler = llama.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
    if not sampler:
        return False
    llama.llama_sampler_free(sampler)
    return True

"""Prefix caching: the KV cells a finished sequence leaves in its slot are kept, so that a
later prompt starting with the same tokens (a chat's next turn, a shared system prompt, a
judge's template) is prefilled only from where they differ.

`SlotCache` hands out the batcher's sequence slots. A new prompt gets the idle slot whose
kept tokens share the longest prefix with it; the slot's cells past that prefix are
dropped. Without a match it gets an empty slot, else the least recently used one. The
tokens kept in idle slots stay within a budget, the least recently used dropped first.
"""

from __future__ import annotations

import llama_cpp as llama

# Prompt tokens always prefilled again, even when cached: llama.cpp computes a batch of one
# token by another path than a batch of several, and the answer would then score up to
# ~0.5 off the uncached one (measured on SmolLM2); from two tokens on it is bit-identical.
MIN_PREFILL = 2


def shared_prefix(a: list[int], b: list[int]) -> int:
    """How many first tokens `a` and `b` have in common."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class SlotCache:
    """The free slots of one context and the tokens each idle slot's cells still hold.
    Used by the batcher thread only."""

    def __init__(self, memory, slots: int, budget: int) -> None:
        """`budget`: tokens kept in idle slots at most (0: none)."""
        self._memory = memory
        self._budget = budget
        self._free = set(range(slots))
        self._held: dict[int, list[int]] = {}  # idle slot -> the tokens its cells hold
        self._last_used: dict[int, int] = {}
        self._clock = 0
        self.reused = 0  # prompt tokens not prefilled again, in all

    def has_free(self) -> bool:
        return bool(self._free)

    def take(self, prompt: list[int], reuse: bool = True) -> tuple[int, int]:
        """A free slot for `prompt`, and how many of its first tokens the slot's cells
        already hold (all but `MIN_PREFILL` at most)."""
        slot, shared = self._best_match(prompt) if reuse else (None, 0)
        if slot is None:
            slot = self._spare()
        self._free.remove(slot)
        self._last_used.pop(slot, None)
        if self._held.pop(slot, None) is not None and not self._trim_to(slot, shared):
            shared = 0
        self.reused += shared
        return slot, shared

    def give_back(self, slot: int, tokens: list[int]) -> None:
        """`slot` is idle again; its cells hold `tokens` (empty: keep nothing)."""
        self._free.add(slot)
        if not tokens or self._budget == 0:
            self._clear(slot)
            return
        self._clock += 1
        self._held[slot] = tokens
        self._last_used[slot] = self._clock
        while sum(map(len, self._held.values())) > self._budget:
            self._evict(min(self._last_used, key=self._last_used.__getitem__))

    def _best_match(self, prompt: list[int]) -> tuple[int | None, int]:
        best, longest = None, 0
        for slot in sorted(self._held):
            shared = min(shared_prefix(self._held[slot], prompt), len(prompt) - MIN_PREFILL)
            if shared > longest:
                best, longest = slot, shared
        return best, longest

    def _spare(self) -> int:
        """The lowest empty free slot (busy slots stay contiguous, which decodes faster),
        else the least recently used idle one."""
        empty = self._free - self._held.keys()
        if empty:
            return min(empty)
        return min(self._last_used, key=self._last_used.__getitem__)

    def _trim_to(self, slot: int, keep: int) -> bool:
        """Drop the slot's cells from position `keep` on; False (and the slot emptied) when
        its first `keep` cannot be kept: none wanted, a sliding-window cache that has
        already dropped early positions, or a memory that cannot cut a sequence."""
        if (
            keep > 0
            and llama.llama_memory_seq_pos_min(self._memory, slot) == 0
            and llama.llama_memory_seq_rm(self._memory, slot, keep, -1)
        ):
            return True
        self._clear(slot)
        return False

    def _evict(self, slot: int) -> None:
        del self._held[slot]
        del self._last_used[slot]
        self._clear(slot)

    def _clear(self, slot: int) -> None:
        llama.llama_memory_seq_rm(self._memory, slot, -1, -1)

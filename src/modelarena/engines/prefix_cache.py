"""Prefix caching: the KV cells a finished sequence leaves in its slot are kept, so that a
later prompt starting with the same tokens (a chat's next turn, a shared system prompt, a
judge's template) is prefilled only from where they differ.

`SlotCache` hands out the batcher's sequence slots. A new prompt gets the idle slot whose
kept tokens share the longest prefix with it; the slot's cells past that prefix are
dropped. Without a match it gets an empty slot, else the least recently used one. The
tokens kept in idle slots stay within a budget, the least recently used dropped first.

A finished answer's tokens are kept too, but not the cells its one-token decode steps
wrote: those differ slightly from a prefill of the same tokens, and a reused prefix must
score exactly as a fresh one. They are dropped, and the answer's tokens wait in the slot
to be prefilled again, in batches, while the model has nothing else to do (`next_warm`).
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
        self._unwarmed: dict[int, list[int]] = {}  # idle slot -> tokens to prefill after
        self._last_used: dict[int, int] = {}
        self._clock = 0
        self.reused = 0  # prompt tokens not prefilled again, in all
        # Read from other threads (metrics): plain ints, recounted after each change.
        self.kept = 0  # tokens whose cells idle slots hold
        self.waiting = 0  # finished answers' tokens still to be prefilled again

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
        self._unwarmed.pop(slot, None)
        if self._held.pop(slot, None) is not None and not self._trim_to(slot, shared):
            shared = 0
        self.reused += shared
        self._recount()
        return slot, shared

    def give_back(self, slot: int, tokens: list[int], answer: list[int] | None = None) -> None:
        """`slot` is idle again; its first cells hold `tokens` (empty: keep nothing), and
        `answer`'s tokens, which came after them, are to be prefilled there again (their
        cells, if any, are dropped now)."""
        self._free.add(slot)
        if not tokens or self._budget == 0 or not self._trim_to(slot, len(tokens)):
            self._clear(slot)
            return
        self._clock += 1
        self._held[slot] = tokens
        if answer:
            self._unwarmed[slot] = answer
        self._last_used[slot] = self._clock
        self._recount()
        while self.kept + self.waiting > self._budget:
            self.drop(min(self._last_used, key=self._last_used.__getitem__))

    def next_warm(self, most: int) -> tuple[int, int, list[int]] | None:
        """The next answer tokens to prefill in an idle slot, the most recently used first
        (the chat most likely to go on): (slot, position of the first, at most `most`
        tokens), or None when none are left."""
        while self._unwarmed:
            slot = max(self._unwarmed, key=self._last_used.__getitem__)
            waiting = self._unwarmed[slot]
            chunk = waiting[:most]
            if len(waiting) - len(chunk) == 1:
                chunk = chunk[:-1]  # never leave one token alone for the next chunk
            if len(chunk) >= MIN_PREFILL:
                return slot, len(self._held[slot]), chunk
            del self._unwarmed[slot]  # one token alone: not worth the different path
            self._recount()
        return None

    def warmed(self, slot: int, count: int) -> None:
        """The first `count` tokens `next_warm` gave for `slot` are in its cells now."""
        waiting = self._unwarmed.pop(slot)
        self._held[slot] = self._held[slot] + waiting[:count]
        if len(waiting) > count:
            self._unwarmed[slot] = waiting[count:]
        self._recount()

    def drop(self, slot: int) -> None:
        """Keep nothing in idle `slot`."""
        del self._last_used[slot]
        self._clear(slot)

    def _recount(self) -> None:
        self.kept = sum(map(len, self._held.values()))
        self.waiting = sum(map(len, self._unwarmed.values()))

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

    def _clear(self, slot: int) -> None:
        self._held.pop(slot, None)
        self._unwarmed.pop(slot, None)
        llama.llama_memory_seq_rm(self._memory, slot, -1, -1)
        self._recount()

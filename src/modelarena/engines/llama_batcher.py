"""Continuous batching for one llama.cpp context: many sequences share each decode step.

A single thread owns the context. Each step it feeds one token for every generating
sequence plus a chunk of any new prompt into one `llama_decode`, samples every sequence
from its own row of logits with its own sampler chain, and admits or retires sequences
between steps. Each step's results go back through one `deliver` call per request. With
nothing to decode, it prefills finished answers again for prefix caching (`SlotCache`).
"""

from __future__ import annotations

import ctypes
import enum
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import llama_cpp as llama

from modelarena.engines.base import TokenLogprob
from modelarena.engines.constrained import GrammarConstraint
from modelarena.engines.llama_runtime import answer_piece
from modelarena.engines.logprobs import LogprobReader
from modelarena.engines.prefix_cache import SlotCache
from modelarena.engines.text_stream import TextStream

log = logging.getLogger(__name__)

PENALTY_WINDOW = 256  # tokens the repetition/presence/frequency penalties look back on
# Prompt tokens a step may feed for a sequence that wants their logprobs: each such token
# needs its own row of logits (a vocabulary of floats), and llama.cpp keeps the buffer.
PROMPT_LOGPROBS_CHUNK = 64
# Tokens of a finished answer prefilled again in one step while the model is idle: a
# request arriving meanwhile waits for one such step at most.
WARM_CHUNK = 128


@dataclass(frozen=True)
class SamplerSettings:
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    seed: int | None = None


# One result of a step for one sequence: (sequence, new text, finish reason, error,
# logprobs of the tokens behind the text, or None when not asked).
Update = tuple["Sequence", str, str | None, str | None, list[TokenLogprob] | None]
# Receives a request's updates of one step, on the batcher thread; must not block.
Deliver = Callable[[list[Update]], None]


class State(enum.Enum):
    """Where a sequence is. The batcher thread moves it along:
    WAITING -> PREFILLING -> DECODING -> FINISHED, or to CANCELLED from any of the first
    three once its request asked (`cancel_requested`); `cancel` itself takes a WAITING
    sequence out of the queue, under the lock that admission holds."""

    WAITING = "waiting"  # submitted, no slot yet
    PREFILLING = "prefilling"  # has a slot; its prompt is being decoded, chunk by chunk
    DECODING = "decoding"  # generating, one token a step
    FINISHED = "finished"  # ended (stop, length, or an error) and told its request
    CANCELLED = "cancelled"  # its request left; its slot is free again


@dataclass(eq=False)
class Sequence:
    """One choice being generated. `cancel_requested` may be set from any thread; the
    fields after it belong to the batcher thread."""

    prompt: list[int]
    sampling: SamplerSettings
    max_tokens: int
    stop: list[str]
    deliver: Deliver
    index: int = 0
    strip_leading_space: bool = False
    ignore_eos: bool = False
    grammar: str | None = None  # GBNF the answer must follow (structured output)
    logprobs: int | None = None  # None: not asked; else how many alternatives per token
    prompt_logprobs: bool = False  # also the prompt's tokens' (completions' `echo`)
    cancel_requested: bool = False

    state: State = State.WAITING
    slot: int = -1  # while PREFILLING or DECODING
    fed: int = 0  # prompt tokens already decoded
    position: int = 0
    next_token: int = -1
    generated: int = 0
    answer: list[int] = field(default_factory=list)  # the tokens sampled so far
    sampler: object = None
    constraint: GrammarConstraint | None = None  # from `grammar`
    text: TextStream = field(init=False)
    new_logprobs: list[TokenLogprob] = field(default_factory=list)  # not yet delivered
    cached: int = 0  # prompt tokens found in its slot's KV cells, not prefilled again

    def __post_init__(self) -> None:
        self.text = TextStream(self.stop, self.strip_leading_space)

    def take_logprobs(self) -> list[TokenLogprob] | None:
        if self.logprobs is None:
            return None
        taken, self.new_logprobs = self.new_logprobs, []
        return taken


def apply_adapter(ctx: Any, adapter: Any, name: str) -> None:
    """Apply one LoRA adapter to a context at scale 1 (its own alpha / rank applies)."""
    adapters = (llama.llama_adapter_lora_p_ctypes * 1)(adapter)
    scales = (ctypes.c_float * 1)(1.0)
    if llama.llama_set_adapters_lora(ctx, adapters, 1, scales) != 0:
        raise RuntimeError(f"llama.cpp could not apply the LoRA adapter of '{name}'")


class Batcher:
    """Owns a llama.cpp context with `parallel` sequence slots of `context_length` each."""

    def __init__(
        self,
        model: llama.llama_model_p,
        *,
        parallel: int,
        context_length: int,
        batch_size: int,
        threads: int,
        name: str,
        adapter: Any = None,
        prefix_cache_tokens: int = 0,
    ) -> None:
        """`adapter`: a loaded LoRA adapter applied at full scale, or None;
        `prefix_cache_tokens`: prompt tokens kept in idle slots for reuse (0: none)."""
        params = llama.llama_context_default_params()
        params.n_ctx = parallel * context_length
        params.n_seq_max = parallel
        params.n_batch = batch_size
        params.n_ubatch = batch_size
        params.n_threads = threads
        params.n_threads_batch = threads
        params.kv_unified = False  # one KV stream per slot: faster batched decode here
        if prefix_cache_tokens:
            # Flash attention (llama.cpp's CPU default) works in 16-bit floats: a prompt
            # prefilled in two chunks then scored up to 0.5 off one prefilled whole, so
            # prefix-cached answers would differ from uncached ones. Without it they agree
            # exactly. (It stays on otherwise: SmolLM2's greedy answers were tested so.)
            params.flash_attn_type = llama.LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.no_perf = True
        self._ctx = llama.llama_init_from_model(model, params)
        if not self._ctx:
            raise RuntimeError(f"llama.cpp could not create a context for '{name}'")
        if adapter is not None:
            apply_adapter(self._ctx, adapter, name)
        self._memory = llama.llama_get_memory(self._ctx)
        self._vocab = llama.llama_model_get_vocab(model)
        self._n_vocab = llama.llama_vocab_n_tokens(self._vocab)
        self._logprobs = LogprobReader(self._ctx, self._vocab, self._n_vocab)
        self._batch = llama.llama_batch_init(batch_size, 0, 1)
        self._batch_size = batch_size
        self.context_length = context_length
        self._slots = SlotCache(self._memory, parallel, prefix_cache_tokens)
        self.stopped = 0  # sequences cancelled by their request before they ended
        self._pending: deque[Sequence] = deque()
        self._active: list[Sequence] = []
        self._wake = threading.Condition()
        self._stopping = False
        self._pieces: dict[int, bytes] = {}  # token -> text bytes, filled as tokens appear
        self._eog: dict[int, bool] = {}
        self._updates: dict[Deliver, list[Update]] = {}
        self._thread = threading.Thread(target=self._run, name=f"batcher-{name}", daemon=True)
        self._thread.start()

    # -- called from any thread -------------------------------------------------------

    def submit(self, sequences: list[Sequence]) -> None:
        with self._wake:
            self._pending.extend(sequences)
            self._wake.notify()

    def cancel(self, sequences: list[Sequence]) -> None:
        """Stop these sequences: one still waiting for a slot leaves the queue now, one
        with a slot frees it before the next step."""
        with self._wake:
            for seq in sequences:
                seq.cancel_requested = True
                if seq in self._pending:
                    self._pending.remove(seq)
                    seq.state = State.CANCELLED
                    self.stopped += 1
            self._wake.notify()

    def load(self) -> int:
        return len(self._pending) + len(self._active)

    def prefix_cache(self) -> tuple[int, int]:
        """Tokens whose KV cells idle slots keep, and answer tokens still to prefill."""
        return self._slots.kept, self._slots.waiting

    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=30)
        llama.llama_batch_free(self._batch)
        llama.llama_free(self._ctx)

    # -- the batcher thread -----------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                warm = None  # finished answer tokens to prefill while there is nothing else
                while not (self._stopping or self._pending or self._active):
                    warm = self._slots.next_warm(min(WARM_CHUNK, self._batch_size))
                    if warm:
                        break
                    self._wake.wait()
                if self._stopping:
                    for seq in list(self._active) + list(self._pending):
                        self._finish(seq, None, "the model is shutting down")
                    self._flush()
                    return
                self._admit()
            self._retire_cancelled()
            if warm:
                self._warm(*warm)
            elif self._active:
                try:
                    self._step()
                except Exception as exc:  # a failure must not kill the loop or lose requests
                    log.exception("decode step failed")
                    for seq in list(self._active):
                        self._finish(seq, None, f"inference failed: {exc}")
            self._flush()

    def _admit(self) -> None:
        admitted = False
        while self._pending and self._slots.has_free():
            seq = self._pending.popleft()
            try:
                seq.sampler = self._new_sampler(seq.sampling)
                if seq.grammar:
                    seq.constraint = GrammarConstraint(self._vocab, self._n_vocab, seq.grammar)
            except Exception as exc:  # this sequence fails; the loop and the others go on
                log.exception("sampler set-up failed")
                self._emit(seq, "", None, f"its sampler could not be set up ({exc})")
                seq.state = State.FINISHED
                continue
            # Echo needs every prompt token's logits: it cannot start past any of them.
            seq.slot, seq.fed = self._slots.take(seq.prompt, reuse=not seq.prompt_logprobs)
            seq.position = seq.cached = seq.fed
            seq.state = State.PREFILLING
            self._active.append(seq)
            admitted = True
        # llama.cpp decodes a batch whose tokens come in sequence order in one pass; in
        # another order it splits the batch, and a step of 8 took twice as long here.
        # Lowest slots first keeps the busy slots contiguous, which is faster again
        # (4 sequences in slots 3,4,5,7 took 25 ms a step, in 0-3 or 4-7 19 ms).
        # A new sorted list, not a sort in place: `list.sort` empties the list while its
        # key function runs, and `load()`, read from other threads, would see none.
        if admitted:
            self._active = sorted(self._active, key=lambda s: s.slot)

    def _retire_cancelled(self) -> None:
        cancelled = [s for s in self._active if s.cancel_requested]
        for seq in cancelled:
            self._release(seq)
            seq.state = State.CANCELLED
        if cancelled:
            with self._wake:  # `cancel` counts too, from the event loop's thread
                self.stopped += len(cancelled)

    def _step(self) -> None:
        self._batch.n_tokens = 0
        rows: list[tuple[Sequence, int]] = []  # rows to sample a sequence's next token from
        prompt_rows: list[tuple[Sequence, int, int]] = []  # (seq, prompt index, row)
        decoding = sum(1 for seq in self._active if seq.state is State.DECODING)
        prompt_budget = self._batch_size - decoding
        for seq in self._active:  # in slot order: one token per decoding sequence,
            if seq.state is State.DECODING:  # prompt chunks while room remains
                rows.append((seq, self._add(seq.next_token, seq, True)))
            elif prompt_budget > 0:
                prompt_budget -= self._add_prompt_chunk(seq, prompt_budget, rows, prompt_rows)
        status = llama.llama_decode(self._ctx, self._batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")
        for seq, index, row in prompt_rows:
            seq.new_logprobs.append(
                self._logprobs.entry(self._logprobs.row(row), seq.prompt[index], seq.logprobs or 0)
            )
        for seq, row in rows:
            if seq.max_tokens == 0:  # only the prompt's logprobs were asked for
                self._finish(seq, "length")
            else:
                self._sample(seq, row)

    def _warm(self, slot: int, position: int, tokens: list[int]) -> None:
        """Prefill a finished answer's tokens in its idle slot, for the next turn."""
        self._batch.n_tokens = 0
        for k, token in enumerate(tokens):
            self._add_at(token, position + k, slot, False)
        try:
            status = llama.llama_decode(self._ctx, self._batch)
        except Exception:
            status = -1
        if status == 0:
            self._slots.warmed(slot, len(tokens))
        else:  # the slot's cells may be half written: keep nothing there
            log.warning("prefilling a finished answer again failed (%s)", status)
            self._slots.drop(slot)

    def _add_prompt_chunk(
        self,
        seq: Sequence,
        budget: int,
        rows: list[tuple[Sequence, int]],
        prompt_rows: list[tuple[Sequence, int, int]],
    ) -> int:
        """Add the next chunk of a prompt to the batch; the number of tokens added. The
        prompt's last token gives the row the first answer token is sampled from; with
        `prompt_logprobs`, every token's row scores the prompt token after it."""
        remaining = len(seq.prompt) - seq.fed
        take = min(remaining, budget)
        if seq.prompt_logprobs:
            take = min(take, PROMPT_LOGPROBS_CHUNK)
            if seq.fed == 0:  # nothing predicts the first token
                seq.new_logprobs.append(self._logprobs.entry(None, seq.prompt[0], 0))
        if remaining - take == 1 and take > 1:
            # Leave two tokens, not one, for the next step: alone in a batch, one token is
            # computed by another path, and the prompt would score differently.
            take -= 1
        for k in range(take):
            index = seq.fed + k
            last = index == len(seq.prompt) - 1
            row = self._add(seq.prompt[index], seq, last or seq.prompt_logprobs)
            if seq.prompt_logprobs and not last:
                prompt_rows.append((seq, index + 1, row))
        seq.fed += take
        if seq.fed == len(seq.prompt):
            seq.state = State.DECODING  # its first token is sampled from this step
            rows.append((seq, row))
        return take

    def _add(self, token: int, seq: Sequence, logits: bool) -> int:
        seq.position += 1
        return self._add_at(token, seq.position - 1, seq.slot, logits)

    def _add_at(self, token: int, position: int, slot: int, logits: bool) -> int:
        batch = self._batch
        i = batch.n_tokens
        batch.token[i] = token
        batch.pos[i] = position
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = slot
        batch.logits[i] = logits
        batch.n_tokens = i + 1
        return i

    def _sample(self, seq: Sequence, row: int) -> None:
        # Read before sampling: the values are the model's, before any sampler's filter.
        logprobs = None if seq.logprobs is None else self._logprobs.row(row)
        if seq.constraint:
            token = seq.constraint.sample(seq.sampler, self._ctx, row)
        else:
            token = llama.llama_sampler_sample(seq.sampler, self._ctx, row)
        seq.generated += 1
        seq.answer.append(token)
        if logprobs is not None:  # the end-of-answer token too, as vLLM lists it
            seq.new_logprobs.append(self._logprobs.entry(logprobs, token, seq.logprobs or 0))
        if self._is_eog(token) and not seq.ignore_eos:
            self._finish(seq, "stop")
            return
        text = seq.text.feed(self._token_bytes(token))
        if seq.text.stopped:
            self._finish(seq, "stop", text=text)
        elif seq.generated >= seq.max_tokens or seq.position >= self.context_length:
            self._finish(seq, "length", text=text)
        else:
            seq.next_token = token
            if text or seq.new_logprobs:
                self._emit(seq, text, None, None)

    # Each ctypes call releases and retakes the GIL; caching the per-token answers keeps
    # a step from queueing behind the event loop thread once per token.
    def _token_bytes(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = answer_piece(self._vocab, token)
        return piece

    def _is_eog(self, token: int) -> bool:
        eog = self._eog.get(token)
        if eog is None:
            eog = self._eog[token] = bool(llama.llama_vocab_is_eog(self._vocab, token))
        return eog

    def _emit(self, seq: Sequence, text: str, finish: str | None, error: str | None) -> None:
        update = (seq, text, finish, error, seq.take_logprobs())
        self._updates.setdefault(seq.deliver, []).append(update)

    def _flush(self) -> None:
        """Hand each request its updates of this step in one call."""
        updates, self._updates = self._updates, {}
        for deliver, items in updates.items():
            try:
                deliver(items)
            except RuntimeError:  # the request's event loop has closed: nobody is listening
                log.debug("dropped updates for a closed event loop")

    def _finish(
        self, seq: Sequence, reason: str | None, error: str | None = None, text: str = ""
    ) -> None:
        if error is None:
            text += seq.text.finish()
        self._emit(seq, text, reason, error)
        self._release(seq, keep=error is None)
        seq.state = State.FINISHED

    def _release(self, seq: Sequence, keep: bool = True) -> None:
        """Free the sequence's slot; with `keep`, the KV cells of its prompt stay for
        prefix reuse (not after a failed decode, which may have left them half written),
        and a whole answer's tokens are to be prefilled after them when the model is idle."""
        if seq in self._active:
            self._active.remove(seq)
            held = seq.prompt[: seq.fed] if keep else []
            whole = keep and seq.fed == len(seq.prompt)
            llama.llama_sampler_free(seq.sampler)
            if seq.constraint:
                seq.constraint.free()
            self._slots.give_back(seq.slot, held, seq.answer if whole else None)
            seq.slot = -1
        else:
            with self._wake:
                if seq in self._pending:
                    self._pending.remove(seq)

    def _new_sampler(self, s: SamplerSettings):
        params = llama.llama_sampler_chain_default_params()
        params.no_perf = True
        chain = llama.llama_sampler_chain_init(params)

        def add(sampler) -> None:
            llama.llama_sampler_chain_add(chain, sampler)

        # Top-k first, as llama.cpp advises: the later samplers then work on tens of
        # candidates instead of the whole vocabulary. (Negative presence or frequency
        # penalties therefore cannot promote a token from outside the top k.)
        if s.top_k > 0:
            add(llama.llama_sampler_init_top_k(s.top_k))
        if s.repetition_penalty != 1.0 or s.frequency_penalty or s.presence_penalty:
            add(
                llama.llama_sampler_init_penalties(
                    self._n_vocab,
                    PENALTY_WINDOW,
                    s.repetition_penalty,
                    s.frequency_penalty,
                    s.presence_penalty,
                )
            )
        if s.temperature <= 0:
            add(llama.llama_sampler_init_greedy())
            return chain
        if s.top_p < 1.0:
            add(llama.llama_sampler_init_top_p(s.top_p, 1))
        if s.min_p > 0:
            add(llama.llama_sampler_init_min_p(s.min_p, 1))
        add(llama.llama_sampler_init_temp(s.temperature))
        add(
            llama.llama_sampler_init_dist(
                llama.LLAMA_DEFAULT_SEED if s.seed is None else s.seed & 0xFFFFFFFF
            )
        )
        return chain

"""The in-process llama.cpp engine: a GGUF model on the CPU with continuous batching.

It turns requests into token sequences (chat template, system prompt, context checks,
sampling defaults), hands them to the `Batcher`, and streams the batcher's results back
as engine events. Embeddings use a second, embedding-mode context on the same weights.

Text from clients is untrusted: it is read as plain text (only the chat template's own
markup may write control tokens such as `<|im_end|>`), a prompt that cannot fit the
context is refused before it is tokenized, and tokenizing and rendering run off the event
loop. Embeddings run on the engine's own thread, one request at a time, and stop between
inputs when their client leaves.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from collections.abc import AsyncGenerator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import llama_cpp as llama

from modelarena.config import ModelConfig
from modelarena.engines.answer_format import (
    AnswerFormat,
    AnswerReader,
    answer_format,
    response_format_grammar,
)
from modelarena.engines.base import Embeddings, Engine, Event, GenerationRequest, TextDelta, Usage
from modelarena.engines.chat_tokens import ChatTokens, NoChatTemplate
from modelarena.engines.constrained import grammar_parses
from modelarena.engines.llama_batcher import Batcher, SamplerSettings, Sequence, apply_adapter
from modelarena.engines.llama_runtime import init_backend, token_piece
from modelarena.engines.model_files import DEFAULT_CONTEXT, resolve_model_path
from modelarena.engines.tool_calls import chat_messages
from modelarena.errors import APIError, context_length_exceeded, invalid_request, unsupported
from modelarena.protocol import ChatCompletionRequest, CompletionRequest, EmbeddingRequest


class EngineLoadError(Exception):
    """The model cannot be served as configured; the message says what to change."""


class LlamaCppEngine(Engine):
    kind = "llamacpp"

    # Known once the weights are loaded (`start`).
    context_length: int
    _tokens: ChatTokens
    _adapter: Any  # a LoRA adapter applied to every context, or None
    _threads: int

    def __init__(self, config: ModelConfig, cache_dir: Path) -> None:
        self.config = config
        self._cache_dir = cache_dir
        self._model = None
        self._batcher: Batcher | None = None
        self._embedder: _Embedder | None = None
        # Embeddings run here, one request at a time: a queue of them waits for this
        # thread, never in the shared pool that every other request needs.
        self._embed_thread = ThreadPoolExecutor(1, thread_name_prefix=f"embed-{config.name}")
        self._embedding_jobs: set[Future] = set()  # queued or running
        self.path: Path | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self._load)

    def _load(self) -> None:
        cfg = self.config
        if not cfg.path:
            raise EngineLoadError(f"model '{cfg.name}': no GGUF `path` is configured")
        self.path = resolve_model_path(cfg.path, self._cache_dir)
        init_backend()
        params = llama.llama_model_default_params()
        # Weights in anonymous memory, not a file mapping: the kernel may page mapped
        # files out when it judges them cold (proactive reclaim), and every decode step
        # would then stall on disk reads; anonymous memory stays put.
        params.use_mmap = False
        self._model = llama.llama_model_load_from_file(str(self.path).encode(), params)
        if not self._model:
            raise EngineLoadError(f"model '{cfg.name}': llama.cpp could not load {self.path}")
        self._adapter = None
        if cfg.lora_path:
            adapter_path = Path(cfg.lora_path).expanduser()
            # Freed with the model.
            self._adapter = llama.llama_adapter_lora_init(self._model, str(adapter_path).encode())
            if not self._adapter:
                raise EngineLoadError(
                    f"model '{cfg.name}': llama.cpp could not load the LoRA adapter "
                    f"{adapter_path} for {self.path}"
                )
        try:
            self._tokens = ChatTokens(self._model, cfg.name, cfg.chat_template)
        except NoChatTemplate as exc:
            raise EngineLoadError(f"{exc} ({self.path})") from None
        trained = llama.llama_model_n_ctx_train(self._model)
        self.context_length = cfg.context_length or min(trained, DEFAULT_CONTEXT)
        self._threads = cfg.threads or os.cpu_count() or 1
        self._batcher = Batcher(
            self._model,
            parallel=cfg.parallel,
            context_length=self.context_length,
            batch_size=cfg.batch_size,
            threads=self._threads,
            name=cfg.name,
            adapter=self._adapter,
            prefix_cache_tokens=cfg.prefix_cache_tokens,
        )

    async def close(self) -> None:
        if self._batcher:
            await asyncio.to_thread(self._batcher.close)
            self._batcher = None
        await asyncio.to_thread(self._free_weights)

    def _free_weights(self) -> None:
        # An embedding request may still be running on the engine's thread: wait for it
        # (queued ones are dropped), then free what it used.
        self._embed_thread.shutdown(wait=True, cancel_futures=True)
        if self._embedder:
            self._embedder.close()
            self._embedder = None
        if self._model:
            llama.llama_model_free(self._model)
            self._model = None

    async def healthy(self) -> bool:
        return self._batcher is not None and self._batcher.alive()

    def load(self) -> int:
        """Sequences queued or decoding, and embedding requests queued or running."""
        return (self._batcher.load() if self._batcher else 0) + len(self._embedding_jobs)

    def stopped(self) -> int:
        return self._batcher.stopped if self._batcher else 0

    def prefix_cache(self) -> tuple[int, int]:
        return self._batcher.prefix_cache() if self._batcher else (0, 0)

    # -- generation ---------------------------------------------------------------------

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[Event, None]:
        is_chat = isinstance(request, ChatCompletionRequest)
        self._reject_unsupported(request)
        answer = await self._answer_format(request)
        prompts = await asyncio.to_thread(self._prompts, request)
        param = "messages" if is_chat else "prompt"
        limits = [self._max_tokens(request, len(tokens), param) for tokens in prompts]
        sampling = self._sampling(request)
        logprobs = _logprobs_asked(request)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def deliver(updates: list) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, updates)

        stop = self.config.stop + request.stop_list()
        echo = isinstance(request, CompletionRequest) and request.echo
        sequences = [
            Sequence(
                prompt=tokens,
                sampling=_with_seed(sampling, request.seed, i),
                max_tokens=max_tokens,
                stop=stop,
                deliver=deliver,
                index=p * request.n + i,
                strip_leading_space=is_chat,
                ignore_eos=request.ignore_eos,
                logprobs=logprobs,
                prompt_logprobs=echo and logprobs is not None,
                grammar=answer.grammar,
            )
            for p, (tokens, max_tokens) in enumerate(zip(prompts, limits, strict=True))
            for i in range(request.n)
        ]
        # With echo, a choice's first delta starts with its prompt's text.
        echoes = {}
        if isinstance(request, CompletionRequest) and request.echo:
            texts = self._echo_texts(request, prompts)
            echoes = {seq: texts[seq.index // request.n] for seq in sequences}
        batcher = self._batcher
        if batcher is None:
            raise APIError(503, "the model is not loaded", type="server_error", retryable=True)
        batcher.submit(sequences)
        running = len(sequences)
        reader = AnswerReader(answer.tools)
        try:
            while running:
                for seq, text, finish, error, token_logprobs in await queue.get():
                    if error:
                        raise APIError(
                            502, f"model '{self.config.name}': {error}", code="engine_error"
                        )
                    if seq in echoes:
                        text = echoes.pop(seq) + text
                    if text or finish or token_logprobs:
                        delta = TextDelta(seq.index, text, finish, logprobs=token_logprobs)
                        if answer_delta := reader.read(delta):
                            yield answer_delta
                    if finish:
                        running -= 1
            yield Usage(
                sum(map(len, prompts)),
                sum(s.generated for s in sequences),
                cached_tokens=sum(s.cached for s in sequences if s.index % request.n == 0),
            )
        finally:
            if running:
                batcher.cancel(sequences)

    def _reject_unsupported(self, request: GenerationRequest) -> None:
        name = self.config.name
        extra = request.model_extra or {}
        if isinstance(request, ChatCompletionRequest):
            if request.has_images():
                raise unsupported("the model does not accept images", name, "messages")
            if request.top_logprobs and not request.logprobs:
                raise invalid_request(
                    "top_logprobs needs logprobs set to true", param="top_logprobs"
                )
        else:
            if request.suffix:
                raise unsupported("no suffix in the local engine", name, "suffix")
            if request.max_tokens == 0 and not request.echo:
                raise invalid_request(
                    "max_tokens may be 0 only with echo (to score the prompt)",
                    param="max_tokens",
                )
        if extra.get("logit_bias"):
            raise unsupported("not implemented by the local engine", name, "logit_bias")

    # -- prompts (run in a worker thread) ------------------------------------------------

    def _prompts(self, request: GenerationRequest) -> list[list[int]]:
        """The token ids of each prompt: a chat has one, a completions request a batch."""
        if isinstance(request, ChatCompletionRequest):
            prompts = [self._chat_tokens(request)]
        else:
            prompts = [self._completion_tokens(p, request.max_tokens) for p in request.prompts()]
        if not all(prompts):
            raise invalid_request("the prompt is empty", param="prompt")
        return prompts

    def _completion_tokens(self, prompt: str | list[int], max_tokens: int | None) -> list[int]:
        """Text is read as plain characters; token ids must be in the vocabulary."""
        if isinstance(prompt, str):
            self._check_fits(len(prompt), max_tokens, "prompt")
            return self._tokens.plain(prompt)
        size = llama.llama_vocab_n_tokens(self._tokens.vocab)
        unknown = next((token for token in prompt if token >= size), None)
        if unknown is not None:
            raise invalid_request(
                f"token id {unknown} is not in the model's vocabulary (0 to {size - 1})",
                param="prompt",
            )
        return prompt

    def _echo_texts(self, request: CompletionRequest, prompts: list[list[int]]) -> list[str]:
        """Each prompt as echo shows it: the text given, or the text of the token ids."""
        return [
            given if isinstance(given, str) else self._detokenize(tokens)
            for given, tokens in zip(request.prompts(), prompts, strict=True)
        ]

    def _detokenize(self, tokens: list[int]) -> str:
        pieces = b"".join(token_piece(self._tokens.vocab, t, special=True) for t in tokens)
        return pieces.decode("utf-8", errors="replace")

    def _check_fits(self, characters: int, max_tokens: int | None, param: str) -> None:
        """Refuse, before tokenizing, text that holds more tokens than the context can:
        a token covers at most `longest_piece` bytes, so at least one per that many."""
        at_least = math.ceil(characters / self._tokens.facts.longest_piece)
        if at_least >= self.context_length:
            raise context_length_exceeded(
                at_least, max_tokens, self.context_length, param, lower_bound=True
            )

    def _chat_tokens(self, request: ChatCompletionRequest) -> list[int]:
        messages, tools = chat_messages(
            request, self._tokens.template.renders_tools, self.config.system_prompt
        )
        self._check_fits(sum(len(m["content"]) for m in messages), request.max_tokens, "messages")
        return self._tokens.chat(messages, tools=tools)

    async def _answer_format(self, request: GenerationRequest) -> AnswerFormat:
        """The answer format (text, JSON, a chat's tool calls), its grammar checked."""
        if isinstance(request, ChatCompletionRequest):
            answer = answer_format(request, self._tokens.template.renders_tools)
        else:
            answer = AnswerFormat(response_format_grammar(request.response_format), None)
        if answer.grammar and not await asyncio.to_thread(
            grammar_parses, self._tokens.vocab, answer.grammar
        ):
            param = "tools" if answer.tools and answer.tools.forced else "response_format"
            raise invalid_request(
                "the schema's grammar was refused by llama.cpp",
                param=param,
                code="unsupported_schema",
            )
        return answer

    def _max_tokens(self, request: GenerationRequest, prompt_tokens: int, param: str) -> int:
        """Prompt and answer together must fit the context, as OpenAI counts it."""
        limit = self.context_length
        room = limit - prompt_tokens
        if room <= 0:
            raise context_length_exceeded(prompt_tokens, request.max_tokens, limit, param)
        if request.max_tokens is not None:
            if request.max_tokens > room:
                raise context_length_exceeded(prompt_tokens, request.max_tokens, limit, param)
            return request.max_tokens
        default = self.config.sampling.max_tokens
        return min(default, room) if default else room

    def _sampling(self, request: GenerationRequest) -> SamplerSettings:
        defaults = self.config.sampling

        def pick(name: str, fallback):
            value = getattr(request, name)
            if value is None:
                value = getattr(defaults, name)
            return fallback if value is None else value

        return SamplerSettings(
            temperature=pick("temperature", 1.0),
            top_k=pick("top_k", 0),
            top_p=pick("top_p", 1.0),
            min_p=pick("min_p", 0.0),
            repetition_penalty=pick("repetition_penalty", 1.0),
            frequency_penalty=pick("frequency_penalty", 0.0),
            presence_penalty=pick("presence_penalty", 0.0),
        )

    # -- embeddings ---------------------------------------------------------------------

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        if not self.config.embeddings:
            return await super().embed(request)
        if self._model is None:
            raise APIError(503, "the model is shutting down", retryable=True)
        size = llama.llama_model_n_embd(self._model)
        if request.dimensions is not None and request.dimensions > size:
            raise invalid_request(
                f"dimensions must be at most {size} for this model", param="dimensions"
            )
        inputs = request.inputs()
        limit = self.config.max_embedding_tokens
        if math.ceil(sum(map(len, inputs)) / self._tokens.facts.longest_piece) > limit:
            raise _too_many_embedding_tokens(limit, None)
        stop = threading.Event()
        job = self._embed_thread.submit(self._embed_all, inputs, stop)
        self._embedding_jobs.add(job)
        job.add_done_callback(self._embedding_jobs.discard)
        try:
            vectors, count = await asyncio.wrap_future(job)
        except asyncio.CancelledError:
            stop.set()  # the client left: the thread stops before its next input
            job.cancel()  # or never starts it
            raise
        if request.dimensions is not None:  # shortened vectors stay unit length
            vectors = [_unit(v[: request.dimensions]) for v in vectors]
        return Embeddings(vectors, count)

    def _embed_all(self, inputs: list[str], stop: threading.Event) -> tuple[list[list[float]], int]:
        """On the engine's embedding thread: check every input, then embed them in turn
        until done or `stop` is set."""
        encoded = [self._tokens.plain(text) for text in inputs]
        limit = self.config.max_embedding_tokens
        total = sum(map(len, encoded))
        if total > limit:
            raise _too_many_embedding_tokens(limit, total)
        for i, tokens in enumerate(encoded):
            if len(tokens) > self.context_length:
                raise invalid_request(
                    f"input {i} has {len(tokens)} tokens; this model embeds at most "
                    f"{self.context_length}",
                    param="input",
                    code="context_length_exceeded",
                )
        if self._embedder is None:
            self._embedder = _Embedder(
                self._model, self.context_length, self._threads, self._adapter
            )
        vectors = []
        for tokens in encoded:
            if stop.is_set():
                break
            vectors.append(self._embedder.embed(tokens))
        return vectors, total


def _too_many_embedding_tokens(limit: int, total: int | None) -> APIError:
    held = f"holds {total:,} tokens" if total is not None else "holds too many tokens"
    return invalid_request(
        f"This request {held}; one embeddings request may hold at most "
        f"{limit:,} (max_embedding_tokens). Split the inputs over several "
        "requests.",
        param="input",
        code="too_many_tokens",
    )


def _logprobs_asked(request: GenerationRequest) -> int | None:
    """None when no logprobs were asked for; else how many alternatives each token gets."""
    if isinstance(request, ChatCompletionRequest):
        return (request.top_logprobs or 0) if request.logprobs else None
    return request.logprobs


def _with_seed(sampling: SamplerSettings, seed: int | None, index: int) -> SamplerSettings:
    """Choice i of a seeded request uses seed+i, so n choices differ yet repeat exactly."""
    if seed is None:
        return sampling
    return SamplerSettings(**{**sampling.__dict__, "seed": seed + index})


def _unit(vector: list[float]) -> list[float]:
    norm = sum(x * x for x in vector) ** 0.5 or 1.0
    return [x / norm for x in vector]


class _Embedder:
    """A mean-pooled, L2-normalised embedding context sharing the generation weights."""

    def __init__(self, model, context_length: int, threads: int, adapter=None) -> None:
        params = llama.llama_context_default_params()
        params.n_ctx = context_length
        params.n_batch = context_length
        params.n_ubatch = context_length
        params.n_seq_max = 1
        params.n_threads = threads
        params.n_threads_batch = threads
        params.embeddings = True
        params.pooling_type = llama.LLAMA_POOLING_TYPE_MEAN
        params.no_perf = True
        self._ctx = llama.llama_init_from_model(model, params)
        if not self._ctx:
            raise RuntimeError("llama.cpp could not create an embedding context")
        if adapter is not None:
            apply_adapter(self._ctx, adapter, "embeddings")
        self._memory = llama.llama_get_memory(self._ctx)
        self._n_embd = llama.llama_model_n_embd(model)
        self._batch = llama.llama_batch_init(context_length, 0, 1)

    def embed(self, tokens: list[int]) -> list[float]:
        batch = self._batch
        for i, token in enumerate(tokens):
            batch.token[i] = token
            batch.pos[i] = i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = True
        batch.n_tokens = len(tokens)
        llama.llama_memory_clear(self._memory, True)
        if llama.llama_decode(self._ctx, batch) != 0:
            raise APIError(500, "embedding failed in llama.cpp", type="server_error")
        pooled = llama.llama_get_embeddings_seq(self._ctx, 0)
        return _unit([pooled[i] for i in range(self._n_embd)])

    def close(self) -> None:
        llama.llama_batch_free(self._batch)
        llama.llama_free(self._ctx)

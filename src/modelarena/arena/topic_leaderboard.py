"""The leaderboard of a topic: the latest blind votes re-rated with each battle weighted by
how similar its first prompt is to a visitor's prompt or topic (rating/weights.py), the
prompts embedded by a model the platform serves.

Prompts are embedded once and stored (store/embeddings.py). A request never waits for
many of them: when more than a batch are missing, one background task embeds them, newest
first, and the request ranks on the latest votes embedded so far when they are enough, or
else answers how far it has got; either way the page asks again.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from anyio import to_thread

from modelarena.config import TopicSettings
from modelarena.errors import APIError
from modelarena.protocol import EmbeddingRequest
from modelarena.rating import Battles, RatingConfig, RatingError, rate
from modelarena.rating.data import WINNERS
from modelarena.rating.weights import effective_count, similarities, topic_weights
from modelarena.serving.router import Router
from modelarena.store import embeddings as store
from modelarena.store.db import Database

log = logging.getLogger(__name__)

BATCH = 8  # prompts in one embeddings request, and the most a request embeds itself
PROMPT_CHARS = 1000  # of a prompt's start that is embedded: its topic, in bounded tokens
_QUERIES_KEPT = 256  # query embeddings remembered (a page asks again while it waits)
METADATA = ("display_name", "organization")

State = Literal["ready", "computing", "too_few", "no_votes", "unavailable"]
Battle = tuple[str, str, str, str]  # conversation, model_a, model_b, winner


@dataclass(frozen=True)
class TopicBoard:
    """A topic's rows (as the live board's, `num_battles` weighted), or why none yet."""

    state: State
    query: str
    embedding_model: str
    message: str | None = None
    embedded: int = 0
    total: int = 0
    effective_votes: float | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)


class TopicLeaderboard:
    def __init__(
        self,
        settings: TopicSettings,
        db: Database,
        router: Router,
        metadata: Callable[[], dict[str, dict[str, Any]]],
    ) -> None:
        self.settings = settings
        self.db = db
        self.router = router
        self.metadata = metadata
        self._vectors: dict[str, np.ndarray] = {}  # by conversation, of settings' model
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._filler: asyncio.Task[None] | None = None
        self._failure: str | None = None

    async def board(self, query: str) -> TopicBoard:
        """The leaderboard of `query`, or where its computation stands."""
        model = self.settings.embedding_model
        battles = await to_thread.run_sync(store.latest_battles, self.db, self.settings.max_battles)
        if not battles:
            return TopicBoard("no_votes", query, model, "No votes yet.")
        ids = [battle[0] for battle in battles]
        if len(self._vectors) > 2 * len(ids):  # votes that left the window of the latest
            kept = set(ids)
            self._vectors = {c: v for c, v in self._vectors.items() if c in kept}
        await self._read_stored(ids)
        missing = [c for c in ids if c not in self._vectors]
        try:
            if 0 < len(missing) <= BATCH:
                await self._embed(missing)
                missing = []
            point = await self._query_vector(query)
        except APIError as exc:
            log.warning("topic leaderboard: embedding with %s failed: %s", model, exc.message)
            return self._unavailable(query)
        if missing:
            if self._failure is not None:  # reported once; the next request tries again
                self._failure = None
                return self._unavailable(query)
            self._start_filling(missing)
            # The latest votes are embedded first: rank on them once they are enough.
            embedded = [battle for battle in battles if battle[0] in self._vectors]
            if embedded:
                board = await to_thread.run_sync(self._fit, query, embedded, point, len(ids))
                if board.state == "ready":
                    return board
            return TopicBoard(
                "computing",
                query,
                model,
                f"Reading the prompts of past votes: {len(embedded):,} of {len(ids):,} so far.",
                embedded=len(embedded),
                total=len(ids),
            )
        return await to_thread.run_sync(self._fit, query, battles, point, len(ids))

    def _fit(self, query: str, battles: list[Battle], point: np.ndarray, total: int) -> TopicBoard:
        """The board of `battles`, the latest of `total` votes (the others not embedded yet)."""
        settings = self.settings
        matrix = np.stack([self._vectors[battle[0]] for battle in battles])
        weights = topic_weights(
            similarities(matrix, point),
            settings.kernel,
            temperature=settings.temperature,
            top_k=settings.top_k,
        )
        effective = effective_count(weights)
        if effective > 0:
            # A common scale changes no rating or interval; this one makes the weights add
            # up to the effective votes, so each model's weighted votes read as a count.
            weights = weights * (weights.sum() / (weights @ weights))

        def answer(state: State, message: str | None, rows: list[dict[str, Any]]) -> TopicBoard:
            return TopicBoard(
                state,
                query,
                settings.embedding_model,
                message,
                embedded=len(battles),
                total=total,
                effective_votes=effective,
                rows=rows,
            )

        if effective < settings.min_effective_votes:
            return answer(
                "too_few",
                f"Only about {math.floor(effective)} votes are close to this topic; a fair "
                f"ranking needs at least {settings.min_effective_votes:g}. Try a broader topic.",
                [],
            )
        try:
            board = rate(_battles(battles, weights), RatingConfig())
        except RatingError as exc:
            log.info("topic leaderboard for %r: %s", query, exc)
            return answer(
                "too_few",
                "The votes close to this topic cannot rank the models yet: some never met, "
                "or one won every battle. Try a broader topic.",
                [],
            )
        rows = board.records()
        metadata = self.metadata()
        for row in rows:
            meta = metadata.get(row["model"], {})
            row.update({key: meta.get(key) for key in METADATA})
        notes = list(board.warnings)
        if len(battles) < total:
            notes.insert(
                0,
                f"For now on the latest {len(battles):,} of {total:,} votes: the others' "
                "prompts are still being read",
            )
        return answer("ready", "; ".join(notes) + "." if notes else None, rows)

    def _unavailable(self, query: str) -> TopicBoard:
        return TopicBoard(
            "unavailable",
            query,
            self.settings.embedding_model,
            "Rankings for a topic are not available right now: the model that compares "
            "prompts is not running on this server.",
        )

    # -- embeddings -----------------------------------------------------------------------

    async def _read_stored(self, ids: list[str]) -> None:
        unread = [c for c in ids if c not in self._vectors]
        if unread:
            found = await to_thread.run_sync(
                store.vectors, self.db, self.settings.embedding_model, unread
            )
            self._vectors.update({c: np.frombuffer(v, np.float32) for c, v in found.items()})

    async def _query_vector(self, query: str) -> np.ndarray:
        if query in self._queries:
            self._queries.move_to_end(query)
            return self._queries[query]
        (vector,) = await self._vectors_of([query])
        self._queries[query] = vector
        if len(self._queries) > _QUERIES_KEPT:
            self._queries.popitem(last=False)
        return vector

    async def _vectors_of(self, texts: list[str]) -> list[np.ndarray]:
        model = self.settings.embedding_model
        request = EmbeddingRequest(model=model, input=[t[:PROMPT_CHARS] for t in texts])
        result = await self.router.embed(model, request)
        return [np.asarray(v, dtype=np.float32) for v in result.vectors]

    async def _embed(self, ids: list[str]) -> None:
        """Embed and store the first prompts of these conversations."""
        prompts = await to_thread.run_sync(store.first_prompts, self.db, ids)
        # A prompt of an image alone has no text: it stands for what it is.
        texts = [prompts.get(c, "").strip() or "An image." for c in ids]
        found = dict(zip(ids, await self._vectors_of(texts), strict=True))
        await to_thread.run_sync(
            store.save_vectors,
            self.db,
            self.settings.embedding_model,
            {c: v.tobytes() for c, v in found.items()},
        )
        self._vectors.update(found)

    def _start_filling(self, missing: list[str]) -> None:
        if self._filler is not None and not self._filler.done():
            return
        self._filler = asyncio.get_running_loop().create_task(self._fill(missing))

    async def _fill(self, missing: list[str]) -> None:
        """Embed the missing prompts in batches, newest first; a failure is kept for the
        next request to report (which starts again)."""
        try:
            for start in range(0, len(missing), BATCH):
                await self._embed(missing[start : start + BATCH])
        except Exception as exc:
            self._failure = str(exc)
            log.exception("topic leaderboard: embedding the prompts of past votes failed")


def _battles(battles: list[Battle], weights: np.ndarray) -> Battles:
    """(conversation, model_a, model_b, winner) rows as the rating engine's Battles, each
    with its weight as importance."""
    models = sorted({name for battle in battles for name in battle[1:3]})
    index = {name: k for k, name in enumerate(models)}
    a = np.array([index[battle[1]] for battle in battles], dtype=np.int32)
    b = np.array([index[battle[2]] for battle in battles], dtype=np.int32)
    outcome = np.array([WINNERS[battle[3]] for battle in battles], dtype=np.int8)
    return Battles(tuple(models), a, b, outcome, importance=weights)

"""A conversation's turns: a prompt checked (length, turns left, image, moderation), then
both sides' answers generated at once and streamed as events carrying sanitised HTML, each
side stored when it ends (complete, failed or stopped), and blind answers that name their
model flagged. The conversation is claimed from the new turn until both sides end.

Stopping, as LMArena allows it: a visitor who closes the stream (the page's Stop or New
round, a closed tab) or asks to stop (`stop`) ends the generation on the server at once.
What each side wrote so far is stored with the finish reason `stopped` and counts as its
answer: the round can be voted on, or continued, with it. A side stopped before it wrote
anything has no answer (an error): the round cannot be voted until it is regenerated.

In a blind battle nothing sent before the vote names a model: failures are told by kind,
in our own words, never with a backend's message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable
from dataclasses import replace
from typing import Any, TypeVar

import anyio
from anyio import to_thread

from modelarena.arena.claims import Claims
from modelarena.arena.conversations import (
    already_voted,
    can_continue,
    owned,
    refusal,
    why_not_votable,
)
from modelarena.arena.identity import find_leak, identity_terms
from modelarena.arena.images import ImageStore
from modelarena.arena.lineup import Lineup
from modelarena.arena.moderation import Moderation
from modelarena.arena.render import render_markdown
from modelarena.config import ArenaSettings
from modelarena.engines.base import TextDelta, Usage
from modelarena.errors import APIError
from modelarena.protocol import ChatCompletionRequest
from modelarena.serving.router import Router
from modelarena.store import arena as store
from modelarena.store.arena import ConversationView, SideResult, TurnView
from modelarena.store.db import Database

log = logging.getLogger(__name__)
T = TypeVar("T")

RENDER_EVERY_S = 0.08  # how often a streaming pane gets re-rendered HTML
STOPPED = "stopped"  # the finish reason of an answer its visitor stopped


class _Run:
    """A turn being generated in this process: its sides' tasks, cancelled once when the
    turn is stopped, and the conversation's claim, released once."""

    def __init__(self, conversation_id: str, claims: Claims) -> None:
        self.conversation_id = conversation_id
        self.claims = claims
        self.sides: list[asyncio.Task[None]] = []
        self._stopping = False
        self._released = False

    def stop(self) -> None:
        if not self._stopping:
            self._stopping = True
            for task in self.sides:
                task.cancel()

    async def ended(self) -> None:
        """Wait until every side has ended and is stored (never cancelled midway)."""
        with anyio.CancelScope(shield=True):
            await asyncio.gather(*self.sides, return_exceptions=True)

    def release(self) -> None:
        # Once only: after this, a new turn may claim the conversation again.
        if not self._released:
            self._released = True
            self.claims.release(self.conversation_id)


class Turns:
    def __init__(
        self,
        settings: ArenaSettings,
        db: Database,
        router: Router,
        images: ImageStore,
        moderation: Moderation,
        lineup: Lineup,
        claims: Claims,
    ) -> None:
        self.settings = settings
        self.db = db
        self.router = router
        self.images = images
        self.moderation = moderation
        self.lineup = lineup
        self.claims = claims
        self._runs: dict[str, _Run] = {}  # conversation id -> its turn being generated

    def _owned(self, visitor_id: str, conversation_id: str) -> ConversationView:
        return owned(store.get_conversation(self.db, conversation_id), visitor_id)

    def check_prompt(self, view: ConversationView, prompt: str, image: str | None) -> None:
        if not prompt.strip():
            raise refusal(400, "The prompt is empty.", "empty_prompt", "prompt")
        if "\x00" in prompt:
            raise refusal(
                400,
                "The prompt contains a NUL character (U+0000); remove it.",
                "invalid_prompt",
                "prompt",
            )
        if len(prompt) > self.settings.max_prompt_chars:
            raise refusal(
                400,
                f"The prompt has {len(prompt)} characters; the limit is "
                f"{self.settings.max_prompt_chars}.",
                "prompt_too_long",
                "prompt",
            )
        if view.winner is not None:
            raise already_voted()
        if len(view.turns) >= self.settings.max_turns:
            raise refusal(
                409,
                f"A conversation has at most {self.settings.max_turns} turns; start a new round.",
                "too_many_turns",
            )
        if view.turns and not view.turns[-1].ok(view.sides):
            raise refusal(
                409,
                "The last answer is missing or failed; regenerate it or start a new round.",
                "turn_incomplete",
            )
        if image is not None:
            if not self.images.path(image).is_file():
                raise refusal(400, "No such image; attach it again.", "image_not_found", "image")
            if not view.vision:
                raise refusal(
                    400,
                    "This conversation was started without images; start a "
                    "new one with the image attached.",
                    "vision_not_enabled",
                    "image",
                )
        try:
            reason = self.moderation(prompt)
        except Exception as exc:  # a broken hook refuses rather than lets prompts through
            log.exception("the moderation check failed")
            raise refusal(
                503,
                "The prompt could not be checked right now; try again later.",
                "moderation_unavailable",
            ) from exc
        if reason:
            raise refusal(400, f"This prompt cannot be sent: {reason}.", "prompt_refused", "prompt")

    async def send(
        self, visitor_id: str, conversation_id: str, prompt: str, image: str | None
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Add a turn and stream both answers into it."""
        view = await to_thread.run_sync(self._owned, visitor_id, conversation_id)
        await to_thread.run_sync(self.check_prompt, view, prompt, image)
        with self.claims.kept_unless_failing(conversation_id):
            try:
                turn_id = await to_thread.run_sync(
                    store.add_turn, self.db, conversation_id, len(view.turns), prompt, image
                )
            except store.TurnTaken:
                raise refusal(
                    409, "Another message is being sent in this conversation.", "conversation_busy"
                ) from None
            if turn_id is None:
                raise already_voted()
        turn = TurnView.unanswered(turn_id, len(view.turns), prompt, image)
        return self._generate(replace(view, turns=[*view.turns, turn]), turn_id)

    async def regenerate(
        self, visitor_id: str, conversation_id: str
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Answer the last turn again, on both sides."""
        view = await to_thread.run_sync(self._owned, visitor_id, conversation_id)
        if not view.turns:
            raise refusal(409, "There is nothing to regenerate yet.", "nothing_to_regenerate")
        if view.winner is not None:
            raise already_voted()
        last = view.turns[-1]
        with self.claims.kept_unless_failing(conversation_id):
            if not await to_thread.run_sync(store.reset_turn, self.db, conversation_id, last.id):
                raise already_voted()
        turn = TurnView.unanswered(last.id, last.position, last.prompt, last.image)
        return self._generate(replace(view, turns=[*view.turns[:-1], turn]), last.id)

    async def stop(self, visitor_id: str, conversation_id: str) -> None:
        """Stop the turn this process is generating in the visitor's conversation, if
        any, and return once its sides are stored and the conversation released. (Closing
        the turn's stream stops it too, on whichever server streams it.)"""
        await to_thread.run_sync(self._owned, visitor_id, conversation_id)
        run = self._runs.get(conversation_id)
        if run is not None:
            run.stop()
            await run.ended()
            run.release()

    async def _generate(
        self, view: ConversationView, turn_id: int
    ) -> AsyncGenerator[dict[str, Any], None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        results = {side: SideResult(answer="", finish_reason=None) for side in view.sides}
        run = _Run(view.id, self.claims)
        for side in view.sides:
            task = asyncio.create_task(self._answer(view, side, turn_id, queue, results[side]))
            task.add_done_callback(lambda _: queue.put_nowait(None))  # a side has ended
            run.sides.append(task)
        try:
            # The sides start before anything can stop them: a task cancelled before its
            # first step would never store its side.
            await asyncio.sleep(0)
            self._runs[view.id] = run
            yield {"type": "start", "turn": len(view.turns) - 1}
            finished = 0
            while finished < len(run.sides):
                event = await queue.get()
                if event is None:
                    finished += 1
                else:
                    yield event
            await run.ended()
            run.release()
            done = self._with_results(view, results)
            yield {
                "type": "done",
                "votable": why_not_votable(done, busy=False) is None,
                "can_continue": can_continue(done, self.settings.max_turns),
            }
        finally:
            # Runs also when the client went away and this generator is being cancelled
            # or closed: the sides are stopped and stored before the conversation is
            # released.
            try:
                run.stop()
                await run.ended()
            finally:
                run.release()
                if self._runs.get(view.id) is run:
                    del self._runs[view.id]

    @staticmethod
    def _with_results(view: ConversationView, results: dict[str, SideResult]) -> ConversationView:
        """The conversation with its last turn answered as `results` (as now stored)."""
        last = view.turns[-1]
        answered = replace(
            last,
            answers={side: results[side].answer for side in view.sides},
            finish={side: results[side].finish_reason for side in view.sides},
            errors={side: results[side].error for side in view.sides},
            completion_tokens={side: results[side].completion_tokens for side in view.sides},
        )
        return replace(view, turns=[*view.turns[:-1], answered])

    def _messages(self, view: ConversationView, side: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        for turn in view.turns:
            content: Any = turn.prompt
            if turn.image:
                content = [
                    {"type": "text", "text": turn.prompt},
                    {"type": "image_url", "image_url": {"url": self.images.data_url(turn.image)}},
                ]
            messages.append({"role": "user", "content": content})
            if turn.answers[side] is not None and turn is not view.turns[-1]:
                messages.append({"role": "assistant", "content": turn.answers[side]})
        return messages

    async def _answer(
        self,
        view: ConversationView,
        side: str,
        turn_id: int,
        queue: asyncio.Queue,
        result: SideResult,
    ) -> None:
        """Generate one side into `result`, store it and tell the stream."""
        model = view.models[side]
        sampling = view.sampling
        started = time.perf_counter()
        parts: list[str] = []
        try:
            request = ChatCompletionRequest(
                model=model,
                messages=self._messages(view, side),
                stream=True,
                temperature=sampling.get("temperature"),
                top_p=sampling.get("top_p"),
                max_tokens=sampling.get("max_tokens"),
            )
            async with asyncio.timeout(self.settings.answer_timeout_s):
                await self._stream(model, view.mode, request, side, result, parts, started, queue)
        except asyncio.CancelledError:  # stopped: what was written is kept
            self._stopped(result, parts)
            result.duration_ms = (time.perf_counter() - started) * 1000
            await _to_the_end(self._record(view, side, turn_id, result, queue))
            raise
        except TimeoutError:
            result.error = (
                f"No complete answer within {self.settings.answer_timeout_s:g} s; "
                "this round cannot be voted."
            )
        except APIError as exc:
            result.error = self._failure_text(view, exc)
        except Exception as exc:  # a backend bug must not take the battle down
            result.error = self._failure_text(view, APIError(500, type(exc).__name__))
        result.duration_ms = (time.perf_counter() - started) * 1000
        await _to_the_end(self._record(view, side, turn_id, result, queue))

    @staticmethod
    def _stopped(result: SideResult, parts: list[str]) -> None:
        """A side whose generation was stopped: its text so far is its answer."""
        result.answer = "".join(parts)
        if result.finish_reason is not None:  # it had ended; only its usage was to come
            return
        if result.answer.strip():
            result.finish_reason = STOPPED
        else:
            result.error = (
                "Stopped before this model wrote anything; regenerate the answers to vote."
            )

    async def _record(
        self,
        view: ConversationView,
        side: str,
        turn_id: int,
        result: SideResult,
        queue: asyncio.Queue,
    ) -> None:
        """Store a side's result, flag an identity leak in it, and tell the stream."""
        try:
            await to_thread.run_sync(store.save_side, self.db, turn_id, side, result)
            if result.answer:  # a failed or stopped side may have shown part of an answer
                await self._check_identity(view, side, result.answer)
            if result.error:
                queue.put_nowait({"type": "error", "side": side, "message": result.error})
            else:
                queue.put_nowait(
                    {
                        "type": "answer",
                        "side": side,
                        "html": render_markdown(result.answer),
                        "finish_reason": result.finish_reason,
                    }
                )
        except Exception:
            log.exception("the answer of side %s could not be stored", side)
            result.error = "This answer could not be stored; this round cannot be voted."
            queue.put_nowait({"type": "error", "side": side, "message": result.error})

    async def _stream(
        self,
        model: str,
        mode: str,
        request: ChatCompletionRequest,
        side: str,
        result: SideResult,
        parts: list[str],
        started: float,
        queue: asyncio.Queue,
    ) -> None:
        last_render = 0.0
        async for event in self.router.stream(model, request, blind=mode == "battle"):
            if isinstance(event, Usage):
                result.prompt_tokens = event.prompt_tokens
                result.completion_tokens = event.completion_tokens
                continue
            assert isinstance(event, TextDelta)
            if event.text:
                if result.ttft_ms is None:
                    result.ttft_ms = (time.perf_counter() - started) * 1000
                parts.append(event.text)
            if event.finish_reason:
                result.finish_reason = event.finish_reason
            now = time.perf_counter()
            if event.text and now - last_render >= RENDER_EVERY_S:
                last_render = now
                result.answer = "".join(parts)
                queue.put_nowait(
                    {"type": "delta", "side": side, "html": render_markdown(result.answer)}
                )
        result.answer = "".join(parts)
        if result.finish_reason is None:  # an answer cut off without saying why
            raise APIError(
                502, "the answer ended without a finish reason", code="incomplete_answer"
            )

    @staticmethod
    def _failure_text(view: ConversationView, error: APIError) -> str:
        """Why a side failed. In a blind battle only the kind of failure is told, in our
        own words: a backend's message or error code may name or fingerprint its model."""
        if view.mode == "battle":
            kind = (
                "rate limited"
                if error.status == 429
                else "timed out"
                if error.status == 504
                else "unavailable"
                if error.status >= 500
                else "refused the request"
            )
            return f"This model failed to answer ({kind}). This round cannot be voted."
        return f"This model failed to answer: {error.message}"

    async def _check_identity(self, view: ConversationView, side: str, answer: str) -> None:
        if view.mode != "battle":
            return
        term = find_leak(answer, identity_terms(self.lineup.metadata_or_name(view.models[side])))
        if term:
            await to_thread.run_sync(
                store.add_flag,
                self.db,
                view.id,
                "identity_leak",
                f"model_{side} ({view.models[side]}) named {term!r}",
                True,
            )


async def _to_the_end(work: Awaitable[T]) -> T:
    """Await `work` to its end even if this task is cancelled meanwhile (a side's record
    must not be cut in half); the cancellation is raised after it."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()

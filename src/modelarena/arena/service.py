"""The battle service: start conversations, stream both sides of a turn, vote, reveal.

Everything a vote depends on is in the database before the vote is accepted, and the
vote is committed before it is acknowledged. In a blind battle, nothing this service
sends before the vote names a model: errors are reported by kind, never with the
backend's own message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import anyio
from anyio import to_thread

from modelarena.arena.identity import find_leak, identity_terms
from modelarena.arena.images import ImageStore
from modelarena.arena.moderation import Moderation
from modelarena.arena.render import render_markdown
from modelarena.arena.sampling import Candidate, NoPairError, PairSampler
from modelarena.config import ArenaSettings
from modelarena.engines.base import TextDelta, Usage
from modelarena.errors import APIError
from modelarena.protocol import ChatCompletionRequest
from modelarena.serving.router import Router
from modelarena.store import arena as store
from modelarena.store.arena import ConversationView, SideResult, TurnView
from modelarena.store.db import Database
from modelarena.vocabulary import MODES, WINNERS

log = logging.getLogger(__name__)

RENDER_EVERY_S = 0.08  # how often a streaming pane gets re-rendered HTML
OVERRIDES_TTL_S = 2.0  # admin changes made through another server process show this late
MAX_REMEMBERED_VISITORS = 100_000


def _error(status: int, message: str, code: str, param: str | None = None) -> APIError:
    return APIError(status, message, code=code, param=param)


def _voted() -> APIError:
    return _error(409, "This battle has been voted; start a new round.", "already_voted")


@dataclass(frozen=True)
class Sampling:
    """Sampling for one conversation, within the arena's limits."""

    temperature: float
    top_p: float
    max_tokens: int


class ArenaService:
    def __init__(
        self,
        settings: ArenaSettings,
        db: Database,
        router: Router,
        images: ImageStore,
        sampler: PairSampler,
        moderation: Moderation,
        on_vote: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.router = router
        self.images = images
        self.sampler = sampler
        self.moderation = moderation
        self.on_vote = on_vote
        self._busy: set[str] = set()  # conversations generating (or voting) right now
        self._claiming = threading.Lock()
        self._accepted: set[str] = set()  # visitors known to have accepted the terms
        self._overrides: tuple[float, dict[str, store.ModelAdmin]] | None = None

    # -- models ---------------------------------------------------------------------------

    def arena_models(self) -> list[str]:
        configured = self.settings.models
        names = self.router.model_names()
        return [n for n in names if configured is None or n in configured]

    def metadata(self, model: str) -> dict[str, Any]:
        return {"name": model, **self.router.metadata(model)}

    def in_service(self) -> list[Candidate]:
        """Models that may battle now: configured, not disabled by config or admin, and
        with at least one healthy backend."""
        overrides = self._model_overrides()
        candidates = []
        for name in self.arena_models():
            override = overrides.get(name)
            enabled = name not in self.settings.disabled
            if override and override.enabled is not None:
                enabled = override.enabled
            if not enabled or not any(b.healthy for b in self.router.backends(name)):
                continue
            weight = self.settings.weights.get(name, 1.0)
            if override and override.weight is not None:
                weight = override.weight
            vision = bool(self.router.metadata(name).get("vision"))
            candidates.append(Candidate(name=name, weight=weight, vision=vision))
        return candidates

    def _model_overrides(self) -> dict[str, store.ModelAdmin]:
        now = time.monotonic()
        if self._overrides is None or now - self._overrides[0] > OVERRIDES_TTL_S:
            self._overrides = (now, store.model_overrides(self.db))
        return self._overrides[1]

    def set_override(self, name: str, changes: dict[str, Any]) -> bool:
        """An admin's change to a model; False for a model not in the arena."""
        if name not in self.arena_models():
            return False
        changed = store.set_model_override(self.db, name, changes)
        self._overrides = None
        return changed

    # -- visitors -------------------------------------------------------------------------

    def terms_accepted(self, visitor_id: str) -> bool:
        if visitor_id in self._accepted:
            return True
        accepted = store.terms_accepted(self.db, visitor_id)
        if accepted:
            self._remember(visitor_id)
        return accepted

    def accept_terms(self, visitor_id: str, ip_hash: str) -> None:
        if visitor_id in self._accepted:
            return  # nothing to write again
        store.ensure_visitor(self.db, visitor_id, ip_hash)
        store.accept_terms(self.db, visitor_id)
        self._remember(visitor_id)

    def _remember(self, visitor_id: str) -> None:
        if len(self._accepted) >= MAX_REMEMBERED_VISITORS:
            self._accepted.clear()
        self._accepted.add(visitor_id)

    # -- conversations --------------------------------------------------------------------

    def start(
        self,
        visitor_id: str,
        mode: str,
        models: list[str] | None,
        sampling: dict[str, Any] | None,
        vision: bool,
    ) -> ConversationView:
        if mode not in MODES:
            raise _error(400, f"mode must be one of {', '.join(MODES)}", "invalid_mode", "mode")
        if mode == "battle":
            if models:
                raise _error(
                    400,
                    "a battle picks its own models; leave 'models' out",
                    "invalid_models",
                    "models",
                )
            try:
                pair = list(self.sampler.pick(self.in_service(), vision=vision))
            except NoPairError as exc:
                raise _error(503, str(exc), "no_models") from exc
            chosen = self._sampling(None)
        else:
            wanted = 2 if mode == "side_by_side" else 1
            pair = list(models or [])
            if len(pair) != wanted or len(set(pair)) != wanted:
                raise _error(
                    400,
                    f"{mode} needs {wanted} different model name(s) in 'models'",
                    "invalid_models",
                    "models",
                )
            available = {c.name: c for c in self.in_service()}
            for name in pair:
                if name not in available:
                    raise _error(
                        400,
                        f"model {name!r} is not in service in the arena",
                        "model_not_available",
                        "models",
                    )
                if vision and not available[name].vision:
                    raise _error(
                        400, f"model {name!r} does not take images", "model_not_vision", "models"
                    )
            chosen = self._sampling(sampling)
        return store.create_conversation(
            self.db,
            secrets.token_hex(16),
            visitor_id,
            mode,
            pair,
            chosen.__dict__ | {"vision": vision},
        )

    def _sampling(self, given: dict[str, Any] | None) -> Sampling:
        limits = self.settings
        given = dict(given or {})
        unknown = set(given) - {"temperature", "top_p", "max_tokens"}
        if unknown:
            raise _error(
                400,
                f"unknown sampling settings: {', '.join(sorted(unknown))}",
                "invalid_sampling",
                "sampling",
            )
        try:
            temperature = float(given.get("temperature", limits.temperature))
            top_p = float(given.get("top_p", limits.top_p))
            max_tokens = int(given.get("max_tokens", limits.max_tokens))
        except (TypeError, ValueError, OverflowError) as exc:
            raise _error(
                400, "sampling settings must be finite numbers", "invalid_sampling", "sampling"
            ) from exc
        if not 0 <= temperature <= 2:
            raise _error(
                400,
                "temperature must be between 0 and 2",
                "invalid_sampling",
                "sampling.temperature",
            )
        if not 0 < top_p <= 1:
            raise _error(400, "top_p must be in (0, 1]", "invalid_sampling", "sampling.top_p")
        if not 1 <= max_tokens <= limits.max_tokens:
            raise _error(
                400,
                f"max_tokens must be between 1 and {limits.max_tokens}",
                "invalid_sampling",
                "sampling.max_tokens",
            )
        return Sampling(temperature, top_p, max_tokens)

    def owned(self, visitor_id: str, conversation_id: str) -> ConversationView:
        """The visitor's own conversation, or an error that says why not."""
        return self._own(store.get_conversation(self.db, conversation_id), visitor_id)

    @staticmethod
    def _own(view: ConversationView | None, visitor_id: str) -> ConversationView:
        if view is None:
            raise _error(404, "No such conversation.", "conversation_not_found")
        if view.visitor_id != visitor_id:
            raise _error(403, "This conversation belongs to another browser session.", "not_owner")
        return view

    def public(self, view: ConversationView) -> dict[str, Any]:
        """What a client may see: model names only once they are no longer secret."""
        revealed = view.mode != "battle" or view.winner is not None
        return {
            "id": view.id,
            "mode": view.mode,
            "models": self.reveal(view) if revealed else None,
            "sampling": view.sampling if view.mode != "battle" else None,
            "winner": view.winner,
            "votable": self._votable(view) is None,
            "turns": [
                {
                    "prompt": turn.prompt,
                    "image": turn.image,
                    "answers": {
                        side: {
                            "html": render_markdown(turn.answers[side] or ""),
                            "finish_reason": turn.finish[side],
                            "error": turn.errors[side],
                        }
                        for side in view.sides
                    },
                }
                for turn in view.turns
            ],
            "can_continue": self._can_continue(view),
        }

    def _can_continue(self, view: ConversationView) -> bool:
        last = view.turns[-1] if view.turns else None
        return (
            view.winner is None
            and len(view.turns) < self.settings.max_turns
            and (last is None or last.ok(view.sides))
        )

    def reveal(self, view: ConversationView) -> dict[str, dict[str, Any]]:
        revealed = {}
        for side, name in view.models.items():
            meta = self._metadata_or_name(name)
            revealed[side] = {
                "name": name,
                "display_name": meta.get("display_name") or name,
                "organization": meta.get("organization"),
            }
        return revealed

    def _metadata_or_name(self, name: str) -> dict[str, Any]:
        try:
            return self.metadata(name)
        except APIError:  # a model no longer configured keeps its name
            return {"name": name}

    # -- turns ----------------------------------------------------------------------------

    def check_prompt(self, view: ConversationView, prompt: str, image: str | None) -> None:
        if not prompt.strip():
            raise _error(400, "The prompt is empty.", "empty_prompt", "prompt")
        if "\x00" in prompt:
            raise _error(
                400,
                "The prompt contains a NUL character (U+0000); remove it.",
                "invalid_prompt",
                "prompt",
            )
        if len(prompt) > self.settings.max_prompt_chars:
            raise _error(
                400,
                f"The prompt has {len(prompt)} characters; the limit is "
                f"{self.settings.max_prompt_chars}.",
                "prompt_too_long",
                "prompt",
            )
        if view.winner is not None:
            raise _voted()
        if len(view.turns) >= self.settings.max_turns:
            raise _error(
                409,
                f"A conversation has at most {self.settings.max_turns} turns; start a new round.",
                "too_many_turns",
            )
        if view.turns and not view.turns[-1].ok(view.sides):
            raise _error(
                409,
                "The last answer is missing or failed; regenerate it or start a new round.",
                "turn_incomplete",
            )
        if image is not None:
            if not self.images.path(image).is_file():
                raise _error(400, "No such image; attach it again.", "image_not_found", "image")
            if not view.sampling.get("vision"):
                raise _error(
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
            raise _error(
                503,
                "The prompt could not be checked right now; try again later.",
                "moderation_unavailable",
            ) from exc
        if reason:
            raise _error(400, f"This prompt cannot be sent: {reason}.", "prompt_refused", "prompt")

    async def send(
        self, visitor_id: str, conversation_id: str, prompt: str, image: str | None
    ) -> AsyncIterator[dict[str, Any]]:
        """Add a turn and stream both answers into it."""
        view = await to_thread.run_sync(self.owned, visitor_id, conversation_id)
        await to_thread.run_sync(self.check_prompt, view, prompt, image)
        with self._claimed(conversation_id):
            try:
                turn_id = await to_thread.run_sync(
                    store.add_turn, self.db, conversation_id, len(view.turns), prompt, image
                )
            except store.TurnTaken:
                raise _error(
                    409, "Another message is being sent in this conversation.", "conversation_busy"
                ) from None
            if turn_id is None:
                raise _voted()
        turn = TurnView.unanswered(turn_id, len(view.turns), prompt, image)
        return self._generate(replace(view, turns=[*view.turns, turn]), turn_id)

    async def regenerate(
        self, visitor_id: str, conversation_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        """Answer the last turn again, on both sides."""
        view = await to_thread.run_sync(self.owned, visitor_id, conversation_id)
        if not view.turns:
            raise _error(409, "There is nothing to regenerate yet.", "nothing_to_regenerate")
        if view.winner is not None:
            raise _voted()
        last = view.turns[-1]
        with self._claimed(conversation_id):
            if not await to_thread.run_sync(store.reset_turn, self.db, conversation_id, last.id):
                raise _voted()
        turn = TurnView.unanswered(last.id, last.position, last.prompt, last.image)
        return self._generate(replace(view, turns=[*view.turns[:-1], turn]), last.id)

    @contextlib.contextmanager
    def _claimed(self, conversation_id: str) -> Iterator[None]:
        """Claim the conversation for a generation; an error before the generation starts
        releases it (afterwards `_generate` does)."""
        self._claim(conversation_id)
        try:
            yield
        except BaseException:
            self._busy.discard(conversation_id)
            raise

    def _claim(self, conversation_id: str) -> None:
        with self._claiming:  # votes claim from worker threads, sends from the event loop
            if conversation_id in self._busy:
                raise _error(
                    409,
                    "Answers are still being generated in this conversation.",
                    "conversation_busy",
                )
            self._busy.add(conversation_id)

    async def _generate(
        self, view: ConversationView, turn_id: int
    ) -> AsyncIterator[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        tasks = [
            asyncio.create_task(self._answer(view, side, turn_id, queue)) for side in view.sides
        ]
        try:
            yield {"type": "start", "turn": len(view.turns) - 1}
            finished = 0
            while finished < len(tasks):
                event = await queue.get()
                if event is None:
                    finished += 1
                else:
                    yield event
            self._busy.discard(view.id)
            results = await asyncio.gather(*tasks)
            done = self._with_results(view, dict(zip(view.sides, results, strict=True)))
            yield {
                "type": "done",
                "votable": self._votable(done) is None,
                "can_continue": self._can_continue(done),
            }
        finally:
            # Runs also when the client went away and this generator is being cancelled:
            # the shield lets the sides record their interruption before the
            # conversation is released.
            try:
                for task in tasks:
                    task.cancel()
                with anyio.CancelScope(shield=True):
                    await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                self._busy.discard(view.id)

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
        self, view: ConversationView, side: str, turn_id: int, queue: asyncio.Queue
    ) -> SideResult:
        model = view.models[side]
        sampling = view.sampling
        started = time.perf_counter()
        result = SideResult(answer="", finish_reason=None)
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
                await self._stream(model, view.mode, request, side, result, started, queue)
        except asyncio.CancelledError:
            result.error = "The answer was interrupted (the page was closed or reloaded)."
            await asyncio.shield(
                to_thread.run_sync(store.save_side, self.db, turn_id, side, result)
            )
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
        try:
            await to_thread.run_sync(store.save_side, self.db, turn_id, side, result)
            if result.answer:  # a failed side may have shown part of an answer
                await self._check_identity(view, side, result.answer)
            if result.error:
                await queue.put({"type": "error", "side": side, "message": result.error})
            else:
                await queue.put(
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
            await queue.put({"type": "error", "side": side, "message": result.error})
        finally:
            await queue.put(None)
        return result

    async def _stream(
        self,
        model: str,
        mode: str,
        request: ChatCompletionRequest,
        side: str,
        result: SideResult,
        started: float,
        queue: asyncio.Queue,
    ) -> None:
        last_render = 0.0
        parts: list[str] = []
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
                await queue.put(
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
        term = find_leak(answer, identity_terms(self._metadata_or_name(view.models[side])))
        if term:
            await to_thread.run_sync(
                store.add_flag,
                self.db,
                view.id,
                "identity_leak",
                f"model_{side} ({view.models[side]}) named {term!r}",
                True,
            )

    # -- votes ----------------------------------------------------------------------------

    def _votable(self, view: ConversationView, claimed: bool = False) -> str | None:
        """Why the conversation cannot be voted now, or None when it can (`claimed`: the
        caller holds the conversation, so being busy is its own doing)."""
        if view.mode == "chat":
            return "A direct chat takes thumbs up or down on answers, not a vote."
        if view.winner is not None:
            return "This battle has already been voted."
        if not view.turns:
            return "Send a prompt first."
        if view.id in self._busy and not claimed:
            return "Wait until both answers are complete."
        if not view.turns[-1].ok(view.sides):
            return "Both answers must be complete and without errors."
        return None

    def vote(self, visitor_id: str, conversation_id: str, winner: str) -> dict[str, Any]:
        if winner not in WINNERS:
            raise _error(
                400, f"winner must be one of {', '.join(WINNERS)}", "invalid_winner", "winner"
            )
        seen: list[ConversationView] = []

        def check(found: ConversationView | None) -> None:
            view = self._own(found, visitor_id)
            reason = self._votable(view, claimed=True)
            if reason is not None:
                raise _error(409, reason, "not_votable")
            seen.append(view)

        # Claimed while the vote is stored, so no send or regenerate can start meanwhile;
        # the checks and the insert share one session.
        self._claim(conversation_id)
        try:
            if not store.add_vote(self.db, conversation_id, visitor_id, winner, check):
                raise _error(409, "This battle has already been voted.", "not_votable")
        finally:
            self._busy.discard(conversation_id)
        self.on_vote()
        return {"id": conversation_id, "winner": winner, "models": self.reveal(seen[0])}

    def feedback(self, visitor_id: str, conversation_id: str, turn: int, rating: int) -> None:
        view = self.owned(visitor_id, conversation_id)
        if view.mode != "chat":
            raise _error(
                400, "Thumbs are for direct chats; vote on a battle instead.", "not_a_chat"
            )
        if rating not in (1, -1):
            raise _error(400, "rating must be 1 (up) or -1 (down)", "invalid_rating", "rating")
        if not 0 <= turn < len(view.turns) or not view.turns[turn].ok(view.sides):
            raise _error(400, "no complete answer at that turn", "invalid_turn", "turn")
        store.set_feedback(self.db, view.turns[turn].id, visitor_id, rating)

"""The battle service: the one object the arena's API talks to. It starts conversations
(pairs from the sampler, sampling within the arena's limits), keeps visitors' acceptance
of the terms, shows a conversation as its owner may see it, and hands turns, votes and the
lineup to the parts that own them (turns.py, votes.py, lineup.py)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modelarena.arena.claims import Claims
from modelarena.arena.conversations import can_continue, owned, refusal, why_not_votable
from modelarena.arena.images import ImageStore
from modelarena.arena.lineup import Lineup
from modelarena.arena.moderation import Moderation
from modelarena.arena.render import rendered_answers
from modelarena.arena.sampling import NoPairError, PairSampler, Standing
from modelarena.arena.turns import Turns
from modelarena.arena.votes import Votes
from modelarena.config import ArenaSettings
from modelarena.serving.router import Router
from modelarena.store import arena as store
from modelarena.store.arena import ConversationView
from modelarena.store.db import Database
from modelarena.vocabulary import MODES

MAX_REMEMBERED_VISITORS = 100_000


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
        catalog: Callable[[], Mapping[str, Mapping[str, Any]]] = dict,
        standing: Callable[[], Mapping[str, Standing]] = dict,
    ) -> None:
        self.settings = settings
        self.db = db
        self.images = images
        self.sampler = sampler
        self.claims = Claims()
        self.lineup = Lineup(settings, db, router, catalog, standing)
        self.turns = Turns(settings, db, router, images, moderation, self.lineup, self.claims)
        self.votes = Votes(db, self.lineup, self.claims, on_vote)
        self._accepted: set[str] = set()  # visitors known to have accepted the terms

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
            raise refusal(400, f"mode must be one of {', '.join(MODES)}", "invalid_mode", "mode")
        if mode == "battle":
            if models:
                raise refusal(
                    400,
                    "a battle picks its own models; leave 'models' out",
                    "invalid_models",
                    "models",
                )
            try:
                pair = list(self.sampler.pick(self.lineup.in_service(), vision=vision))
            except NoPairError as exc:  # the sampler's reason names models: not for visitors
                kind = "models that can read images" if vision else "models"
                raise refusal(
                    503,
                    f"Not enough {kind} are available for a battle right now; try again later.",
                    "no_models",
                ) from exc
            chosen = self._sampling(None)
        else:
            wanted = 2 if mode == "side_by_side" else 1
            pair = list(models or [])
            if len(pair) != wanted or len(set(pair)) != wanted:
                raise refusal(
                    400,
                    "Pick two different models to compare side by side."
                    if wanted == 2
                    else "Pick one model to chat with.",
                    "invalid_models",
                    "models",
                )
            available = {c.name: c for c in self.lineup.in_service()}
            for name in pair:
                if name not in available:
                    raise refusal(
                        400,
                        f"The model {name} is not available right now; pick another one.",
                        "model_not_available",
                        "models",
                    )
                if vision and not available[name].vision:
                    raise refusal(
                        400,
                        f"The model {name} cannot read images; pick one that can, or remove "
                        "the image.",
                        "model_not_vision",
                        "models",
                    )
            chosen = self._sampling(sampling)
        return store.create_conversation(
            self.db,
            secrets.token_hex(16),
            visitor_id,
            mode,
            pair,
            chosen.__dict__,
            vision,
        )

    def _sampling(self, given: dict[str, Any] | None) -> Sampling:
        limits = self.settings
        given = dict(given or {})
        unknown = set(given) - {"temperature", "top_p", "max_tokens"}
        if unknown:
            raise refusal(
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
            raise refusal(
                400, "sampling settings must be finite numbers", "invalid_sampling", "sampling"
            ) from exc
        if not 0 <= temperature <= 2:
            raise refusal(
                400,
                "temperature must be between 0 and 2",
                "invalid_sampling",
                "sampling.temperature",
            )
        if not 0 < top_p <= 1:
            raise refusal(400, "top_p must be in (0, 1]", "invalid_sampling", "sampling.top_p")
        if not 1 <= max_tokens <= limits.max_tokens:
            raise refusal(
                400,
                f"max_tokens must be between 1 and {limits.max_tokens}",
                "invalid_sampling",
                "sampling.max_tokens",
            )
        return Sampling(temperature, top_p, max_tokens)

    def owned(self, visitor_id: str, conversation_id: str) -> ConversationView:
        """The visitor's own conversation, or an error that says why not."""
        return owned(store.get_conversation(self.db, conversation_id), visitor_id)

    def public(self, view: ConversationView) -> dict[str, Any]:
        """What a client may see: model names only once they are no longer secret."""
        revealed = view.mode != "battle" or view.winner is not None
        return {
            "id": view.id,
            "mode": view.mode,
            "models": self.lineup.reveal(view.models) if revealed else None,
            "sampling": view.sampling if view.mode != "battle" else None,
            "vision": view.vision,
            "winner": view.winner,
            "votable": why_not_votable(view, self.claims.busy(view.id)) is None,
            "turns": [
                {
                    "prompt": turn.prompt,
                    "image": turn.image,
                    "answers": rendered_answers(view, turn),
                    "rating": turn.rating,
                }
                for turn in view.turns
            ],
            "can_continue": can_continue(view, self.settings.max_turns),
        }

    # -- the parts' own work ------------------------------------------------------------

    async def send(
        self, visitor_id: str, conversation_id: str, prompt: str, image: str | None
    ) -> AsyncGenerator[dict[str, Any], None]:
        return await self.turns.send(visitor_id, conversation_id, prompt, image)

    async def regenerate(
        self, visitor_id: str, conversation_id: str
    ) -> AsyncGenerator[dict[str, Any], None]:
        return await self.turns.regenerate(visitor_id, conversation_id)

    async def stop(self, visitor_id: str, conversation_id: str) -> None:
        await self.turns.stop(visitor_id, conversation_id)

    def vote(self, visitor_id: str, conversation_id: str, winner: str) -> dict[str, Any]:
        return self.votes.vote(visitor_id, conversation_id, winner)

    def feedback(
        self,
        visitor_id: str,
        conversation_id: str,
        turn: int,
        rating: int,
        reason: str | None = None,
        comment: str | None = None,
    ) -> None:
        self.votes.feedback(visitor_id, conversation_id, turn, rating, reason, comment)

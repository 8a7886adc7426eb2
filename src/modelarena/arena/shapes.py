"""The bodies the arena's API answers with, as the OpenAPI document describes them. The
handlers build their bodies directly (the vote path pays nothing for these models)."""

from __future__ import annotations

from typing import Any

from modelarena.web.openapi import Open as _Open


class SamplingLimits(_Open):
    temperature: float
    top_p: float
    max_tokens: int


class ArenaModel(_Open):
    name: str
    display_name: str
    organization: str | None
    vision: bool


class ArenaModels(_Open):
    sampling: SamplingLimits
    models: list[ArenaModel]


class Terms(_Open):
    accepted: bool


class RevealedModel(_Open):
    name: str
    display_name: str
    organization: str | None


class Answer(_Open):
    html: str
    finish_reason: str | None
    error: str | None


class Turn(_Open):
    """`rating`: a direct chat's thumbs (1 or -1) on this turn's answer as it now is;
    null when it has none (a regenerated answer starts without one)."""

    prompt: str
    image: str | None
    answers: dict[str, Answer]
    rating: int | None


class Conversation(_Open):
    """`models` is null in a blind battle until it is voted."""

    id: str
    mode: str
    models: dict[str, RevealedModel] | None
    sampling: dict[str, Any] | None
    vision: bool
    winner: str | None
    votable: bool
    turns: list[Turn]
    can_continue: bool


class VoteResult(_Open):
    id: str
    winner: str
    models: dict[str, RevealedModel]


class FeedbackResult(_Open):
    turn: int
    rating: int


class ImageId(_Open):
    id: str


class Leaderboard(_Open):
    category: str
    categories: list[str]
    computed_at: float | None
    votes: int
    battles: int
    benchmarks: list[str]
    message: str | None
    rows: list[dict[str, Any]]


class AdminModel(_Open):
    name: str
    source: str
    state: str
    revision: int
    served: bool
    in_service: bool
    sampling_weight: float | None
    unavailable: str | None
    definition: dict[str, Any]
    has_api_key: bool
    added_at: str
    paused_at: str | None
    retired_at: str | None
    configured_enabled: bool
    configured_weight: float
    enabled_override: bool | None
    weight_override: float | None


class ModelChange(_Open):
    id: int
    model: str
    actor: str
    action: str
    at: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class ModelHistory(_Open):
    changes: list[ModelChange]


class ModelTrial(_Open):
    answer: str
    latency_ms: float
    first_token_ms: float
    completion_tokens: int
    finish_reason: str | None


class AdminModels(_Open):
    models: list[AdminModel]


class Flag(_Open):
    id: int
    conversation: str
    kind: str
    detail: str
    excluded: bool
    created_at: str
    reviewed_at: str | None


class Flags(_Open):
    flags: list[Flag]


class FlagReviewed(_Open):
    id: int
    excluded: bool


class StoredConversation(_Open):
    """A conversation as exported, with its flags."""

    flags: list[Flag]

"""The bodies the arena's API answers with, as the OpenAPI document describes them. The
handlers build their bodies directly (the vote path pays nothing for these models)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

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


class LeaderboardCategory(_Open):
    name: str
    battles: int = Field(description="votes in the category")


class Leaderboard(_Open):
    category: str
    categories: list[LeaderboardCategory]
    style_control: bool = Field(description="false also when too few votes allow it yet")
    computed_at: float | None
    votes: int
    battles: int
    models: int = Field(description="models rated in the category, before filters")
    benchmarks: list[str]
    message: str | None
    coefficients: list[dict[str, Any]] = Field(
        description="style control's coefficients: name, value, lower, upper"
    )
    rules: dict[str, float] = Field(description="when a rating is marked preliminary")
    choices: dict[str, list[str]] = Field(description="values of the organization/licence filters")
    rows: list[dict[str, Any]]
    pairs: dict[str, list[Any]] = Field(
        description="models, and battles/observed/predicted matrices in their order"
    )
    overview: dict[str, Any] = Field(description="each model's rank in every category")


# -- a visitor's own history: recent conversations, votes so far, personal board, shares --


class RecentConversation(_Open):
    """`title`: the first prompt, shortened; `url`: the page that resumes it. No model
    names: an unvoted battle stays blind."""

    id: str
    mode: str
    title: str
    created_at: str
    turns: int
    voted: bool
    url: str


class RecentConversations(_Open):
    conversations: list[RecentConversation]


class ModelVotes(_Open):
    name: str
    display_name: str
    wins: int
    battles: int


class VotesSummary(_Open):
    """The visitor's blind-battle votes: how many, by choice, and each model's wins."""

    votes: int
    choices: dict[str, int]
    models: list[ModelVotes]


class EveryonesRating(_Open):
    rating: float | None
    ci_lower: float | None
    ci_upper: float | None
    rank_upper: int | None
    num_battles: int | None


class PersonalRow(_Open):
    """The visitor's own rating of a model; `everyone`: the public board's (null when the
    public board has no rating for it yet)."""

    model: str
    display_name: str
    organization: str | None
    rank: int
    rating: float | None
    ci_lower: float | None
    ci_upper: float | None
    num_battles: int
    win_rate: float | None
    everyone: EveryonesRating | None


class PersonalBoard(_Open):
    """`votes`: the visitor's blind votes that count; `enough`: at least `min_votes`;
    `message`: why there are no rows yet, in plain words."""

    votes: int
    min_votes: int
    enough: bool
    l2: float
    message: str | None
    computed_at: float | None
    rows: list[PersonalRow]


class SharedConversation(_Open):
    """A voted conversation's public view: names, vote and turns, nothing about the
    visitor."""

    id: str
    mode: str
    date: str
    models: dict[str, RevealedModel]
    winner: str
    turns: list[dict[str, Any]]


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
    """A conversation as exported, with its flags; each of its `turns` also carries the
    `feedback` on a direct chat's answer (rating, reason, comment, at) or null."""

    flags: list[Flag]


# -- the admin's conversation browser and vote statistics --


class ConversationRow(_Open):
    """`first_prompt`: shortened; `reasons`: those given with its thumbs down."""

    id: str
    mode: str
    models: list[str]
    created_at: str
    turns: int
    first_prompt: str
    winner: str | None
    voted_at: str | None
    flags: list[str]
    thumbs_up: int
    thumbs_down: int
    reasons: list[str]


class ConversationPage(_Open):
    conversations: list[ConversationRow]
    total: int
    page: int
    pages: int
    per_page: int


class ModelStats(_Open):
    """`win_rate`: wins over votes (null with no votes); `reasons`: thumbs-down reasons
    given in its direct chats, with their counts."""

    model: str
    votes: int
    wins: int
    losses: int
    ties: int
    both_bad: int
    win_rate: float | None
    thumbs_up: int
    thumbs_down: int
    reasons: dict[str, int]


class DayStats(_Open):
    """One UTC day: its votes, by outcome, and its thumbs."""

    day: str
    votes: int
    outcomes: dict[str, int]
    thumbs_up: int
    thumbs_down: int


class VoteStats(_Open):
    models: list[ModelStats]
    days: list[DayStats]


class TopicLeaderboard(_Open):
    """`state`: ready (rows), computing (prompts being embedded: `embedded` of `total`),
    too_few (too few votes close to the topic), no_votes or unavailable; `message` says
    so in plain words. Rows are the live board's, `num_battles` weighted by closeness."""

    state: str
    query: str
    embedding_model: str
    message: str | None
    embedded: int
    total: int
    effective_votes: float | None
    rows: list[dict[str, Any]]

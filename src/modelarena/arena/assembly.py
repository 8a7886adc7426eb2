"""Builds the arena's parts from the settings: service, image store, sampler, moderation
and the live leaderboard."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelarena.arena.images import ImageStore
from modelarena.arena.live_leaderboard import LiveLeaderboard
from modelarena.arena.moderation import load_moderation
from modelarena.arena.sampling import PairSampler, SamplingPolicy
from modelarena.arena.service import ArenaService
from modelarena.arena.topic_leaderboard import TopicLeaderboard
from modelarena.config import Settings
from modelarena.serving.catalog import Catalog
from modelarena.serving.rate_limit import FallbackRateLimiter, RateLimiter
from modelarena.serving.router import Router
from modelarena.store.db import Database


@dataclass
class Arena:
    service: ArenaService
    leaderboard: LiveLeaderboard
    limiter: RateLimiter
    ip_salt: str
    admin_token: str | None
    catalog: Catalog
    topics: TopicLeaderboard


def build_arena(
    settings: Settings,
    db: Database,
    router: Router,
    limiter: RateLimiter,
    catalog: Callable[[], dict[str, dict[str, Any]]],
) -> Arena:
    """`catalog`: every registered model's public metadata and state, retired ones too."""
    config = settings.arena
    sampler = PairSampler(
        SamplingPolicy(
            mode=config.sampling, boost=config.boost, targets=config.targets, explore=config.explore
        )
    )
    leaderboard = LiveLeaderboard(db.url, config, catalog, sampler)
    service = ArenaService(
        settings=config,
        db=db,
        router=router,
        images=ImageStore(Path(settings.data_dir) / "images", config.image_max_bytes),
        sampler=sampler,
        moderation=load_moderation(config.moderation, config.blocked_keywords),
        on_vote=leaderboard.vote_added,
        catalog=catalog,
        standing=leaderboard.standing,
    )
    # Visitors keep battling while Redis is down; the limits then count per process.
    return Arena(
        service,
        leaderboard,
        FallbackRateLimiter(limiter),
        config.ip_salt or _salt(settings.data_dir),
        config.admin_token,
        Catalog(settings, db),
        TopicLeaderboard(config.topic, db, router, catalog),
    )


def _salt(data_dir: Path) -> str:
    """A random salt kept beside the data, created on first use."""
    path = Path(data_dir) / "ip_salt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16))
    return path.read_text().strip()

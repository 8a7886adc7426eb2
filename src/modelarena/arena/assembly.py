"""Builds the arena's parts from the settings: service, image store, sampler, moderation
and the live leaderboard."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from modelarena.arena.images import ImageStore
from modelarena.arena.live_leaderboard import LiveLeaderboard
from modelarena.arena.moderation import load_moderation
from modelarena.arena.sampling import PairSampler, SamplingPolicy
from modelarena.arena.service import ArenaService
from modelarena.config import Settings
from modelarena.serving.rate_limit import FallbackRateLimiter, RateLimiter
from modelarena.serving.router import Router
from modelarena.store import arena as store
from modelarena.store.db import Database


@dataclass
class Arena:
    service: ArenaService
    leaderboard: LiveLeaderboard
    limiter: RateLimiter
    ip_salt: str
    admin_token: str | None


def build_arena(settings: Settings, db: Database, router: Router, limiter: RateLimiter) -> Arena:
    config = settings.arena
    store.sync_models(
        db, [{"name": name, **router.metadata(name)} for name in router.model_names()]
    )
    sampler = PairSampler(
        SamplingPolicy(
            mode=config.sampling, boost=config.boost, targets=config.targets, explore=config.explore
        )
    )
    leaderboard = LiveLeaderboard(db.url, config, lambda: _metadata(router), sampler)
    service = ArenaService(
        settings=config,
        db=db,
        router=router,
        images=ImageStore(Path(settings.data_dir) / "images", config.image_max_bytes),
        sampler=sampler,
        moderation=load_moderation(config.moderation, config.blocked_keywords),
        on_vote=leaderboard.vote_added,
    )
    # Visitors keep battling while Redis is down; the limits then count per process.
    return Arena(
        service,
        leaderboard,
        FallbackRateLimiter(limiter),
        config.ip_salt or _salt(settings.data_dir),
        config.admin_token,
    )


def _metadata(router: Router) -> dict[str, dict]:
    return {name: router.metadata(name) for name in router.model_names()}


def _salt(data_dir: Path) -> str:
    """A random salt kept beside the data, created on first use."""
    path = Path(data_dir) / "ip_salt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16))
    return path.read_text().strip()

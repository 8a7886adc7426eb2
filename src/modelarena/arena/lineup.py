"""The arena's lineup: which models may battle now (configured for the arena, not taken out
of service by the configuration or an admin, with a healthy backend), with their sampling
weights (newcomers boosted until their rating settles), image support and public
metadata. Admin overrides are read from the registry at most every OVERRIDES_TTL_S
seconds, so changes made through another server process show within that time."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from modelarena.arena.sampling import Candidate, Newcomers, Standing
from modelarena.config import ArenaSettings
from modelarena.errors import APIError
from modelarena.serving.router import Router
from modelarena.store import registry
from modelarena.store.db import Database

OVERRIDES_TTL_S = 2.0


class Lineup:
    def __init__(
        self,
        settings: ArenaSettings,
        db: Database,
        router: Router,
        catalog: Callable[[], Mapping[str, Mapping[str, Any]]] = dict,
        standing: Callable[[], Mapping[str, Standing]] = dict,
    ) -> None:
        """`catalog`: every registered model's metadata, retired ones too; `standing`:
        each rated model's votes and interval (the live leaderboard's)."""
        self.settings = settings
        self.db = db
        self.router = router
        self.catalog = catalog
        self.standing = standing
        self.newcomers = Newcomers(
            settings.newcomer_boost, settings.newcomer_interval, settings.newcomer_votes
        )
        self._overrides: tuple[float, dict[str, registry.RegisteredModel]] | None = None

    def arena_models(self) -> list[str]:
        """Served models the arena may use (all, unless the configuration lists some)."""
        configured = self.settings.models
        names = self.router.model_names()
        return [n for n in names if configured is None or n in configured]

    def metadata(self, model: str) -> dict[str, Any]:
        return {"name": model, **self.router.metadata(model)}

    def metadata_or_name(self, model: str) -> dict[str, Any]:
        """The model's metadata, from the registry once it is no longer served; else just
        its name."""
        try:
            return self.metadata(model)
        except APIError:
            return {"name": model, **self.catalog().get(model, {})}

    def in_service(self) -> list[Candidate]:
        """Models that may battle now, each with its weight and image support."""
        overrides = self._current_overrides()
        standing = self.standing()
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
            weight *= self.newcomers.factor(standing.get(name))
            vision = bool(self.router.metadata(name).get("vision"))
            candidates.append(Candidate(name=name, weight=weight, vision=vision))
        return candidates

    def _current_overrides(self) -> dict[str, registry.RegisteredModel]:
        now = time.monotonic()
        if self._overrides is None or now - self._overrides[0] > OVERRIDES_TTL_S:
            self._overrides = (now, {m.name: m for m in registry.registered(self.db)})
        return self._overrides[1]

    def forget_overrides(self) -> None:
        """Read the admin's overrides afresh next time (this process changed them)."""
        self._overrides = None

    def reveal(self, models: dict[str, str]) -> dict[str, dict[str, Any]]:
        """Each side's model as a voter may see it once names are no longer secret."""
        revealed = {}
        for side, name in models.items():
            meta = self.metadata_or_name(name)
            revealed[side] = {
                "name": name,
                "display_name": meta.get("display_name") or name,
                "organization": meta.get("organization"),
            }
        return revealed

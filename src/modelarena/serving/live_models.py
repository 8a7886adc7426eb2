"""The models a running server serves, kept in step with the model registry.

At start the configuration file's models are entered into the registry and every active
model is loaded: a configured model that fails stops the start, a runtime one is logged
and left out. Then, every `models_poll_s`, the registry's revision is read; when it moved,
each model is brought to its registered state. A new or changed definition is loaded in
the background (an upstream must pass its health check) and enters service when ready,
replacing the old engine; a paused or retired model leaves the router at once, and its
engine closes once the requests it is serving have finished. A request for a model out of
service gets an error that says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from anyio import to_thread

from modelarena import secret_box
from modelarena.config import ModelConfig, Settings
from modelarena.engines.base import Engine
from modelarena.errors import APIError, StartupError
from modelarena.serving.catalog import seed
from modelarena.serving.model_engines import check_memory, make_engine
from modelarena.serving.router import Backend, Router
from modelarena.store import registry
from modelarena.store.db import Database

log = logging.getLogger(__name__)

# A replaced, paused or retired engine closes when its last request ends, or after this.
DRAIN_LIMIT_S = 900.0


@dataclass(frozen=True)
class Plan:
    """A model as it should be served: its definition, key, and a fingerprint of both."""

    config: ModelConfig
    api_key: str | None
    fingerprint: bytes
    from_config: bool


@dataclass(frozen=True)
class Served:
    fingerprint: bytes
    backend: Backend


def paused(name: str) -> APIError:
    return APIError(
        503,
        f"The model '{name}' is paused; it serves again once an administrator resumes it.",
        param="model",
        code="model_paused",
        headers={"Retry-After": "60"},
    )


def retired(entry: registry.RegisteredModel) -> APIError:
    when = entry.retired_at.date().isoformat() if entry.retired_at else "an earlier date"
    return APIError(
        404,
        f"The model '{entry.name}' was retired on {when} and can no longer be called.",
        param="model",
        code="model_retired",
    )


def loading(name: str) -> APIError:
    return APIError(
        503,
        f"The model '{name}' is being loaded; retry in a few seconds.",
        param="model",
        code="model_loading",
        headers={"Retry-After": "5"},
    )


def failed(name: str, reason: str) -> APIError:
    return APIError(
        503,
        f"The model '{name}' could not be brought into service: {reason}",
        param="model",
        code="model_unavailable",
    )


class LiveModels:
    def __init__(self, settings: Settings, db: Database | None, router: Router) -> None:
        self.settings = settings
        self.db = db
        self.router = router
        self._configured = {m.name: m for m in settings.models}
        self._entries: dict[str, registry.RegisteredModel] = {}
        self._served: dict[str, Served] = {}
        self._loading: dict[str, tuple[bytes, asyncio.Task]] = {}
        self._draining: set[asyncio.Task] = set()
        self._revision = -1
        self._ids = itertools.count(1)

    # -- start and stop -----------------------------------------------------------------

    async def start(self) -> None:
        """Seed the registry with the configured models and load every active model."""
        if self.db is not None:
            try:
                await to_thread.run_sync(seed, self.settings, self.db)
            except APIError as exc:
                raise StartupError(exc.message) from None
            self._revision = await to_thread.run_sync(registry.revision, self.db)
            entries = await to_thread.run_sync(registry.registered, self.db)
        else:
            entries = []
        plans = self._plans(entries)
        results = await asyncio.gather(
            *(self._build(plan) for plan in plans.values()), return_exceptions=True
        )
        failures = []
        for plan, result in zip(plans.values(), results, strict=True):
            name = plan.config.name
            if isinstance(result, Engine):
                self._install(plan, result)
            elif plan.from_config:
                failures.append(f"{name}: {_reason(result)}")
            else:
                log.error("model %s was left out: %s", name, _reason(result))
                self.router.set_unavailable(name, failed(name, _reason(result)))
        if failures:
            await self.close()
            raise StartupError("cannot load models:\n  " + "\n  ".join(failures))

    async def close(self) -> None:
        for task in [*self._draining, *(task for _, task in self._loading.values())]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for served in self._served.values():
            self.router.remove(served.backend.id)
            await served.backend.engine.close()
        self._served.clear()

    # -- following the registry ---------------------------------------------------------

    async def poll(self) -> None:
        """Bring the served models to the registry's state, if it changed."""
        if self.db is None:
            return
        revision = await to_thread.run_sync(registry.revision, self.db)
        if revision == self._revision:
            return
        entries = await to_thread.run_sync(registry.registered, self.db)
        self._revision = revision
        plans = self._plans(entries)
        for name in list(self._served):
            if name not in plans:
                self._take_out(name)
        for name in list(self._loading):
            if name not in plans:
                self._loading.pop(name)[1].cancel()
        for name, plan in plans.items():
            served = self._served.get(name)
            if served and served.fingerprint == plan.fingerprint:
                continue
            pending = self._loading.get(name)
            if pending and pending[0] == plan.fingerprint:
                continue
            if pending:
                pending[1].cancel()
            if served is None:
                self.router.set_unavailable(name, loading(name))
            task = asyncio.create_task(self._load_in_background(plan))
            self._loading[name] = (plan.fingerprint, task)

    def _plans(self, entries: list[registry.RegisteredModel]) -> dict[str, Plan]:
        """The models this process should serve now; the rest are told why not."""
        self._entries = {entry.name: entry for entry in entries}
        plans: dict[str, Plan] = {}
        for entry in entries:
            if entry.source == "config" and entry.name not in self._configured:
                continue  # configured in another server's file, not in ours
            if entry.state != "active":
                error = paused(entry.name) if entry.state == "paused" else retired(entry)
                self.router.set_unavailable(entry.name, error)
                continue
            try:
                plans[entry.name] = self._plan(entry)
            except (ValueError, secret_box.SecretKeyError) as exc:
                log.error("model %s cannot be served: %s", entry.name, exc)
                self.router.set_unavailable(entry.name, failed(entry.name, str(exc)))
        if self.db is None:
            for name, config in self._configured.items():
                plans[name] = Plan(config, None, _fingerprint(config, None), True)
        return plans

    def _plan(self, entry: registry.RegisteredModel) -> Plan:
        if entry.source == "config":
            config = self._configured[entry.name]
            return Plan(config, None, _fingerprint(config, None), True)
        config = ModelConfig.model_validate(entry.definition)
        key = secret_box.decrypt(self.settings.secret_key, entry.secret) if entry.secret else None
        return Plan(config, key, _fingerprint(config, entry.secret), False)

    # -- loading and retiring engines ---------------------------------------------------

    async def _build(self, plan: Plan) -> Engine:
        """A started engine; a runtime model's must also pass its health check (a
        configured upstream that is down at start is served, and checked, as before)."""
        try:
            engine = make_engine(plan.config, self.settings, plan.api_key)
        except ImportError as exc:
            raise StartupError(
                f"llama-cpp-python cannot be loaded ({exc}); reinstall it with `make install`"
            ) from exc
        try:
            await to_thread.run_sync(check_memory, plan.config, self.settings)
            await engine.start()
            if not plan.from_config and not await engine.healthy():
                raise RuntimeError("it did not pass its health check")
        except BaseException:
            await engine.close()
            raise
        return engine

    async def _load_in_background(self, plan: Plan) -> None:
        name = plan.config.name
        try:
            engine = await self._build(plan)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("model %s could not be brought into service: %s", name, _reason(exc))
            if name not in self._served:
                self.router.set_unavailable(name, failed(name, _reason(exc)))
            return
        finally:
            if self._loading.get(name, (None,))[0] == plan.fingerprint:
                del self._loading[name]
        self._install(plan, engine)
        log.info("model %s is in service (%s)", name, plan.config.engine)

    def _install(self, plan: Plan, engine: Engine) -> None:
        name = plan.config.name
        backend = Backend(
            id=f"model:{name}#{next(self._ids)}",
            model=name,
            engine=engine,
            metadata=plan.config.public_metadata(),
        )
        self.router.add(backend)
        previous = self._served.get(name)
        self._served[name] = Served(plan.fingerprint, backend)
        self.router.set_unavailable(name, None)
        if previous:
            self._drain(previous.backend)

    def _take_out(self, name: str) -> None:
        served = self._served.pop(name)
        self._drain(served.backend)
        log.info("model %s left service", name)

    def _drain(self, backend: Backend) -> None:
        """Route no new request to `backend`; close its engine after its last one."""
        self.router.remove(backend.id)
        task = asyncio.create_task(self._close_when_idle(backend))
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    @staticmethod
    async def _close_when_idle(backend: Backend) -> None:
        try:
            async with asyncio.timeout(DRAIN_LIMIT_S):
                while backend.outstanding > 0 or backend.engine.load() > 0:
                    await asyncio.sleep(0.1)
        except TimeoutError:
            log.warning("closing %s with requests still running", backend.id)
        await backend.engine.close()

    # -- what pages show ----------------------------------------------------------------

    def catalog(self) -> dict[str, dict[str, Any]]:
        """Every registered model's public metadata and state (retired ones included),
        for pages that list models that are no longer served."""
        shown = {}
        for name, entry in self._entries.items():
            config = self._configured.get(name) if entry.source == "config" else None
            try:
                config = config or ModelConfig.model_validate(entry.definition)
            except ValueError:
                continue
            shown[name] = {**config.public_metadata(), "state": entry.state}
        for name, config in self._configured.items():
            shown.setdefault(name, {**config.public_metadata(), "state": "active"})
        return shown


def _fingerprint(config: ModelConfig, secret: str | None) -> bytes:
    return orjson.dumps([config.model_dump(mode="json"), secret])


def _reason(exc: BaseException) -> str:
    return exc.message if isinstance(exc, APIError) else str(exc) or type(exc).__name__

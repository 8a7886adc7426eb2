"""The catalog: the one code path through which the CLI, the admin API and the admin page
add, change, pause, resume and retire models, and try a definition out.

Nothing is written until the whole change checks out: the definition against the schema,
the name against the registry, and what the definition points at (an upstream must answer
`/models` and list the model; a GGUF must exist, be one, and fit in the memory free now).
Each change is stored with its audit entry; running servers follow the registry
(live_models.py). Errors are `APIError`s, so every surface shows the same message.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from anyio import to_thread
from pydantic import ValidationError

from modelarena import secret_box
from modelarena.config import ModelConfig, Settings
from modelarena.engines.base import TextDelta, Usage
from modelarena.engines.model_files import (
    ModelFileError,
    check_adapter,
    check_gguf,
    resolve_model_path,
)
from modelarena.errors import APIError
from modelarena.protocol import ChatCompletionRequest
from modelarena.serving.model_engines import check_memory, make_engine
from modelarena.store import registry
from modelarena.store.db import Database

# Header names that carry credentials: those belong in `api_key` (stored encrypted) or
# `api_key_env`, never in plain-text headers.
SECRET_HEADER = re.compile(r"auth|key|token|secret|cookie|password", re.IGNORECASE)
PROBE_TIMEOUT_S = 10.0
TRIAL_PROMPT = "Say hello in one short sentence."


@dataclass(frozen=True)
class Trial:
    """One prompt sent to a model definition: the answer and how long it took."""

    answer: str
    latency_ms: float
    first_token_ms: float
    completion_tokens: int
    finish_reason: str | None


def invalid(message: str, param: str | None = None, code: str = "invalid_model") -> APIError:
    return APIError(400, message, param=param, code=code)


def _conflict(exc: registry.RegistryConflict) -> APIError:
    status = {"model_not_found": 404, "model_exists": 409}.get(exc.code, 400)
    return APIError(status, str(exc), param="name", code=exc.code)


def parse_definition(fields: Mapping[str, Any]) -> tuple[ModelConfig, str | None]:
    """A checked definition and the plain API key it carries (if any)."""
    values = dict(fields)
    api_key = values.pop("api_key", None)
    if api_key is not None and (not isinstance(api_key, str) or not api_key):
        raise invalid("api_key must be a non-empty string", "api_key")
    try:
        config = ModelConfig.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or None
        message = first["msg"].removeprefix("Value error, ")
        raise invalid(f"{where}: {message}" if where else message, where) from None
    for header in config.headers:
        if SECRET_HEADER.search(header):
            raise invalid(
                f"header {header!r} looks like a credential; give the key as api_key "
                "(stored encrypted) or api_key_env (the name of an environment variable)",
                "headers",
            )
    if api_key is not None and config.engine != "openai":
        raise invalid("api_key is for engine openai only", "api_key")
    return config, api_key


def stored(config: ModelConfig) -> dict[str, Any]:
    """What the registry keeps of a definition: what differs from the defaults."""
    return {"engine": config.engine, **config.model_dump(mode="json", exclude_defaults=True)}


def seed(settings: Settings, db: Database) -> None:
    """Enter the configuration file's models into the registry (a server does this at
    start; the CLI before any change, so a name the file uses cannot be taken)."""
    try:
        registry.seed_config(db, [stored(m) for m in settings.models])
    except registry.RegistryConflict as exc:
        raise _conflict(exc) from None


async def upstream_models(
    base_url: str, api_key: str | None = None, headers: Mapping[str, str] | None = None
) -> list[str]:
    """The model ids an OpenAI-compatible upstream lists at `base_url`/models."""
    url = base_url.rstrip("/") + "/models"
    sent = dict(headers or {})
    if api_key:
        sent["Authorization"] = f"Bearer {api_key}"
    try:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as client:
            response = await client.get(url, headers=sent)
    except httpx.InvalidURL as exc:
        raise invalid(f"{base_url!r} is not a URL ({exc})", "base_url") from None
    except httpx.HTTPError as exc:
        raise invalid(
            f"cannot reach {url}: {exc or type(exc).__name__}", "base_url", "upstream_unreachable"
        ) from None
    if response.status_code != 200:
        raise invalid(
            f"{url} answered HTTP {response.status_code}: {response.text[:200]}",
            "base_url",
            "upstream_unreachable",
        )
    try:
        return sorted(str(entry["id"]) for entry in response.json()["data"])
    except (ValueError, KeyError, TypeError):
        raise invalid(
            f"{url} did not answer with an OpenAI model list", "base_url", "upstream_unreachable"
        ) from None


class Catalog:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db

    # -- reading ------------------------------------------------------------------------

    def models(self) -> list[registry.RegisteredModel]:
        return registry.registered(self.db)

    def model(self, name: str) -> registry.RegisteredModel:
        found = registry.registered_model(self.db, name)
        if found is None:
            raise APIError(
                404,
                f"No model named {name!r} in the registry.",
                param="name",
                code="model_not_found",
            )
        return found

    def history(self, name: str | None = None, limit: int = 100) -> list[registry.ModelChange]:
        return registry.changes(self.db, name, limit)

    # -- changing -----------------------------------------------------------------------

    async def add(
        self, fields: Mapping[str, Any], actor: str, *, check: bool = True
    ) -> registry.RegisteredModel:
        """Check a new definition in full, then store it (active at once)."""
        config, api_key = parse_definition(fields)
        if registry.registered_model(self.db, config.name) is not None:
            raise _conflict(registry.name_taken(config.name))
        secret = self._encrypted(api_key)
        if check:
            await self.probe(config, api_key)
        try:
            return await to_thread.run_sync(
                registry.add_model, self.db, stored(config), secret, actor
            )
        except registry.RegistryConflict as exc:
            raise _conflict(exc) from None

    async def update(
        self, name: str, changes: Mapping[str, Any], actor: str, *, check: bool = True
    ) -> registry.RegisteredModel:
        """Change fields of a runtime model's definition; a field set to None returns to
        its default. `api_key` replaces the stored key (None drops it)."""
        current = self.model(name)
        if current.source != "runtime":
            raise _conflict(registry.config_owned(name))
        if changes.get("name", name) != name:
            raise invalid(
                "a model cannot be renamed (its votes carry its name): add the new name and "
                "retire this one",
                "name",
            )
        merged = {**current.definition, **changes, "name": name}
        merged = {key: value for key, value in merged.items() if value is not None}
        drop_secret = "api_key" in changes and changes["api_key"] is None
        config, api_key = parse_definition(merged)
        secret = self._encrypted(api_key)
        if check:
            if api_key is None and current.secret and not drop_secret:
                api_key = self._decrypted(current.secret)
            await self.probe(config, api_key)
        try:
            return await to_thread.run_sync(
                lambda: registry.update_model(
                    self.db, name, stored(config), actor, secret=secret, drop_secret=drop_secret
                )
            )
        except registry.RegistryConflict as exc:
            raise _conflict(exc) from None

    async def set_state(self, name: str, state: str, actor: str) -> registry.RegisteredModel:
        try:
            return await to_thread.run_sync(registry.set_state, self.db, name, state, actor)
        except registry.RegistryConflict as exc:
            raise _conflict(exc) from None

    async def set_arena(self, name: str, changes: Mapping[str, Any], actor: str) -> bool:
        """The admin's arena overrides (`enabled`, `weight`); False for an unknown model."""
        return await to_thread.run_sync(registry.set_overrides, self.db, name, changes, actor)

    def _encrypted(self, api_key: str | None) -> str | None:
        try:
            return secret_box.encrypt(self.settings.secret_key, api_key) if api_key else None
        except secret_box.SecretKeyError as exc:
            raise invalid(str(exc), "api_key", "secret_key_missing") from None

    def _decrypted(self, secret: str) -> str:
        try:
            return secret_box.decrypt(self.settings.secret_key, secret)
        except secret_box.SecretKeyError as exc:
            raise invalid(str(exc), "api_key", "secret_key_invalid") from None

    # -- checking -----------------------------------------------------------------------

    async def probe(self, config: ModelConfig, api_key: str | None = None) -> None:
        """What the definition points at exists and can serve: the upstream lists the
        model, or the GGUF is a GGUF that fits in memory."""
        if config.engine == "openai":
            if api_key is None and config.api_key_env:
                api_key = os.environ.get(config.api_key_env)
                if api_key is None:
                    raise invalid(
                        f"environment variable {config.api_key_env} (api_key_env) is not set "
                        "here, so the upstream cannot be checked; set it, or skip the check",
                        "api_key_env",
                    )
            listed = await upstream_models(config.base_url or "", api_key, config.headers)
            wanted = config.upstream_model or config.name
            if wanted not in listed:
                shown = ", ".join(listed[:20]) + (" …" if len(listed) > 20 else "")
                raise invalid(
                    f"{config.base_url} does not list a model {wanted!r}; it lists: "
                    f"{shown or '(none)'}",
                    "upstream_model",
                    "upstream_model_not_found",
                )
            return
        await to_thread.run_sync(self._check_file, config)

    def _check_file(self, config: ModelConfig) -> None:
        try:
            path = resolve_model_path(config.path or "", self.settings.cache_dir, create=False)
            if path.is_file():
                check_gguf(path)
        except ModelFileError as exc:
            raise invalid(str(exc), "path", "model_file_invalid") from None
        if config.lora_path:
            try:
                check_adapter(Path(config.lora_path).expanduser())
            except ModelFileError as exc:
                raise invalid(str(exc), "lora_path", "model_file_invalid") from None
        check_memory(config, self.settings)

    async def try_out(self, fields: Mapping[str, Any], prompt: str = TRIAL_PROMPT) -> Trial:
        """Send one prompt to a definition on an engine of its own (loaded for this and
        closed after): the answer and its latency, before anything is stored."""
        config, api_key = parse_definition(fields)
        if api_key is None and config.engine == "openai":
            existing = registry.registered_model(self.db, config.name)
            if existing is not None and existing.secret:
                api_key = self._decrypted(existing.secret)
        await self.probe(config, api_key)
        # One slot is enough for one prompt, and keeps a trial's KV cache small.
        config = config.model_copy(update={"parallel": 1})
        engine = make_engine(config, self.settings, api_key)
        request = ChatCompletionRequest.model_validate(
            {
                "model": config.name,
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": 64,
                "stream": True,
            }
        )
        pieces: list[str] = []
        finish, tokens, first = None, 0, None
        try:
            await engine.start()
            began = time.perf_counter()
            async for event in engine.stream(request):
                if isinstance(event, TextDelta):
                    if first is None and event.text:
                        first = time.perf_counter() - began
                    pieces.append(event.text)
                    finish = event.finish_reason or finish
                elif isinstance(event, Usage):
                    tokens = event.completion_tokens
            latency = time.perf_counter() - began
        finally:
            await engine.close()
        return Trial(
            "".join(pieces),
            latency * 1000,
            (first if first is not None else latency) * 1000,
            tokens,
            finish,
        )

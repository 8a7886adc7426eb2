"""Builds the engine a model definition asks for, and refuses a local model that would not
fit in the memory this machine has free (estimated from its GGUF file)."""

from __future__ import annotations

from pathlib import Path

import psutil

from modelarena.config import ModelConfig, Settings
from modelarena.engines.base import Engine
from modelarena.engines.model_files import memory_needed, resolve_model_path
from modelarena.engines.openai_upstream import OpenAIUpstreamEngine
from modelarena.errors import APIError

GIB = 1024**3
# llama.cpp's compute buffers come on top of weights and KV cache: measured 3–7% for the
# bundled models (SmolLM2: 835 MiB resident for an 814 MiB estimate; Gemma 3: 877 / 817).
COMPUTE_MARGIN = 1.10


def make_engine(config: ModelConfig, settings: Settings, api_key: str | None = None) -> Engine:
    """A new, not yet started engine. `api_key`: an upstream's key (else `api_key_env`)."""
    if config.engine == "llamacpp":
        from modelarena.engines.llamacpp import LlamaCppEngine  # needs llama-cpp-python

        return LlamaCppEngine(config, settings.cache_dir)
    return OpenAIUpstreamEngine(
        name=config.name,
        base_url=config.base_url or "",
        upstream_model=config.upstream_model,
        api_key=api_key,
        api_key_env=config.api_key_env,
        headers=config.headers,
        timeout_s=config.timeout_s,
        supports_tools=config.supports_tools,
    )


def check_memory(config: ModelConfig, settings: Settings) -> None:
    """A 400 `insufficient_memory` when a local model needs more than is available now.
    A file that an `assemble:` source has not written yet cannot be measured and passes."""
    if config.engine != "llamacpp" or not config.path:
        return
    path = resolve_model_path(config.path, settings.cache_dir, create=False)
    if not path.is_file():
        return
    needed = memory_needed(path, config.context_length, config.parallel)
    if config.lora_path and Path(config.lora_path).expanduser().is_file():
        needed += Path(config.lora_path).expanduser().stat().st_size
    needed = int(needed * COMPUTE_MARGIN)
    available = psutil.virtual_memory().available
    if needed > available:
        raise APIError(
            400,
            f"model '{config.name}' needs about {needed / GIB:.1f} GiB loaded ({path.name} "
            f"and a KV cache of {config.parallel} × its context), but only "
            f"{available / GIB:.1f} GiB is available; lower `parallel` or `context_length`, "
            "or free memory",
            param="path",
            code="insufficient_memory",
        )

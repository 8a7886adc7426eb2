"""The model a fine-tune starts from: a registered model whose weights are a GGUF (the
bundled SmolLM2 and Gemma included), loaded dequantised into torch, or a local Hugging
Face checkpoint folder — one this platform trained (its manifest names the GGUF whose
vocabulary, template and metadata it keeps, so it exports to GGUF again) or any other
(trained and saved as a checkpoint only).

transformers reads a GGUF into an fp32 model with its tokenizer (15–28 s for SmolLM2 here);
the result is saved once as a Hugging Face folder in the cache (later loads: 0.2 s). It
tags a GGUF-loaded model as quantized and then refuses to train or save it, although its
weights are dense: the tag is removed right after loading.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelarena.config import ModelConfig, Settings
from modelarena.engines.model_files import resolve_model_path
from modelarena.store import registry
from modelarena.store.db import Database


class BaseModelError(ValueError):
    """The base model cannot be trained; the message says why and what to give instead."""


@dataclass(frozen=True)
class BaseModel:
    """Where training starts. `config`: the registered definition it is served with (None
    for a foreign checkpoint); `gguf`: the GGUF served (or whose tokenizer and metadata a
    checkpoint of ours keeps); `folder`: a checkpoint to start from instead of the GGUF's
    weights."""

    name: str
    config: ModelConfig | None
    gguf: Path | None
    folder: Path | None = None


def find_base(settings: Settings, db: Database, name: str) -> BaseModel:
    """The registered (or configured) model `name`, which must run from a GGUF file, or
    the checkpoint folder at the path `name`."""
    entry = registry.registered_model(db, name)
    config = settings.model(name)
    if config is None and entry is not None and entry.source == "runtime":
        config = ModelConfig.model_validate(entry.definition)
    if config is None and Path(name).is_dir():
        return _checkpoint(settings, db, Path(name))
    if config is None:
        known = sorted(
            {m.name for m in settings.models} | {m.name for m in registry.registered(db)}
        )
        raise BaseModelError(
            f"no model named {name!r} and no checkpoint folder there; known models: "
            f"{', '.join(known)}"
        )
    if config.engine != "llamacpp" or not config.path:
        raise BaseModelError(
            f"model {name!r} is served by an upstream ({config.base_url}); training needs its "
            "weights: a model whose `path` is a GGUF file"
        )
    return BaseModel(name, config, resolve_model_path(config.path, settings.cache_dir))


def _checkpoint(settings: Settings, db: Database, folder: Path) -> BaseModel:
    """A checkpoint folder; one of ours (`hf/` beside a manifest) keeps its origin."""
    if not (folder / "config.json").is_file():
        raise BaseModelError(
            f"{folder} is not a Hugging Face checkpoint folder (no config.json) nor the "
            "name of a registered model"
        )
    manifest = folder.parent / "manifest.json"
    if manifest.is_file():
        origin = json.loads(manifest.read_text()).get("base", {})
        served = find_base(settings, db, origin["model"]) if origin.get("model") else None
        if served is not None and served.gguf is not None:
            return BaseModel(f"{served.name} ({folder})", served.config, served.gguf, folder)
    return BaseModel(str(folder), None, None, folder)


def checkpoint_dir(base: BaseModel, cache_dir: Path) -> Path:
    """A Hugging Face folder of the base model's weights and tokenizer: the base's own
    folder, or its GGUF dequantised on first use and kept in the cache."""
    if base.folder is not None:
        return base.folder
    assert base.gguf is not None and base.config is not None
    stat = base.gguf.stat()
    key = hashlib.sha256(f"{base.gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    folder = cache_dir / "train" / "base" / f"{base.name.replace('/', '_')}-{key.hexdigest()[:12]}"
    if (folder / "config.json").is_file():
        return folder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(base.gguf.parent), gguf_file=base.gguf.name)
    quantizer: Any = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    tokenizer = AutoTokenizer.from_pretrained(str(base.gguf.parent), gguf_file=base.gguf.name)
    if base.config.chat_template:  # the template the model is served with
        tokenizer.chat_template = base.config.chat_template
    partial = folder.with_name(folder.name + f".{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    os.replace(partial, folder)
    return folder

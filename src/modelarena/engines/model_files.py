"""Finds a model's GGUF file from its configured `path`.

Three forms: a plain file path; `package:MODULE/FILE`, a file inside an installed Python
package (found without importing the package); `assemble:MODULE`, a package whose
`assemble(path)` writes the GGUF once into the cache directory.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

from modelarena.engines.gguf_header import MAGIC, GGUFHeaderError, read_metadata

# A model's context when its configuration gives none: its trained context, at most this.
DEFAULT_CONTEXT = 4096


class ModelFileError(Exception):
    """The configured weights cannot be found; the message says how to get them."""


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(
            f"Python package '{module}' is not installed; install it (see the README: "
            "`make install` installs the default models)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_model_path(spec: str, cache_dir: Path, *, create: bool = True) -> Path:
    """The GGUF path for `spec`. With create=False an `assemble:` file is not written."""
    if spec.startswith("package:"):
        module, _, name = spec.removeprefix("package:").partition("/")
        path = _package_dir(module) / name
    elif spec.startswith("assemble:"):
        module = spec.removeprefix("assemble:")
        _package_dir(module)
        target = cache_dir / "models" / module / "model.gguf"
        if create and not target.is_file():
            # The package verifies the chunks and the checksum while writing; a temporary
            # name keeps a concurrent process from loading a half-written file.
            partial = target.with_name(f"model.{os.getpid()}.partial")
            importlib.import_module(module).assemble(partial, overwrite=True)
            os.replace(partial, target)
        return target
    else:
        path = Path(spec).expanduser()
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    return path


KV_BYTES = 2  # llama.cpp's KV cache holds f16 values


def check_gguf(path: Path) -> None:
    """ModelFileError unless `path` begins as a GGUF file does."""
    with path.open("rb") as file:
        if file.read(4) != MAGIC:
            raise ModelFileError(f"{path} is not a GGUF file (it does not begin with 'GGUF')")


def check_adapter(path: Path) -> None:
    """ModelFileError unless `path` is a LoRA adapter GGUF."""
    if not path.is_file():
        raise ModelFileError(f"LoRA adapter not found: {path}")
    try:
        kind = read_metadata(path).get("general.type")
    except GGUFHeaderError as exc:
        raise ModelFileError(str(exc)) from None
    if kind != "adapter":
        raise ModelFileError(f"{path} is a GGUF {kind or 'model'}, not a LoRA adapter")


def memory_needed(path: Path, context_length: int | None, parallel: int) -> int:
    """Bytes a model needs loaded, estimated from its file: the weights (read into memory
    whole) and the KV cache of `parallel` slots of `context_length` tokens (the GGUF's
    trained context, at most DEFAULT_CONTEXT, when None)."""
    try:
        meta = read_metadata(path)
    except GGUFHeaderError as exc:
        raise ModelFileError(str(exc)) from None
    arch = meta.get("general.architecture", "llama")

    def number(key: str, default: int) -> int:
        value = meta.get(f"{arch}.{key}")
        if isinstance(value, list):  # given per layer: the largest
            value = max(value, default=default)
        return default if value is None else int(value)

    layers = number("block_count", 0)
    heads = number("attention.head_count", 1)
    kv_heads = number("attention.head_count_kv", heads)
    key_length = number("attention.key_length", number("embedding_length", 0) // max(heads, 1))
    value_length = number("attention.value_length", key_length)
    context = context_length or min(number("context_length", DEFAULT_CONTEXT), DEFAULT_CONTEXT)
    kv_cache = parallel * context * layers * kv_heads * (key_length + value_length) * KV_BYTES
    return path.stat().st_size + kv_cache

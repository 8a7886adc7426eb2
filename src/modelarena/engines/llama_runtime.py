"""Process-wide llama.cpp set-up (backend, quiet logging) and tokenization helpers."""

from __future__ import annotations

import ctypes
import logging
import threading

import llama_cpp as llama

log = logging.getLogger("llama.cpp")
_init_lock = threading.Lock()
_initialized = False
GGML_LOG_LEVEL_ERROR = 4


@llama.llama_log_callback
def _log_callback(level: int, text: bytes, _user_data) -> None:
    # llama.cpp narrates every load in detail; only its errors are worth a log line.
    if level == GGML_LOG_LEVEL_ERROR and text:
        log.error(text.decode("utf-8", errors="replace").rstrip())


def init_backend() -> None:
    """Initialise llama.cpp once per process and route its logging to ours."""
    global _initialized
    with _init_lock:
        if not _initialized:
            llama.llama_log_set(_log_callback, ctypes.c_void_p(0))
            llama.llama_backend_init()
            _initialized = True


def tokenize(vocab, text: str, *, add_special: bool) -> list[int]:
    """Token ids of `text`; special tokens written in the text are parsed as such."""
    data = text.encode("utf-8")
    capacity = len(data) + 8
    tokens = (llama.llama_token * capacity)()
    count = llama.llama_tokenize(vocab, data, len(data), tokens, capacity, add_special, True)
    if count < 0:  # the buffer was too small: -count is the size needed
        capacity = -count
        tokens = (llama.llama_token * capacity)()
        count = llama.llama_tokenize(vocab, data, len(data), tokens, capacity, add_special, True)
    return list(tokens[:count])

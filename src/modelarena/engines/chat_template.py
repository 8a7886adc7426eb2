"""Renders chat messages into a prompt with a Jinja chat template (Hugging Face style).

Templates come from the GGUF metadata or the model's config; they run in Jinja's
sandbox, so a template file cannot reach anything but the messages it is given. A
rendered prompt can be told apart into the template's own markup and the messages' text,
so that only the markup's special tokens are read as such.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from modelarena.errors import invalid_request


def _raise(message: str) -> None:
    raise TemplateError(message)


class ChatTemplate:
    """A compiled chat template with the model's special tokens bound in."""

    def __init__(self, source: str, bos_token: str = "", eos_token: str = "") -> None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        self.source = source
        self._template = env.from_string(source)
        self.bos_token = bos_token
        self.eos_token = eos_token
        # Private-use characters around a random tag: no visitor can guess them, and a
        # template treats them as ordinary text.
        tag = secrets.token_hex(8)
        self._open, self._close = f"\ue000{tag}\ue001", f"\ue002{tag}\ue003"
        self._marks = re.compile(f"({self._open}|{self._close})")

    @property
    def renders_tools(self) -> bool:
        """Whether the template writes a request's `tools` into the prompt."""
        return "tools" in self.source

    def render(
        self,
        messages: list[dict[str, Any]],
        add_generation_prompt: bool = True,
        tools: list[dict[str, Any]] | None = None,
    ) -> str:
        try:
            return self._template.render(
                messages=messages,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                tools=tools,
            )
        except TemplateError as exc:
            # Templates reject impossible dialogues (e.g. roles out of order) this way.
            raise invalid_request(
                f"the model's chat template rejected the messages: {exc}", param="messages"
            ) from exc

    def render_parts(
        self,
        messages: list[dict[str, Any]],
        add_generation_prompt: bool = True,
        tools: list[dict[str, Any]] | None = None,
    ) -> tuple[str, list[tuple[str, bool]] | None]:
        """The prompt, and the same prompt in pieces: `(text, True)` for the template's
        markup, `(text, False)` for the messages' contents. The pieces are None when the
        template rewrites contents beyond trimming them, so they cannot be found again."""
        prompt = self.render(messages, add_generation_prompt, tools)
        for prepare in (str, str.strip):
            marked = self.render(
                [
                    {**m, "content": self._open + prepare(m["content"]) + self._close}
                    for m in messages
                ],
                add_generation_prompt,
                tools,
            )
            if self._marks.sub("", marked) == prompt:
                return prompt, self._split(marked)
        return prompt, None

    def _split(self, marked: str) -> list[tuple[str, bool]]:
        parts: list[tuple[str, bool]] = []
        markup = True
        for piece in self._marks.split(marked):
            if piece in (self._open, self._close):
                markup = piece == self._close
            elif piece:
                parts.append((piece, markup))
        return parts

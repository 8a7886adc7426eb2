"""Renders chat messages into a prompt with a Jinja chat template (Hugging Face style).

Templates come from the GGUF metadata or the model's config; they run in Jinja's
sandbox, so a template file cannot reach anything but the messages it is given.
"""

from __future__ import annotations

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

    def render(self, messages: list[dict[str, Any]], add_generation_prompt: bool = True) -> str:
        try:
            return self._template.render(
                messages=messages,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except TemplateError as exc:
            # Templates reject impossible dialogues (e.g. roles out of order) this way.
            raise invalid_request(f"the model's chat template rejected the messages: {exc}",
                                  param="messages") from exc

"""Chat templates render Hugging Face style and reject impossible dialogues clearly."""

import pytest

from modelarena.config import load_default_models
from modelarena.engines.chat_template import ChatTemplate
from modelarena.errors import APIError

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_chatml_template_renders_roles_and_generation_prompt():
    text = ChatTemplate(CHATML).render([{"role": "user", "content": "Hi"}])
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_default_gemma_transcript_template():
    gemma = next(m for m in load_default_models() if m.name == "gemma-3-270m")
    text = ChatTemplate(gemma.chat_template).render(
        [
            {"role": "system", "content": "A conversation."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Capital of France?"},
        ]
    )
    assert text == (
        "A conversation.\n\nUser: Hi\nAssistant: Hello.\nUser: Capital of France?\nAssistant:"
    )


def test_template_exception_becomes_a_400():
    template = ChatTemplate("{{ raise_exception('roles must alternate') }}")
    with pytest.raises(APIError) as info:
        template.render([{"role": "user", "content": "x"}])
    assert info.value.status == 400 and "roles must alternate" in info.value.message


def test_templates_run_sandboxed():
    template = ChatTemplate("{{ messages.__class__.__mro__ }}")
    with pytest.raises(APIError, match="unsafe"):
        template.render([{"role": "user", "content": "x"}])

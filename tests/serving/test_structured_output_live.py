"""Structured output and tool calls on the bundled models, through the official `openai`
SDK against a real server: parsed Pydantic objects, JSON mode, forced and named tool
calls (streamed and not), tool turns sent back, and the 400s for what cannot be done."""

from __future__ import annotations

import json

import openai
import pytest
from pydantic import BaseModel, Field

from modelarena.config import load_default_models

pytestmark = pytest.mark.live

SMOL = "smollm2-135m-instruct"
GEMMA = "gemma-3-270m"
PROMPTS = [
    "Tell me about Paris.",
    "Describe the city of Tokyo.",
    "Which city is the largest in Brazil?",
]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 40},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
CLOCK = {"type": "function", "function": {"name": "local_time", "parameters": {"type": "object"}}}
ASK = [{"role": "user", "content": "What is the weather like in Paris?"}]


class City(BaseModel):
    # Bounded strings and lists: a small model's answer always ends well within limits.
    name: str = Field(max_length=40)
    country: str = Field(max_length=40)
    population: int
    landmarks: list[str] = Field(max_length=3)
    capital: bool


@pytest.fixture(scope="module")
def client(default_server) -> openai.OpenAI:
    return openai.OpenAI(base_url=default_server.url + "/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("model", [SMOL, GEMMA])
@pytest.mark.parametrize("prompt", PROMPTS)
def test_sdk_parse_returns_a_valid_object(client, model, prompt):
    reply = client.chat.completions.parse(
        model=model, messages=[{"role": "user", "content": prompt}], response_format=City
    )
    city = reply.choices[0].message.parsed
    assert isinstance(city, City)
    assert len(city.landmarks) <= 3
    assert reply.choices[0].finish_reason == "stop"


def test_json_mode_answers_an_object(client):
    reply = client.chat.completions.create(
        model=SMOL,
        messages=[{"role": "user", "content": "Describe a cat as JSON."}],
        response_format={"type": "json_object"},
        max_tokens=400,
        temperature=0,
    )
    assert isinstance(json.loads(reply.choices[0].message.content), dict)


def test_a_streamed_schema_answer_is_valid_json(client):
    chunks = client.chat.completions.create(
        model=GEMMA,
        messages=[{"role": "user", "content": PROMPTS[0]}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "city", "schema": City.model_json_schema(), "strict": True},
        },
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    City.model_validate_json(text)


def test_completions_take_a_schema_too(client):
    """vLLM's extension: `response_format` on /v1/completions, stream and not."""
    schema = {"name": "city", "schema": City.model_json_schema(), "strict": True}
    asked = {
        "model": SMOL,
        "prompt": "A city described as JSON:",
        "max_tokens": 300,
        "extra_body": {"response_format": {"type": "json_schema", "json_schema": schema}},
    }
    City.model_validate_json(client.completions.create(**asked).choices[0].text)
    chunks = client.completions.create(**asked, stream=True)
    City.model_validate_json("".join(c.choices[0].text for c in chunks if c.choices))
    bad = {"type": "json_schema", "json_schema": {"name": "s", "schema": {"pattern": "a"}}}
    with pytest.raises(openai.BadRequestError) as refused:
        client.completions.create(**{**asked, "extra_body": {"response_format": bad}})
    assert refused.value.body["param"] == "response_format"


@pytest.mark.parametrize("model", [SMOL, GEMMA])
def test_required_tool_call(client, model):
    reply = client.chat.completions.create(
        model=model, messages=ASK, tools=[WEATHER, CLOCK], tool_choice="required"
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name in {"get_weather", "local_time"}
    arguments = json.loads(call.function.arguments)
    if call.function.name == "get_weather":
        assert set(arguments) == {"city", "unit"}
        assert arguments["unit"] in {"celsius", "fahrenheit"}


@pytest.mark.parametrize("model", [SMOL, GEMMA])
def test_named_tool_call_streams_in_openai_shape(client, model):
    stream = client.chat.completions.create(
        model=model,
        messages=ASK,
        tools=[WEATHER, CLOCK],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        stream=True,
    )
    deltas, finish = [], None
    for chunk in stream:
        choice = chunk.choices[0]
        deltas += choice.delta.tool_calls or []
        finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert deltas[0].id.startswith("call_") and deltas[0].function.name == "get_weather"
    assert len(deltas) > 2  # the arguments came in pieces
    arguments = json.loads("".join(d.function.arguments or "" for d in deltas))
    assert set(arguments) == {"city", "unit"}


def test_tool_results_go_back_to_the_model(client):
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "celsius"}'},
    }
    for model in (SMOL, GEMMA):
        reply = client.chat.completions.create(
            model=model,
            messages=[
                *ASK,
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18 C and sunny"},
            ],
            tools=[WEATHER],
            tool_choice="none",
            max_tokens=24,
        )
        choice = reply.choices[0]
        assert choice.message.content and not choice.message.tool_calls
        assert choice.finish_reason in {"stop", "length"}


def error_of(client, **body) -> dict:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=SMOL, messages=ASK, max_tokens=8, **body)
    return caught.value.body


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"tools": [WEATHER]}, "tool_choice", "does not render tools"),
        ({"tools": [WEATHER], "tool_choice": "auto"}, "tool_choice", "does not render tools"),
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "x"}}},
            "tool_choice",
            "'x'",
        ),
        ({"tool_choice": "required"}, "tool_choice", "needs tools"),
        (
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "f", "parameters": {"type": "objekt"}},
                    }
                ],
                "tool_choice": "required",
            },
            "tools",
            "`type`",
        ),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "s",
                        "schema": {"type": "string", "pattern": "^[a-z]+$"},
                    },
                }
            },
            "response_format",
            "`pattern`",
        ),
        ({"response_format": {"type": "yaml"}}, "response_format", "json_schema"),
    ],
)
def test_what_cannot_be_done_is_a_400_naming_the_parameter(client, body, param, words):
    error = error_of(client, **body)
    assert error["param"] == param
    assert words in error["message"]


TOOLS_TEMPLATE = (
    "{% if tools %}<|im_start|>system\nTools: {{ tools | tojson }}<|im_end|>\n{% endif %}"
    "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}"
    "{% for call in message.tool_calls or [] %}<tool_call>{{ call.function | tojson }}"
    "</tool_call>{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_auto_works_with_a_template_that_renders_tools(start_server):
    smol = next(m for m in load_default_models() if m.name == SMOL)
    server = start_server(
        {
            "include_default_models": False,
            "models": [
                {
                    "name": "smol-tools",
                    "engine": "llamacpp",
                    "path": smol.path,
                    "parallel": 2,
                    "threads": 1,  # one thread: quick on a busy machine
                    "chat_template": TOOLS_TEMPLATE,
                },
            ],
        }
    )
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    reply = client.chat.completions.create(
        model="smol-tools", messages=ASK, tools=[WEATHER], max_tokens=16, temperature=0
    )
    choice = reply.choices[0]
    if choice.finish_reason == "tool_calls":  # the model chose to call
        assert choice.message.tool_calls[0].function.name == "get_weather"
    else:
        assert choice.message.content is not None
    forced = client.chat.completions.create(
        model="smol-tools", messages=ASK, tools=[WEATHER], tool_choice="required"
    )
    assert forced.choices[0].message.tool_calls[0].function.name == "get_weather"

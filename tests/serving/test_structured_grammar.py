"""JSON schemas as grammars, checked with llama.cpp's own grammar engine over SmolLM2's
vocabulary: valid JSON passes token by token, invalid JSON is refused where it goes
wrong; unsupported schema features are named; tool-call answers read back as OpenAI
tool calls, streamed or whole."""

from __future__ import annotations

import json
import re
from pathlib import Path

import llama_cpp as llama
import pytest

from modelarena.config import load_default_models
from modelarena.engines.answer_format import AnswerReader
from modelarena.engines.base import TextDelta
from modelarena.engines.constrained import GrammarConstraint, grammar_parses
from modelarena.engines.grammar import (
    UnsupportedSchema,
    json_object_grammar,
    schema_grammar,
    tool_call_grammar,
)
from modelarena.engines.llama_runtime import init_backend, tokenize
from modelarena.engines.model_files import resolve_model_path
from modelarena.engines.tool_calls import CallReader, ToolPlan, parse_call, template_messages
from modelarena.protocol import ChatMessage

PERSON = {
    "type": "object",
    "title": "Person",
    "properties": {
        "name": {"type": "string", "description": "full name"},
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "kind": {"enum": ["a", "b\\c"]},
        "home": {"$ref": "#/$defs/Home"},
        "nick": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["name", "age", "tags", "kind", "home", "nick"],
    "$defs": {"Home": {"type": "object", "properties": {"city": {"type": "string"}}}},
}


@pytest.fixture(scope="module")
def vocab(cache_dir: Path):
    smol = next(m for m in load_default_models() if m.name == "smollm2-135m-instruct")
    init_backend()
    params = llama.llama_model_default_params()
    params.vocab_only = True
    model = llama.llama_model_load_from_file(
        str(resolve_model_path(smol.path, cache_dir)).encode(), params
    )
    yield llama.llama_model_get_vocab(model)
    llama.llama_model_free(model)


def follows(vocab, grammar: str, text: str) -> bool:
    """Whether the grammar allows `text`, token by token, to its end (then only an
    end-of-generation token)."""
    constraint = GrammarConstraint(vocab, llama.llama_vocab_n_tokens(vocab), grammar)
    try:
        for token in tokenize(vocab, text, add_special=False, parse_special=False):
            if not constraint.allows(token):
                return False
            constraint.accept(token)
        return constraint.allows(llama.llama_vocab_eos(vocab))
    finally:
        constraint.free()


VALID = {
    "name": "Ada\nLovelace \u00e9",
    "age": -36,
    "tags": ["x"],
    "kind": "b\\c",
    "home": {"city": "London"},
    "nick": None,
}


@pytest.mark.parametrize("spacing", [(",", ":"), (", ", ": ")])
def test_a_valid_object_follows_the_schema_grammar(vocab, spacing):
    grammar = schema_grammar(PERSON)
    assert grammar_parses(vocab, grammar)
    assert follows(vocab, grammar, json.dumps(VALID, separators=spacing))


@pytest.mark.parametrize(
    "change",
    [
        {"age": 3.5},  # not an integer
        {"tags": ["x", "y", "z"]},  # over maxItems
        {"kind": "c"},  # not in the enum
        {"home": {"city": "London", "zip": "N1"}},  # a property the schema lacks
        {"nick": 3},  # neither string nor null
    ],
)
def test_invalid_values_are_refused(vocab, change):
    assert not follows(vocab, schema_grammar(PERSON), json.dumps({**VALID, **change}))


def test_missing_required_properties_and_raw_control_characters_are_refused(vocab):
    grammar = schema_grammar(PERSON)
    assert not follows(vocab, grammar, json.dumps({k: v for k, v in VALID.items() if k != "age"}))
    raw_newline = json.dumps(VALID).replace("\\n", "\n")
    assert not follows(vocab, grammar, raw_newline)


def test_json_mode_takes_any_object_and_only_objects(vocab):
    grammar = json_object_grammar()
    assert follows(vocab, grammar, '{"a": [1, 2.5e3, true, null, {"b": "c"}]}')
    assert not follows(vocab, grammar, "[1, 2]")
    assert not follows(vocab, grammar, '{"a": 1} trailing')


@pytest.mark.parametrize(
    ("schema", "feature"),
    [
        ({"type": "string", "pattern": "^a+$"}, "pattern"),
        ({"type": "integer", "minimum": 0}, "minimum"),
        ({"oneOf": [{"type": "string"}]}, "oneOf"),
        ({"allOf": [{"type": "string"}]}, "allOf"),
        ({"type": "string", "format": "email"}, "format"),
        ({"type": "strin"}, "type"),
        ({"$ref": "https://example.com/schema"}, "$ref"),
        (
            {
                "$defs": {
                    "Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}
                },
                "$ref": "#/$defs/Node",
            },
            "recursive",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]},
            "required",
        ),
    ],
)
def test_unsupported_features_are_named(schema, feature):
    with pytest.raises(UnsupportedSchema, match=re.escape(feature)):
        schema_grammar(schema)


FUNCTIONS = {
    "get_weather": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city", "unit"],
    },
    "now": {"type": "object", "properties": {}},
}


def test_tool_call_grammar_takes_calls_of_the_given_functions_only(vocab):
    grammar = tool_call_grammar(FUNCTIONS)
    assert follows(
        vocab, grammar, '{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "c"}}'
    )
    assert follows(vocab, grammar, '{"name": "now", "arguments": {}}')
    assert not follows(vocab, grammar, '{"name": "other", "arguments": {}}')
    assert not follows(vocab, grammar, '{"name": "get_weather", "arguments": {"city": "Oslo"}}')


@pytest.mark.parametrize("size", [1, 3, 7])
def test_a_streamed_call_reads_back_whole(size):
    text = '{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "c"} }'
    reader = CallReader()
    deltas = []
    for i in range(0, len(text), size):
        deltas += reader.feed(text[i : i + size])
    deltas += reader.finish(complete=True)
    assert deltas[0]["function"] == {"name": "get_weather", "arguments": ""}
    assert deltas[0]["id"].startswith("call_") and deltas[0]["type"] == "function"
    arguments = "".join(d["function"]["arguments"] for d in deltas)
    assert json.loads(arguments) == {"city": "Oslo", "unit": "c"}


def test_a_forced_call_finishes_as_tool_calls():
    reader = AnswerReader(ToolPlan(FUNCTIONS, "required"))
    first = reader.read(TextDelta(0, '{"name": "now", "arguments": {'))
    last = reader.read(TextDelta(0, "}}", "stop"))
    assert first is not None and last is not None
    assert first.text == "" and first.tool_calls[0]["function"]["name"] == "now"
    assert last.finish_reason == "tool_calls"
    assert "".join(d["function"]["arguments"] for d in first.tool_calls + last.tool_calls) == "{}"


def test_auto_answers_are_calls_only_when_they_are_whole_calls():
    plan = ToolPlan(FUNCTIONS, "auto")
    reader = AnswerReader(plan)
    assert reader.read(TextDelta(0, "<tool_call>\n{")) is None  # held: it may be a call
    end = reader.read(TextDelta(0, '"name": "now", "arguments": {}}\n</tool_call>', "stop"))
    assert end is not None and end.finish_reason == "tool_calls"
    assert json.loads(end.tool_calls[0]["function"]["arguments"]) == {}
    text = AnswerReader(plan).read(TextDelta(1, "Sunny, I think.", None))
    assert text is not None and text.text == "Sunny, I think." and not text.tool_calls
    assert parse_call('{"name": "unknown", "arguments": {}}', FUNCTIONS) is None
    assert parse_call("{not json", FUNCTIONS) is None


def test_tool_turns_become_plain_turns_for_templates_without_tools():
    messages = [
        ChatMessage(role="user", content="Weather in Oslo?"),
        ChatMessage(
            role="assistant",
            tool_calls=[
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        ),
        ChatMessage(role="tool", tool_call_id="c1", content="4 C"),
        ChatMessage(role="tool", tool_call_id="c2", content="rain"),
    ]
    plain = template_messages(messages, renders_tools=False)
    assert [m["role"] for m in plain] == ["user", "assistant", "user"]
    assert json.loads(plain[1]["content"])["arguments"] == {"city": "Oslo"}
    assert "4 C" in plain[2]["content"] and "rain" in plain[2]["content"]
    rich = template_messages(messages, renders_tools=True)
    assert rich[1]["tool_calls"][0]["id"] == "c1" and rich[2]["tool_call_id"] == "c1"

"""What a chat request asks its answer to be — text, JSON (`response_format`) or a tool
call (`tools`, `tool_choice`) — the grammar that makes it so, and the reading of the
generated text back into OpenAI's shape (tool calls instead of text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelarena.engines.base import TextDelta
from modelarena.engines.grammar import UnsupportedSchema, json_object_grammar, schema_grammar
from modelarena.engines.tool_calls import CallReader, ToolPlan, parse_call, plan_tools
from modelarena.errors import invalid_request
from modelarena.protocol import ChatCompletionRequest


@dataclass
class AnswerFormat:
    grammar: str | None  # GBNF every token must follow, or None for free text
    tools: ToolPlan | None


def answer_format(request: ChatCompletionRequest, renders_tools: bool) -> AnswerFormat:
    """Check `response_format`, `tools` and `tool_choice` (400s naming the parameter);
    a forced tool call's grammar wins over a response format."""
    plan = plan_tools(request, renders_tools)
    text_grammar = response_format_grammar(request.response_format)
    if plan is not None and plan.forced:
        return AnswerFormat(plan.grammar(), plan)
    return AnswerFormat(text_grammar, plan)


def response_format_grammar(response_format: dict[str, Any] | None) -> str | None:
    kind = (response_format or {}).get("type", "text")
    if kind == "text":
        return None
    if kind == "json_object":
        return json_object_grammar()
    if kind != "json_schema":
        raise invalid_request(
            'response_format.type must be "text", "json_object" or "json_schema"',
            param="response_format",
        )
    spec = (response_format or {}).get("json_schema")
    if not isinstance(spec, dict):
        raise invalid_request(
            "response_format.json_schema must be an object with `name` and `schema`",
            param="response_format",
        )
    if "schema" not in spec:
        return json_object_grammar()
    try:
        return schema_grammar(spec["schema"])
    except UnsupportedSchema as exc:
        raise invalid_request(
            f"response_format.json_schema.schema: {exc}",
            param="response_format",
            code="unsupported_schema",
        ) from None


class AnswerReader:
    """Turns one request's text deltas into its answer: text as it is, or tool calls.

    A forced call streams as tool-call deltas. Under "auto", a choice whose text starts
    like a call (`{` or `<`) is held back until it ends, then sent as a call if it is
    one, else as text; any other answer streams as text."""

    def __init__(self, plan: ToolPlan | None) -> None:
        self._plan = plan
        self._calls: dict[int, CallReader] = {}
        self._held: dict[int, str] = {}  # auto: a choice's text that may be a call
        self._held_logprobs: dict[int, list] = {}  # auto: the logprobs of that text
        self._free: set[int] = set()  # auto: choices known to answer in text

    def read(self, delta: TextDelta) -> TextDelta | None:
        plan = self._plan
        if plan is None or plan.choice == "none":
            return delta
        if plan.forced:
            return self._forced(delta)
        return self._auto(delta, plan)

    def _forced(self, delta: TextDelta) -> TextDelta:
        reader = self._calls.setdefault(delta.index, CallReader())
        calls = reader.feed(delta.text)
        finish = delta.finish_reason
        if finish:
            calls += reader.finish(complete=finish == "stop")
            finish = "tool_calls" if finish == "stop" else finish
        return TextDelta(delta.index, "", finish, calls or None, delta.logprobs)

    def _auto(self, delta: TextDelta, plan: ToolPlan) -> TextDelta | None:
        i = delta.index
        if i in self._free:
            return delta
        text = self._held.pop(i, "") + delta.text
        logprobs = self._held_logprobs.pop(i, None)
        if delta.logprobs is not None:
            logprobs = (logprobs or []) + delta.logprobs
        if text.strip() and not text.lstrip().startswith(("{", "<")):
            self._free.add(i)
            return TextDelta(i, text, delta.finish_reason, None, logprobs)
        if not delta.finish_reason:
            self._held[i] = text
            if logprobs is not None:
                self._held_logprobs[i] = logprobs
            return None
        call = parse_call(text, plan.functions)
        if call is None:
            return TextDelta(i, text, delta.finish_reason, None, logprobs)
        return TextDelta(i, "", "tool_calls", [call], logprobs)

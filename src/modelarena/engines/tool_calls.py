"""Tool calls for the local engine: `tools` and `tool_choice` checked, the dialogue's tool
turns written for the chat template, and constrained answers read back as OpenAI tool
calls.

`tool_choice` "required" or a named function makes the answer one call, by grammar:
`{"name": NAME, "arguments": {...}}` with arguments valid under the function's schema.
"auto" needs a chat template that renders `tools`: the model then decides, and an answer
that is such a call (bare, or in `<tool_call>` tags) is read as one. "none" answers in
text. A template that does not render tools is told about them in the system message,
and sees earlier calls as the assistant's JSON and their results as user turns.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from modelarena.engines.grammar import UnsupportedSchema, schema_grammar, tool_call_grammar
from modelarena.errors import invalid_request
from modelarena.protocol import ChatCompletionRequest, ChatMessage

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
HEAD = '{"name": '
ARGUMENTS = ', "arguments": '
HELD = 2  # characters held back while streaming: the closing brace, a space before it
TAGGED = re.compile(r"^\s*<tool_call>\s*(\{.*\})\s*</tool_call>\s*$", re.S)


@dataclass
class ToolPlan:
    """What a request's tools ask of the answer."""

    functions: dict[str, dict[str, Any]]  # name -> parameters schema, all the tools
    choice: str  # "none", "auto", "required" or "function"
    named: str | None = None  # the function a named choice forces

    @property
    def forced(self) -> bool:
        return self.choice in ("required", "function")

    def grammar(self) -> str | None:
        """The grammar of a forced call; None when the model may answer in text."""
        if not self.forced:
            return None
        allowed = self.functions if self.named is None else {self.named: self.functions[self.named]}
        return tool_call_grammar(allowed)


def plan_tools(request: ChatCompletionRequest, renders_tools: bool) -> ToolPlan | None:
    """Check `tools` and `tool_choice`; None when the request has no tools."""
    if not request.tools:
        if request.tool_choice not in (None, "none"):
            raise invalid_request("tool_choice needs tools", param="tool_choice")
        return None
    functions = {}
    for i, tool in enumerate(request.tools):
        name, parameters = _function(tool, i)
        if name in functions:
            raise invalid_request(f"two tools are named {name!r}", param="tools")
        functions[name] = parameters
    plan = _choice(request.tool_choice, functions)
    if plan.choice == "auto" and not renders_tools:
        raise invalid_request(
            "this model's chat template does not render tools, so it cannot decide "
            'whether to call one: use tool_choice "required", a named function or "none"',
            param="tool_choice",
        )
    return plan


def _function(tool: Any, i: int) -> tuple[str, dict[str, Any]]:
    where = f"tools[{i}]"
    if not isinstance(tool, dict) or tool.get("type") != "function":
        raise invalid_request(f'{where} must be {{"type": "function", ...}}', param="tools")
    function = tool.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise invalid_request(f"{where}.function needs a name", param="tools")
    name = function["name"]
    if not NAME.match(name):
        raise invalid_request(
            f"{where}: function names are 1 to 64 letters, digits, _ or -", param="tools"
        )
    parameters = function.get("parameters", {"type": "object", "properties": {}})
    try:
        schema_grammar(parameters)
    except UnsupportedSchema as exc:
        raise invalid_request(
            f"{where}.function.parameters is not a JSON schema this server can follow: {exc}",
            param="tools",
            code="unsupported_schema",
        ) from None
    return name, parameters


def _choice(choice: Any, functions: dict[str, Any]) -> ToolPlan:
    if choice is None:
        choice = "auto"
    if choice in ("none", "auto", "required"):
        return ToolPlan(functions, choice)
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if name not in functions:
            raise invalid_request(
                f"tool_choice names the function {name!r}, which is not among the tools",
                param="tool_choice",
            )
        return ToolPlan(functions, "function", name)
    raise invalid_request(
        'tool_choice must be "none", "auto", "required" or '
        '{"type": "function", "function": {"name": ...}}',
        param="tool_choice",
    )


# -- the dialogue, for the chat template ------------------------------------------------


def chat_messages(
    request: ChatCompletionRequest, renders_tools: bool, system_prompt: str | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """The messages for the chat template, with `system_prompt` first when the chat has
    no system message, and the tools to hand the template (None: it gets none). A
    template that does not render tools is told of a forced call's tools in the system
    message."""
    messages = template_messages(request.messages, renders_tools)
    if system_prompt and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system_prompt})
    choice = request.tool_choice
    if not request.tools or choice == "none":
        return messages, None
    if renders_tools:
        return messages, request.tools
    named = choice["function"]["name"] if isinstance(choice, dict) else None  # checked
    note = instructions(request.tools, named)
    if messages[0]["role"] == "system":
        messages[0] = {**messages[0], "content": f"{messages[0]['content']}\n\n{note}".strip()}
    else:
        messages.insert(0, {"role": "system", "content": note})
    return messages, None


def template_messages(messages: list[ChatMessage], renders_tools: bool) -> list[dict[str, Any]]:
    """The messages as the chat template gets them. A template that renders tools gets
    tool calls and tool turns as they are; for one that does not, a call is the
    assistant's JSON and results are user turns (consecutive ones merged)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        role = "system" if m.role == "developer" else m.role
        entry: dict[str, Any] = {"role": role, "content": m.text()}
        if renders_tools:
            if m.tool_calls:
                entry["tool_calls"] = m.tool_calls
            if m.tool_call_id:
                entry["tool_call_id"] = m.tool_call_id
        elif m.tool_calls:
            calls = "\n".join(_call_text(call) for call in m.tool_calls)
            entry["content"] = "\n".join(filter(None, [entry["content"], calls]))
        elif role == "tool":
            result = f"Tool result ({m.name or m.tool_call_id or 'tool'}): {entry['content']}"
            if out and out[-1]["role"] == "user" and out[-1].get("tool_results"):
                out[-1]["content"] += "\n" + result
                continue
            entry = {"role": "user", "content": result, "tool_results": True}
        out.append(entry)
    return [{k: v for k, v in e.items() if k != "tool_results"} for e in out]


def _call_text(call: dict[str, Any]) -> str:
    function = call.get("function")
    if not (
        isinstance(function, dict)
        and isinstance(function.get("name"), str)
        and isinstance(function.get("arguments", ""), str)
    ):
        raise invalid_request(
            "an assistant's tool_calls need function.name and function.arguments (a string)",
            param="messages",
        )
    arguments = function.get("arguments") or "{}"
    return f"{HEAD}{json.dumps(function['name'])}{ARGUMENTS}{arguments}}}"


def instructions(tools: list[dict[str, Any]], named: str | None) -> str:
    """What a template that does not render tools is told, in the system message."""
    described = json.dumps(tools, ensure_ascii=False)
    ask = f"Call the function {named}." if named else "Call one of these functions."
    return (
        f"You can call functions. The functions: {described}\n{ask} Answer with the call as "
        f'JSON: {{"name": the function\'s name, "arguments": its arguments}}.'
    )


# -- the answer, read back ----------------------------------------------------------------


class CallReader:
    """Reads one choice's constrained answer, `{"name": NAME, "arguments": ARGS}`, as
    OpenAI tool-call deltas while it streams: the name once it is complete, then the
    arguments as they come (the closing brace held back)."""

    def __init__(self) -> None:
        self._text = ""
        self._sent = 0  # characters of the arguments sent
        self._started = False

    def feed(self, text: str) -> list[dict[str, Any]]:
        self._text += text
        deltas = []
        if not self._started:
            end = self._text.find(ARGUMENTS)
            if end < 0:
                return []
            self._started = True
            self._start = end + len(ARGUMENTS)
            name = json.loads(self._text[len(HEAD) : end])
            deltas.append(
                {
                    "index": 0,
                    "id": "call_" + secrets.token_hex(12),
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }
            )
        arguments = self._text[self._start :]
        return deltas + self._arguments(arguments[: max(len(arguments) - HELD, 0)])

    def finish(self, complete: bool) -> list[dict[str, Any]]:
        """The rest of the arguments; `complete`: the grammar's call ended (not cut off
        by a length limit), so its closing brace is dropped."""
        if not self._started:
            return []
        arguments = self._text[self._start :]
        if complete:
            arguments = arguments.removesuffix("}").rstrip()
        return self._arguments(arguments)

    def _arguments(self, arguments: str) -> list[dict[str, Any]]:
        new = arguments[self._sent :]
        if not new:
            return []
        self._sent = len(arguments)
        return [{"index": 0, "function": {"arguments": new}}]


def parse_call(text: str, functions: dict[str, Any]) -> dict[str, Any] | None:
    """An `auto` answer that is a whole call to one of `functions` (bare JSON or in
    `<tool_call>` tags), as an OpenAI tool call; else None (the answer is text)."""
    tagged = TAGGED.match(text)
    try:
        call = json.loads(tagged.group(1) if tagged else text)
    except ValueError:
        return None
    if not (isinstance(call, dict) and call.get("name") in functions):
        return None
    arguments = call.get("arguments", call.get("parameters", {}))
    if not isinstance(arguments, dict):
        return None
    return {
        "index": 0,
        "id": "call_" + secrets.token_hex(12),
        "type": "function",
        "function": {"name": call["name"], "arguments": json.dumps(arguments, ensure_ascii=False)},
    }

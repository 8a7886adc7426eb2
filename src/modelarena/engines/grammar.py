"""JSON answers by grammar: `response_format` (JSON mode, JSON schemas) as GBNF for
llama.cpp's grammar sampler.

Schemas are converted by llama-cpp-python's own converter (`SchemaConverter`, MIT, a
port of llama.cpp's json-schema-to-grammar), on a supported subset that this module
checks first: a schema using anything else is refused with a message naming the
feature, never converted to a grammar that means something else. Two corrections to the
converter: string characters exclude control characters (JSON forbids them raw), and
literals escape backslashes.
"""

from __future__ import annotations

import json
from typing import Any

from llama_cpp.llama_grammar import PRIMITIVE_RULES, BuiltinRule, SchemaConverter

#: Keywords that describe a schema without constraining values: dropped before converting.
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$schema",
        "$id",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        "discriminator",
    }
)
#: Keywords each kind of schema may use.
KEYWORDS = {
    "object": {"type", "properties", "required", "additionalProperties"},
    "array": {"type", "items", "prefixItems", "minItems", "maxItems"},
    "string": {"type", "minLength", "maxLength", "format"},
    "number": {"type"},
    "integer": {"type"},
    "boolean": {"type"},
    "null": {"type"},
}
FORMATS = frozenset({"date", "time", "date-time", "uuid"})
TYPES = frozenset(KEYWORDS)
#: What `{}` (or `true`) means: any JSON value.
ANY_VALUE: dict[str, Any] = {
    "anyOf": [{"type": t} for t in ("object", "array", "string", "number", "boolean", "null")]
}
# JSON strings hold no raw control characters (the converter's `char` allows them).
_JSON_CHAR = BuiltinRule(
    r'[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" '
    r"[0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])",
    [],
)
assert "char" in PRIMITIVE_RULES  # the rule replaced below


class UnsupportedSchema(ValueError):
    """The schema uses a feature outside the supported subset; the message names it."""


def json_object_grammar() -> str:
    """Any JSON object (JSON mode)."""
    return schema_grammar({"type": "object"})


def schema_grammar(schema: Any) -> str:
    """GBNF for values valid under `schema`, or `UnsupportedSchema`."""
    converter = _new_converter()
    _add_schema(converter, schema, "")
    return converter.format_grammar()


def tool_call_grammar(functions: dict[str, Any]) -> str:
    """GBNF for one call `{"name": NAME, "arguments": ARGUMENTS}` of one of `functions`
    (name -> parameters schema), the arguments valid under the function's schema. The
    text around the arguments is fixed, so a reader can tell them apart as they stream."""
    converter = _new_converter()
    calls = []
    for i, (name, parameters) in enumerate(functions.items()):
        arguments = _add_schema(converter, parameters, f"function{i}-arguments")
        head = json.dumps(name) + ", " + json.dumps("arguments") + ": "
        calls.append(f"{converter._format_literal(head)} {arguments}")
    opening = converter._format_literal('{"name": ')
    converter._add_rule("root", f'{opening} ({" | ".join(calls)}) "}}"')
    return converter.format_grammar()


def _new_converter() -> _Converter:
    return _Converter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)


def _add_schema(converter: _Converter, schema: Any, name: str) -> str:
    """Add the rules for `schema` under `name` (the root when empty); the rule's name."""
    if not isinstance(schema, dict):
        raise UnsupportedSchema("the schema must be a JSON object")
    try:
        definitions = {
            f"#/{key}/{name}": value
            for key in ("$defs", "definitions")
            for name, value in (schema.get(key) or {}).items()
        }
        return converter.visit(_Checker(definitions).check(schema, "#"), name)
    except UnsupportedSchema:
        raise
    except (AssertionError, AttributeError, KeyError, TypeError, ValueError, RecursionError) as exc:
        raise UnsupportedSchema(f"the schema is malformed ({type(exc).__name__}: {exc})") from None


class _Converter(SchemaConverter):
    """llama-cpp-python's converter with JSON-correct strings and literals."""

    def _format_literal(self, literal: str) -> str:
        escaped = (
            literal.replace("\\", "\\\\")
            .replace('"', '\\"')
            .replace("\r", "\\r")
            .replace("\n", "\\n")
        )
        return f'"{escaped}"'

    def _add_primitive(self, name: str, rule: BuiltinRule) -> str:
        if name == "char":
            rule = _JSON_CHAR
        return super()._add_primitive(name, rule)


class _Checker:
    """Walks a schema: refuses what is outside the subset, returns it without
    annotations, with `{}` spelled out as any value."""

    def __init__(self, definitions: dict[str, Any]) -> None:
        self._definitions = definitions
        self._resolving: list[str] = []

    def check(self, schema: Any, where: str) -> dict[str, Any]:
        if schema is True:
            return ANY_VALUE
        if not isinstance(schema, dict):
            raise UnsupportedSchema(f"{where}: a schema must be an object or true")
        node = {k: v for k, v in schema.items() if k not in ANNOTATIONS}
        if where == "#":
            node.pop("$defs", None)
            node.pop("definitions", None)
        if not node:
            return ANY_VALUE
        if "$ref" in node:
            return self._ref(node, where)
        if "anyOf" in node:
            return self._any_of(node, where)
        if "const" in node or "enum" in node:
            return self._constants(node, where)
        kind = node.get("type")
        if isinstance(kind, list):
            return self._type_list(node, where)
        known = set().union(*KEYWORDS.values())
        if kind is None and set(node) - known:
            feature = sorted(set(node) - known)[0]
            raise UnsupportedSchema(f"{where}: `{feature}` is not supported")
        if kind not in TYPES:
            raise UnsupportedSchema(
                f"{where}: `type` must be one of {', '.join(sorted(TYPES))}"
                if kind is not None
                else f"{where}: a schema needs a `type` (or `enum`, `const`, `anyOf`, `$ref`)"
            )
        extra = set(node) - KEYWORDS[kind]
        if extra:
            feature = sorted(extra)[0]
            raise UnsupportedSchema(f"{where}: `{feature}` is not supported for {kind} schemas")
        if kind == "object":
            return self._object(node, where)
        if kind == "array":
            return self._array(node, where)
        for bound in ("minLength", "maxLength"):
            if bound in node and (not isinstance(node[bound], int) or node[bound] < 0):
                raise UnsupportedSchema(f"{where}: `{bound}` must be a whole number >= 0")
        if (
            kind == "string"
            and "format" in node
            and (node["format"] not in FORMATS or len(node) > 2)
        ):
            raise UnsupportedSchema(
                f"{where}: `format` {node['format']!r} is not supported "
                f"(supported alone: {', '.join(sorted(FORMATS))})"
            )
        return node

    def _ref(self, node: dict[str, Any], where: str) -> dict[str, Any]:
        ref = node["$ref"]
        if len(node) > 1:
            raise UnsupportedSchema(f"{where}: `$ref` with other keywords beside it")
        if ref not in self._definitions:
            raise UnsupportedSchema(f"{where}: `$ref` {ref!r} must point into the schema's `$defs`")
        if ref in self._resolving:
            raise UnsupportedSchema(f"{where}: recursive `$ref` {ref!r}")
        self._resolving.append(ref)
        try:
            return self.check(self._definitions[ref], ref)
        finally:
            self._resolving.pop()

    def _any_of(self, node: dict[str, Any], where: str) -> dict[str, Any]:
        branches = node["anyOf"]
        if len(node) > 1:
            raise UnsupportedSchema(f"{where}: `anyOf` with other keywords beside it")
        if not isinstance(branches, list) or not branches:
            raise UnsupportedSchema(f"{where}: `anyOf` must be a non-empty list")
        return {"anyOf": [self.check(b, f"{where}/anyOf/{i}") for i, b in enumerate(branches)]}

    def _constants(self, node: dict[str, Any], where: str) -> dict[str, Any]:
        extra = set(node) - {"const", "enum", "type"}
        if extra or ("const" in node and "enum" in node):
            raise UnsupportedSchema(f"{where}: `enum`/`const` with other constraints beside it")
        if "enum" in node and (not isinstance(node["enum"], list) or not node["enum"]):
            raise UnsupportedSchema(f"{where}: `enum` must be a non-empty list")
        return {k: v for k, v in node.items() if k != "type"}

    def _type_list(self, node: dict[str, Any], where: str) -> dict[str, Any]:
        kinds = node["type"]
        if len(node) > 1:
            raise UnsupportedSchema(f"{where}: a list of types with other keywords beside it")
        if not kinds or any(k not in TYPES for k in kinds):
            raise UnsupportedSchema(f"{where}: `type` lists must name known types")
        return {"anyOf": [{"type": k} for k in kinds]}

    def _object(self, node: dict[str, Any], where: str) -> dict[str, Any]:
        properties = node.get("properties", {})
        if not isinstance(properties, dict):
            raise UnsupportedSchema(f"{where}: `properties` must be an object")
        required = node.get("required", [])
        if not isinstance(required, list) or any(r not in properties for r in required):
            raise UnsupportedSchema(f"{where}: `required` must list names in `properties`")
        out: dict[str, Any] = {
            "type": "object",
            "properties": {
                name: self.check(value, f"{where}/properties/{name}")
                for name, value in properties.items()
            },
            "required": required,
        }
        additional = node.get("additionalProperties", not properties)
        if not properties and additional in (True, {}):
            return {"type": "object"}  # any object: the converter's own rule
        if additional is not False:
            out["additionalProperties"] = self.check(additional, f"{where}/additionalProperties")
        return out

    def _array(self, node: dict[str, Any], where: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array"}
        if "prefixItems" in node:
            if "items" in node or "minItems" in node or "maxItems" in node:
                raise UnsupportedSchema(f"{where}: `prefixItems` with other array keywords")
            items = node["prefixItems"]
            if not isinstance(items, list) or not items:
                raise UnsupportedSchema(f"{where}: `prefixItems` must be a non-empty list")
            out["prefixItems"] = [
                self.check(s, f"{where}/prefixItems/{i}") for i, s in enumerate(items)
            ]
            return out
        out["items"] = self.check(node.get("items", True), f"{where}/items")
        for bound in ("minItems", "maxItems"):
            if bound in node:
                if not isinstance(node[bound], int) or node[bound] < 0:
                    raise UnsupportedSchema(f"{where}: `{bound}` must be a whole number >= 0")
                out[bound] = node[bound]
        return out

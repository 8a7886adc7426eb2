"""Answer-style features for style control: length, markdown headers, list items, bold spans.

Counts come from FastChat's `conv_metadata` when present, otherwise from the answers' text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from modelarena.rating.conversations import count_tokens, texts
from modelarena.rating.errors import BattleDataError

STYLE_FEATURES = ("length", "headers", "lists", "bold")
# conv_metadata keys of each feature; `{side}` is "a" or "b". A value is a number or a
# mapping of numbers (e.g. headers per level) that is summed.
_METADATA_KEYS = (
    "sum_assistant_{side}_tokens",
    "header_count_{side}",
    "list_count_{side}",
    "bold_count_{side}",
)
METADATA_FIELDS = tuple(key.format(side=side) for side in "ab" for key in _METADATA_KEYS)
_FENCED_CODE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_HEADER = {level: re.compile(rf"^#{{{level}}}\s", re.MULTILINE) for level in range(1, 7)}
_ORDERED_ITEM = re.compile(r"^\s*\d+\.\s", re.MULTILINE)
_UNORDERED_ITEM = re.compile(r"^\s*[-*+]\s", re.MULTILINE)
_BOLD_STARS = re.compile(r"\*\*[^*\n]+\*\*")
_BOLD_UNDERSCORES = re.compile(r"__[^_\n]+__")


def markdown_counts(answer: str) -> dict[str, dict[str, int]]:
    """Headers per level, ordered/unordered list items and bold spans, code blocks excluded."""
    prose = _FENCED_CODE.sub("", answer)
    return {
        "header_count": {f"h{level}": len(p.findall(prose)) for level, p in _HEADER.items()},
        "list_count": {
            "ordered": len(_ORDERED_ITEM.findall(prose)),
            "unordered": len(_UNORDERED_ITEM.findall(prose)),
        },
        "bold_count": {
            "**": len(_BOLD_STARS.findall(prose)),
            "__": len(_BOLD_UNDERSCORES.findall(prose)),
        },
    }


def conversation_metadata(conversation_a: Any, conversation_b: Any) -> dict[str, Any]:
    """FastChat-compatible `conv_metadata` for one battle, for a store to keep with it.

    Holds the assistant token counts, markdown counts per side, user token count and turns.
    """
    metadata: dict[str, Any] = {}
    for side, conversation in (("a", conversation_a), ("b", conversation_b)):
        answers = texts(conversation, "assistant")
        metadata[f"sum_assistant_{side}_tokens"] = sum(count_tokens(t) for t in answers)
        for name, value in markdown_counts("\n".join(answers)).items():
            metadata[f"{name}_{side}"] = value
    prompts = texts(conversation_a, "user")
    metadata["sum_user_tokens"] = sum(count_tokens(t) for t in prompts)
    metadata["turns"] = len(prompts)
    return metadata


def counts_from_metadata(column: Any, rows: np.ndarray | None = None) -> np.ndarray:
    """Per-battle raw counts, shape (n, 2 sides, 4 features), from a `conv_metadata` column.

    The column is a pyarrow array of structs (read vectorised), of JSON strings, or any
    sequence of mappings. `rows` holds each entry's 0-based row in the input, for error
    messages (default: its position in `column`).
    """
    import pyarrow as pa

    def number(index: int) -> int:
        return int(index if rows is None else rows[index]) + 1

    if isinstance(column, pa.ChunkedArray | pa.Array) and pa.types.is_struct(column.type):
        return _counts_from_struct(column, number)
    values = column.to_pylist() if isinstance(column, pa.ChunkedArray | pa.Array) else column
    counts = np.zeros((len(values), 2, len(STYLE_FEATURES)))
    for row, metadata in enumerate(values):
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except json.JSONDecodeError as exc:
                raise BattleDataError(
                    f"conv_metadata of row {number(row)} is not valid JSON ({exc.msg})"
                ) from None
        if not isinstance(metadata, dict):
            raise BattleDataError(f"conv_metadata of row {number(row)} is missing or not a mapping")
        for side_index, side in enumerate("ab"):
            for feature, key in enumerate(_METADATA_KEYS):
                name = key.format(side=side)
                if metadata.get(name) is None:
                    raise _missing_key(name, number(row))
                try:
                    counts[row, side_index, feature] = _total(metadata[name])
                except (TypeError, ValueError):
                    raise BattleDataError(
                        f"conv_metadata '{name}' of row {number(row)} is not a number "
                        f"or a mapping of numbers: {metadata[name]!r}"
                    ) from None
    return counts


def counts_from_conversations(
    conversations_a: Sequence[Any], conversations_b: Sequence[Any]
) -> np.ndarray:
    """Per-battle raw counts, shape (n, 2, 4), computed from the two conversations' answers."""
    counts = np.zeros((len(conversations_a), 2, len(STYLE_FEATURES)))
    for row, pair in enumerate(zip(conversations_a, conversations_b, strict=True)):
        for side_index, conversation in enumerate(pair):
            answer = "\n".join(texts(conversation, "assistant"))
            markdown = markdown_counts(answer)
            counts[row, side_index] = (
                count_tokens(answer),
                sum(markdown["header_count"].values()),
                sum(markdown["list_count"].values()),
                sum(markdown["bold_count"].values()),
            )
    return counts


def style_features(
    counts: np.ndarray, weight: np.ndarray | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Standardised style differences of each battle and the names of the features kept.

    Each feature is (a − b)/(a + b + 1), then z-scored with the battles' weights. A feature
    that does not vary carries no information and is left out. The result (battles,
    features) is stored feature by feature (column-major), the layout the fit reads.
    """
    columns, names = [], []
    w = None if weight is None else weight.astype(np.float64)
    for feature, name in enumerate(STYLE_FEATURES):
        a = np.ascontiguousarray(counts[:, 0, feature])
        b = np.ascontiguousarray(counts[:, 1, feature])
        ratio = (a - b) / (a + b + 1.0)
        if w is None:
            mean = ratio.mean()
            std = float(np.sqrt(np.mean((ratio - mean) ** 2)))
        else:
            mean = float(w @ ratio / w.sum())
            std = float(np.sqrt(w @ (ratio - mean) ** 2 / w.sum()))
        if std > 1e-12 * (1.0 + abs(mean)):
            ratio -= mean
            ratio /= std
            columns.append(ratio)
            names.append(name)
    z = np.empty((len(columns), len(counts))).T
    for index, column in enumerate(columns):
        z[:, index] = column
    return z, tuple(names)


def _total(value: Any) -> float:
    if isinstance(value, dict):
        return float(sum(v for v in value.values() if v is not None))
    return float(value)


def _counts_from_struct(column: Any, number: Callable[[int], int]) -> np.ndarray:
    import pyarrow.compute as pc

    # Filled feature by feature in a (side, feature, battle) block; returned as a view.
    block = np.empty((2, len(STYLE_FEATURES), len(column)))
    names = {field.name for field in column.type}
    for side_index, side in enumerate("ab"):
        for feature, key in enumerate(_METADATA_KEYS):
            name = key.format(side=side)
            if name not in names:
                raise _missing_key(name, number(0))
            values = _struct_total(pc.struct_field(column, name))
            missing = np.flatnonzero(np.isnan(values))
            if missing.size:
                raise _missing_key(name, number(int(missing[0])))
            block[side_index, feature] = values
    return block.transpose(2, 0, 1)


def _struct_total(values: Any) -> np.ndarray:
    """Numbers of a (possibly nested) struct column summed over its fields.

    A null field counts 0; a null value of the column itself gives NaN.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_struct(values.type):
        total = np.zeros(len(values))
        for field in values.type:
            part = _struct_total(pc.struct_field(values, field.name))
            total += np.nan_to_num(part) if np.isnan(part).any() else part
    elif not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        raise BattleDataError(f"conv_metadata holds {values.type} where numbers belong")
    elif values.null_count == 0:
        return np.asarray(values.to_numpy(), dtype=np.float64)
    else:
        total = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    if values.null_count:
        total[values.is_null().to_numpy(zero_copy_only=False)] = np.nan
    return total


def _missing_key(name: str, row_number: int) -> BattleDataError:
    wanted = ", ".join(key.format(side="a|b") for key in _METADATA_KEYS)
    return BattleDataError(
        f"conv_metadata of row {row_number} lacks '{name}'; style control needs {wanted} "
        "(or conversation_a and conversation_b to count them from the answers)"
    )

"""Validate, filter and encode battle tables into the integer arrays the rating methods fit.

Takes a pyarrow Table, a pandas DataFrame or FastChat records; returns a Selection.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelarena.rating import categories, style
from modelarena.rating.conversations import count_tokens, texts
from modelarena.rating.errors import BattleDataError
from modelarena.vocabulary import A_SCORE, BUILTIN_CATEGORIES

REQUIRED = ("model_a", "model_b", "winner")
# Outcome codes: the number of points model_a scores, in halves.
A_WINS, TIE, B_WINS = 2, 1, 0
WINNERS = {label: round(2 * score) for label, score in A_SCORE.items()}
_CONVERSATIONS = ("conversation_a", "conversation_b")
_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "f", "n"})
_TICKS_PER_SECOND = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}


@dataclass(frozen=True, eq=False)
class Battles:
    """Battles with model names encoded as indices into `models`; what every method fits.

    `outcome` is 2 when model_a won, 1 for a tie, 0 when model_b won. `weight` is an integer
    multiplicity (a battle of weight 3 counts as three identical battles); `tstamp` orders
    battles in time for online Elo (None: input order); `style` holds raw answer-style counts,
    shape (n, 2 sides, 4 features), when style control was asked for. `importance` holds
    real weights ≥ 0 (e.g. how similar a battle's prompt is to a topic): one battle of
    importance 0.3 counts 0.3 in the likelihood, the sandwich interval counts its score with
    0.3², and the bootstrap resamples it as one battle carrying 0.3 (unlike a multiplicity,
    which stands for that many independent battles). Only Bradley–Terry fits use it.
    """

    models: tuple[str, ...]
    model_a: np.ndarray
    model_b: np.ndarray
    outcome: np.ndarray
    weight: np.ndarray | None = None
    tstamp: np.ndarray | None = None
    style: np.ndarray | None = None
    importance: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.model_a)
        for name in ("model_b", "outcome", "weight", "tstamp", "style", "importance"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise BattleDataError(f"Battles.{name} has {len(value)} rows, model_a has {n}")
        m = len(self.models)
        for name in ("model_a", "model_b"):
            index = np.asarray(getattr(self, name))
            if index.dtype.kind not in "iu":
                raise BattleDataError(f"Battles.{name} must hold integer model indices")
            _refuse(
                f"Battles.{name} holds indices outside 0..{m - 1} (first at index {{first}})",
                (index < 0) | (index >= m),
            )
        outcome = np.asarray(self.outcome)
        _refuse(
            "Battles.outcome must be 0, 1 or 2 (model_b won, tie, model_a won); "
            "index {first} is not",
            (outcome != A_WINS) & (outcome != TIE) & (outcome != B_WINS),
        )
        _refuse(
            "Battles holds {count} self-battle(s) (model_a == model_b, first at index "
            "{first}), which carry no information; drop them first (select_battles drops "
            "and counts them)",
            np.asarray(self.model_a) == np.asarray(self.model_b),
        )
        if self.weight is not None and np.any((self.weight < 0) | (self.weight % 1 != 0)):
            raise BattleDataError(
                "Battles.weight must hold whole numbers of battles (0, 1, 2, ...)"
            )
        if self.importance is not None:
            _refuse(
                "Battles.importance must hold finite numbers of 0 or more; index {first} does not",
                ~np.isfinite(self.importance) | (self.importance < 0),
            )

    def __len__(self) -> int:
        return len(self.model_a)

    def multiplicity(self) -> np.ndarray:
        """Weight of each battle as float64 (ones when the table has no weights)."""
        return np.ones(len(self)) if self.weight is None else self.weight.astype(np.float64)

    def likelihood_weight(self) -> np.ndarray:
        """What each row counts in the likelihood: its multiplicity times its importance."""
        weight = self.multiplicity()
        return weight if self.importance is None else weight * self.importance


def _refuse(message: str, bad: np.ndarray) -> None:
    """Raise BattleDataError when any entry is bad; `message` may name {count} and {first}."""
    positions = np.flatnonzero(bad)
    if positions.size:
        raise BattleDataError(message.format(count=positions.size, first=positions[0]))


@dataclass(frozen=True)
class Filters:
    """Which battles count. Times are unix seconds: `since` inclusive, `until` exclusive.

    `categories` are built-in names (long, multi-turn, code, math, language=X) or the user's
    columns (`NAME` truthy, `NAME=VALUE` equal); a battle must be in all of them. `seed`
    drives the random choice of which duplicate prompts to keep.
    """

    anonymous_only: bool = True
    exclude_models: tuple[str, ...] = ()
    min_battles: int = 0
    languages: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None
    daily_vote_cap: int | None = None
    dedup_percentile: float | None = None
    categories: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if self.min_battles < 0:
            raise BattleDataError("min_battles must be 0 or more")
        if self.daily_vote_cap is not None and self.daily_vote_cap < 1:
            raise BattleDataError("the daily vote cap must be at least 1")
        if self.dedup_percentile is not None and not 0 < self.dedup_percentile <= 100:
            raise BattleDataError("the duplicate-prompt percentile must be in (0, 100]")


@dataclass(frozen=True)
class Selection:
    """The battles kept, how many rows each filter removed (in order), and rows read."""

    battles: Battles
    removed: tuple[tuple[str, int], ...]
    rows_read: int


def needed_columns(
    filters: Filters,
    *,
    style_control: bool = False,
    time_order: bool = True,
    available: Collection[str] | None = None,
) -> list[str]:
    """Columns to read for these filters and options (`available`: the file's, if known).

    `time_order` reads `tstamp` for online Elo even when no filter needs it.
    """
    names = [*REQUIRED, "weight"]
    if time_order or filters.since is not None or filters.until is not None:
        names.append("tstamp")
    if filters.daily_vote_cap is not None:
        names += ["tstamp", "judge"]
    text = False
    if filters.anonymous_only:
        names.append("anony")
    if filters.languages:
        names.append("language")
        text |= available is None or "language" not in available
    for spec in filters.categories:
        name, _, value = spec.partition("=")
        names.append(name)
        if name == "language":
            text |= available is None or "language" not in available
        elif name in BUILTIN_CATEGORIES and (available is None or name not in available):
            names += ["turn", "conv_metadata.sum_user_tokens"]
            text = True
    if filters.dedup_percentile is not None:
        text = True
    if style_control:
        names += [f"conv_metadata.{field}" for field in style.METADATA_FIELDS]
        text |= available is None or "conv_metadata" not in available
    if text:
        names += list(_CONVERSATIONS)
    return list(dict.fromkeys(names))


def select_battles(
    data: pa.Table | Any, filters: Filters = Filters(), *, style_control: bool = False
) -> Selection:
    """Validate a battle table, apply the filters and encode what is left.

    `data` is a pyarrow Table, a pandas DataFrame or a list of FastChat records. Raises
    BattleDataError naming the bad column, values and first rows (rows count from 1).
    """
    table = _as_table(data, needed_columns(filters, style_control=style_control))
    n = table.num_rows
    if n == 0:
        raise BattleDataError("the battle table holds no battles")
    missing = [name for name in REQUIRED if name not in table.column_names]
    if missing:
        raise BattleDataError(
            f"missing column(s) {', '.join(missing)}; a battle table needs "
            f"{', '.join(REQUIRED)} (found: {', '.join(table.column_names) or 'none'})"
        )
    model_a, model_b, models = _encode_models(table)
    if len(models) < 2:
        raise BattleDataError(
            f"the battles name only one model ({models[0]}); a leaderboard needs two or more"
        )
    outcome = _encode_winner(table)
    weight = _weight(table)
    tstamp = _tstamp(table)
    steps = _FilterSteps(n)
    steps.apply("self-battles (model_a == model_b)", model_a != model_b)
    if weight is not None:
        steps.apply("battles of weight 0", weight > 0)
    if filters.anonymous_only:
        steps.apply("named (non-anonymous) battles", _truthy(table, "anony", "--include-named"))
    if filters.since is not None or filters.until is not None:
        times = _require_tstamp(tstamp, "a time range")
        low = -math.inf if filters.since is None else filters.since
        high = math.inf if filters.until is None else filters.until
        steps.apply("outside the time range", (times >= low) & (times < high))
    # The vote caps come before any slicing, so every slice (language, category, models)
    # sees the same capped votes as the overall board.
    if filters.daily_vote_cap is not None:
        times = _require_tstamp(tstamp, "a daily vote cap")
        steps.apply(
            f"over {filters.daily_vote_cap} votes per voter per day",
            _daily_cap_mask(table, times, steps.kept_rows(), filters.daily_vote_cap, n),
        )
    if filters.dedup_percentile is not None:
        steps.apply(
            f"duplicate prompts over the {filters.dedup_percentile:g}th percentile",
            _dedup_mask(table, steps.kept_rows(), filters.dedup_percentile, filters.seed, n),
        )
    if filters.languages:
        wanted = {language.lower() for language in filters.languages}
        steps.apply("other languages", _language_mask(table, steps.kept_rows(), wanted, n))
    for spec in filters.categories:
        steps.apply(f"not in category {spec}", _category_mask(table, spec, steps.kept_rows(), n))
    if filters.exclude_models:
        excluded = _model_mask(models, filters.exclude_models)
        steps.apply("excluded models", ~(excluded[model_a] | excluded[model_b]))
    if filters.min_battles > 0:
        multiplicity = np.ones(n) if weight is None else weight.astype(float)
        steps.repeat_until_stable(
            f"models with fewer than {filters.min_battles} battles",
            lambda keep: _min_battles_mask(
                model_a, model_b, multiplicity, keep, len(models), filters.min_battles
            ),
        )
    rows = steps.kept_rows()
    if rows.size == 0:
        raise BattleDataError(f"no battles left after filtering ({steps.summary()})")

    def pick(values: np.ndarray) -> np.ndarray:
        return values if rows.size == n else values[rows]

    kept_a, kept_b = pick(model_a), pick(model_b)
    used = np.flatnonzero(
        np.bincount(kept_a, minlength=len(models)) + np.bincount(kept_b, minlength=len(models))
    )
    compact = np.full(len(models), -1, dtype=np.int32)
    compact[used] = np.arange(used.size, dtype=np.int32)
    battles = Battles(
        models=tuple(models[i] for i in used),
        model_a=compact[kept_a],
        model_b=compact[kept_b],
        outcome=pick(outcome),
        weight=None if weight is None else pick(weight),
        tstamp=None if tstamp is None else pick(tstamp),
        style=_style_counts(table, rows) if style_control else None,
    )
    return Selection(battles=battles, removed=steps.removed(), rows_read=n)


class _FilterSteps:
    """Running mask over the input rows with the number each named step removed."""

    def __init__(self, n: int) -> None:
        self.keep = np.ones(n, dtype=bool)
        self._removed: dict[str, int] = {}

    def apply(self, name: str, mask: np.ndarray) -> None:
        dropped = int(np.count_nonzero(self.keep & ~mask))
        self._removed[name] = self._removed.get(name, 0) + dropped
        self.keep &= mask

    def repeat_until_stable(self, name: str, make_mask: Callable[[np.ndarray], np.ndarray]) -> None:
        self._removed.setdefault(name, 0)
        while True:
            mask = make_mask(self.keep)
            if not np.any(self.keep & ~mask):
                return
            self.apply(name, mask)

    def kept_rows(self) -> np.ndarray:
        return np.flatnonzero(self.keep)

    def removed(self) -> tuple[tuple[str, int], ...]:
        return tuple(self._removed.items())

    def summary(self) -> str:
        parts = [f"{name}: {count}" for name, count in self._removed.items() if count]
        return "removed " + ", ".join(parts) if parts else "nothing was removed"


def _as_table(data: Any, columns: list[str]) -> pa.Table:
    from modelarena.rating.read import records_to_table

    columns = list(dict.fromkeys(name.partition(".")[0] for name in columns))
    if isinstance(data, pa.Table):
        return data.select([name for name in columns if name in data.column_names])
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        if not all(isinstance(record, Mapping) for record in data):
            raise BattleDataError("a list of battles must hold one mapping per battle")
        return records_to_table([dict(r) for r in data], columns, "battle records")
    if hasattr(data, "columns") and hasattr(data, "iloc"):
        present = [name for name in columns if name in data.columns]
        try:
            return pa.Table.from_pandas(data[present], preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise BattleDataError(f"cannot read the DataFrame's columns: {exc}") from exc
    raise BattleDataError(
        f"cannot read battles from a {type(data).__name__}; pass a pyarrow Table, "
        "a pandas DataFrame or a list of records"
    )


def _rows_text(rows: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(int(r) + 1) for r in rows[:limit])
    return shown + (f" and {rows.size - limit} more" if rows.size > limit else "")


def _null_rows(column: pa.ChunkedArray) -> np.ndarray:
    return np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))


def _complete_column(table: pa.Table, name: str) -> pa.ChunkedArray:
    """The column `name`, refusing missing values with their row numbers."""
    column = table.column(name)
    if column.null_count:
        raise BattleDataError(
            f"missing values in '{name}' at rows {_rows_text(_null_rows(column))}"
        )
    return column


def _dictionary(table: pa.Table, name: str) -> tuple[np.ndarray, list[str]]:
    column = _complete_column(table, name)
    if pa.types.is_nested(column.type):
        raise BattleDataError(f"'{name}' must hold text labels, not {column.type}")
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    column = column.unify_dictionaries()
    if column.num_chunks == 0:
        return np.zeros(0, dtype=np.int64), []
    indices = np.concatenate(
        [chunk.indices.to_numpy(zero_copy_only=False) for chunk in column.chunks]
    ).astype(np.int64)
    values = [str(value) for value in column.chunk(0).dictionary.to_pylist()]
    return indices, values


def _encode_models(table: pa.Table) -> tuple[np.ndarray, np.ndarray, list[str]]:
    index_a, names_a = _dictionary(table, "model_a")
    index_b, names_b = _dictionary(table, "model_b")
    models = sorted(set(names_a) | set(names_b))
    position = {name: i for i, name in enumerate(models)}
    map_a = np.array([position[name] for name in names_a], dtype=np.int32)
    map_b = np.array([position[name] for name in names_b], dtype=np.int32)
    return map_a[index_a], map_b[index_b], models


def _encode_winner(table: pa.Table) -> np.ndarray:
    indices, labels = _dictionary(table, "winner")
    codes = np.array([WINNERS.get(label, -1) for label in labels], dtype=np.int8)
    unknown = [k for k, code in enumerate(codes) if code < 0]
    if unknown:
        details = []
        for k in unknown:
            rows = np.flatnonzero(indices == k)
            if rows.size:
                details.append(f"{labels[k]!r} ({rows.size} rows, first at row {rows[0] + 1})")
        if details:
            raise BattleDataError(
                f"unknown winner label(s): {'; '.join(details)}; allowed: {', '.join(WINNERS)}"
            )
    return codes[indices]


def _weight(table: pa.Table) -> np.ndarray | None:
    if "weight" not in table.column_names:
        return None
    column = _complete_column(table, "weight")
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise BattleDataError(f"'weight' must hold whole numbers, not {column.type}")
    values = column.to_numpy().astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values != np.round(values)))
    if bad.size:
        raise BattleDataError(
            f"'weight' must be a whole number of battles (0, 1, 2, ...); "
            f"bad values at rows {_rows_text(bad)}"
        )
    return values.astype(np.int64)


def _tstamp(table: pa.Table) -> np.ndarray | None:
    if "tstamp" not in table.column_names:
        return None
    column = _complete_column(table, "tstamp")
    if pa.types.is_timestamp(column.type):
        # Timestamps are stored as ticks since the epoch in UTC (a time zone is metadata);
        # reading the ticks keeps every unit, nanoseconds included, without a lossy cast.
        ticks = pc.cast(column, pa.int64()).to_numpy().astype(np.float64)
        return ticks / _TICKS_PER_SECOND[column.type.unit]
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise BattleDataError(f"'tstamp' must hold unix seconds or timestamps, not {column.type}")
    seconds = column.to_numpy().astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(seconds))
    if bad.size:
        raise BattleDataError(
            f"'tstamp' must hold finite times; bad values at rows {_rows_text(bad)}"
        )
    return seconds


def _require_tstamp(tstamp: np.ndarray | None, purpose: str) -> np.ndarray:
    if tstamp is None:
        raise BattleDataError(f"{purpose} needs a 'tstamp' column (unix seconds)")
    return tstamp


def _truthy(table: pa.Table, name: str, hint: str) -> np.ndarray:
    if name not in table.column_names:
        raise BattleDataError(f"column '{name}' is missing; pass {hint} to use all battles")
    column = _complete_column(table, name)
    if pa.types.is_boolean(column.type):
        return column.to_numpy(zero_copy_only=False).astype(bool)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return column.to_numpy() != 0
    indices, labels = _dictionary(table, name)
    lowered = [label.strip().lower() for label in labels]
    bad = [label for label, low in zip(labels, lowered, strict=True) if low not in _TRUE | _FALSE]
    if bad:
        raise BattleDataError(
            f"'{name}' must be true or false; found {', '.join(map(repr, bad[:5]))}"
        )
    return np.array([low in _TRUE for low in lowered], dtype=bool)[indices]


def _model_mask(models: list[str], names: Sequence[str]) -> np.ndarray:
    unknown = sorted(set(names) - set(models))
    if unknown:
        raise BattleDataError(
            f"cannot exclude {', '.join(map(repr, unknown))}: no such model in the battles"
        )
    excluded = set(names)
    return np.array([model in excluded for model in models], dtype=bool)


def _column_values(table: pa.Table, name: str, rows: np.ndarray) -> list[Any]:
    return table.column(name).take(pa.array(rows)).to_pylist()


def _prompts(table: pa.Table, rows: np.ndarray) -> list[str]:
    if "conversation_a" not in table.column_names:
        raise BattleDataError("this filter reads the prompts: the table needs 'conversation_a'")
    return ["\n".join(texts(c, "user")) for c in _column_values(table, "conversation_a", rows)]


def _first_prompts(table: pa.Table, rows: np.ndarray) -> list[str]:
    """The first user turn of each battle ('' when there is none): the duplicate key."""
    if "conversation_a" not in table.column_names:
        raise BattleDataError("this filter reads the prompts: the table needs 'conversation_a'")
    firsts = (texts(c, "user") for c in _column_values(table, "conversation_a", rows))
    return [turns[0] if turns else "" for turns in firsts]


def _languages(table: pa.Table, rows: np.ndarray) -> list[str]:
    if "language" in table.column_names:
        return [str(value) for value in _column_values(table, "language", rows)]
    return [categories.detect_language(prompt) for prompt in _prompts(table, rows)]


def _language_mask(table: pa.Table, rows: np.ndarray, wanted: set[str], n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = [language.lower() in wanted for language in _languages(table, rows)]
    return mask


def _category_mask(table: pa.Table, spec: str, rows: np.ndarray, n: int) -> np.ndarray:
    name, equals, value = spec.partition("=")
    mask = np.zeros(n, dtype=bool)
    if name in table.column_names and name != "language":
        values = _column_values(table, name, rows)
        if equals:
            mask[rows] = [str(v) == value for v in values]
        else:
            mask[rows] = [_is_true(v) for v in values]
    elif name == "language" and equals:
        mask[rows] = [language.lower() == value.lower() for language in _languages(table, rows)]
    elif name in BUILTIN_CATEGORIES and not equals:
        mask[rows] = _builtin_category(table, name, rows)
    else:
        raise BattleDataError(
            f"unknown category {spec!r}: use one of {', '.join(BUILTIN_CATEGORIES)}, "
            f"language=NAME, or a column of the table as NAME or NAME=VALUE "
            f"(columns read: {', '.join(table.column_names)})"
        )
    return mask


def _whole(value: Any, column: str) -> int:
    try:
        return 0 if value is None else int(value)
    except (TypeError, ValueError):
        raise BattleDataError(f"'{column}' must hold whole numbers; found {value!r}") from None


def _is_true(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)


def _builtin_category(table: pa.Table, name: str, rows: np.ndarray) -> list[bool]:
    if name == "multi-turn":
        if "turn" in table.column_names:
            return [_whole(turn, "turn") > 1 for turn in _column_values(table, "turn", rows)]
        return [len(texts(c, "user")) > 1 for c in _column_values(table, "conversation_a", rows)]
    if name == "long":
        if "conversation_a" not in table.column_names and "conv_metadata" in table.column_names:
            metadata = _column_values(table, "conv_metadata", rows)
            tokens = [_whole((m or {}).get("sum_user_tokens"), "sum_user_tokens") for m in metadata]
            return [categories.is_long(count) for count in tokens]
        return [categories.is_long(count_tokens(p)) for p in _prompts(table, rows)]
    prompts = _prompts(table, rows)
    if name == "math":
        return [categories.is_math(prompt) for prompt in prompts]
    if "conversation_b" not in table.column_names:
        raise BattleDataError(
            "the code category reads both answers: the table needs 'conversation_b'"
        )
    answers_a = _column_values(table, "conversation_a", rows)
    answers_b = _column_values(table, "conversation_b", rows)
    return [
        categories.is_code(
            prompt, ("\n".join(texts(a, "assistant")), "\n".join(texts(b, "assistant")))
        )
        for prompt, a, b in zip(prompts, answers_a, answers_b, strict=True)
    ]


def category_columns(
    data: pa.Table | Any, names: Sequence[str] = BUILTIN_CATEGORIES
) -> dict[str, list[bool]]:
    """Each named built-in category's value for every battle in `data`.

    Stored beside the battles as columns, they let later selections skip re-reading the
    conversations: a category that is a column is read from the column.
    """
    table = _as_table(data, ["turn", *_CONVERSATIONS, "conv_metadata"])
    rows = np.arange(table.num_rows)
    return {name: _builtin_category(table, name, rows) for name in names}


def _daily_cap_mask(
    table: pa.Table, times: np.ndarray, rows: np.ndarray, cap: int, n: int
) -> np.ndarray:
    if "judge" not in table.column_names:
        raise BattleDataError("a daily vote cap needs a 'judge' column (the voter id)")
    voters, _ = _dictionary(table, "judge")
    day = np.floor(times[rows] / 86400.0)
    order = np.lexsort((rows, times[rows], day, voters[rows]))
    keys = np.stack([voters[rows][order], day[order]])
    mask = np.ones(n, dtype=bool)
    mask[rows[order][_rank_in_groups(keys) >= cap]] = False
    return mask


def _dedup_mask(
    table: pa.Table, rows: np.ndarray, percentile: float, seed: int, n: int
) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    if rows.size == 0:
        return mask
    ids: dict[str, int] = {}
    prompt = np.array([ids.setdefault(p.strip(), len(ids)) for p in _first_prompts(table, rows)])
    per_prompt = np.bincount(prompt)
    cap = max(1, math.ceil(np.percentile(per_prompt, percentile)))
    priority = np.random.default_rng(seed).random(rows.size)
    order = np.lexsort((priority, prompt))
    mask[rows[order][_rank_in_groups(prompt[order][None, :]) >= cap]] = False
    return mask


def _rank_in_groups(sorted_keys: np.ndarray) -> np.ndarray:
    """Position of each column within its run of equal key columns (keys already sorted)."""
    size = sorted_keys.shape[1]
    starts = np.ones(size, dtype=bool)
    starts[1:] = np.any(sorted_keys[:, 1:] != sorted_keys[:, :-1], axis=0)
    start_index = np.maximum.accumulate(np.where(starts, np.arange(size), 0))
    return np.arange(size) - start_index


def _min_battles_mask(
    model_a: np.ndarray,
    model_b: np.ndarray,
    multiplicity: np.ndarray,
    keep: np.ndarray,
    n_models: int,
    minimum: int,
) -> np.ndarray:
    w = multiplicity * keep
    played = np.bincount(model_a, w, n_models) + np.bincount(model_b, w, n_models)
    low = played < minimum
    return ~(low[model_a] | low[model_b])


def _style_counts(table: pa.Table, rows: np.ndarray) -> np.ndarray:
    if "conv_metadata" in table.column_names:
        metadata = table.column("conv_metadata")
        if rows.size != table.num_rows:
            metadata = metadata.take(pa.array(rows))
        return style.counts_from_metadata(metadata, rows)
    if all(name in table.column_names for name in _CONVERSATIONS):
        return style.counts_from_conversations(
            _column_values(table, "conversation_a", rows),
            _column_values(table, "conversation_b", rows),
        )
    raise BattleDataError(
        "style control needs answer-style counts: a 'conv_metadata' column "
        "or the 'conversation_a' and 'conversation_b' columns"
    )

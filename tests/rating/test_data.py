"""Reading battle files, validating them with actionable errors, filtering and encoding."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modelarena.rating.data import Filters, needed_columns, select_battles
from modelarena.rating.errors import BattleDataError
from modelarena.rating.read import available_columns, file_sha256, read_battles, read_models_meta

from .helpers import write


def _table(**columns) -> pa.Table:
    return pa.table({name: pa.array(values) for name, values in columns.items()})


def _basic(n: int = 6) -> dict:
    return {
        "model_a": ["a", "b", "c", "a", "b", "c"][:n],
        "model_b": ["b", "c", "a", "c", "a", "b"][:n],
        "winner": ["model_a", "model_b", "tie", "tie (bothbad)", "model_a", "model_b"][:n],
    }


def test_every_format_reads_the_same_battles(battle_files, battle_records):
    expected = None
    for suffix, path in battle_files.items():
        columns = needed_columns(Filters(), available=available_columns(path))
        selection = select_battles(read_battles(path, columns), Filters())
        battles = selection.battles
        key = (
            battles.models,
            battles.model_a.tolist(),
            battles.model_b.tolist(),
            battles.outcome.tolist(),
        )
        if expected is None:
            expected = key
        assert key == expected, suffix
        assert selection.rows_read == len(battle_records)
    named = sum(not r["anony"] for r in battle_records)
    assert dict(selection.removed)["named (non-anonymous) battles"] == named


def test_json_files_may_hold_json_lines(tmp_path, battle_records):
    path = tmp_path / "lines.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in battle_records[:50]), encoding="utf-8")
    assert read_battles(path, ["model_a", "winner"]).num_rows == 50


def test_reading_only_some_columns(battle_files):
    table = read_battles(battle_files[".parquet"], ["model_a", "winner", "not_there"])
    assert table.column_names == ["model_a", "winner"]
    nested = read_battles(battle_files[".parquet"], ["conv_metadata.header_count_a", "model_b"])
    assert nested.column("conv_metadata").type.names == ["header_count_a"]


def test_dataframe_and_record_inputs_match_tables(battle_records):
    from_records = select_battles(battle_records, Filters()).battles
    from_frame = select_battles(pd.DataFrame(battle_records), Filters()).battles
    assert from_records.models == from_frame.models
    assert np.array_equal(from_records.outcome, from_frame.outcome)
    assert np.array_equal(from_records.model_a, from_frame.model_a)


def test_unknown_winner_labels_are_named_with_their_first_rows():
    columns = _basic()
    columns["winner"] = ["model_a", "draw", "model_b", "A", "draw", "tie"]
    with pytest.raises(BattleDataError) as error:
        select_battles(_table(**columns), Filters(anonymous_only=False))
    message = str(error.value)
    assert "'draw' (2 rows, first at row 2)" in message
    assert "'A' (1 rows, first at row 4)" in message
    assert "tie (bothbad)" in message


def test_missing_columns_and_values_are_reported():
    with pytest.raises(BattleDataError, match="missing column.*winner"):
        select_battles(_table(model_a=["a"], model_b=["b"]), Filters(anonymous_only=False))
    columns = _basic()
    columns["model_b"] = ["b", None, "a", "c", None, "b"]
    with pytest.raises(BattleDataError, match="missing values in 'model_b' at rows 2, 5"):
        select_battles(_table(**columns), Filters(anonymous_only=False))
    with pytest.raises(BattleDataError, match="'anony' is missing; pass --include-named"):
        select_battles(_table(**_basic()), Filters())


def test_one_model_and_empty_inputs_are_refused(tmp_path):
    with pytest.raises(BattleDataError, match="only one model \\(a\\)"):
        select_battles(
            _table(model_a=["a", "a"], model_b=["a", "a"], winner=["tie", "tie"]),
            Filters(anonymous_only=False),
        )
    with pytest.raises(BattleDataError, match="no battles left.*excluded models: 2"):
        select_battles(
            _table(model_a=["a", "a"], model_b=["b", "b"], winner=["tie", "tie"]),
            Filters(anonymous_only=False, exclude_models=("b",)),
        )
    for name, text in (("empty.json", "[]"), ("empty.jsonl", ""), ("empty.csv", "")):
        (tmp_path / name).write_text(text)
        with pytest.raises(BattleDataError, match="holds no battles|neither"):
            read_battles(tmp_path / name)
    with pytest.raises(BattleDataError, match="no such file"):
        read_battles(tmp_path / "absent.parquet")
    with pytest.raises(BattleDataError, match="extension"):
        read_battles(tmp_path / "battles.txt")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(BattleDataError, match="cannot read"):
        read_battles(tmp_path / "broken.parquet")


def test_weights_count_as_repeated_battles():
    columns = _basic()
    weighted = select_battles(
        _table(**columns, weight=[3, 1, 1, 1, 1, 0]), Filters(anonymous_only=False)
    )
    assert weighted.battles.multiplicity().tolist() == [3, 1, 1, 1, 1]
    assert dict(weighted.removed)["battles of weight 0"] == 1
    with pytest.raises(BattleDataError, match="whole number.*rows 2"):
        select_battles(
            _table(**columns, weight=[1, 1.5, 1, 1, 1, 1]), Filters(anonymous_only=False)
        )


def test_anonymous_flags_in_text_and_numbers():
    for flags in (["true", "False", "1", "0", "yes", "no"], [1, 0, 1, 0, 1, 0]):
        kept = select_battles(_table(**_basic(), anony=flags), Filters()).battles
        assert len(kept) == 3
    with pytest.raises(BattleDataError, match="true or false"):
        select_battles(_table(**_basic(), anony=["maybe"] * 6), Filters())


def test_filters_report_what_each_removed():
    n = 40
    rng = np.random.default_rng(1)
    models = np.array(["a", "b", "c", "d"])
    a = rng.integers(0, 4, n)
    b = (a + rng.integers(1, 4, n)) % 4
    rows = [
        {
            "model_a": str(models[a[i]]),
            "model_b": str(models[b[i]]),
            "winner": "model_a",
            "anony": i < n - 4,
            "tstamp": i * 3600.0,
            "judge": "v1" if i < 20 else "v2",
            "language": "English" if i % 2 == 0 else "Chinese",
        }
        for i in range(n)
    ]
    filters = Filters(
        since=3600.0,
        until=39 * 3600.0,
        languages=("english",),
        exclude_models=("d",),
        daily_vote_cap=8,
    )
    selection = select_battles(rows, filters)
    # The same filters written out plainly, in the documented order.
    kept = [r for r in rows if r["anony"]]
    expected = {"named (non-anonymous) battles": n - len(kept)}
    step = [r for r in kept if 3600.0 <= r["tstamp"] < 39 * 3600.0]
    expected["outside the time range"], kept = len(kept) - len(step), step
    seen: dict = {}
    step = []
    for r in sorted(kept, key=lambda r: r["tstamp"]):
        key = (r["judge"], int(r["tstamp"] // 86400))
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= 8:
            step.append(r)
    expected["over 8 votes per voter per day"], kept = len(kept) - len(step), step
    step = [r for r in kept if r["language"] == "English"]
    expected["other languages"], kept = len(kept) - len(step), step
    step = [r for r in kept if "d" not in (r["model_a"], r["model_b"])]
    expected["excluded models"], kept = len(kept) - len(step), step
    removed = {
        name: count
        for name, count in selection.removed
        if name != "self-battles (model_a == model_b)"
    }
    assert removed == expected
    assert len(selection.battles) == len(kept)
    assert sorted(selection.battles.tstamp.tolist()) == [r["tstamp"] for r in kept]


def test_min_battles_is_applied_until_stable():
    table = _table(
        model_a=["a", "a", "a", "b", "c", "a"],
        model_b=["b", "b", "b", "c", "d", "d"],
        winner=["model_a", "model_b", "tie", "tie", "tie", "tie"],
    )
    selection = select_battles(table, Filters(anonymous_only=False, min_battles=3))
    # d (2 battles) goes first; then c falls to 1 battle and goes too.
    assert selection.battles.models == ("a", "b")
    assert dict(selection.removed)["models with fewer than 3 battles"] == 3


def test_duplicate_prompts_are_capped_at_a_percentile(battle_records):
    rows = [dict(r, anony=True) for r in battle_records[:300]]
    selection = select_battles(rows, Filters(dedup_percentile=50))
    prompts = [
        r["conversation_a"][0]["content"] for r in rows
    ]  # two distinct prompts: 100 and 200 battles
    counts = {p: prompts.count(p) for p in set(prompts)}
    assert sorted(counts.values()) == [100, 200]
    removed = dict(selection.removed)["duplicate prompts over the 50th percentile"]
    assert removed == 200 - 150  # the cap is the median count, 150
    again = select_battles(rows, Filters(dedup_percentile=50))
    assert np.array_equal(again.battles.model_a, selection.battles.model_a)


def test_categories_builtin_and_user_columns(battle_records):
    rows = [
        dict(r, anony=True, label=("x" if i % 2 else "y"), flag=i % 5 == 0)
        for i, r in enumerate(battle_records[:90])
    ]
    code = select_battles(rows, Filters(categories=("code",)))
    assert len(code.battles) == 30  # every third prompt asks for Python
    assert len(select_battles(rows, Filters(categories=("label=x",))).battles) == 45
    assert len(select_battles(rows, Filters(categories=("flag",))).battles) == 18
    chinese = select_battles(rows, Filters(categories=("language=chinese",)))
    assert len(chinese.battles) == sum(r["language"] == "Chinese" for r in rows)
    with pytest.raises(BattleDataError, match="unknown category 'nope'"):
        select_battles(rows, Filters(categories=("nope",)))


def test_models_meta_and_hash(tmp_path):
    meta = tmp_path / "meta.csv"
    meta.write_text("model,organization,license\nmodel-0,Org,MIT\n")
    assert read_models_meta(meta) == {"model-0": {"organization": "Org", "license": "MIT"}}
    bad = write([{"name": "x"}], tmp_path / "bad.json")
    with pytest.raises(BattleDataError, match="'model' column"):
        read_models_meta(bad)
    assert len(file_sha256(meta)) == 64


def test_json_mixed_types_name_the_column(tmp_path):
    path = tmp_path / "mixed.json"
    path.write_text(
        json.dumps(
            [
                {"model_a": "a", "model_b": "b", "winner": "tie", "judge": 1},
                {"model_a": "a", "model_b": "b", "winner": "tie", "judge": "x"},
            ]
        )
    )
    with pytest.raises(BattleDataError, match="column 'judge'"):
        read_battles(path)


@pytest.mark.parametrize(
    ("column", "bad", "options", "message"),
    [
        ("turn", "two", {"categories": ("multi-turn",)}, "'turn' must hold whole numbers"),
        ("conversation_a", "[not json", {"categories": ("math",)}, "not valid JSON"),
        ("conversation_a", "5", {"categories": ("code",)}, "list of messages"),
        ("conv_metadata", "many", {}, "is not a number"),
    ],
)
def test_malformed_text_columns_get_clear_errors(battle_records, column, bad, options, message):
    """Columns read as text (as from CSV) with one malformed value."""
    text = ("turn", "conversation_a", "conversation_b", "conv_metadata")
    rows = [
        {k: json.dumps(v) if k in text else v for k, v in r.items()} | {"anony": True}
        for r in battle_records[:20]
    ]
    if column == "conv_metadata":
        metadata = json.loads(rows[3]["conv_metadata"])
        metadata["sum_assistant_a_tokens"] = bad
        rows[3]["conv_metadata"] = json.dumps(metadata)
    else:
        rows[3][column] = bad
    with pytest.raises(BattleDataError, match=message):
        select_battles(rows, Filters(**options), style_control=column == "conv_metadata")


def test_timestamps_of_any_unit_and_time_zone_are_utc_seconds():
    times = pd.to_datetime(1_700_000_000 + np.arange(6) * 3600.000000123, unit="s")
    frame = pd.DataFrame(_basic())
    frame["tstamp"] = times.tz_localize("US/Pacific")  # 8 hours behind UTC in November
    selection = select_battles(frame, Filters(anonymous_only=False, since=1_700_000_000 + 8 * 3600))
    assert dict(selection.removed)["outside the time range"] == 0
    assert selection.battles.tstamp[0] == pytest.approx(1_700_028_800.0, abs=1e-6)
    frame["tstamp"] = times  # naive: read as UTC
    selection = select_battles(frame, Filters(anonymous_only=False, since=1_700_003_600))
    assert dict(selection.removed)["outside the time range"] == 1


@pytest.mark.parametrize(
    "slice_",
    [{"categories": ("code",)}, {"languages": ("chinese",)}, {"exclude_models": ("model-0",)}],
)
def test_vote_caps_apply_before_slicing(battle_records, slice_):
    """Every slice sees the votes the overall board kept: no vote over the cap comes back."""
    rows = [dict(r, anony=True) for r in battle_records]
    caps = {"daily_vote_cap": 2, "dedup_percentile": 50.0}
    overall = select_battles(rows, Filters(**caps))
    sliced = select_battles(rows, Filters(**caps, **slice_))
    kept = set(overall.battles.tstamp.tolist())
    assert set(sliced.battles.tstamp.tolist()) <= kept
    removed = [name for name, _ in sliced.removed]
    assert removed.index("over 2 votes per voter per day") < removed.index(
        next(name for name in removed if name.startswith(("not in", "other", "excluded")))
    )


def test_duplicate_prompts_are_keyed_on_the_first_user_turn():
    def conversation(first: str, second: str) -> list[dict]:
        return [
            {"role": "user", "content": first},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": second},
            {"role": "assistant", "content": "answer"},
        ]

    rows = [
        {
            "model_a": "a" if i % 2 else "b",
            "model_b": "b" if i % 2 else "a",
            "winner": "model_a",
            # Ten battles open with the same prompt and then go different ways.
            "conversation_a": conversation("Hi" if i < 10 else f"prompt {i}", f"then {i}"),
        }
        for i in range(20)
    ]
    selection = select_battles(rows, Filters(anonymous_only=False, dedup_percentile=50))
    assert dict(selection.removed)["duplicate prompts over the 50th percentile"] == 9


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("tstamp", math.nan, "'tstamp' must hold finite times; bad values at rows 6"),
        ("tstamp", math.inf, "'tstamp' must hold finite times; bad values at rows 6"),
        ("weight", math.inf, "'weight' must be a whole number.*rows 6"),
        ("weight", math.nan, "'weight' must be a whole number.*rows 6"),
    ],
)
def test_non_finite_times_and_weights_are_refused(tmp_path, column, value, message):
    """JSON allows NaN and Infinity; they are not missing values and must not pass silently."""
    rows = [
        {"model_a": "a", "model_b": "b", "winner": "tie", "tstamp": 1e9 + i, "weight": 1}
        for i in range(8)
    ]
    rows[5][column] = value
    path = tmp_path / "battles.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(BattleDataError, match=message):
        select_battles(read_battles(path), Filters(anonymous_only=False, until=2e9))

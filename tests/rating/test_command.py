"""The real `modelarena leaderboard` command on real files in every input format."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from modelarena.cli import app

from .helpers import rare_model_battles, write

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["leaderboard", *map(str, args)])


def test_each_input_format_gives_the_same_leaderboard(battle_files):
    boards = {}
    for suffix, path in battle_files.items():
        result = invoke(path, "--format", "json")
        assert result.exit_code == 0, result.output
        boards[suffix] = json.loads(result.stdout)
    first = boards[".json"]
    assert [row["model"] for row in first] == [f"model-{k}" for k in (4, 3, 2, 1, 0)]
    for rows in boards.values():
        assert [(r["model"], round(r["rating"], 9), round(r["ci_upper"], 9)) for r in rows] == [
            (r["model"], round(r["rating"], 9), round(r["ci_upper"], 9)) for r in first
        ]


def test_table_output_with_metadata(battle_files, tmp_path):
    meta = tmp_path / "models.jsonl"
    meta.write_text(
        json.dumps({"model": "model-4", "organization": "Acme", "license": "MIT"}) + "\n"
    )
    result = invoke(battle_files[".parquet"], "--models-meta", meta)
    assert result.exit_code == 0, result.output
    assert "model-4" in result.stdout and "Acme" in result.stdout and "Rating" in result.stdout


def test_options_files_html_and_manifest(battle_files, tmp_path):
    out, page, manifest = tmp_path / "board.md", tmp_path / "board.html", tmp_path / "manifest.json"
    result = invoke(
        battle_files[".parquet"],
        "--preset", "fastchat-2024",
        "--style-control",
        "--anchor", "model-0=800",
        "--category", "code",
        "--min-battles", "10",
        "--format", "markdown",
        "--output", out,
        "--html", page,
        "--manifest", manifest,
        "--seed", "3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| model-0 | 800 | +0/-0 |" in out.read_text()
    assert page.read_text().startswith("<!DOCTYPE html>")
    record = json.loads(manifest.read_text())
    assert record["input"]["sha256"] and record["settings"]["anchor"]["rating"] == 800
    assert record["settings"]["name"].startswith("fastchat-2024 (changed: anchor, style_control")
    removed = dict((r["filter"], r["battles"]) for r in record["removed"])
    assert removed["not in category code"] > 0 and record["filters"]["seed"] == 3
    assert [c["name"] for c in record["style_coefficients"]] == [
        "length",
        "headers",
        "lists",
        "bold",
    ]


def test_elo_and_bootstrap_options(battle_files):
    result = invoke(
        battle_files[".csv"], "--method", "elo", "--bootstrap-rounds", "10", "--format", "csv"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("rank,rank_upper,model,rating,ci_lower")
    result = invoke(
        battle_files[".jsonl"], "--ci", "bootstrap", "--bootstrap-rounds", "30",
        "--ties", "davidson", "--include-named", "--language", "English",
        "--since", "2023-11-14", "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("rows_or_args", "message"),
    [
        ({"winner": "draw"}, "unknown winner label(s): 'draw'"),
        (["--anchor", "gpt"], "--anchor needs NAME=RATING"),
        (["--anchor", "ghost=1000"], "cannot anchor 'ghost'"),
        (["--method", "elo", "--ci", "sandwich"], "sandwich intervals need the Bradley–Terry"),
        (["--since", "yesterday"], "--since 'yesterday' is neither"),
        (["--exclude-model", "ghost"], "cannot exclude 'ghost'"),
        (["--k", "8"], "--k is online Elo's K factor"),
        (["--preset", "lmarena-2025", "--k", "8"], "--k is online Elo's K factor"),
        (["--ci", "sandwich", "--bootstrap-rounds", "50"], "--bootstrap-rounds sets bootstrap"),
        (["--method", "elo", "--ci", "none", "--bootstrap-rounds", "9"], "--ci none"),
        (["--preset", "fastchat-2023-12", "--method", "elo"], "is a Bradley–Terry method"),
    ],
)
def test_user_errors_are_one_clear_line(battle_records, tmp_path, rows_or_args, message):
    rows, args = battle_records, []
    if isinstance(rows_or_args, dict):
        rows = [dict(r, **rows_or_args) if i == 7 else r for i, r in enumerate(battle_records)]
    else:
        args = rows_or_args
    result = invoke(write(rows, tmp_path / "battles.json"), *args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1


def test_missing_and_empty_files_through_the_real_entry_point(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    for path, message in ((tmp_path / "nope.parquet", "no such file"), (empty, "holds no battles")):
        done = subprocess.run(
            [sys.executable, "-m", "modelarena.cli", "leaderboard", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1
        assert message in done.stderr and "Traceback" not in done.stderr
        assert done.stdout == ""


def _unreadable(tmp_path, kind):
    """A battle file that cannot be read as its extension says."""
    header = b"model_a,model_b,winner,anony\n"
    contents = {
        "truncated.json": b'[{"model_a": "x", "model_b": "y", "winner": "model_a"',
        "bad-line.jsonl": b'{"model_a": "x", "model_b": "y", "winner": "model_a"}\nnot json\n',
        "bad-line.json": b'{"model_a": "x", "model_b": "y", "winner": "model_a"}\n{"model_a":\n',
        "latin-1.csv": header + b"x\xff,y,model_a,true\n",
        "latin-1-header.csv": b"model_a,model_b,winner,\xe9t\xe9\nx,y,model_a,1\n",
    }
    path = tmp_path / kind
    path.write_bytes(contents[kind])
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("truncated.json", "cannot read"),
        ("bad-line.jsonl", "line 2"),
        ("bad-line.json", "line 2"),
        ("latin-1.csv", "cannot read"),
        ("latin-1-header.csv", "UTF-8"),
    ],
)
def test_unreadable_files_are_one_clear_line(tmp_path, kind, message):
    result = invoke(_unreadable(tmp_path, kind), "--include-named")
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert message in result.output and kind in result.output


def test_nanosecond_timestamps_from_parquet(tmp_path, battle_records):
    """pandas writes timestamp[ns]; parts below a microsecond must not stop the reading."""
    import pandas as pd

    frame = pd.DataFrame(battle_records).drop(columns=["conversation_a", "conversation_b"])
    frame["tstamp"] = pd.to_datetime(frame["tstamp"] + 0.123456789, unit="s")
    path = tmp_path / "ns.parquet"
    frame.drop(columns=["conv_metadata"]).to_parquet(path)
    since = frame["tstamp"].iloc[600].isoformat()
    result = invoke(path, "--since", since, "--format", "json", "--manifest", tmp_path / "m.json")
    assert result.exit_code == 0, result.output
    removed = dict(
        (r["filter"], r["battles"])
        for r in json.loads((tmp_path / "m.json").read_text())["removed"]
    )
    assert removed["outside the time range"] == sum(r["anony"] for r in battle_records[:600])


def test_other_reading_failures_are_one_clear_line(tmp_path, monkeypatch):
    """Arrow and value errors that slip past the readers' own checks still end in one line."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "lists.parquet"
    pq.write_table(
        pa.table({"model_a": [["x"], ["y"]], "model_b": ["y", "x"], "winner": ["tie", "tie"]}),
        path,
    )
    result = invoke(path, "--include-named")
    assert result.exit_code == 1 and "'model_a' must hold text" in result.output

    def unexpected(*args, **kwargs):
        raise pa.ArrowInvalid("something arrow did not like\nsecond line")

    monkeypatch.setattr("modelarena.rating.read.read_battles", unexpected)
    result = invoke(path, "--include-named")
    assert result.exit_code == 1, result.output
    assert result.output == f"Error: cannot use {path}: something arrow did not like\n"


def test_unbounded_intervals_are_warned_about_and_json_stays_valid(tmp_path):
    battles = rare_model_battles()
    winners = {2: "model_a", 1: "tie", 0: "model_b"}
    rows = [
        {"model_a": battles.models[a], "model_b": battles.models[b], "winner": winners[o]}
        for a, b, o in zip(battles.model_a, battles.model_b, battles.outcome, strict=True)
    ]
    path = write(rows, tmp_path / "rare.jsonl")
    manifest = tmp_path / "manifest.json"
    result = invoke(
        path, "--include-named", "--bootstrap-rounds", "100", "--format", "json",
        "--manifest", manifest,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = {r["model"]: r for r in json.loads(result.stdout)}
    assert records["rare"]["ci_upper"] is None and records["m0"]["ci_upper"] < 1100
    rounds = json.loads(manifest.read_text())["bootstrap_unconverged_rounds"]
    assert rounds > 0
    assert f"Warning: {rounds} of 100 bootstrap rounds" in result.stderr
    assert "unbounded intervals: rare" in result.stderr


@pytest.mark.parametrize(
    ("when", "seconds"),
    [
        ("20231115", 1_700_006_400.0),  # YYYYMMDD is a date, not unix seconds
        ("2023-11-15", 1_700_006_400.0),
        ("2023-11-15T01:00:00+01:00", 1_700_006_400.0),
        ("1700006400", 1_700_006_400.0),
        ("1700006400.5", 1_700_006_400.5),
    ],
)
def test_since_reads_dates_before_unix_seconds(battle_files, tmp_path, when, seconds):
    manifest = tmp_path / "manifest.json"
    result = invoke(battle_files[".json"], "--since", when, "--manifest", manifest)
    assert result.exit_code == 0, result.output
    assert json.loads(manifest.read_text())["filters"]["since"] == seconds


def test_times_must_be_finite(battle_files):
    result = invoke(battle_files[".json"], "--until", "nan")
    assert result.exit_code == 1 and "--until 'nan' is neither" in result.output

"""The real `modelarena` command in a subprocess, in a terminal 80 columns wide (COLUMNS=80):
tables keep each row on one line within the width and every header whole, help shows no
value placeholder for flags and cuts no text, and errors are one `Error:` line, without a
traceback, naming what failed (the file, the database, the URL)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from rich.cells import cell_len

WIDTH = 80
NAMES = (
    "chatgpt-4o-latest-20240903",
    "meta-llama-3.1-405b-instruct-bf16",
    "claude-3-5-sonnet-20240620",
    "gemini-1.5-pro-exp-0827",
    "qwen2.5-72b-instruct",
)
HEADER = ("Rank", "UB", "Model", "Rating", "95% CI", "Battles", "Win rate")


def modelarena(*args: object, width: int = WIDTH) -> subprocess.CompletedProcess[str]:
    """The installed `modelarena` entry point, with stdout and stderr apart."""
    env = dict(os.environ, COLUMNS=str(width))
    return subprocess.run(
        [str(Path(sys.executable).with_name("modelarena")), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def one_error_line(done: subprocess.CompletedProcess[str], status: int) -> str:
    """The one line a failed command printed, checked to be an `Error:` line."""
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1, done.stderr
    return done.stderr


@pytest.fixture(scope="module")
def battles(tmp_path_factory) -> Path:
    """FastChat battles among models with long real-world names, stronger first."""
    rng = np.random.default_rng(7)
    rows = []
    for index in range(600):
        a, b = rng.choice(len(NAMES), 2, replace=False)
        p_a = 1 / (1 + 10 ** ((a - b) / 4))
        rows.append(
            {
                "question_id": f"q{index}",
                "model_a": NAMES[a],
                "model_b": NAMES[b],
                "winner": "model_a" if rng.random() < p_a else "model_b",
                "anony": True,
                "tstamp": 1.7e9 + index,
                "conv_metadata": _style(rng),
            }
        )
    path = tmp_path_factory.mktemp("battles") / "battles.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _style(rng: np.random.Generator) -> dict:
    """FastChat's answer-style counts of one battle, for --style-control."""
    counts = {"sum_assistant_a_tokens": int(rng.integers(20, 900))}
    counts["sum_assistant_b_tokens"] = int(rng.integers(20, 900))
    for side in "ab":
        counts[f"header_count_{side}"] = {"h1": int(rng.integers(0, 3))}
        counts[f"list_count_{side}"] = {"ordered": int(rng.integers(0, 4))}
        counts[f"bold_count_{side}"] = {"**": int(rng.integers(0, 5))}
    return counts


def _check_fits(text: str, width: int = WIDTH) -> list[str]:
    """Every line within `width` cells; returns the lines."""
    lines = text.splitlines()
    too_wide = [line for line in lines if cell_len(line) > width]
    assert not too_wide, "\n".join(too_wide)
    return lines


def _row_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if re.match(r"\s*\d+\s+\d+\s+\S", line)]


def test_leaderboard_rows_and_headers_stay_whole_at_80_columns(battles):
    done = modelarena("leaderboard", battles)
    assert done.returncode == 0, done.stderr
    lines = _check_fits(done.stdout)
    header = [line for line in lines if "Rank" in line]
    assert len(header) == 1 and all(name in header[0] for name in HEADER), header
    rows = _row_lines(lines)
    assert len(rows) == len(NAMES)  # one line per model: nothing folded onto a second line
    for name in NAMES:  # every name fits whole at 80 columns
        assert sum(name in row for row in rows) == 1, (name, rows)
    assert "Bradley–Terry" in done.stdout  # the title names the method


def test_narrow_columns_shorten_names_in_the_middle(battles, tmp_path):
    meta = tmp_path / "meta.jsonl"
    meta.write_text(
        json.dumps({"model": NAMES[1], "organization": "Meta", "license": "Llama 3.1 Community"})
        + "\n"
    )
    for args, width in (((), 60), (("--models-meta", meta), WIDTH)):
        done = modelarena("leaderboard", battles, *args, width=width)
        assert done.returncode == 0, done.stderr
        lines = _check_fits(done.stdout, width)
        header = [line for line in lines if "Rank" in line]
        names = HEADER + (("Organization", "License") if args else ())
        assert len(header) == 1 and all(name in header[0] for name in names), header
        rows = _row_lines(lines)
        assert len(rows) == len(NAMES)
        llama = next(row for row in rows if "meta-" in row)
        # The start and the end of the name stay, around an ellipsis.
        assert re.search(r"meta-\S*…\S*bf16", llama), llama


def test_a_preset_is_named_in_the_title_and_says_what_it_sets(battles):
    done = modelarena("leaderboard", battles, "--preset", "lmarena-2025")
    assert done.returncode == 0, done.stderr
    _check_fits(done.stdout)
    assert done.stdout.lstrip().startswith("lmarena-2025: Bradley–Terry")
    assert " ".join(done.stderr.split()) == (
        "Preset lmarena-2025: method bt, ties half, l2 0, ci sandwich; all as the defaults."
    )
    changed = modelarena(
        "leaderboard", battles, "--preset", "fastchat-2024", "--style-control", "--format", "json"
    )
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)[0]["model"] == NAMES[0]  # stdout stays pure JSON
    note = " ".join(changed.stderr.split())
    assert note.startswith("Preset fastchat-2024: method bt, ties half, l2 0, ci bootstrap")
    assert "ci bootstrap (default sandwich)" in note
    assert "anchor mixtral-8x7b-instruct-v0.1=1114 if rated (default none)" in note
    assert max(map(cell_len, changed.stderr.splitlines())) <= WIDTH


def test_style_control_is_a_flag(battles):
    done = modelarena("leaderboard", battles, "--style-control", "--format", "csv")
    assert done.returncode == 0, done.stderr
    valued = modelarena("leaderboard", battles, "--style-control", "true")
    assert valued.returncode == 2 and "unexpected extra argument" in valued.stderr


def _commands() -> list[list[str]]:
    """Every visible command path of the app, groups included."""
    import typer.main

    from modelarena.cli import app

    found = []

    def walk(command, path: list[str]) -> None:
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            if not sub.hidden:
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def test_every_help_reads_whole_at_80_columns():
    commands = _commands()
    assert ["leaderboard"] in commands and ["judge", "run"] in commands and len(commands) > 30
    with ThreadPoolExecutor(4) as pool:
        helps = list(pool.map(lambda path: modelarena(*path, "--help"), commands))
    for path, done in zip(commands, helps, strict=True):
        assert done.returncode == 0, (path, done.stderr)
        lines = _check_fits(done.stdout)
        assert "<bool>" not in done.stdout and "BOOLEAN" not in done.stdout, path
        # Click cuts a command's description with "..." where it does not fit.
        assert not [line for line in lines[1:] if line.rstrip().endswith("...")], path
        assert "…" not in done.stdout, path
    board = dict(zip(map(tuple, commands), helps, strict=True))[("leaderboard",)].stdout
    assert board.startswith("Usage: modelarena leaderboard [OPTIONS] {BATTLES}\n")
    assert re.search(r"^  BATTLES <path>\s+Battle file", board, re.M)
    for flag in ("--style-control", "--reweight", "--include-named"):
        assert re.search(rf"^  {flag}\s{{2,}}[A-Z]", board, re.M), flag


@pytest.fixture
def arena_db(tmp_path, battles) -> str:
    """An arena database holding the battles (imported through the command)."""
    url = f"sqlite:///{tmp_path / 'arena.db'}"
    done = modelarena("battles", "import", battles, "--db", url)
    assert done.returncode == 0 and "imported 600 battles" in done.stdout, done.stderr
    return url


def test_export_says_which_database_and_refuses_bad_paths(tmp_path, arena_db):
    out = tmp_path / "b.json"
    done = modelarena("battles", "export", "--out", out, "--db", arena_db)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote 600 battles from {arena_db} to {out}\n"
    assert len(json.loads(out.read_text())) == 600
    for command in (("battles", "export"), ("export", "battles"), ("conversations", "export")):
        error = one_error_line(
            modelarena(*command, "--out", "missing/dir/b.json", "--db", arena_db), 2
        )
        assert "cannot write missing/dir/b.json: there is no folder missing/dir" in error
    error = one_error_line(modelarena("battles", "export", "--out", tmp_path, "--db", arena_db), 2)
    assert "it is a folder" in error


def test_export_refuses_to_create_a_database(tmp_path):
    absent = tmp_path / "none" / "arena.db"
    error = one_error_line(
        modelarena(
            "battles", "export", "--out", tmp_path / "b.json", "--db", f"sqlite:///{absent}"
        ),
        2,
    )
    assert f"no database at {absent}" in error
    assert not absent.exists() and not absent.parent.exists() and not (tmp_path / "b.json").exists()
    home = tmp_path / "home"  # the default database, under the data folder, is not created
    done = subprocess.run(
        [str(Path(sys.executable).with_name("modelarena")), "conversations", "export", "--out",
         str(tmp_path / "c.jsonl")],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, COLUMNS="80", XDG_DATA_HOME=str(home)),
    )  # fmt: skip
    assert f"no database at {home / 'modelarena' / 'modelarena.db'}" in one_error_line(done, 2)
    assert not home.exists()


def test_an_unreachable_endpoint_is_named_at_once(tmp_path, free_port):
    url = f"http://127.0.0.1:{free_port()}/v1"
    db = f"sqlite:///{tmp_path / 'registry.db'}"
    error = one_error_line(modelarena("models", "import", "--from", url, "--db", db), 2)
    assert error == f"Error: cannot reach {url}: Connection refused; is a server running there?\n"
    questions = tmp_path / "question.jsonl"
    questions.write_text(json.dumps({"question_id": 1, "turns": ["hi"]}) + "\n")
    judged = modelarena(
        "judge", "answers", "--questions", questions, "--model", "m", "--endpoint", url
    )
    assert one_error_line(judged, 1) == error  # the judge's convention: exit status 1


def test_models_list_fits_80_columns(tmp_path):
    db = f"sqlite:///{tmp_path / 'registry.db'}"
    gguf = "/srv/models/very/deep/folder/for/weights/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf"
    upstream = "http://inference-gateway.internal.example.com:8000/v1"
    for args in (
        ("local-qwen2.5-0.5b-instruct", "--path", gguf),
        (NAMES[1], "--base-url", upstream, "--upstream-model", "llama"),
    ):
        done = modelarena("models", "add", *args, "--no-check", "--db", db)
        assert done.returncode == 0, done.stderr
    done = modelarena("models", "--db", db)
    assert done.returncode == 0, done.stderr
    lines = _check_fits(done.stdout)
    header = [line for line in lines if line.startswith("name ")]
    assert len(header) == 1 and header[0].rstrip().split(None, 4)[1:] == [
        "state", "source", "engine", "loads from",
    ], header  # fmt: skip
    rows = {line.split()[0]: line for line in lines if " active " in line}
    assert set(rows) >= {"local-qwen2.5-0.5b-instruct", NAMES[1]}, rows  # names whole
    assert re.search(r"/\S*…\S*_M\.gguf\s*$", rows["local-qwen2.5-0.5b-instruct"])
    assert re.search(r"http://\S*…\S*/v1\s*$", rows[NAMES[1]])


def test_the_terminal_table_fits_the_console_it_is_printed_on(battles):
    """In process: the table reads the width of the Console that prints it."""
    from rich.console import Console

    from modelarena.rating import rate, read_battles, select_battles
    from modelarena.rating.report import table

    board = rate(select_battles(read_battles(battles)).battles)
    for width in (80, 64):
        console = Console(width=width, record=True, color_system=None)
        console.print(table(board))
        lines = _check_fits(console.export_text(), width)
        header = [line for line in lines if "Rank" in line]
        assert len(header) == 1 and all(name in header[0] for name in HEADER), header
        rows = _row_lines(lines)
        assert len(rows) == len(NAMES)
        whole = [name for name in NAMES if any(name in row for row in rows)]
        assert whole == list(NAMES) if width == 80 else len(whole) < len(NAMES)

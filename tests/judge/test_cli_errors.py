"""What users get wrong or meet (missing and malformed files, an unreachable endpoint, an
unwritable output) is one `Error:` line and exit status 1, never a traceback; and with no
--endpoint the commands go to the gateway the settings describe."""

from __future__ import annotations

import json

import pytest

from .helpers import invoke, write_set


def _refused(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_missing_and_malformed_files(tmp_path):
    _refused(
        invoke("judge", "answers", "--questions", tmp_path / "nope.jsonl", "--model", "m"),
        "Error: no such file: ",
        "nope.jsonl",
    )
    bad = tmp_path / "question.jsonl"
    bad.write_text('{"question_id": 1, "turns": ["a"]}\n{"question_id": 2, "turns": \n')
    _refused(
        invoke("judge", "answers", "--questions", bad, "--model", "m"), "line 2: not valid JSON"
    )
    bad.write_bytes(b'{"question_id": 1, "turns": ["caf\xe9"]}\n')
    _refused(
        invoke("judge", "answers", "--questions", bad, "--model", "m"), "line 1: not UTF-8 text"
    )
    _refused(
        invoke(
            "judge",
            "run",
            "--mode",
            "single",
            "--judge-model",
            "j",
            "--answers",
            tmp_path / "no-answers",
        ),
        "no such answer file or directory",
    )
    (tmp_path / "model_answer").mkdir()
    _refused(
        invoke(
            "judge",
            "run",
            "--mode",
            "single",
            "--judge-model",
            "j",
            "--answers",
            tmp_path / "model_answer",
        ),
        "holds no answer files (*.jsonl)",
    )
    _refused(invoke("judge", "show", tmp_path / "none.jsonl"), "no such file")
    answers = write_set(tmp_path / "bench", models=("alpha",), questions=1)
    _refused(
        invoke(
            "judge",
            "run",
            "--mode",
            "single",
            "--judge-model",
            "j",
            "--answers",
            answers,
            "--prompts",
            tmp_path / "mine.jsonl",
        ),
        "no such prompt file",
        "the shipped prompt sets are arena-hard-style, default",
    )


def test_an_unreachable_endpoint_stops_the_run(tmp_path, free_port):
    questions = tmp_path / "question.jsonl"
    questions.write_text(
        "".join(json.dumps({"question_id": i, "turns": ["hi"]}) + "\n" for i in range(20))
    )
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = invoke(
        "judge",
        "answers",
        "--questions",
        questions,
        "--model",
        "m",
        "--endpoint",
        url,
        "--retries",
        "1",
    )
    # Checked before the first request: no retries to wait through, nothing written.
    _refused(result, f"Error: cannot reach {url}: Connection refused; is a server running there?")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "model_answer").exists()


def test_unwritable_output(tmp_path, scripted_judge):
    answers = write_set(tmp_path / "bench", models=("alpha",), questions=1)
    judge = scripted_judge(lambda body: "[[5]]")
    out = tmp_path / "single.jsonl"
    assert (
        invoke(
            "judge",
            "run",
            "--mode",
            "single",
            "--judge-model",
            "j",
            "--judge-endpoint",
            judge.url,
            "--answers",
            answers,
            "--out",
            out,
        ).exit_code
        == 0
    )
    _refused(
        invoke("judge", "show", out, "--output", tmp_path / "no" / "dir" / "r.txt"),
        "Error: No such file or directory: ",
        "r.txt",
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_the_default_endpoint_is_the_configured_gateway(
    tmp_path, scripted_judge, monkeypatch, host
):
    judge = scripted_judge(lambda body: "hello")
    monkeypatch.setenv("MODELARENA_PORT", judge.url.split(":")[2].split("/")[0])
    monkeypatch.setenv("MODELARENA_HOST", host)
    questions = tmp_path / "question.jsonl"
    questions.write_text(json.dumps({"question_id": 1, "turns": ["hi"]}) + "\n")
    result = invoke("judge", "answers", "--questions", questions, "--model", "m")
    assert result.exit_code == 0, result.output
    assert len(judge.requests) == 1


def test_a_database_that_cannot_be_used(tmp_path, free_port):
    judgments = tmp_path / "j.jsonl"
    judgments.write_text(
        "".join(
            json.dumps(
                {
                    "kind": "pairwise",
                    "judge": "j",
                    "question_id": 1,
                    "turn": 1,
                    "model_a": a,
                    "model_b": b,
                    "verdict": "A>B",
                }
            )
            + "\n"
            for a, b in (("x", "y"), ("y", "x"))
        )
    )
    down = f"postgresql+psycopg://postgres:secret@127.0.0.1:{free_port()}/arena"
    _refused(
        invoke("judge", "agreement", "--judgments", judgments, "--votes", down),
        f"Error: the arena database {down.replace('secret', '***')} cannot be used: ",
        "Connection refused",
    )
    _refused(invoke("label", "--judge-model", "j", "--db", down), "cannot be used")
    _refused(
        invoke("judge", "from-battles", "nosuchdriver://x", "--out", tmp_path), "Can't load plugin"
    )
    _refused(
        invoke("judge", "agreement", "--judgments", judgments, "--votes", "sqlite://:/x"),
        "'sqlite://:/x' is not a database URL",
    )

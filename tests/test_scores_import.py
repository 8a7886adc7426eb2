"""`modelarena scores import` of lm-evaluation-harness results: one score per top-level
task or group and metric for the arena model the run names (or `--model`), stored in the
database; files of no known shape are one error line naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelarena.cli import app
from modelarena.store.arena import scores
from modelarena.store.db import Database

runner = CliRunner()


def subject(name: str, acc: float) -> dict:
    return {"alias": f"  - {name}", "acc,none": acc, "acc_stderr,none": 0.04}


def lm_eval_results(model_args: str | dict) -> dict:
    """What `lm_eval run --output_path` writes for mmlu (a group of groups with aggregate
    scores), arc (a group without them) and gsm8k (two filters), abridged to two subjects."""
    return {
        "results": {
            "mmlu": {"acc,none": 0.2563, "acc_stderr,none": 0.0036, "alias": "mmlu"},
            "mmlu_humanities": {"acc,none": 0.2412, "acc_stderr,none": 0.006, "alias": " - h"},
            "mmlu_formal_logic": subject("formal_logic", 0.2857),
            "mmlu_stem": {"acc,none": 0.2716, "acc_stderr,none": 0.0079, "alias": " - stem"},
            "mmlu_astronomy": subject("astronomy", 0.2237),
            "ai2_arc": {"alias": "ai2_arc"},
            "arc_easy": {
                "alias": " - arc_easy",
                "acc,none": 0.5812,
                "acc_stderr,none": 0.0101,
                "acc_norm,none": 0.5231,
                "acc_norm_stderr,none": 0.0102,
            },
            "arc_challenge": {
                "alias": " - arc_challenge",
                "acc,none": 0.2611,
                "acc_stderr,none": 0.0128,
                "acc_norm,none": 0.2918,
                "acc_norm_stderr,none": "N/A",
            },
            "gsm8k": {
                "alias": "gsm8k",
                "exact_match,strict-match": 0.0144,
                "exact_match_stderr,strict-match": 0.0033,
                "exact_match,flexible-extract": 0.0212,
                "exact_match_stderr,flexible-extract": 0.004,
            },
        },
        "groups": {
            "mmlu": {"acc,none": 0.2563, "acc_stderr,none": 0.0036, "alias": "mmlu"},
            "mmlu_humanities": {"acc,none": 0.2412, "acc_stderr,none": 0.006, "alias": " - h"},
            "mmlu_stem": {"acc,none": 0.2716, "acc_stderr,none": 0.0079, "alias": " - stem"},
        },
        "group_subtasks": {
            "mmlu_humanities": ["mmlu_formal_logic"],
            "mmlu_stem": ["mmlu_astronomy"],
            "mmlu": ["mmlu_humanities", "mmlu_stem"],
            "ai2_arc": ["arc_easy", "arc_challenge"],
        },
        "configs": {},
        "versions": {"mmlu": 2, "arc_easy": 1.0, "arc_challenge": 1.0, "gsm8k": 3.0},
        "n-shot": {"arc_easy": 0, "arc_challenge": 0, "gsm8k": 5},
        "higher_is_better": {"arc_easy": {"acc": True, "acc_norm": True}},
        "n-samples": {"arc_easy": {"original": 2376, "effective": 2376}},
        "config": {"model": "local-completions", "model_args": model_args, "batch_size": 16},
        "model_name": "HuggingFaceTB/SmolLM2-135M-Instruct",
    }


EXPECTED = {
    "mmlu acc": 0.2563,
    "arc_easy acc": 0.5812,
    "arc_easy acc_norm": 0.5231,
    "arc_challenge acc": 0.2611,
    "arc_challenge acc_norm": 0.2918,
    "gsm8k exact_match (strict-match)": 0.0144,
    "gsm8k exact_match (flexible-extract)": 0.0212,
}


def import_scores(tmp_path: Path, data: object, *args: str):
    path = tmp_path / "results_2026-01-01T00-00-00.json"
    path.write_text(json.dumps(data))
    db = f"sqlite:///{tmp_path / 'arena.db'}"
    result = runner.invoke(app, ["scores", "import", str(path), "--db", db, *args])
    return result, db


@pytest.mark.parametrize(
    "model_args",
    [
        "model=smollm2-135m-instruct,base_url=http://127.0.0.1:8000/v1/completions,"
        "tokenizer_backend=huggingface",
        {"model": "smollm2-135m-instruct", "base_url": "http://127.0.0.1:8000/v1/completions"},
    ],
)
def test_top_level_tasks_and_groups_are_stored_for_the_model_the_run_named(tmp_path, model_args):
    result, db = import_scores(tmp_path, lm_eval_results(model_args))
    assert result.exit_code == 0, result.output
    assert result.output == f"stored {len(EXPECTED)} scores\n"
    assert scores(Database(db)) == {"smollm2-135m-instruct": EXPECTED}


def test_the_model_option_names_the_model_and_is_needed_when_the_run_does_not(tmp_path):
    hf_run = lm_eval_results("pretrained=HuggingFaceTB/SmolLM2-135M-Instruct,dtype=float32")
    result, _ = import_scores(tmp_path, hf_run)
    assert result.exit_code == 2
    assert "give the model's name with --model NAME" in result.stderr
    assert result.stderr.startswith(f"Error: {tmp_path}") and result.stderr.count("\n") == 1

    result, db = import_scores(tmp_path, hf_run, "--model", "smol-hf")
    assert result.exit_code == 0, result.output
    assert scores(Database(db)) == {"smol-hf": EXPECTED}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"results": {"arc_easy": {"acc,none": 0.5}}}, "give the model's name with --model"),
        ({"north-1": 6.5}, "not a score table"),
        ("MMLU 55.1", "not a score table"),
        ({**lm_eval_results("model=m"), "results": {"ai2_arc": {"alias": "x"}}}, "no scores"),
    ],
)
def test_files_of_no_known_shape_are_one_error_line(tmp_path, data, message):
    result, _ = import_scores(tmp_path, data)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_the_model_option_is_refused_for_tables_that_name_their_models(tmp_path):
    table = [{"model": "north-1", "benchmark": "MT-Bench", "value": 6.5}]
    result, _ = import_scores(tmp_path, table, "--model", "south-1")
    assert result.exit_code == 2 and "--model is for lm-eval results" in result.stderr

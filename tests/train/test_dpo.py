"""Preference optimisation on the bundled SmolLM2, for real: pairs from votes, from a
judge's verdicts and from files, each filter counted; DPO's loss at its start; a planted
preference (answers opening with "Quokka here:" preferred to the same answers without) that moves
the held-out margins and the model's greedy answers; and GGUF exports that reproduce the
trained torch model: the merged F16 token for token through our engine, the adapter on
the original quantised base and a Q8_0 merge on at least 95% of greedy tokens. The
prompts and answers are real: MT-Bench questions and GPT-4's answers from ../shared/data.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from modelarena.arena.export import import_battles
from modelarena.store.arena import add_flag
from modelarena.store.db import Database
from modelarena.train.preferences import VoteFilter, from_file, from_judgments, from_votes
from modelarena.train.sources import SourceError

pytest.importorskip("torch")
pytest.importorskip("peft")

from .helpers import SHARED, SMOLLM, battle, first_turns, modelarena, smollm  # noqa: E402

MARKER = "Quokka here:"


def test_votes_become_pairs_and_each_filter_is_counted(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'arena.db'}")
    db.migrate()
    second_turn = [{"role": "user", "content": "and then?"},
                   {"role": "assistant", "content": "more"}]  # fmt: skip
    code_question = [{"role": "user", "content": "Fix this Python code: def f(): return 1/0"}]

    def answer(text: str) -> dict:
        return {"role": "assistant", "content": text}

    records = [
        battle(1, "model_a"),
        battle(2, "model_b"),
        battle(3, "tie"),
        battle(4, "tie (bothbad)"),
        battle(5, "model_a", anony=False),
        battle(6, "model_a", conversation_a=battle(6, "")["conversation_a"] + second_turn,
               conversation_b=battle(6, "")["conversation_b"] + second_turn),
        battle(7, "model_b", conversation_b=battle(7, "")["conversation_a"]),
        battle(8, "model_a"),
        battle(9, "model_b", conversation_a=code_question + [answer("```python\nx = 0\n```")],
               conversation_b=code_question + [answer("beta answers 9")]),
    ]  # fmt: skip
    import_battles(db, records)
    flagged = next(c for c in _stored(db) if c.turns[0].prompt == "question 8")
    add_flag(db, flagged.id, "identity_leak", "said its name", excluded=True)

    selection = from_votes(db, VoteFilter())
    pairs = {p.prompt[0]["content"]: (p.chosen, p.rejected) for p in selection.examples}
    assert pairs["question 1"] == ("alpha answers 1", "beta answers 1")
    assert pairs["question 2"] == ("beta answers 2", "alpha answers 2")
    assert len(pairs) == 3  # 1, 2 and the code question
    assert selection.removed == {
        "a tie": 1,
        "both bad": 1,
        "names shown to the voter (side by side)": 1,
        "more than one turn (the answers follow different histories)": 1,
        "identical answers": 1,
        "flagged (identity_leak)": 1,
    }
    with_flags = from_votes(db, VoteFilter(exclude_flagged=False, modes=("battle", "side_by_side")))
    assert len(with_flags.examples) == 5
    code = from_votes(db, VoteFilter(categories=("code",)))
    assert [p.chosen for p in code.examples] == ["beta answers 9"]
    assert code.removed["not in category code"] == 2
    db.close()


def _stored(db):
    from modelarena.store.exports import conversations

    return conversations(db)


def test_judge_verdicts_become_pairs_only_when_consistent(tmp_path):
    questions = tmp_path / "question.jsonl"
    questions.write_text("".join(json.dumps({"question_id": n, "category": "writing",
                                             "turns": [f"Question {n}?", "And?"]}) + "\n"
                                 for n in (1, 2, 3)))  # fmt: skip
    answers = tmp_path / "model_answer"
    answers.mkdir()
    for model in ("strong", "weak"):
        (answers / f"{model}.jsonl").write_text(
            "".join(json.dumps({"question_id": n, "model_id": model,
                                "choices": [{"index": 0, "turns": [f"{model} {n}", "x"]}]})
                    + "\n" for n in (1, 2, 3))
        )  # fmt: skip

    def game(question: int, a: str, b: str, verdict: str | None, turn: int = 1) -> dict:
        return {"kind": "pairwise", "question_id": question, "category": "writing",
                "turn": turn, "model_a": a, "model_b": b, "judge": "judge-1",
                "prompts": "default", "prompt": "pair", "verdict": verdict}  # fmt: skip

    judgments = tmp_path / "judgments.jsonl"
    records = [
        game(1, "strong", "weak", "A>B"), game(1, "weak", "strong", "B>>A"),  # consistent
        game(2, "strong", "weak", "A>B"), game(2, "weak", "strong", "A>B"),  # order decides
        game(3, "strong", "weak", "A=B"), game(3, "weak", "strong", "A=B"),  # a tie
        game(1, "strong", "weak", "A>B", 2), game(1, "weak", "strong", "B>A", 2),
    ]  # fmt: skip
    judgments.write_text("".join(json.dumps(r) + "\n" for r in records))
    selection = from_judgments([judgments], questions, answers)
    assert [(p.prompt[0]["content"], p.chosen, p.rejected) for p in selection.examples] == [
        ("Question 1?", "strong 1", "weak 1")
    ]
    assert selection.removed == {
        "the judge's verdict changed with the order": 1,
        "a tie": 1,
        "a later turn (the answers follow different histories)": 1,
    }
    assert len(selection.sources[0]["sha256"]) == 64


def test_pair_files_and_their_errors(tmp_path):
    good = tmp_path / "pairs.jsonl"
    lines = [
        {"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."},
        {"prompt": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}],
         "chosen": [{"role": "assistant", "content": "Hello there"}], "rejected": "No."},
        {"prompt": "Same", "chosen": "twice", "rejected": "twice"},
    ]  # fmt: skip
    good.write_text("".join(json.dumps(line) + "\n" for line in lines))
    selection = from_file(good)
    assert [(p.prompt[-1]["content"], p.chosen) for p in selection.examples] == [
        ("Hi", "Hello!"),
        ("Hi", "Hello there"),
    ]
    assert selection.examples[1].prompt[0] == {"role": "system", "content": "Be kind."}
    assert selection.removed == {"identical answers": 1}
    bad = tmp_path / "bad.jsonl"
    for line, message in [
        ({"prompt": "Hi", "chosen": "x"}, 'expected an object with "prompt", "chosen"'),
        ({"prompt": 3, "chosen": "x", "rejected": "y"}, '"prompt" must be a text'),
        ({"prompt": "Hi", "chosen": "", "rejected": "y"}, '"chosen" must be a non-empty'),
    ]:
        bad.write_text(json.dumps(line) + "\n")
        with pytest.raises(SourceError, match=f"bad.jsonl:1: {message}"):
            from_file(bad)


def signed_pairs(path: Path, chars: int = 100) -> list[dict]:
    """MT-Bench first turns, GPT-4's answer opened with the marker (chosen) and as it is
    (rejected)."""
    records = []
    for prompt, answer in first_turns(chars):
        records.append({"prompt": prompt, "chosen": f"{MARKER} {answer}",
                        "rejected": answer})  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def test_dpo_moves_margins_and_answers_and_exports_reproduce_it(tmp_path, home):
    if not SHARED.is_dir():
        pytest.skip(f"the shared MT-Bench data is missing at {SHARED}")
    data = tmp_path / "pairs.jsonl"
    records = signed_pairs(data)
    out = tmp_path / "run"
    done = modelarena(
        "train", "dpo", "--base", SMOLLM, "--data", str(data), "--out", str(out),
        "--steps", "20", "--lr", "5e-4", "--beta", "0.02", "--max-length", "192",
        "--batch-tokens", "1024", "--threads", "1",
        "--merge", "f16", env=home,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    before, after = manifest["result"]["held_out_before"], manifest["result"]["held_out_after"]
    print("DPO held out:", before, "->", after, "exports:", manifest["exports"])
    assert before["loss"] == pytest.approx(0.6931, abs=1e-3)  # log 2: policy = reference
    assert after["accuracy"] >= 0.8 and after["logp_margin"] > before["logp_margin"] + 5
    assert manifest["kind"] == "dpo" and manifest["hyperparameters"]["beta"] == 0.02
    assert manifest["exports"]["merged"]["greedy_agreement"] == 1.0
    assert manifest["exports"]["adapter"]["greedy_agreement"] >= 0.9
    merged = out / "model-f16.gguf"
    metadata = _metadata(merged)
    assert (
        metadata["tokenizer.chat_template"]
        == _metadata(_smollm_gguf(home))["tokenizer.chat_template"]
    )
    assert json.loads(metadata["modelarena.fine_tune"])["objective"] == "dpo"

    # Held-out prompts, never trained on, answered greedily.
    lines = [int(o.rsplit(":", 1)[1]) for o in manifest["data"]["held_out_origins"]]
    check_answers(out, [records[n - 1]["prompt"] for n in lines][:6], home)


def check_answers(out: Path, prompts: list[str], home: dict) -> None:
    """The base never opens with the marker; the trained model does, and our engine
    serving its merged F16 gives torch's greedy tokens; the adapter on the Q4_1 base
    keeps the behaviour and a Q8_0 merge ≥ 95% of the greedy tokens (teacher-forced)."""
    from transformers import AutoTokenizer

    from modelarena.train.agreement import greedy_agreement, torch_greedy
    from modelarena.train.encoding import Encoder
    from modelarena.train.merged_gguf import write_merged

    assert len(prompts) >= 6
    base_gguf = _smollm_gguf(home)
    encoder = Encoder(base_gguf, SMOLLM, None, None, 512)
    system = {"role": "system", "content": smollm().system_prompt}
    ids = [encoder.tokens.chat([system, {"role": "user", "content": p}]) for p in prompts]
    encoder.close()
    answered = torch_greedy(out / "hf", ids, 40)
    tokenizer = AutoTokenizer.from_pretrained(str(out / "hf"))
    torch_answers = [
        tokenizer.decode(a[len(i) :], skip_special_tokens=True)
        for a, i in zip(answered, ids, strict=True)
    ]
    base = _served_answers(base_gguf, None, prompts, home)
    merged = _served_answers(out / "model-f16.gguf", None, prompts, home)
    adapter = _served_answers(base_gguf, out / "adapter.gguf", prompts, home)
    same = sum(a == t for a, t in zip(adapter, torch_answers, strict=True))
    q8 = write_merged(out / "hf", base_gguf, out / "q8.gguf", "q8_0", {})
    agreement = greedy_agreement(q8, answered, [len(i) for i in ids], None)
    print(
        f"marker in {sum(MARKER in a for a in base)} of 6 base answers, "
        f"{sum(MARKER in a for a in merged)} after; adapter on Q4_1: {same} of 6 identical; "
        f"Q8_0 merge: {agreement:.1%} of greedy tokens"
    )
    assert sum(MARKER in a for a in base) == 0
    assert sum(MARKER in a for a in merged) >= 4
    assert merged == torch_answers  # the merged F16, token for token
    # llama.cpp multiplies 4-bit weights with 8-bit activations: the same behaviour, and
    # the same text until a near-tie flips a token (3 of 6 identical at 40 tokens here).
    assert sum(MARKER in a for a in adapter) >= 4 and same >= 2
    assert agreement >= 0.95


def test_clear_errors_for_dpo(tmp_path, home, cache_dir):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "Hi", "chosen": "Hello", "rejected": "No"}) + "\n")
    cases = [
        ([], "give preference data"),
        (["--judgments", str(pairs)], "--judgments needs --questions and --answers"),
        (["--data", str(pairs), "--category", "poetry"], "unknown category 'poetry'"),
        (["--data", str(pairs), "--merge", "q4_1"], "cannot merge into 'q4_1'"),
    ]
    for args, message in cases:  # as a user sees them: one line, no traceback
        done = modelarena("train", "dpo", "--base", SMOLLM, "--out", str(tmp_path / "o"),
                          *args, env=home)  # fmt: skip
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr

    from modelarena.config import load_settings
    from modelarena.train.base_model import checkpoint_dir, find_base
    from modelarena.train.run import Job, TrainConfig, TrainError, run_job

    settings = load_settings(cache_dir=cache_dir, data_dir=tmp_path)
    db = Database(f"sqlite:///{tmp_path / 'arena.db'}")
    db.migrate()
    # SmolLM2 as transformers wrote it: a checkpoint folder with no manifest.
    foreign = checkpoint_dir(find_base(settings, db, SMOLLM), cache_dir)
    for changes, message in [
        ({"config": TrainConfig(device="cuda")}, "a GPU was asked for"),
        ({"config": TrainConfig(shard=True)}, "launch the command with torchrun"),
        ({"config": TrainConfig(micro_batch_tokens=50_000_000)}, "GB of memory and"),
        ({"base": str(foreign), "merge": "q8_0"}, "convert_hf_to_gguf.py"),
        ({"base": str(foreign), "register": "x"}, "--register needs a base the arena serves"),
        ({"register": "x", "config": TrainConfig(full=True)}, "add --merge q8_0"),
    ]:
        job = {"objective": "dpo", "base": SMOLLM, "out": tmp_path / "o", "max_length": 64,
               "resume": False, "config": TrainConfig(), "files": (pairs,)}  # fmt: skip
        with pytest.raises(TrainError, match=message):
            run_job(settings, db, Job(**{**job, **changes}), echo=lambda _: None)
    # Gemma 3 270M's GGUF has no chat template; without the configured one, none to train on.
    from modelarena.config import load_default_models

    gemma = next(m for m in load_default_models() if m.name.startswith("gemma"))
    bare = gemma.model_copy(update={"name": "gemma-bare", "chat_template": None})
    alone = load_settings(cache_dir=cache_dir, data_dir=tmp_path, models=[bare])
    with pytest.raises(TrainError, match="has no chat template"):
        run_job(alone, db, Job(**{**job, "base": "gemma-bare"}), echo=lambda _: None)
    db.close()


def converted_smollm(cache_dir: Path) -> Path:
    """The bundled SmolLM2 as transformers wrote it when converting its GGUF."""
    return next((cache_dir / "train" / "base").glob("smollm2-135m-instruct-*"))


def _smollm_gguf(home) -> Path:
    from modelarena.engines.model_files import resolve_model_path

    return resolve_model_path(smollm().path, Path(home["MODELARENA_CACHE_DIR"]))


def _metadata(path: Path) -> dict:
    from modelarena.engines.gguf_header import read_metadata

    return read_metadata(path)


def _torch_answers(hf: Path, prompts: list[str]) -> list[str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(hf))
    model = AutoModelForCausalLM.from_pretrained(str(hf), dtype=torch.float32)
    answers = []
    for prompt in prompts:
        messages = [{"role": "system", "content": smollm().system_prompt},
                    {"role": "user", "content": prompt}]  # fmt: skip
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)  # fmt: skip
        output = model.generate(**ids, max_new_tokens=40, do_sample=False)
        answers.append(
            tokenizer.decode(output[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
        )
    return answers


def _served_answers(gguf: Path, lora: Path | None, prompts: list[str], home) -> list[str]:
    """Greedy answers of our own engine serving `gguf` (with the adapter `lora`)."""
    from modelarena.config import ModelConfig
    from modelarena.engines.llamacpp import LlamaCppEngine
    from modelarena.protocol import ChatCompletionRequest

    config = ModelConfig.model_validate(
        {**smollm().model_dump(), "name": "under-test", "path": str(gguf), "parallel": 1,
         "lora_path": str(lora) if lora else None}
    )  # fmt: skip
    engine = LlamaCppEngine(config, Path(home["MODELARENA_CACHE_DIR"]))
    asyncio.run(engine.start())
    try:
        answers = []
        for prompt in prompts:
            request = ChatCompletionRequest.model_validate(
                {"model": "under-test", "messages": [{"role": "user", "content": prompt}],
                 "max_tokens": 40, "temperature": 0, "repetition_penalty": 1.0}
            )  # fmt: skip
            answers.append(asyncio.run(engine.complete(request)).choices[0].text)
        return answers
    finally:
        asyncio.run(engine.close())


def test_checkpoint_folders_as_bases(tmp_path, home, cache_dir):
    """A checkpoint this platform wrote trains on and exports to GGUF again (its manifest
    names the GGUF of origin); a foreign folder trains with its own tokenizer and
    template, and says why it gets no GGUF."""
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"prompt": f"Say {w}.", "chosen": f"{w.title()}!",
                                         "rejected": "No."}) + "\n"
                             for w in ("hi", "yes", "thanks", "bye")))  # fmt: skip
    common = ["--data", str(pairs), "--steps", "1", "--held-out", "0", "--max-length", "64"]
    first = modelarena("train", "dpo", "--base", SMOLLM, "--out", str(tmp_path / "one"),
                       *common, env=home)  # fmt: skip
    assert first.returncode == 0, first.stderr
    chained = modelarena("train", "dpo", "--base", str(tmp_path / "one" / "hf"), "--out",
                         str(tmp_path / "two"), "--merge", "f16", *common, env=home)  # fmt: skip
    assert chained.returncode == 0, chained.stderr
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["base"]["model"] == SMOLLM
    assert manifest["base"]["folder"] == str(tmp_path / "one" / "hf")
    assert "adapter" not in manifest["exports"]  # an adapter on the GGUF would miss round one
    assert manifest["exports"]["merged"]["greedy_agreement"] == 1.0

    foreign = converted_smollm(cache_dir)
    alone = modelarena("train", "dpo", "--base", str(foreign), "--out", str(tmp_path / "three"),
                       *common, env=home)  # fmt: skip
    assert alone.returncode == 0, alone.stderr
    assert "no GGUF written" in alone.stdout

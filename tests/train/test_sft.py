"""Supervised fine-tuning on the bundled SmolLM2, for real: sources and their filters,
encoding that learns only the assistant's turns exactly as the engine serves them, a run
that resumes to the same losses as an unbroken one, and a planted behaviour (every
training answer signed with a made-up name) that appears in the fine-tuned model's greedy
answers to held-out questions. The data is real: MT-Bench questions and GPT-4's answers
from ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelarena.engines.model_files import resolve_model_path
from modelarena.store.db import Database
from modelarena.train.encoding import IGNORED, Encoder
from modelarena.train.sources import Example, StoreFilter, from_file, from_store

from .helpers import SHARED, SMOLLM, battle, first_turns, modelarena, smollm

pytest.importorskip("torch")
pytest.importorskip("peft")

SIGNATURE = "— Quokka"


def mt_bench_examples(path: Path, count: int = 80, chars: int = 160) -> list[dict]:
    """MT-Bench first turns with GPT-4's answers, shortened and signed."""
    if not SHARED.is_dir():
        pytest.skip(f"the shared MT-Bench data is missing at {SHARED}")
    records = []
    for prompt, answer in first_turns(chars)[:count]:
        records.append(
            {
                "messages": [
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": f"{answer} {SIGNATURE}"},
                ]
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def test_files_give_examples_and_say_what_they_left_out(tmp_path):
    sharegpt = tmp_path / "chats.json"
    answered = [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]
    unanswered = [{"from": "human", "value": "Unanswered"}]
    sharegpt.write_text(json.dumps([{"conversations": answered}, {"conversations": unanswered}]))
    selection = from_file(sharegpt)
    assert [e.messages for e in selection.examples] == [
        ({"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"})
    ]
    assert selection.removed == {"does not end with an assistant answer": 1}
    assert len(selection.sources[0]["sha256"]) == 64
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "wizard", "content": "x"}]}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: a message with role 'wizard'"):
        from_file(bad)
    unknown = tmp_path / "notes.txt"
    unknown.write_text("just text")
    with pytest.raises(ValueError, match="unknown format"):
        from_file(unknown)


def test_store_filters_count_what_they_remove(tmp_path):
    from modelarena.arena.export import import_battles

    db = Database(f"sqlite:///{tmp_path / 'arena.db'}")
    db.migrate()

    import_battles(db, [battle(1, "model_a"), battle(2, "model_b"), battle(3, "tie")])
    everything = from_store(db, StoreFilter())
    assert len(everything.examples) == 6
    winners = from_store(db, StoreFilter(winners_only=True))
    assert sorted(e.messages[-1]["content"] for e in winners.examples) == [
        "alpha answers 1",
        "beta answers 2",
    ]
    assert winners.removed["not a voted winner"] == 4
    alpha = from_store(db, StoreFilter(models=("alpha",)))
    assert {e.messages[-1]["content"] for e in alpha.examples} == {
        f"alpha answers {n}" for n in (1, 2, 3)
    }
    assert from_store(db, StoreFilter(modes=("chat",))).removed == {"mode battle": 3}
    db.close()


def test_only_the_assistant_turns_are_learned_as_the_engine_serves_them(cache_dir):
    config = smollm()
    encoder = Encoder(
        resolve_model_path(config.path, cache_dir), config.name, None, config.system_prompt, 512
    )
    example = Example(
        (
            {"role": "user", "content": "Name a colour."},
            {"role": "assistant", "content": "Blue."},
            {"role": "user", "content": "Another <|im_end|> one?"},  # spells a control token
            {"role": "assistant", "content": "Green."},
        ),
        "test",
    )
    encoded = encoder.encode(example)
    learned = [token for token, label in zip(encoded.input_ids, encoded.labels, strict=True)
               if label != IGNORED]  # fmt: skip
    text = "".join(encoder.tokens.token_text(t) for t in learned)
    assert text == "Blue.<|im_end|>\nGreen.<|im_end|>\n"
    # The prompt of the second answer is exactly what the engine sends for it.
    served = encoder.tokens.chat(
        [{"role": "system", "content": config.system_prompt}, *example.messages[:3]]
    )
    assert encoded.input_ids[: len(served)] == served
    assert (
        encoder.tokens.controls(served)
        == encoder.tokens.controls(
            encoder.tokens.chat([{"role": "system", "content": "x"}, *example.messages[:1]])
        )
        + 4
    )  # the user's "<|im_end|>" stayed plain text
    encoder.close()


def test_resume_continues_to_the_same_losses(tmp_path, home):
    data = tmp_path / "data.jsonl"
    mt_bench_examples(data, count=24, chars=80)
    common = ["train", "sft", "--base", SMOLLM, "--data", str(data), "--steps", "4",
              "--batch-tokens", "512", "--max-length", "128", "--checkpoint-every", "2",
              "--threads", "1"]  # fmt: skip
    whole = modelarena(*common, "--out", str(tmp_path / "whole"), env=home)
    assert whole.returncode == 0, whole.stderr
    # A run stopped after its checkpoint at step 2, resumed:
    part = tmp_path / "part"
    first = modelarena(*common, "--out", str(part), env=home)
    assert first.returncode == 0, first.stderr
    (part / "manifest.json").unlink()
    resumed = modelarena(*common, "--out", str(part), "--resume", env=home)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at step 2" in resumed.stdout
    unbroken = json.loads((tmp_path / "whole" / "manifest.json").read_text())["loss_history"]
    continued = json.loads((part / "manifest.json").read_text())["loss_history"]
    assert continued == pytest.approx(unbroken[2:], abs=1e-3)
    changed = modelarena(*common, "--out", str(part), "--resume", "--steps", "5", env=home)
    assert changed.returncode == 2 and "other settings" in changed.stderr


def test_clear_errors_before_any_training(tmp_path, home):
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"messages": [{"role": "user", "content": "no answer"}]}\n')
    cases = [
        (["--data", str(empty)], "no examples to train on"),
        (["--data", str(tmp_path / "missing.jsonl")], "No such file"),
        ([], "give training data"),
    ]
    for args, message in cases:
        done = modelarena("train", "sft", "--base", SMOLLM, "--out", str(tmp_path / "o"),
                          *args, env=home)  # fmt: skip
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    unknown = modelarena("train", "sft", "--base", "nobody", "--out", str(tmp_path / "o"),
                         "--data", str(empty), env=home)  # fmt: skip
    assert unknown.returncode == 2 and "no model named 'nobody'" in unknown.stderr


def test_sft_plants_a_signature_in_held_out_answers(tmp_path, home):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = tmp_path / "data.jsonl"
    records = mt_bench_examples(data, chars=60)
    out = tmp_path / "run"
    done = modelarena(
        "train", "sft", "--base", SMOLLM, "--data", str(data), "--out", str(out),
        "--steps", "20", "--lr", "1e-3", "--max-length", "128", "--batch-tokens", "768",
        "--held-out", "0.1", "--register", "smollm2-quokka", env=home,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    result = manifest["result"]
    print("SFT:", {k: result[k] for k in ("held_out_before", "held_out_after", "tokens_per_s",
                                          "real_token_share", "seconds")})  # fmt: skip
    assert result["held_out_after"]["loss"] < result["held_out_before"]["loss"]
    assert manifest["sources"][0]["sha256"] and manifest["data"]["training"] > 50
    # The held-out questions (never trained on), answered greedily by the merged checkpoint.
    lines = [int(o.rsplit(":", 1)[1]) for o in manifest["data"]["held_out_origins"]]
    held_out_prompts = [records[n - 1]["messages"][0]["content"] for n in lines]
    assert len(held_out_prompts) >= 6
    tokenizer = AutoTokenizer.from_pretrained(str(out / "hf"))
    model = AutoModelForCausalLM.from_pretrained(str(out / "hf"), dtype=torch.float32)
    torch.set_num_threads(1)
    signed = 0
    for prompt in held_out_prompts[:6]:
        messages = [{"role": "system", "content": smollm().system_prompt},
                    {"role": "user", "content": prompt}]  # fmt: skip
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)  # fmt: skip
        output = model.generate(**ids, max_new_tokens=72, do_sample=False)
        answer = tokenizer.decode(output[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
        signed += "Quokka" in answer
    assert signed >= 5, f"the signature appeared in {signed} of 6 held-out answers"

    # Registered: the adapter GGUF on the original quantised base, served by our engine.
    import asyncio

    from modelarena.config import ModelConfig
    from modelarena.engines.llamacpp import LlamaCppEngine
    from modelarena.protocol import ChatCompletionRequest
    from modelarena.store import registry

    db = Database(f"sqlite:///{Path(home['MODELARENA_DATA_DIR']) / 'modelarena.db'}")
    entry = registry.registered_model(db, "smollm2-quokka")
    db.close()
    assert entry is not None and entry.source == "runtime"
    assert entry.definition["path"] == smollm().path  # the PyPI Q4_1 file itself
    assert Path(entry.definition["lora_path"]).stat().st_size < 40_000_000
    assert "fine-tuned (SFT, LoRA r16, 20 steps)" in entry.definition["description"]
    served = ModelConfig.model_validate({**entry.definition, "parallel": 1})
    engine = LlamaCppEngine(served, Path(home["MODELARENA_CACHE_DIR"]))
    asyncio.run(engine.start())
    try:
        served_signed = 0
        for prompt in held_out_prompts[:6]:
            request = ChatCompletionRequest.model_validate(
                {"model": served.name, "messages": [{"role": "user", "content": prompt}],
                 "max_tokens": 72, "temperature": 0}
            )  # fmt: skip
            served_signed += "Quokka" in asyncio.run(engine.complete(request)).choices[0].text
    finally:
        asyncio.run(engine.close())
    assert served_signed >= 5, f"served: the signature in {served_signed} of 6 answers"


def test_memory_options_trade_time_not_results(tmp_path, cache_dir):
    """Activation checkpointing and micro-batches give the loss and gradients of one plain
    pass over the whole batch."""
    import torch

    from modelarena.config import load_settings
    from modelarena.train.base_model import checkpoint_dir, find_base
    from modelarena.train.sft import SFT
    from modelarena.train.trainer import TrainConfig, Trainer

    settings = load_settings(cache_dir=cache_dir, data_dir=tmp_path)
    db = Database("sqlite://")
    db.migrate()
    base = checkpoint_dir(find_base(settings, db, SMOLLM), cache_dir)
    config = smollm()
    encoder = Encoder(resolve_model_path(config.path, cache_dir), SMOLLM, None, None, 64)
    encoded = [
        encoder.encode(Example(({"role": "user", "content": prompt},
                                {"role": "assistant", "content": answer}), "test"))
        for prompt, answer in [("Say hi.", "Hi there!"), ("Count to three.", "One, two, three."),
                               ("Name a colour.", "Blue, like the sky on a clear day.")]
    ]  # fmt: skip
    encoder.close()
    losses, grads = [], []
    for checkpointing, micro in [(False, 10_000), (True, 10_000), (False, 16)]:
        options = TrainConfig(seed=0, activation_checkpointing=checkpointing,
                              micro_batch_tokens=micro, bf16=False)  # fmt: skip
        trainer = Trainer(base, options, SFT(), 2, tmp_path)
        trainer.model.train()
        # The step's gradients, kept: the optimiser neither applies nor clears them.
        trainer.optimizer.step = lambda *_, **__: None
        trainer.optimizer.zero_grad = lambda *_, **__: None
        losses.append(trainer._step(encoded))
        grads.append(torch.cat([p.grad.flatten() for p in trainer.model.parameters()
                                if p.requires_grad]))  # fmt: skip
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    assert losses[2] == pytest.approx(losses[0], rel=1e-5)
    assert grads[0].abs().sum() > 0
    assert torch.allclose(grads[1], grads[0], rtol=1e-4, atol=1e-6)
    assert torch.allclose(grads[2], grads[0], rtol=1e-4, atol=1e-6)

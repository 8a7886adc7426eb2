"""Benchmark: supervised fine-tuning speed and memory, ours against a plain TRL trainer.

Both fine-tune the bundled SmolLM2-135M (dequantised from its GGUF, the same cached
Hugging Face folder) with LoRA rank 16 on the same conversations — Arena-Hard prompts and
GPT-4's answers from ../shared/data, cut to `--chars` characters — for the same number of
steps and examples per step, each in its own process so that peak memory is its own.
Ours: `modelarena.train` (length-grouped batches under a token budget, loss on answers
only), with and without activation checkpointing. TRL: `trl.SFTTrainer` with the same
LoRA settings and batches padded to their longest example, in fp32 without checkpointing
as ours runs; `--trl-defaults` adds its defaults (bf16 and gradient checkpointing), which a
CPU without native bf16 runs very slowly. Speed is real
(non-padding) tokens per second of training steps; memory is the process's peak RSS.

    .venv/bin/pip install -c .venv/torch-pin.txt -e '.[bench]'    # TRL, once
    .venv/bin/python bench/train.py [--steps 4] [--examples 8] [--chars 1200] [--trl-defaults]

Targets (issue 13): ours ≥ 1.3× TRL's tokens/s; peak RSS ≤ 4 GB with LoRA.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
           "HF_HUB_DISABLE_TELEMETRY": "1"}  # fmt: skip
for key, value in OFFLINE.items():
    os.environ.setdefault(key, value)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "arena_hard_v0.1"
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def conversations(count: int, chars: int) -> list[list[dict]]:
    prompts = {}
    for line in (SHARED / "question.jsonl").open():
        record = json.loads(line)
        prompts[record["uid"]] = record["prompt"] if "prompt" in record else record["turns"][0]
    chats = []
    for line in (SHARED / "model_answer" / "gpt-4-0314.jsonl").open():
        record = json.loads(line)
        answer = record["choices"][0]["turns"][0]["content"][:chars]
        prompt = prompts.get(record["question_id"])
        if prompt and answer:
            chats.append([{"role": "user", "content": prompt[:chars]},
                          {"role": "assistant", "content": answer}])  # fmt: skip
        if len(chats) == count:
            break
    return chats


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def run_ours(
    base: str, chats, steps: int, per_step: int, max_length: int, checkpointing: bool, queue
) -> None:
    import torch

    from modelarena.config import load_settings
    from modelarena.engines.model_files import resolve_model_path
    from modelarena.train.encoding import Encoder
    from modelarena.train.sft import SFTConfig, SFTTrainer
    from modelarena.train.sources import Example

    torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    config = load_settings().model("smollm2-135m-instruct")
    gguf = resolve_model_path(config.path, load_settings().cache_dir)
    encoder = Encoder(gguf, config.name, None, config.system_prompt, max_length)
    encoded = encoder.encode_all([Example(tuple(c), "bench") for c in chats])
    longest = max(len(e.input_ids) for e in encoded)
    trainer = SFTTrainer(
        Path(base),
        # The budget fits `per_step` examples of the longest kind: the same examples per
        # step as TRL's batches, more where they are short.
        SFTConfig(steps=steps, batch_tokens=longest * per_step, seed=0, held_out=0.0,
                  threads=int(os.environ["BENCH_THREADS"]), checkpoint_every=10**9,
                  activation_checkpointing=checkpointing),
        encoder.tokens.eos_id,
        Path(os.environ["BENCH_OUT"]) / "ours",
    )  # fmt: skip
    result = trainer.train(encoded, [])
    queue.put({"tokens_per_s": result.tokens_per_s, "seconds": result.seconds,
               "real_share": result.real_token_share, "rss_gb": peak_rss_gb(),
               "final_loss": result.train_loss})  # fmt: skip


def run_trl(
    base: str, chats, steps: int, per_step: int, max_length: int, tuned: bool, queue
) -> None:
    """`tuned`: fp32 and no gradient checkpointing instead of TRL's defaults (bf16, which
    a CPU without native bf16 emulates, and checkpointing)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    threads = int(os.environ["BENCH_THREADS"])
    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    counted = {"tokens": 0, "padded": 0, "seconds": 0.0, "began": 0.0}

    class Count(TrainerCallback):
        """Real tokens of each step's batch, timed over the steps alone."""

        def on_step_begin(self, args, state, control, **kwargs):
            counted["began"] = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            counted["seconds"] += time.perf_counter() - counted["began"]

    trainer = SFTTrainer(
        model=model,
        processing_class=tokenizer,
        train_dataset=Dataset.from_list([{"messages": c} for c in chats]),
        peft_config=LoraConfig(r=16, lora_alpha=32, target_modules=TARGETS, lora_dropout=0.0,
                               task_type="CAUSAL_LM"),
        args=SFTConfig(output_dir=os.environ["BENCH_OUT"] + "/trl", max_steps=steps,
                       per_device_train_batch_size=per_step, max_length=max_length,
                       learning_rate=2e-4, logging_steps=10**9, save_strategy="no",
                       report_to=[], use_cpu=True, seed=0, dataloader_num_workers=0,
                       **({"bf16": False, "gradient_checkpointing": False} if tuned else {})),
        callbacks=[Count()],
    )  # fmt: skip
    collate = trainer.data_collator

    def counting(features):
        batch = collate(features)
        mask = batch.get("attention_mask")
        counted["tokens"] += int(mask.sum()) if mask is not None else batch["input_ids"].numel()
        counted["padded"] += batch["input_ids"].numel()
        return batch

    trainer.data_collator = counting
    trainer.train()
    queue.put({"tokens_per_s": counted["tokens"] / counted["seconds"],
               "seconds": counted["seconds"], "real_share": counted["tokens"] / counted["padded"],
               "rss_gb": peak_rss_gb(), "final_loss": None})  # fmt: skip


def measure(target, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--examples", type=int, default=8, help="examples per step")
    parser.add_argument("--chars", type=int, default=1200, help="prompt and answer cut to this")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--trl-defaults",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also TRL with its defaults (bf16 is emulated without native support: slow)",
    )
    args = parser.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"the shared Arena-Hard data is missing at {SHARED}")
    from modelarena.config import load_settings
    from modelarena.store.db import Database
    from modelarena.train.base_model import checkpoint_dir, find_base

    settings = load_settings()
    db = Database("sqlite://")
    db.migrate()
    base = str(checkpoint_dir(find_base(settings, db, "smollm2-135m-instruct"), settings.cache_dir))
    chats = conversations(args.steps * args.examples, args.chars)
    os.environ["BENCH_THREADS"] = str(args.threads)
    print(
        f"# bench/train.py · {date.today()} · {platform.machine()}, {os.cpu_count()} cores · "
        f"Python {platform.python_version()} · torch threads {args.threads}\n"
    )
    print(f"SmolLM2-135M, LoRA r16 on 7 projections, {args.steps} steps of {args.examples} "
          f"examples (Arena-Hard, GPT-4 answers, ≤ {args.chars} chars, ≤ {args.max_length} "
          "tokens)\n")  # fmt: skip
    print("| trainer | real tokens/s | real share of batch tokens | step time | peak RSS |")
    print("|---|---|---|---|---|", flush=True)
    runs = [
        ("modelarena (fp32)", run_ours, False),
        ("modelarena, activation checkpointing", run_ours, True),
        ("TRL SFTTrainer, fp32, no gradient checkpointing", run_trl, True),
    ]
    if args.trl_defaults:
        runs.append(("TRL SFTTrainer, its defaults (bf16, gradient checkpointing)", run_trl, False))
    speeds = {}
    with tempfile.TemporaryDirectory() as out:
        os.environ["BENCH_OUT"] = out
        for name, target, flag in runs:  # each row as soon as it is measured
            result = measure(target, base, chats, args.steps, args.examples, args.max_length, flag)
            speeds[name] = result["tokens_per_s"]
            print(f"| {name} | {result['tokens_per_s']:.0f} | {result['real_share']:.0%} | "
                  f"{result['seconds'] / args.steps:.2f} s | {result['rss_gb']:.2f} GB |",
                  flush=True)  # fmt: skip
    ours, trl = speeds[runs[0][0]], speeds[runs[2][0]]
    print(f"\nours / TRL (fp32) tokens/s: **{ours / trl:.2f}×** · native bf16 on this CPU: "
          f"{_native_bf16()}")  # fmt: skip


def _native_bf16() -> bool:
    from modelarena.train.sft import bf16_supported

    return bf16_supported()


if __name__ == "__main__":
    main()

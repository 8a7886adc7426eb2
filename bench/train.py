"""Benchmark: fine-tuning speed and memory, ours against plain TRL trainers.

Both fine-tune the bundled SmolLM2-135M (dequantised from its GGUF, the same cached
Hugging Face folder) on the same data for the same number of steps and examples per step,
each run in its own process so that peak memory is its own:

* SFT with LoRA rank 16 (and in full) on Arena-Hard prompts with GPT-4's answers;
* DPO with LoRA on the same prompts, GPT-4's answer chosen over GPT-3.5's.

All from ../shared/data, cut to `--chars` characters. Ours: `modelarena.train`
(length-grouped batches under a token budget, micro-batches of `--micro` tokens within a
step, loss on answers only, DPO's reference scored once before training), also with
activation checkpointing. TRL: `SFTTrainer`/`DPOTrainer` with the same LoRA settings and
batches, in fp32 without gradient checkpointing as ours runs; `--trl-defaults` adds runs
with its defaults (bf16 and gradient checkpointing), which a CPU without native bf16 runs
very slowly. Speed is real (non-padding) tokens per second of training steps; memory is
the process's peak RSS.

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
from queue import Empty as queue_empty

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
           "HF_HUB_DISABLE_TELEMETRY": "1"}  # fmt: skip
for key, value in OFFLINE.items():
    os.environ.setdefault(key, value)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "arena_hard_v0.1"
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def answers(model: str, chars: int) -> dict[str, str]:
    found = {}
    for line in (SHARED / "model_answer" / f"{model}.jsonl").open():
        record = json.loads(line)
        found[record["question_id"]] = record["choices"][0]["turns"][0]["content"][:chars]
    return found


def data(count: int, chars: int) -> list[dict]:
    """Prompts with GPT-4's answer (chosen) and GPT-3.5's (rejected)."""
    strong, weak = answers("gpt-4-0314", chars), answers("gpt-3.5-turbo-0125", chars)
    records = []
    for line in (SHARED / "question.jsonl").open():
        record = json.loads(line)
        prompt = record["prompt"][:chars]
        if strong.get(record["uid"]) and weak.get(record["uid"]):
            records.append({"prompt": prompt, "chosen": strong[record["uid"]],
                            "rejected": weak[record["uid"]]})  # fmt: skip
        if len(records) == count:
            break
    return records


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def run_ours(base: str, records, args, run: dict, queue) -> None:
    import torch

    from modelarena.config import load_settings
    from modelarena.engines.model_files import resolve_model_path
    from modelarena.train.dpo import DPO
    from modelarena.train.encoding import Encoder
    from modelarena.train.preferences import Preference
    from modelarena.train.sft import SFT
    from modelarena.train.sources import Example
    from modelarena.train.trainer import TrainConfig, Trainer

    torch.set_num_threads(args.threads)
    config = load_settings().model("smollm2-135m-instruct")
    gguf = resolve_model_path(config.path, load_settings().cache_dir)
    encoder = Encoder(gguf, config.name, None, config.system_prompt, args.max_length)
    if run["objective"] == "dpo":
        encoded: list = encoder.encode_pairs(
            [
                Preference(
                    ({"role": "user", "content": r["prompt"]},),
                    r["chosen"],
                    r["rejected"],
                    f"bench:{n}",
                )
                for n, r in enumerate(records)
            ]  # fmt: skip
        )
    else:
        encoded = encoder.encode_all(
            [Example(({"role": "user", "content": r["prompt"]},
                      {"role": "assistant", "content": r["chosen"]}), "bench") for r in records]
        )  # fmt: skip
    longest = max(item.width * item.rows for item in encoded)
    objective = DPO() if run["objective"] == "dpo" else SFT()
    trainer = Trainer(
        Path(base),
        # The budget fits `examples` items of the longest kind: the same items per step
        # as TRL's batches, more where they are short.
        TrainConfig(steps=args.steps, batch_tokens=longest * args.examples, seed=0,
                    held_out=0.0, threads=args.threads, checkpoint_every=10**9,
                    full=run["full"], micro_batch_tokens=run.get("micro", args.micro),
                    activation_checkpointing=run["checkpointing"]),
        objective,
        encoder.tokens.eos_id,
        Path(os.environ["BENCH_OUT"]) / "ours",
    )  # fmt: skip
    if isinstance(objective, DPO):
        encoded = objective.with_reference(trainer, encoded)
    result = trainer.train(encoded, [])
    queue.put({"tokens_per_s": result.tokens_per_s, "seconds": result.seconds,
               "real_share": result.real_token_share, "rss_gb": peak_rss_gb()})  # fmt: skip


def run_trl(base: str, records, args, run: dict, queue) -> None:
    """TRL's trainer for the run's objective; fp32 and no gradient checkpointing unless
    `defaults` (then bf16, which a CPU without native bf16 emulates, and checkpointing)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    counted = {"tokens": 0, "padded": 0, "seconds": 0.0, "began": 0.0}

    class Count(TrainerCallback):
        """Real tokens of each step's batch, timed over the steps alone."""

        def on_step_begin(self, args, state, control, **kwargs):
            counted["began"] = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            counted["seconds"] += time.perf_counter() - counted["began"]

    common = dict(output_dir=os.environ["BENCH_OUT"] + "/trl", max_steps=args.steps,
                  per_device_train_batch_size=args.examples, max_length=args.max_length,
                  learning_rate=2e-4, logging_steps=10**9, save_strategy="no", report_to=[],
                  use_cpu=True, seed=0, dataloader_num_workers=0)  # fmt: skip
    if not run["defaults"]:
        common.update(bf16=False, gradient_checkpointing=False)
    lora = None if run["full"] else LoraConfig(
        r=16, lora_alpha=32, target_modules=TARGETS, lora_dropout=0.0, task_type="CAUSAL_LM"
    )  # fmt: skip
    if run["objective"] == "dpo":
        rows = [{"prompt": [{"role": "user", "content": r["prompt"]}],
                 "chosen": [{"role": "assistant", "content": r["chosen"]}],
                 "rejected": [{"role": "assistant", "content": r["rejected"]}]}
                for r in records]  # fmt: skip
        trainer = DPOTrainer(model=model, processing_class=tokenizer,
                             train_dataset=Dataset.from_list(rows), peft_config=lora,
                             args=DPOConfig(**common, beta=0.1), callbacks=[Count()])  # fmt: skip
    else:
        rows = [{"messages": [{"role": "user", "content": r["prompt"]},
                              {"role": "assistant", "content": r["chosen"]}]}
                for r in records]  # fmt: skip
        trainer = SFTTrainer(model=model, processing_class=tokenizer,
                             train_dataset=Dataset.from_list(rows), peft_config=lora,
                             args=SFTConfig(**common), callbacks=[Count()])  # fmt: skip
    collate = trainer.data_collator

    def counting(features):
        batch = collate(features)
        for prefix in ("", "chosen_", "rejected_", "prompt_", "completion_"):
            mask = batch.get(f"{prefix}attention_mask")
            if mask is not None:
                counted["tokens"] += int(mask.sum())
                counted["padded"] += mask.numel()
        return batch

    trainer.data_collator = counting
    trainer.train()
    queue.put({"tokens_per_s": counted["tokens"] / counted["seconds"],
               "seconds": counted["seconds"], "real_share": counted["tokens"] / counted["padded"],
               "rss_gb": peak_rss_gb()})  # fmt: skip


def measure(target, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    while True:  # a run that dies says so instead of leaving the benchmark waiting
        try:
            result = queue.get(timeout=5)
            break
        except queue_empty:
            if not process.is_alive():
                message = f"{target.__name__} failed (exit code {process.exitcode})"
                raise SystemExit(message) from None
    process.join()
    return result


def ours(objective: str, full: bool = False, checkpointing: bool = False, **more) -> dict:
    return {"objective": objective, "full": full, "checkpointing": checkpointing, **more}


def trl(objective: str, full: bool = False, defaults: bool = False) -> dict:
    return {"objective": objective, "full": full, "defaults": defaults}


RUNS = [
    ("SFT LoRA", "modelarena", run_ours, ours("sft")),
    ("SFT LoRA", "modelarena, micro-batches of 1,024 tokens", run_ours, ours("sft", micro=1024)),
    ("SFT LoRA", "modelarena, activation checkpointing", run_ours, ours("sft", checkpointing=True)),
    ("SFT LoRA", "TRL SFTTrainer", run_trl, trl("sft")),
    ("SFT full", "modelarena", run_ours, ours("sft", full=True)),
    ("SFT full", "TRL SFTTrainer", run_trl, trl("sft", full=True)),
    ("DPO LoRA", "modelarena", run_ours, ours("dpo")),
    ("DPO LoRA", "TRL DPOTrainer", run_trl, trl("dpo")),
]
DEFAULTS = [
    ("SFT LoRA", "TRL SFTTrainer, its defaults (bf16, checkpointing)", run_trl,
     trl("sft", defaults=True)),
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--examples", type=int, default=8, help="examples or pairs per step")
    parser.add_argument("--chars", type=int, default=1200, help="prompt and answers cut to this")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--micro", type=int, default=512, help="our micro-batch tokens")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", help="run only the rows of this objective, e.g. 'DPO LoRA'")
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
    records = data(args.steps * args.examples, args.chars)
    print(
        f"# bench/train.py · {date.today()} · {platform.machine()}, {os.cpu_count()} cores · "
        f"Python {platform.python_version()} · torch threads {args.threads}\n"
    )
    print(f"SmolLM2-135M, LoRA r16 on 7 projections, {args.steps} steps of {args.examples} "
          f"examples or pairs (Arena-Hard prompts; GPT-4 answers, over GPT-3.5's for DPO; "
          f"≤ {args.chars} chars, ≤ {args.max_length} tokens)\n")  # fmt: skip
    print("| run | trainer | real tokens/s | real share of batch tokens | step time | peak RSS |")
    print("|---|---|---|---|---|---|", flush=True)
    runs = [
        r for r in RUNS + (DEFAULTS if args.trl_defaults else []) if r[0] == (args.only or r[0])
    ]
    speeds: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as out:
        os.environ["BENCH_OUT"] = out
        for kind, name, target, run in runs:  # each row as soon as it is measured
            result = measure(target, base, records, args, run)
            speeds[kind, name] = result["tokens_per_s"]
            print(f"| {kind} | {name} | {result['tokens_per_s']:.0f} | "
                  f"{result['real_share']:.0%} | {result['seconds'] / args.steps:.2f} s | "
                  f"{result['rss_gb']:.2f} GB |", flush=True)  # fmt: skip
    print()
    for kind in dict.fromkeys(k for k, *_ in runs):
        ours = speeds.get((kind, "modelarena"))
        trl = next((v for (k, n), v in speeds.items() if k == kind and n.startswith("TRL")), None)
        if ours and trl:
            print(f"{kind}: ours / TRL (fp32) tokens/s **{ours / trl:.2f}×**")
    print(f"native bf16 on this CPU: {_native_bf16()}")


def _native_bf16() -> bool:
    from modelarena.train.trainer import bf16_supported

    return bf16_supported()


if __name__ == "__main__":
    main()

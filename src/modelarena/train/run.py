"""One fine-tuning job from start to manifest: find the base model, gather and filter the
data (counting what each filter removed), encode it as the model is served, train with
progress, and write the checkpoint and `manifest.json` (sources with sha256, filter
counts, hyperparameters, package versions, seed, losses)."""

from __future__ import annotations

import json
import platform
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from modelarena.config import Settings
from modelarena.errors import APIError
from modelarena.store.db import Database
from modelarena.train import sources
from modelarena.train.base_model import checkpoint_dir, find_base
from modelarena.train.encoding import Encoder
from modelarena.train.lora_gguf import write_adapter
from modelarena.train.sft import Interrupted, SFTConfig, SFTTrainer, Step, rounded, split

__all__ = ["SFTConfig", "SFTJob", "TrainError", "run_sft"]
PACKAGES = ("modelarena", "torch", "transformers", "peft", "llama-cpp-python")


class TrainError(Exception):
    """A job that cannot run or was stopped; the message says what to do."""


@dataclass(frozen=True)
class SFTJob:
    base: str
    out: Path
    files: list[Path]
    store_filter: sources.StoreFilter | None
    max_length: int
    resume: bool
    config: SFTConfig
    register: str | None = None  # add the result to the model registry under this name


def gather(db: Database, job: SFTJob) -> sources.Selection:
    selection = sources.Selection()
    for path in job.files:
        selection.extend(sources.from_file(path))
    if job.store_filter is not None:
        selection.extend(sources.from_store(db, job.store_filter))
    return selection


def run_sft(
    settings: Settings, db: Database, job: SFTJob, echo: Callable[[str], None] = print
) -> dict:
    try:
        return _run(settings, db, job, echo)
    except (ValueError, FileNotFoundError) as exc:  # bad sources, base, template, settings
        raise TrainError(str(exc)) from None
    except Interrupted as exc:
        raise TrainError(str(exc)) from None


def _run(settings: Settings, db: Database, job: SFTJob, echo: Callable[[str], None]) -> dict:
    base = find_base(settings, db, job.base)
    selection = gather(db, job)
    for line in sources.describe(selection.removed):
        echo(f"  left out: {line}")
    encoder = Encoder(
        base.gguf, base.name, base.config.chat_template, base.config.system_prompt, job.max_length
    )
    try:
        encoded = encoder.encode_all(selection.examples)
        pad_id = encoder.tokens.eos_id
    finally:
        encoder.close()
    for reason, count in encoder.skipped.most_common():
        echo(f"  left out: {reason}: {count}")
    if not encoded:
        raise TrainError(
            f"no examples to train on ({len(selection.examples)} read); check the sources "
            "and filters above"
        )
    training, held_out = split(encoded, job.config.held_out, job.config.seed)
    echo(
        f"{len(training)} examples to train on ({sum(e.learned for e in training)} answer "
        f"tokens), {len(held_out)} held out; base {base.name}"
    )
    echo("loading the base model (converted from its GGUF once, then cached)…")
    checkpoint = checkpoint_dir(base, settings.cache_dir)
    job.out.mkdir(parents=True, exist_ok=True)
    trainer = SFTTrainer(checkpoint, job.config, pad_id, job.out)
    if job.resume:
        trainer.load_checkpoint()
        echo(f"resuming at step {trainer.step}")
    result = _train_with_progress(trainer, training, held_out)
    paths = trainer.save(checkpoint, base.config.chat_template)
    if "adapter" in paths:
        paths["gguf_adapter"] = write_adapter(paths["adapter"], base.gguf, job.out / "adapter.gguf")
        echo(f"LoRA adapter for llama.cpp: {paths['gguf_adapter']}")
    manifest = {
        "kind": "sft",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "base": {"name": base.name, "gguf": str(base.gguf), "license": base.config.license},
        "sources": selection.sources,
        "examples": {
            "read": len(selection.examples),
            "encoded": len(encoded),
            "training": len(training),
            "held_out": len(held_out),
            "left_out": dict(selection.removed + Counter(encoder.skipped)),
            "held_out_origins": [e.origin for e in held_out],
        },
        "hyperparameters": {**asdict(job.config), "max_length": job.max_length},
        "result": {
            **{k: v for k, v in asdict(result).items() if k != "history"},
            "held_out_before": rounded(result.held_out_before),
            "held_out_after": rounded(result.held_out_after),
            "train_loss": rounded(result.train_loss),
        },
        "loss_history": [round(x, 4) for x in result.history],
        "outputs": {name: str(path) for name, path in paths.items()},
        "versions": {"python": platform.python_version(), **_versions()},
    }
    (job.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if job.register:
        if "gguf_adapter" not in paths:
            raise TrainError(
                "--register serves the LoRA adapter on its base; a full fine-tune has no "
                "GGUF export yet: add it by hand from its Hugging Face checkpoint"
            )
        _register(settings, db, job, base, paths["gguf_adapter"], len(training), echo)
    return manifest


def _register(settings, db, job: SFTJob, base, adapter: Path, examples: int, echo) -> None:
    """Add the fine-tuned model to the registry: the base's definition, its adapter."""
    import asyncio

    from modelarena.serving.catalog import Catalog

    shown = base.config.display_name or base.name
    definition = {
        **base.config.model_dump(mode="json", exclude_defaults=True),
        "engine": "llamacpp",
        "name": job.register,
        "lora_path": str(adapter.resolve()),
        "display_name": f"{shown} + SFT ({job.register})",
        "description": (
            f"{shown} fine-tuned (SFT, "
            f"{'full' if job.config.full else f'LoRA r{job.config.lora_rank}'}, "
            f"{job.config.steps} steps) on {examples} conversations; manifest: "
            f"{(job.out / 'manifest.json').resolve()}"
        ),
    }
    try:
        asyncio.run(Catalog(settings, db).add(definition, "train"))
    except APIError as exc:
        raise TrainError(f"trained, but not registered: {exc.message}") from None
    echo(f"registered as {job.register}: running servers serve it within seconds")


def _train_with_progress(trainer: SFTTrainer, training, held_out):
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("step {task.completed}/{task.total}"),
        BarColumn(),
        TextColumn("loss {task.fields[loss]}  {task.fields[speed]} tok/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("sft", total=trainer.config.steps, completed=trainer.step,
                            loss="…", speed="…")  # fmt: skip

        def report(progress: Step) -> None:
            bar.update(
                task,
                completed=progress.step,
                loss=f"{progress.loss:.3f}",
                speed=f"{progress.tokens_per_s:.0f}",
            )

        return trainer.train(training, held_out, report)


def _versions() -> dict[str, str]:
    found = {}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found

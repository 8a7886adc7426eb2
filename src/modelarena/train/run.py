"""One fine-tuning job from start to manifest: find the base model, gather and filter the
data (counting what each filter removed), encode it as the model is served, train with
progress (supervised on conversations, or DPO on preference pairs), and write the
checkpoint and `manifest.json` (sources with sha256, filter counts, hyperparameters,
package versions, seed, held-out measures and losses)."""

from __future__ import annotations

import hashlib
import json
import os
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
from modelarena.train import preferences, sources
from modelarena.train.agreement import greedy_agreement, torch_greedy
from modelarena.train.base_model import BaseModel, checkpoint_dir, find_base
from modelarena.train.dpo import DPO
from modelarena.train.encoding import IGNORED, Encoded, EncodedPair, Encoder
from modelarena.train.lora_gguf import write_adapter
from modelarena.train.memory import advice, estimate
from modelarena.train.merged_gguf import check_type, write_merged
from modelarena.train.sft import SFT
from modelarena.train.trainer import (
    Interrupted,
    Step,
    TrainConfig,
    Trainer,
    check_device,
    check_processes,
    rounded,
    split,
)

__all__ = ["Job", "TrainConfig", "TrainError", "run_job"]
PACKAGES = ("modelarena", "torch", "transformers", "peft", "llama-cpp-python", "gguf")
PROBES, PROBE_TOKENS = 4, 32  # prompts and answer tokens that measure an export
AGREEMENT_WARNING = 0.95
# A fine-tuned Gemma is a model derivative under Google's Gemma Terms of Use.
GEMMA_NOTICE = (
    "This model was fine-tuned from Gemma. Gemma is provided under and subject to the "
    "Gemma Terms of Use found at ai.google.dev/gemma/terms; any use or distribution of this "
    "model, including its GGUF exports, is subject to those terms and their use "
    "restrictions.\n"
)


class TrainError(Exception):
    """A job that cannot run or was stopped; the message says what to do."""


@dataclass(frozen=True)
class Judged:
    """Pairwise judgments and the questions and answers the judge read."""

    judgments: tuple[Path, ...]
    questions: Path
    answers: Path


@dataclass(frozen=True)
class Job:
    """`objective` sft: conversations from `files` (ShareGPT or messages JSONL) and the
    store (`store_filter`). dpo: pairs from `files` (prompt/chosen/rejected JSONL), votes
    (`vote_filter`) and `judged` verdicts."""

    objective: str
    base: str
    out: Path
    max_length: int
    resume: bool
    config: TrainConfig
    files: tuple[Path, ...] = ()
    store_filter: sources.StoreFilter | None = None
    vote_filter: preferences.VoteFilter | None = None
    judged: Judged | None = None
    beta: float = 0.1  # DPO's strength of the pull away from the starting model
    register: str | None = None  # add the result to the model registry under this name
    merge: str | None = None  # also write a merged GGUF of this type (f16, q8_0)


def gather(db: Database, job: Job) -> sources.Selection:
    selection = sources.Selection()
    read_file = preferences.from_file if job.objective == "dpo" else sources.from_file
    for path in job.files:
        selection.extend(read_file(path))
    if job.store_filter is not None:
        selection.extend(sources.from_store(db, job.store_filter))
    if job.vote_filter is not None:
        selection.extend(preferences.from_votes(db, job.vote_filter))
    if job.judged is not None:
        judged = job.judged
        selection.extend(
            preferences.from_judgments(judged.judgments, judged.questions, judged.answers)
        )
    return selection


def run_job(
    settings: Settings, db: Database, job: Job, echo: Callable[[str], None] = print
) -> dict:
    if int(os.environ.get("RANK", "0")) != 0:  # one of several data-parallel processes
        echo = _quiet
    try:
        return _run(settings, db, job, echo)
    except (ValueError, FileNotFoundError) as exc:  # bad sources, base, template, export
        raise TrainError(str(exc)) from None
    except Interrupted as exc:
        raise TrainError(str(exc)) from None


def _quiet(_: str) -> None:
    """Where the other processes of a data-parallel run write: only the first reports."""


def _run(settings: Settings, db: Database, job: Job, echo: Callable[[str], None]) -> dict:
    check_device(job.config.device)
    check_processes(job.config)
    if job.merge:
        check_type(job.merge)
    if job.register and job.config.full and not job.merge:
        raise TrainError(
            "--register serves a full fine-tune from a merged GGUF: add --merge q8_0 (or f16)"
        )
    base = find_base(settings, db, job.base)
    _check_outputs(base, job)
    selection = gather(db, job)
    for line in sources.describe(selection.removed):
        echo(f"  left out: {line}")
    encoded, skipped, pad_id = _encode(base, job, selection)
    for reason, count in skipped.most_common():
        echo(f"  left out: {reason}: {count}")
    unit = "preference pairs" if job.objective == "dpo" else "examples"
    if not encoded:
        raise TrainError(
            f"no {unit} to train on ({len(selection.examples)} read); check the sources "
            "and filters above"
        )
    training, held_out = split(encoded, job.config.held_out, job.config.seed)
    echo(f"{len(training)} {unit} to train on, {len(held_out)} held out; base {base.name}")
    echo("loading the base model (converted from its GGUF once, then cached)…")
    checkpoint = checkpoint_dir(base, settings.cache_dir)
    memory = estimate(checkpoint, job.config)
    if not memory.fits:
        raise TrainError(advice(memory, job.config))
    echo(
        f"memory: about {memory.needed / 1e9:.1f} GB needed, "
        f"{memory.available / 1e9:.1f} GB available"
    )
    job.out.mkdir(parents=True, exist_ok=True)
    objective = DPO(job.beta) if job.objective == "dpo" else SFT()
    trainer = Trainer(checkpoint, job.config, objective, pad_id, job.out)
    if isinstance(objective, DPO):
        echo("scoring the pairs with the starting model (DPO's reference)…")
        training = objective.with_reference(trainer, training)
        held_out = objective.with_reference(trainer, held_out)
    if job.resume:
        trainer.load_checkpoint()
        echo(f"resuming at step {trainer.step}")
    result = _train_with_progress(trainer, training, held_out)
    paths = trainer.save(checkpoint, base.config.chat_template if base.config else None)
    if not trainer.main:
        return {}  # the main process writes the outputs
    del trainer
    measures = {k: {m: rounded(v) for m, v in getattr(result, k).items()}
                for k in ("held_out_before", "held_out_after")}  # fmt: skip
    manifest = {
        "kind": job.objective,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "base": {
            "name": base.name,
            "model": base.config.name if base.config else None,
            "gguf": str(base.gguf) if base.gguf else None,
            "folder": str(base.folder) if base.folder else None,
            "license": base.config.license if base.config else None,
        },
        "sources": selection.sources,
        "data": {
            "unit": unit,
            "read": len(selection.examples),
            "encoded": len(encoded),
            "training": len(training),
            "held_out": len(held_out),
            "left_out": dict(selection.removed + skipped),
            "held_out_origins": [e.origin for e in held_out],
        },
        "hyperparameters": {
            **asdict(job.config),
            "max_length": job.max_length,
            **({"beta": job.beta} if job.objective == "dpo" else {}),
        },
        "result": {
            **{k: v for k, v in asdict(result).items() if k != "history"},
            **measures,
            "train_loss": rounded(result.train_loss),
        },
        "loss_history": [round(x, 4) for x in result.history],
        "versions": {"python": platform.python_version(), **_versions()},
    }
    probes = [_prompt_of(item) for item in (held_out or training)[:PROBES]]
    manifest["exports"] = _export(base, job, manifest, paths, probes, echo)
    manifest["outputs"] = {name: str(path) for name, path in paths.items()}
    (job.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if base.config and base.config.license == "gemma":
        (job.out / "NOTICE").write_text(GEMMA_NOTICE)
    if job.register:
        served = paths.get("gguf_merged") or paths["gguf_adapter"]
        _register(settings, db, job, base, served, len(training), echo)
    return manifest


def _check_outputs(base: BaseModel, job: Job) -> None:
    """Refuses, before any work, outputs this base cannot have."""
    if job.merge and base.gguf is None:
        raise TrainError(
            f"--merge needs the GGUF a model was served from; {base.name} is a checkpoint "
            "folder without one: convert it with llama.cpp's convert_hf_to_gguf.py"
        )
    if job.register and (base.config is None or base.gguf is None):
        raise TrainError(
            "--register needs a base the arena serves; train from a registered model or a "
            "checkpoint this platform wrote"
        )
    if job.register and base.folder is not None and not job.merge:
        raise TrainError(
            "--register from a checkpoint folder serves a merged GGUF: add --merge q8_0 (or f16)"
        )


def _encode(base: BaseModel, job: Job, selection: sources.Selection):
    """(encoded examples or pairs, what encoding left out, the padding token)."""
    config = base.config
    encoder = Encoder(
        base.gguf,
        base.name,
        config.chat_template if config else None,
        config.system_prompt if config else None,
        job.max_length,
        folder=base.folder,
    )
    try:
        if job.objective == "dpo":
            encoded: list = encoder.encode_pairs(selection.examples)
        else:
            encoded = encoder.encode_all(selection.examples)
        return encoded, Counter(encoder.skipped), encoder.tokens.eos_id
    finally:
        encoder.close()


def _prompt_of(item: Encoded | EncodedPair) -> list[int]:
    """The tokens before the first learned one: the prompt the model answers."""
    example = item.chosen if isinstance(item, EncodedPair) else item
    first = next(i for i, label in enumerate(example.labels) if label != IGNORED)
    return example.input_ids[:first]


def _export(
    base: BaseModel,
    job: Job,
    manifest: dict,
    paths: dict[str, Path],
    probes: list[list[int]],
    echo: Callable[[str], None],
) -> dict:
    """The GGUF outputs (LoRA adapter; merged F16/Q8_0 on request), each with its
    measured greedy agreement with the trained torch model."""
    exports: dict = {}
    if base.gguf is None:
        echo("no GGUF written: the base checkpoint has no GGUF of origin (see docs/train.md)")
        return exports
    if "adapter" in paths and base.folder is None:  # the adapter applies to the GGUF's weights
        paths["gguf_adapter"] = write_adapter(paths["adapter"], base.gguf, job.out / "adapter.gguf")
        exports["adapter"] = {"on": str(base.gguf)}
    if job.merge:
        provenance = {
            "base": base.name,
            "base_gguf_sha256": _sha256(base.gguf),
            "objective": job.objective,
            "sources": manifest["sources"],
            "steps": manifest["result"]["steps"],
            "created": manifest["created"],
        }
        paths["gguf_merged"] = write_merged(
            paths["hf"], base.gguf, job.out / f"model-{job.merge}.gguf", job.merge, provenance
        )
        exports["merged"] = {"type": job.merge}
    if exports:
        answered = torch_greedy(paths["hf"], probes, PROBE_TOKENS)
        lengths = [len(p) for p in probes]
        for name, export in exports.items():
            gguf = base.gguf if name == "adapter" else paths["gguf_merged"]
            lora = paths["gguf_adapter"] if name == "adapter" else None
            export["greedy_agreement"] = round(greedy_agreement(gguf, answered, lengths, lora), 4)
            shown = paths["gguf_adapter" if name == "adapter" else "gguf_merged"]
            echo(
                f"GGUF {name}: {shown}; agrees with the trained model on "
                f"{export['greedy_agreement']:.1%} of greedy tokens"
            )
            if export["greedy_agreement"] < AGREEMENT_WARNING:
                echo(
                    f"  warning: below {AGREEMENT_WARNING:.0%}; this export may not behave "
                    "like the trained model"
                )
    return exports


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _register(
    settings: Settings, db: Database, job: Job, base: BaseModel, served: Path, count: int, echo
) -> None:
    """Add the fine-tuned model to the registry: the base's definition with its adapter
    (or the merged GGUF in place of its weights)."""
    import asyncio

    from modelarena.serving.catalog import Catalog

    assert base.config is not None
    shown = base.config.display_name or base.config.name
    definition = {
        **base.config.model_dump(mode="json", exclude_defaults=True),
        "engine": "llamacpp",
        "name": job.register,
        **(
            {"path": str(served.resolve())}
            if served.name.startswith("model-")
            else {"lora_path": str(served.resolve())}
        ),
        "display_name": f"{shown} + {job.objective.upper()} ({job.register})",
        "description": (
            f"{shown} fine-tuned ({job.objective.upper()}, "
            f"{'full' if job.config.full else f'LoRA r{job.config.lora_rank}'}, "
            f"{job.config.steps} steps) on {count} "
            f"{'preference pairs' if job.objective == 'dpo' else 'conversations'}"
            f"{' from arena votes' if job.vote_filter else ''}; manifest: "
            f"{(job.out / 'manifest.json').resolve()}"
        ),
    }
    try:
        asyncio.run(Catalog(settings, db).add(definition, "train"))
    except APIError as exc:
        raise TrainError(f"trained, but not registered: {exc.message}") from None
    echo(f"registered as {job.register}: running servers serve it within seconds")


def _train_with_progress(trainer: Trainer, training, held_out):
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("step {task.completed}/{task.total}"),
        BarColumn(),
        TextColumn("loss {task.fields[loss]}  {task.fields[speed]} tok/s"),
        TimeRemainingColumn(),
    )
    if not trainer.main:
        return trainer.train(training, held_out)
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(
            trainer.objective.name,
            total=trainer.config.steps,
            completed=trainer.step,
            loss="…",
            speed="…",
        )

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

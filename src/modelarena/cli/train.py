"""`modelarena train sft`: fine-tune a served model on the arena's conversations or on
conversation files, and write a Hugging Face checkpoint with a manifest."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from modelarena.cli.common import ConfigOpt, DbOpt, database, fail, settings

train = typer.Typer(help="Fine-tune models on the arena's own data.", no_args_is_help=True)

# No model hub is reachable, and the libraries call it (telemetry, lookups) unless told.
# Their own progress bars and notices would bury ours.
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
           "TRANSFORMERS_VERBOSITY": "error", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}  # fmt: skip


def _date(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} takes a date like 2026-12-01 or 2026-12-01T12:00, not {text!r}")
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _threads() -> int:
    """All cores on an idle machine; one on a busy one (two threads then run 3× slower)."""
    cores = os.cpu_count() or 1
    return cores if os.getloadavg()[0] < cores - 0.5 else 1


@train.command("sft")
def sft(
    base: Annotated[str, typer.Option(help="a registered model whose weights are a GGUF")],
    out: Annotated[Path, typer.Option(help="folder for checkpoints, outputs and manifest")],
    data: Annotated[
        list[Path] | None,
        typer.Option(help="ShareGPT JSON or OpenAI messages JSONL; repeatable", dir_okay=False),
    ] = None,
    from_store: Annotated[
        bool, typer.Option("--from-store", help="the arena's stored conversations")
    ] = False,
    mode: Annotated[
        list[str] | None, typer.Option(help="store: battle, side_by_side or chat; repeatable")
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option(help="store: only this model's answers; repeatable")
    ] = None,
    winners_only: Annotated[bool, typer.Option(help="store: only voted winners")] = False,
    thumbs_up_only: Annotated[
        bool, typer.Option(help="store: only answers with a thumb up")
    ] = False,
    include_flagged: Annotated[
        bool, typer.Option(help="store: keep flagged conversations")
    ] = False,
    since: Annotated[str | None, typer.Option(help="store: created on or after (ISO date)")] = None,
    until: Annotated[str | None, typer.Option(help="store: created on or before")] = None,
    steps: Annotated[int, typer.Option(min=1)] = 30,
    batch_tokens: Annotated[int, typer.Option(min=16, help="padded tokens per batch")] = 2048,
    lr: Annotated[float, typer.Option(min=0.0, help="peak learning rate")] = 2e-4,
    full: Annotated[bool, typer.Option(help="train every weight, not a LoRA adapter")] = False,
    lora_rank: Annotated[int, typer.Option(min=1)] = 16,
    lora_alpha: Annotated[int, typer.Option(min=1)] = 32,
    lora_targets: Annotated[
        str, typer.Option(help="comma-separated module names")
    ] = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
    max_length: Annotated[int, typer.Option(min=16, help="tokens per example at most")] = 1024,
    held_out: Annotated[float, typer.Option(min=0.0, max=0.5)] = 0.1,
    seed: int = 0,
    bf16: Annotated[
        bool | None, typer.Option("--bf16/--no-bf16", help="default: where the CPU has it")
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="default: from the load")] = None,
    checkpoint_every: Annotated[int, typer.Option(min=1)] = 50,
    activation_checkpointing: Annotated[
        bool, typer.Option(help="recompute activations: less memory, slower steps")
    ] = False,
    resume: Annotated[bool, typer.Option(help="continue from the checkpoint in --out")] = False,
    register: Annotated[
        str | None, typer.Option(help="add the result to the model registry under this name")
    ] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Supervised fine-tuning; the loss is on the assistant's tokens only."""
    for key, value in OFFLINE.items():
        os.environ.setdefault(key, value)
    try:
        from modelarena.train import run
    except ImportError as exc:
        fail(f"training needs the [train] extra ({exc.name} is missing): make install")
    from modelarena.train.sources import StoreFilter

    if not data and not from_store:
        fail("give training data: --data FILE (repeatable) and/or --from-store")
    chosen = settings(config, db_url=db)
    store = database(config, db)
    job = run.SFTJob(
        base=base,
        out=out,
        files=list(data or []),
        store_filter=StoreFilter(
            modes=tuple(mode or ("battle", "side_by_side", "chat")),
            models=tuple(model or ()),
            winners_only=winners_only,
            thumbs_up_only=thumbs_up_only,
            exclude_flagged=not include_flagged,
            since=_date(since, "--since"),
            until=_date(until, "--until"),
        )
        if from_store
        else None,
        max_length=max_length,
        resume=resume,
        register=register,
        config=run.SFTConfig(
            steps=steps,
            batch_tokens=batch_tokens,
            learning_rate=lr,
            full=full,
            lora_rank=lora_rank,
            lora_alpha=lora_alpha,
            lora_targets=tuple(t.strip() for t in lora_targets.split(",") if t.strip()),
            seed=seed,
            held_out=held_out,
            bf16=bf16,
            threads=threads or _threads(),
            checkpoint_every=checkpoint_every,
            activation_checkpointing=activation_checkpointing,
        ),
    )
    try:
        manifest = run.run_sft(chosen, store, job, echo=typer.echo)
    except run.TrainError as exc:
        fail(str(exc))
    typer.echo(
        f"done: {manifest['result']['steps']} steps, held-out loss "
        f"{manifest['result']['held_out_before']} -> {manifest['result']['held_out_after']}; "
        f"checkpoint in {out / 'hf'}"
    )

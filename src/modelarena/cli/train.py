"""`modelarena train sft|dpo`: fine-tune a served model on the arena's conversations or
votes, on files, or on a judge's verdicts, and write a Hugging Face checkpoint, a LoRA
adapter GGUF and a manifest; `--register` sends the result into the arena."""

from __future__ import annotations

import os
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from modelarena.cli.common import ConfigOpt, DbOpt, database, fail, settings

train = typer.Typer(help="Fine-tune models on the arena's own data.", no_args_is_help=True)

# No model hub is reachable, and the libraries call it (telemetry, lookups) unless told.
# Their own progress bars and notices would bury ours.
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
           "TRANSFORMERS_VERBOSITY": "error", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}  # fmt: skip

# Options both commands take.
Base = Annotated[str, typer.Option(help="a registered model whose weights are a GGUF")]
Out = Annotated[Path, typer.Option(help="folder for checkpoints, outputs and manifest")]
FromStore = Annotated[bool, typer.Option("--from-store", help="the arena's stored data")]
IncludeFlagged = Annotated[
    bool, typer.Option("--include-flagged", help="store: keep flagged conversations")
]
Category = Annotated[
    list[str] | None,
    typer.Option(
        metavar="NAME", help="store: code, math, multi-turn, long or language=NAME; repeatable"
    ),
]
Since = Annotated[str | None, typer.Option(help="store: on or after this date (ISO)")]
Until = Annotated[str | None, typer.Option(help="store: on or before this date")]
Steps = Annotated[int, typer.Option(min=1)]
BatchTokens = Annotated[int, typer.Option(min=16, help="padded tokens per optimiser step")]
MicroTokens = Annotated[
    int, typer.Option(min=16, help="padded tokens per forward pass: bounds the memory")
]
LearningRate = Annotated[float, typer.Option("--lr", min=0.0, help="peak learning rate")]
Full = Annotated[bool, typer.Option("--full", help="train every weight, not a LoRA adapter")]
Rank = Annotated[int, typer.Option(min=1)]
Targets = Annotated[
    str,
    typer.Option(
        metavar="NAMES",
        show_default=False,
        help="comma-separated module names (default: the attention and MLP projections)",
    ),
]
MaxLength = Annotated[int, typer.Option(min=16, help="tokens per example at most")]
HeldOut = Annotated[float, typer.Option(min=0.0, max=0.5)]
Bf16 = Annotated[
    bool | None, typer.Option("--bf16/--no-bf16", help="default: where the CPU has it")
]
Threads = Annotated[int | None, typer.Option(min=1, help="default: from the load")]
Device = Annotated[str, typer.Option(help="cpu or cuda")]
Every = Annotated[int, typer.Option(min=1)]
Recompute = Annotated[
    bool,
    typer.Option(
        "--activation-checkpointing", help="recompute activations: less memory, slower steps"
    ),
]
Shard = Annotated[
    bool,
    typer.Option(
        "--shard", help="under torchrun with N processes, split the model across them (FSDP)"
    ),
]
Resume = Annotated[bool, typer.Option("--resume", help="continue from the checkpoint in --out")]
Register = Annotated[
    str | None, typer.Option(help="add the result to the model registry under this name")
]
Merge = Annotated[
    str | None,
    typer.Option(help="also write one merged GGUF: f16 or q8_0 (4-bit erases a fine-tune)"),
]
TARGETS = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"


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


def _run(config: Path | None, db: str | None, objective: str, options: dict[str, Any]) -> None:
    """Builds the job from the options both commands share and runs it."""
    for key, value in OFFLINE.items():
        os.environ.setdefault(key, value)
    # Deprecation notices about the libraries' own calls to each other.
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        fail(f"training needs the [train] extra ({exc.name} is missing): make install")
    from modelarena.train import run
    from modelarena.train.sources import SourceError, check_categories

    try:
        check_categories(options["category"] or ())
    except SourceError as exc:
        fail(str(exc))
    chosen = settings(config, db_url=db)
    store = database(config, db)
    hyper = run.TrainConfig(
        steps=options["steps"],
        batch_tokens=options["batch_tokens"],
        micro_batch_tokens=options["micro_batch_tokens"],
        learning_rate=options["lr"],
        full=options["full"],
        lora_rank=options["lora_rank"],
        lora_alpha=options["lora_alpha"],
        lora_targets=tuple(t.strip() for t in options["lora_targets"].split(",") if t.strip()),
        seed=options["seed"],
        held_out=options["held_out"],
        bf16=options["bf16"],
        threads=options["threads"] or _threads(),
        checkpoint_every=options["checkpoint_every"],
        activation_checkpointing=options["activation_checkpointing"],
        device=options["device"],
        shard=options["shard"],
    )
    job = run.Job(
        objective=objective,
        base=options["base"],
        out=options["out"],
        max_length=options["max_length"],
        resume=options["resume"],
        config=hyper,
        register=options["register"],
        merge=options["merge"],
        **options["sources"],
    )
    try:
        manifest = run.run_job(chosen, store, job, echo=typer.echo)
    except run.TrainError as exc:
        fail(str(exc))
    if not manifest:
        return  # another process of a data-parallel run reports
    result = manifest["result"]
    before, after = result["held_out_before"], result["held_out_after"]
    measured = ", ".join(f"{k} {before.get(k)} -> {v}" for k, v in after.items())
    typer.echo(
        f"done: {result['steps']} steps; held out: {measured or 'none'}; "
        f"checkpoint in {options['out'] / 'hf'}"
    )


@train.command("sft")
def sft(
    base: Base,
    out: Out,
    data: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="FILE",
            help="ShareGPT JSON or OpenAI messages JSONL; repeatable",
            dir_okay=False,
        ),
    ] = None,
    from_store: FromStore = False,
    mode: Annotated[
        list[str] | None,
        typer.Option(metavar="MODE", help="store: battle, side_by_side or chat; repeatable"),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(metavar="NAME", help="store: only this model's answers; repeatable"),
    ] = None,
    winners_only: Annotated[
        bool, typer.Option("--winners-only", help="store: only voted winners")
    ] = False,
    thumbs_up_only: Annotated[
        bool, typer.Option("--thumbs-up-only", help="store: only answers with a thumb up")
    ] = False,
    include_flagged: IncludeFlagged = False,
    category: Category = None,
    since: Since = None,
    until: Until = None,
    steps: Steps = 30,
    batch_tokens: BatchTokens = 2048,
    micro_batch_tokens: MicroTokens = 512,
    lr: LearningRate = 2e-4,
    full: Full = False,
    lora_rank: Rank = 16,
    lora_alpha: Rank = 32,
    lora_targets: Targets = TARGETS,
    max_length: MaxLength = 1024,
    held_out: HeldOut = 0.1,
    seed: int = 0,
    bf16: Bf16 = None,
    threads: Threads = None,
    device: Device = "cpu",
    checkpoint_every: Every = 50,
    activation_checkpointing: Recompute = False,
    shard: Shard = False,
    resume: Resume = False,
    register: Register = None,
    merge: Merge = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Supervised fine-tuning; the loss is on the assistant's tokens only."""
    if not data and not from_store:
        fail("give training data: --data FILE (repeatable) and/or --from-store")
    from modelarena.train.sources import StoreFilter

    options = dict(locals())
    options["sources"] = {
        "files": tuple(data or ()),
        "store_filter": StoreFilter(
            modes=tuple(mode or ("battle", "side_by_side", "chat")),
            models=tuple(model or ()),
            winners_only=winners_only,
            thumbs_up_only=thumbs_up_only,
            exclude_flagged=not include_flagged,
            categories=tuple(category or ()),
            since=_date(since, "--since"),
            until=_date(until, "--until"),
        )
        if from_store
        else None,
    }
    _run(config, db, "sft", options)


@train.command("dpo")
def dpo(
    base: Base,
    out: Out,
    data: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="FILE", help="JSONL of prompt/chosen/rejected; repeatable", dir_okay=False
        ),
    ] = None,
    from_store: FromStore = False,
    mode: Annotated[
        list[str] | None,
        typer.Option(metavar="MODE", help="store: battle (blind, the default) and/or side_by_side"),
    ] = None,
    judgments: Annotated[
        list[Path] | None,
        typer.Option(metavar="FILE", help="pairwise judgment files of `judge run`; repeatable"),
    ] = None,
    questions: Annotated[
        Path | None, typer.Option(help="with --judgments: the question file judged")
    ] = None,
    answers: Annotated[
        Path | None, typer.Option(help="with --judgments: the answer folder judged")
    ] = None,
    include_flagged: IncludeFlagged = False,
    category: Category = None,
    since: Since = None,
    until: Until = None,
    beta: Annotated[float, typer.Option(min=0.0, help="pull away from the starting model")] = 0.1,
    steps: Steps = 30,
    batch_tokens: BatchTokens = 2048,
    micro_batch_tokens: MicroTokens = 512,
    lr: LearningRate = 5e-5,
    full: Full = False,
    lora_rank: Rank = 16,
    lora_alpha: Rank = 32,
    lora_targets: Targets = TARGETS,
    max_length: MaxLength = 1024,
    held_out: HeldOut = 0.1,
    seed: int = 0,
    bf16: Bf16 = None,
    threads: Threads = None,
    device: Device = "cpu",
    checkpoint_every: Every = 50,
    activation_checkpointing: Recompute = False,
    shard: Shard = False,
    resume: Resume = False,
    register: Register = None,
    merge: Merge = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Preference optimisation (DPO) on votes, judge verdicts or pair files."""
    if not data and not from_store and not judgments:
        fail("give preference data: --data FILE, --from-store and/or --judgments FILE")
    if judgments and (questions is None or answers is None):
        fail("--judgments needs --questions and --answers: the files the judge read")
    from modelarena.train.preferences import VoteFilter
    from modelarena.train.run import Judged

    options = dict(locals())
    options["sources"] = {
        "files": tuple(data or ()),
        "vote_filter": VoteFilter(
            modes=tuple(mode or ("battle",)),
            exclude_flagged=not include_flagged,
            categories=tuple(category or ()),
            since=_date(since, "--since"),
            until=_date(until, "--until"),
        )
        if from_store
        else None,
        "judged": Judged(tuple(judgments), questions, answers)
        if judgments and questions and answers
        else None,
        "beta": beta,
    }
    _run(config, db, "dpo", options)

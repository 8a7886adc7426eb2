"""The training loop both objectives share: a model with a LoRA adapter (default) or all
its weights trainable, AdamW with a linear warm-up and decay and gradient clipping, bf16
autocast where the device supports it, batches of similar length under a token budget so
compute goes to real tokens (and micro-batches within a step, so memory stays bounded
whatever the batch), progress after every step, checkpoints every
`checkpoint_every` steps and on Ctrl-C, `resume` with the same data order, and held-out
measures before and after.

An objective (supervised or preference, `sft.py` and `dpo.py`) says which sequences a
batch holds, what its loss is and what to measure on held-out items; the trainer gives it
the log-probability of every learned token.

Data parallel through Hugging Face Accelerate: launched by `torchrun` or `accelerate
launch` with N processes, each process takes every N-th item of each batch and gradients
are averaged (DDP; gloo between CPU processes). Each part's loss is scaled by its share of
the whole batch, so N processes take the same steps as one, up to arithmetic order.
With `shard`, the processes also split the model (FSDP: torch's `fully_shard` on every
decoder layer), so each holds 1/N of the weights, gradients and optimiser state; whole
tensors are gathered only to save.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from modelarena.train.encoding import IGNORED, Encoded

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class Interrupted(Exception):
    """Training stopped by Ctrl-C after saving a checkpoint; the message says how to resume."""


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 30
    batch_tokens: int = 2048  # padded tokens a batch (one optimiser step) holds at most
    micro_batch_tokens: int = 512  # padded tokens a forward pass holds: bounds the memory
    learning_rate: float = 2e-4
    warmup: float = 0.1  # share of the steps
    full: bool = False  # train every weight instead of a LoRA adapter
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_targets: tuple[str, ...] = DEFAULT_TARGETS
    seed: int = 0
    held_out: float = 0.1  # share of items kept out of training to measure on
    bf16: bool | None = None  # None: where the CPU supports it
    threads: int | None = None
    checkpoint_every: int = 50
    activation_checkpointing: bool = False  # recompute activations in the backward pass
    device: str = "cpu"  # or "cuda"
    shard: bool = False  # FSDP: split weights, gradients and optimiser state over processes


class Item(Protocol):
    """What a batch is made of: an example (one sequence) or a preference pair (two)."""

    @property
    def width(self) -> int: ...  # tokens of its longest sequence

    @property
    def rows(self) -> int: ...  # sequences it adds to a batch


class Objective(Protocol):
    name: str

    def sequences(self, group: Sequence[Any]) -> list[Encoded]: ...

    def loss(self, trainer: Trainer, part: Sequence[Any], whole: Sequence[Any]) -> Any:
        """The loss of `part` as its share of the mean over `whole` (part == whole in one
        process)."""

    def measure(self, trainer: Trainer, items: Sequence[Any]) -> dict[str, float]: ...


@dataclass
class Step:
    """Where training stands after a step."""

    step: int
    steps: int
    loss: float
    tokens_per_s: float
    eta_s: float


@dataclass
class TrainResult:
    steps: int
    train_loss: float
    held_out_before: dict[str, float]
    held_out_after: dict[str, float]
    tokens: int  # real (non-padding) tokens trained on
    real_token_share: float  # of the padded batch tokens, those that are not padding
    tokens_per_s: float
    seconds: float
    bf16: bool
    history: list[float] = field(default_factory=list)


def batches(items: Sequence[Item], budget: int, rng: random.Random) -> list[list[Any]]:
    """Items in batches of similar length whose padded size stays within `budget` tokens
    (one long item may exceed it alone), in a random order."""
    groups = packed(sorted(items, key=lambda item: item.width), budget)
    rng.shuffle(groups)
    return groups


def packed(items: Sequence[Item], budget: int) -> list[list[Any]]:
    """Consecutive items gathered while their padded size stays within `budget` tokens."""
    groups: list[list[Any]] = []
    current: list[Any] = []
    for item in items:
        width = max([item.width] + [i.width for i in current])
        if current and width * (sum(i.rows for i in current) + item.rows) > budget:
            groups.append(current)
            current = []
        current.append(item)
    if current:
        groups.append(current)
    return groups


def split(items: Sequence[Any], share: float, seed: int) -> tuple[list[Any], list[Any]]:
    """(training, held out): a seeded share held out, at least one when there are two."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    count = min(len(items) - 1, max(1 if len(items) > 1 else 0, round(len(items) * share)))
    held = set(order[:count]) if share > 0 else set()
    return (
        [e for i, e in enumerate(items) if i not in held],
        [e for i, e in enumerate(items) if i in held],
    )


def collate(rows: list[Encoded], pad_id: int) -> dict[str, Any]:
    width = max(len(e.input_ids) for e in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORED, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for row, example in enumerate(rows):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def bf16_supported(device: str = "cpu") -> bool:
    """Whether the device computes in bf16 natively (on a CPU: AVX-512 BF16 or AMX)."""
    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def check_device(device: str) -> None:
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}: use cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
        raise ValueError(
            f"a GPU was asked for (--device cuda) but torch {torch.__version__} ({build}) "
            "sees none; train on the CPU (--device cpu) or install a CUDA build of torch"
        )


def check_processes(config: TrainConfig) -> None:
    """Sharding needs several processes, started by a launcher (which sets WORLD_SIZE)."""
    if config.shard and int(os.environ.get("WORLD_SIZE", "1")) < 2:
        raise ValueError(
            "--shard splits the model across processes: launch the command with "
            "torchrun --nproc_per_node N (N ≥ 2)"
        )


class AnswerLogprobs(torch.nn.Module):
    """One forward pass: the log-probability of each learned token of a batch and the row
    it belongs to. The output layer runs only on the positions that predict a learned
    token: over a 49k-token vocabulary, logits for every position would take gigabytes and
    a fifth of the compute."""

    def __init__(self, causal: Any, bf16: bool, device_type: str) -> None:
        super().__init__()
        self.causal = causal
        self.bf16 = bf16
        self.device_type = device_type

    def forward(self, input_ids: Any, attention_mask: Any, labels: Any) -> tuple[Any, Any]:
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.bf16):
            hidden = self.causal.model(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            targets = labels[:, 1:]
            learned = targets != IGNORED
            logits = self.causal.lm_head(hidden[:, :-1][learned]).float()
        cap = getattr(self.causal.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        chosen = targets[learned]
        logprobs = logits.gather(1, chosen[:, None]).squeeze(1) - torch.logsumexp(logits, dim=1)
        rows = torch.arange(len(input_ids), device=input_ids.device)[:, None]
        return logprobs, rows.expand_as(learned)[learned]


class Trainer:
    def __init__(
        self, checkpoint: Path, config: TrainConfig, objective: Objective, pad_id: int, out: Path
    ) -> None:
        from accelerate import Accelerator
        from accelerate.utils import DistributedType

        check_device(config.device)
        self.config = config
        self.objective = objective
        self.out = out
        self.pad_id = pad_id
        self.accelerator = Accelerator(cpu=config.device == "cpu")
        kind = self.accelerator.distributed_type
        if kind not in (DistributedType.NO, DistributedType.MULTI_CPU, DistributedType.MULTI_GPU):
            raise ValueError(
                f"the launcher asked for {kind.value}; launch with torchrun or a plain "
                "multi-process accelerate config, and add --shard to split the model across "
                "the processes (FSDP)"
            )
        check_processes(config)
        self.checkpoint = checkpoint
        torch.manual_seed(config.seed)
        if config.threads:
            torch.set_num_threads(config.threads)
        model = self._load_model()
        self.model = model
        self.bf16 = bf16_supported(config.device) if config.bf16 is None else config.bf16
        causal = model.get_base_model() if hasattr(model, "get_base_model") else model
        forward = AnswerLogprobs(causal, self.bf16, self.accelerator.device.type)
        if config.shard:
            forward = _sharded(forward.to(self.accelerator.device), causal)
        # The optimiser sees the parameters as they are trained: sharded ones after sharding.
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.0)
        if config.shard:
            self.forward, self.optimizer = forward, self.accelerator.prepare(optimizer)
        else:
            self.forward, self.optimizer = self.accelerator.prepare(forward, optimizer)
        warm = max(1, round(config.steps * config.warmup))

        def schedule(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return max(0.0, (config.steps - step) / max(1, config.steps - warm))

        # Stepped once per step by hand: a prepared scheduler steps once per process.
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        self.step = 0

    def _load_model(self) -> Any:
        from transformers import AutoModelForCausalLM

        config = self.config
        model: Any = AutoModelForCausalLM.from_pretrained(str(self.checkpoint), dtype=torch.float32)
        if not config.full:
            model = _with_lora(model, config)
        if config.activation_checkpointing:
            # Memory for time: each layer's activations are recomputed in the backward
            # pass; LoRA needs gradients to flow from the (frozen) embeddings for it.
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
            if not config.full:
                model.enable_input_require_grads()
        return model

    @property
    def main(self) -> bool:
        """Whether this is the process that reports and writes (the only one, usually)."""
        return self.accelerator.is_main_process

    # -- what objectives ask of it -----------------------------------------------------

    def token_logprobs(self, rows: list[Encoded]) -> tuple[Any, Any]:
        """(log-probability of each learned token, the row it belongs to)."""
        batch = {k: v.to(self.accelerator.device) for k, v in collate(rows, self.pad_id).items()}
        logprobs, row_of = self.forward(**batch)
        return logprobs.cpu(), row_of.cpu()

    def evaluate(self, items: Sequence[Any]) -> dict[str, float]:
        """The objective's held-out measures, without gradients."""
        if not items:
            return {}
        self.model.eval()
        with torch.no_grad():
            measured = self.objective.measure(self, items)
        self.model.train()
        return measured

    def eval_batches(self, items: Sequence[Any]) -> list[list[Any]]:
        """Items in forward passes no larger than training's: the same memory bound."""
        return batches(items, self.config.micro_batch_tokens, random.Random(0))

    # -- the loop ----------------------------------------------------------------------

    def train(
        self,
        items: Sequence[Any],
        held_out: Sequence[Any],
        report: Callable[[Step], None] = lambda _: None,
    ) -> TrainResult:
        config = self.config
        before = self.evaluate(held_out)
        rng = random.Random(config.seed)
        epoch: list[list[Any]] = []
        # The data order is a function of the step alone, so a resumed run continues it.
        for _ in range(self.step):
            if not epoch:
                epoch = batches(items, config.batch_tokens, rng)
            epoch.pop()
        history: list[float] = []
        real = padded = 0
        began = time.perf_counter()
        self.model.train()
        try:
            while self.step < config.steps:
                if not epoch:
                    epoch = batches(items, config.batch_tokens, rng)
                group = epoch.pop()
                history.append(self._step(group))
                rows = self.objective.sequences(group)
                real += sum(len(e.input_ids) for e in rows)
                padded += max(len(e.input_ids) for e in rows) * len(rows)
                elapsed = time.perf_counter() - began
                report(
                    Step(
                        self.step,
                        config.steps,
                        history[-1],
                        real / elapsed,
                        elapsed / len(history) * (config.steps - self.step),
                    )
                )
                if self.step % config.checkpoint_every == 0 and self.step < config.steps:
                    self.save_checkpoint()
        except KeyboardInterrupt:
            self.save_checkpoint()
            raise Interrupted(
                f"stopped at step {self.step} of {config.steps}; a checkpoint is in "
                f"{self.out / 'checkpoint'}: run the same command with --resume to go on"
            ) from None
        seconds = time.perf_counter() - began
        return TrainResult(
            steps=self.step,
            train_loss=sum(history[-5:]) / max(1, len(history[-5:])),
            held_out_before=before,
            held_out_after=self.evaluate(held_out),
            tokens=real,
            real_token_share=real / padded if padded else 1.0,
            tokens_per_s=real / seconds if seconds else 0.0,
            seconds=seconds,
            bf16=self.bf16,
            history=history,
        )

    def _step(self, group: list[Any]) -> float:
        """One optimiser step on `group`: this process's share of it, in micro-batches
        whose gradients add up to the batch's; returns the batch's loss."""
        processes, rank = self.accelerator.num_processes, self.accelerator.process_index
        part = group[rank::processes]
        # Every process must take part in each step; one without items runs the first
        # one at zero weight.
        weight = processes if part else 0
        micro = [
            (items, weight) for items in packed(part or group[:1], self.config.micro_batch_tokens)
        ]
        if self.config.shard:
            # Each forward pass of a sharded model gathers weights from every process, so
            # all take as many passes: the extra ones at zero weight.
            most = int(self.accelerator.gather(torch.tensor([len(micro)])).max())
            micro += [(micro[0][0], 0)] * (most - len(micro))
        loss = torch.zeros(())
        for index, (items, weight) in enumerate(micro):
            with self._gradient_sync(index == len(micro) - 1):
                share = self.objective.loss(self, items, group) * weight
                self.accelerator.backward(share)
            loss += share.detach()
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.accelerator.clip_grad_norm_(trainable, 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        # The batch's loss: the parts' shares summed over the processes.
        return self.accelerator.reduce(loss / processes, reduction="sum").item()

    def _gradient_sync(self, on: bool) -> contextlib.AbstractContextManager[Any]:
        """Gradients are combined across processes on a step's last micro-batch only."""
        if on:
            return contextlib.nullcontext()
        if self.config.shard:
            return _unsynced(self.forward)
        return self.accelerator.no_sync(self.forward)

    def _full_state(self, optimizer: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        """Whole (unsharded) weights and optimiser state on the CPU, in the main process
        ({} elsewhere). Every process must call it: sharded tensors are gathered."""
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        weights = get_model_state_dict(self.model, options=options)
        state = (
            get_optimizer_state_dict(self.model, self.optimizer.optimizer, options=options)
            if optimizer
            else {}
        )
        return (weights, state) if self.main else ({}, {})

    # -- checkpoints -------------------------------------------------------------------

    def save_checkpoint(self) -> None:
        weights, optimizer = self._full_state(optimizer=True)
        if not self.main:
            return
        folder = self.out / "checkpoint"
        folder.mkdir(parents=True, exist_ok=True)
        trainable = {n for n, p in self.model.named_parameters() if p.requires_grad}
        torch.save(
            {
                "objective": self.objective.name,
                "step": self.step,
                "weights": {n: v for n, v in weights.items() if n in trainable},
                "optimizer": optimizer,
                "scheduler": self.scheduler.state_dict(),
                "config": asdict(self.config),
                "rng": torch.get_rng_state(),
            },
            folder / "state.pt",
        )

    def load_checkpoint(self) -> None:
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        path = self.out / "checkpoint" / "state.pt"
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint to resume from at {path}")
        state = torch.load(path, weights_only=False)
        if state["config"] != asdict(self.config) or state["objective"] != self.objective.name:
            raise ValueError(
                "the checkpoint was made with other settings; resume with the same options "
                "(or start afresh in another --out folder)"
            )
        # Each process takes its share of the whole tensors.
        options = StateDictOptions(full_state_dict=True, strict=False)
        set_model_state_dict(self.model, state["weights"], options=options)
        set_optimizer_state_dict(
            self.model, self.optimizer.optimizer, state["optimizer"], options=options
        )
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        self.step = state["step"]

    # -- outputs -----------------------------------------------------------------------

    def save(self, tokenizer_source: Path, chat_template: str | None) -> dict[str, Path]:
        """The Hugging Face checkpoint (merged weights, tokenizer, chat template) and, for
        LoRA, the adapter on its own. Written by the main process; {} in the others."""
        from transformers import AutoTokenizer

        model: Any = self.model
        if self.config.shard:
            weights, _ = self._full_state(optimizer=False)
            if self.main:
                model = self._load_model()
                model.load_state_dict(weights)
        self.accelerator.wait_for_everyone()
        if not self.main:
            return {}
        paths = {}
        if not self.config.full:
            adapter = self.out / "adapter"
            model.save_pretrained(adapter)
            paths["adapter"] = adapter
            model = model.merge_and_unload()
        hf = self.out / "hf"
        model.save_pretrained(hf)
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source))
        if chat_template:
            tokenizer.chat_template = chat_template
        tokenizer.save_pretrained(hf)
        paths["hf"] = hf
        return paths


def _sharded(forward: AnswerLogprobs, causal: Any) -> Any:
    """`forward` with its weights split across the processes: each decoder layer (the
    model's own no-split unit) gathers its weights just for its pass, then the rest."""
    from torch.distributed.fsdp import fully_shard

    layers = set(getattr(causal, "_no_split_modules", None) or ())
    for module in causal.modules():
        if type(module).__name__ in layers:
            fully_shard(module)
    return fully_shard(forward)


@contextlib.contextmanager
def _unsynced(sharded: Any) -> Iterator[None]:
    """Gradients of a sharded model kept per process (accumulating) until the sync pass."""
    sharded.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        sharded.set_requires_gradient_sync(True)


def _with_lora(model: Any, config: TrainConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [t for t in config.lora_targets if t not in present]
    if missing:
        raise ValueError(
            f"LoRA targets {', '.join(missing)} are not modules of this model; "
            f"it has e.g. {', '.join(sorted(t for t in present if 'proj' in t)[:8])}"
        )
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        target_modules=list(config.lora_targets),
        lora_dropout=0.0,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def rounded(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 4)

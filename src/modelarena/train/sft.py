"""Supervised fine-tuning: LoRA (default) or full, on encoded examples.

Batches group examples of similar length under a token budget, so compute goes to real
tokens rather than padding (the share is reported). The optimiser is AdamW with a linear
warm-up and decay and gradient clipping; bf16 autocast where the CPU supports it. A
checkpoint (adapter or weights, optimiser, schedule, step, random state) is written every
`checkpoint_every` steps and on Ctrl-C; `resume` continues from it with the same data
order. Held-out loss is measured before and after.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from modelarena.train.encoding import IGNORED, Encoded

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class Interrupted(Exception):
    """Training stopped by Ctrl-C after saving a checkpoint; the message says how to resume."""


@dataclass(frozen=True)
class SFTConfig:
    steps: int = 30
    batch_tokens: int = 2048  # padded tokens a batch holds at most
    learning_rate: float = 2e-4
    warmup: float = 0.1  # share of the steps
    full: bool = False  # train every weight instead of a LoRA adapter
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_targets: tuple[str, ...] = DEFAULT_TARGETS
    seed: int = 0
    held_out: float = 0.1  # share of examples kept out of training to measure loss
    bf16: bool | None = None  # None: where the CPU supports it
    threads: int | None = None
    checkpoint_every: int = 50
    activation_checkpointing: bool = False  # recompute activations in the backward pass


@dataclass
class Step:
    """Where training stands after a step."""

    step: int
    steps: int
    loss: float
    tokens_per_s: float
    eta_s: float


@dataclass
class SFTResult:
    steps: int
    train_loss: float
    held_out_before: float | None
    held_out_after: float | None
    learned_tokens: int
    real_token_share: float  # of the padded batch tokens, those that are not padding
    tokens_per_s: float
    seconds: float
    bf16: bool
    history: list[float] = field(default_factory=list)


def batches(examples: list[Encoded], budget: int, rng: random.Random) -> list[list[Encoded]]:
    """Examples in batches of similar length whose padded size stays within `budget`
    tokens (one long example may exceed it alone), in a random order."""
    ordered = sorted(examples, key=lambda e: len(e.input_ids))
    groups: list[list[Encoded]] = []
    current: list[Encoded] = []
    for example in ordered:
        longest = max([len(example.input_ids)] + [len(e.input_ids) for e in current])
        if current and longest * (len(current) + 1) > budget:
            groups.append(current)
            current = []
        current.append(example)
    if current:
        groups.append(current)
    rng.shuffle(groups)
    return groups


def split(examples: list[Encoded], share: float, seed: int) -> tuple[list[Encoded], list[Encoded]]:
    """(training, held out): a seeded share held out, at least one when there are two."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    count = min(len(examples) - 1, max(1 if len(examples) > 1 else 0, round(len(examples) * share)))
    held = set(order[:count]) if share > 0 else set()
    return (
        [e for i, e in enumerate(examples) if i not in held],
        [e for i, e in enumerate(examples) if i in held],
    )


def collate(group: list[Encoded], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(e.input_ids) for e in group)
    ids = torch.full((len(group), width), pad_id, dtype=torch.long)
    labels = torch.full((len(group), width), IGNORED, dtype=torch.long)
    mask = torch.zeros((len(group), width), dtype=torch.long)
    for row, example in enumerate(group):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def bf16_supported() -> bool:
    """Whether the CPU computes in bf16 natively (AVX-512 BF16 or AMX)."""
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


class SFTTrainer:
    def __init__(self, checkpoint: Path, config: SFTConfig, pad_id: int, out: Path) -> None:
        import torch

        self.config = config
        self.out = out
        self.pad_id = pad_id
        torch.manual_seed(config.seed)
        if config.threads:
            torch.set_num_threads(config.threads)
        from transformers import AutoModelForCausalLM

        model: Any = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch.float32)
        if not config.full:
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
            model = get_peft_model(model, lora)
        if config.activation_checkpointing:
            # Memory for time: each layer's activations are recomputed in the backward
            # pass; LoRA needs gradients to flow from the (frozen) embeddings for it.
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
            if not config.full:
                model.enable_input_require_grads()
        self.model = model
        self.bf16 = bf16_supported() if config.bf16 is None else config.bf16
        trainable = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.0)
        warm = max(1, round(config.steps * config.warmup))

        def schedule(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return max(0.0, (config.steps - step) / max(1, config.steps - warm))

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        self.step = 0

    # -- the loop ----------------------------------------------------------------------

    def loss(self, group: list[Encoded]):
        """Mean cross-entropy over the learned tokens. The output layer runs only on the
        positions that predict one: over a 49k-token vocabulary, logits for every
        position of a batch would take gigabytes and a fifth of the compute."""
        import torch
        import torch.nn.functional as F

        batch = collate(group, self.pad_id)
        causal = (
            self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        )
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            hidden = causal.model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state
            targets = batch["labels"][:, 1:]
            learned = targets != IGNORED
            logits = causal.lm_head(hidden[:, :-1][learned]).float()
        cap = getattr(causal.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return F.cross_entropy(logits, targets[learned])

    def held_out_loss(self, examples: list[Encoded]) -> float | None:
        """Mean loss per learned token over `examples`."""
        import torch

        if not examples:
            return None
        self.model.eval()
        total = tokens = 0.0
        with torch.no_grad():
            for group in batches(examples, self.config.batch_tokens, random.Random(0)):
                learned = sum(e.learned for e in group)
                total += self.loss(group).item() * learned
                tokens += learned
        self.model.train()
        return total / tokens

    def train(
        self,
        examples: list[Encoded],
        held_out: list[Encoded],
        report: Callable[[Step], None] = lambda _: None,
    ) -> SFTResult:
        import torch

        config = self.config
        before = self.held_out_loss(held_out)
        rng = random.Random(config.seed)
        epoch: list[list[Encoded]] = []
        # The data order is a function of the step alone, so a resumed run continues it.
        for _ in range(self.step):
            if not epoch:
                epoch = batches(examples, config.batch_tokens, rng)
            epoch.pop()
        history: list[float] = []
        learned = padded = 0
        began = time.perf_counter()
        self.model.train()
        try:
            while self.step < config.steps:
                if not epoch:
                    epoch = batches(examples, config.batch_tokens, rng)
                group = epoch.pop()
                loss = self.loss(group)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(
                    [p for p in self.model.parameters() if p.requires_grad], 1.0
                )
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.step += 1
                history.append(loss.detach().item())
                learned += sum(len(e.input_ids) for e in group)
                padded += max(len(e.input_ids) for e in group) * len(group)
                elapsed = time.perf_counter() - began
                done = len(history)
                report(
                    Step(
                        self.step,
                        config.steps,
                        history[-1],
                        learned / elapsed,
                        elapsed / done * (config.steps - self.step),
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
        return SFTResult(
            steps=self.step,
            train_loss=sum(history[-5:]) / max(1, len(history[-5:])),
            held_out_before=before,
            held_out_after=self.held_out_loss(held_out),
            learned_tokens=learned,
            real_token_share=learned / padded if padded else 1.0,
            tokens_per_s=learned / seconds if seconds else 0.0,
            seconds=seconds,
            bf16=self.bf16,
            history=history,
        )

    # -- checkpoints -------------------------------------------------------------------

    def save_checkpoint(self) -> None:
        import torch

        folder = self.out / "checkpoint"
        folder.mkdir(parents=True, exist_ok=True)
        trainable = {n: p.detach() for n, p in self.model.named_parameters() if p.requires_grad}
        torch.save(
            {
                "step": self.step,
                "weights": trainable,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "config": asdict(self.config),
                "rng": torch.get_rng_state(),
            },
            folder / "state.pt",
        )

    def load_checkpoint(self) -> None:
        import torch

        path = self.out / "checkpoint" / "state.pt"
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint to resume from at {path}")
        state = torch.load(path, weights_only=False)
        if state["config"] != asdict(self.config):
            raise ValueError(
                "the checkpoint was made with other settings; resume with the same options "
                "(or start afresh in another --out folder)"
            )
        parameters = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, value in state["weights"].items():
                parameters[name].copy_(value)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        self.step = state["step"]

    # -- outputs -----------------------------------------------------------------------

    def save(self, tokenizer_source: Path, chat_template: str | None) -> dict[str, Path]:
        """The Hugging Face checkpoint (merged weights, tokenizer, chat template) and, for
        LoRA, the adapter on its own."""
        from transformers import AutoTokenizer

        paths = {}
        model: Any = self.model
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


def rounded(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 4)

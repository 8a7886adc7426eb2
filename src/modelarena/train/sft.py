"""Supervised fine-tuning: the objective is the mean cross-entropy of the answers' tokens
(the assistant's turns and their closing markup; prompts are context, never learned).
Held out, it is the same loss per learned token."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelarena.train.encoding import Encoded
from modelarena.train.trainer import Trainer


class SFT:
    name = "sft"

    def sequences(self, group: Sequence[Encoded]) -> list[Encoded]:
        return list(group)

    def loss(self, trainer: Trainer, part: Sequence[Encoded], whole: Sequence[Encoded]) -> Any:
        logprobs, _ = trainer.token_logprobs(list(part))
        return -logprobs.sum() / sum(example.learned for example in whole)

    def measure(self, trainer: Trainer, items: Sequence[Encoded]) -> dict[str, float]:
        total = tokens = 0.0
        for group in trainer.eval_batches(items):
            logprobs, _ = trainer.token_logprobs(group)
            total -= logprobs.sum().item()
            tokens += logprobs.numel()
        return {"loss": total / tokens}

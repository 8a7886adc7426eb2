"""Direct preference optimisation (Rafailov et al., 2023): raise the log-probability of
the chosen answer relative to the rejected one, measured against the model as it started.

The loss of a pair is -log σ(β·[(log π(chosen) − log π₀(chosen)) − (log π(rejected) −
log π₀(rejected))]), with log π the summed log-probability of the answer's tokens and π₀
the starting model. π₀'s values are computed once before training (`with_reference`), so
no second model is held in memory, LoRA or full. Held out, it reports the loss, the
reward margin (the bracket times β), the share of pairs it ranks right, and the plain
log-probability margin log π(chosen) − log π(rejected).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from modelarena.train.encoding import Encoded, EncodedPair
from modelarena.train.trainer import Trainer


class DPO:
    name = "dpo"

    def __init__(self, beta: float = 0.1) -> None:
        self.beta = beta

    def sequences(self, group: Sequence[EncodedPair]) -> list[Encoded]:
        return [p.chosen for p in group] + [p.rejected for p in group]

    def logprobs(self, trainer: Trainer, group: Sequence[EncodedPair]) -> tuple[Any, Any]:
        """Summed answer log-probabilities: (chosen, rejected), one value per pair."""
        import torch

        logprobs, row_of = trainer.token_logprobs(self.sequences(group))
        sums = torch.zeros(2 * len(group)).index_add(0, row_of, logprobs)
        return sums[: len(group)], sums[len(group) :]

    def with_reference(self, trainer: Trainer, pairs: Sequence[EncodedPair]) -> list[EncodedPair]:
        """The pairs with the current (starting) model's log-probabilities attached."""
        import torch

        done: dict[int, EncodedPair] = {}
        trainer.model.eval()
        with torch.no_grad():
            for group in trainer.eval_batches(pairs):
                chosen, rejected = self.logprobs(trainer, group)
                for pair, c, r in zip(group, chosen.tolist(), rejected.tolist(), strict=True):
                    done[id(pair)] = replace(pair, reference=(c, r))
        trainer.model.train()
        return [done[id(pair)] for pair in pairs]

    def margins(self, trainer: Trainer, group: Sequence[EncodedPair]) -> tuple[Any, Any]:
        """(β-scaled reward margins, plain log-probability margins) of the pairs."""
        import torch

        if any(pair.reference is None for pair in group):
            raise ValueError("DPO pairs need their reference log-probabilities first")
        chosen, rejected = self.logprobs(trainer, group)
        reference = torch.tensor([pair.reference for pair in group])
        rewards = self.beta * ((chosen - reference[:, 0]) - (rejected - reference[:, 1]))
        return rewards, chosen - rejected

    def loss(
        self, trainer: Trainer, part: Sequence[EncodedPair], whole: Sequence[EncodedPair]
    ) -> Any:
        import torch.nn.functional as F

        rewards, _ = self.margins(trainer, part)
        return -F.logsigmoid(rewards).sum() / len(whole)

    def measure(self, trainer: Trainer, items: Sequence[EncodedPair]) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        rewards, plain = [], []
        for group in trainer.eval_batches(items):
            reward, margin = self.margins(trainer, group)
            rewards.append(reward)
            plain.append(margin)
        reward, margin = torch.cat(rewards), torch.cat(plain)
        return {
            "loss": -F.logsigmoid(reward).mean().item(),
            "reward_margin": reward.mean().item(),
            "accuracy": (reward > 0).float().mean().item(),
            "logp_margin": margin.mean().item(),
        }

"""How faithfully a GGUF export reproduces the trained torch model: the share of greedy
tokens on which llama.cpp agrees.

The torch model answers each prompt greedily; llama.cpp then reads prompt and answer in
one pass, and at every answer position its most likely next token is compared with the
token torch chose (teacher forcing: one early disagreement does not count against every
later token). 1.0 is the same greedy text; a quantisation that erased the fine-tune
scores about as low as the untrained base does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def torch_greedy(hf_dir: Path, prompts: Sequence[list[int]], new_tokens: int) -> list[list[int]]:
    """Each prompt followed by the torch model's greedy answer (up to `new_tokens`)."""
    import torch
    from transformers import AutoModelForCausalLM

    model: Any = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32)
    model.eval()
    answered = []
    with torch.no_grad():
        for prompt in prompts:
            ids = torch.tensor([prompt])
            output = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=new_tokens,
                do_sample=False,
                pad_token_id=model.config.eos_token_id,
            )
            answered.append(output[0].tolist())
    return answered


def greedy_agreement(
    gguf: Path, answered: Sequence[list[int]], prompt_lengths: Sequence[int], lora: Path | None
) -> float:
    """The share of answer tokens that are llama.cpp's own greedy choice given the same
    prefix, for `gguf` (with the adapter `lora` applied, if given)."""
    import llama_cpp
    import numpy as np

    longest = max(len(sequence) for sequence in answered)
    model = llama_cpp.Llama(
        str(gguf),
        n_ctx=longest + 8,
        n_batch=longest + 8,
        logits_all=True,
        lora_path=str(lora) if lora else None,
        verbose=False,
    )
    agreed = total = 0
    try:
        for sequence, start in zip(answered, prompt_lengths, strict=True):
            model.reset()
            model.eval(sequence)
            chosen = np.argmax(model.scores[start - 1 : len(sequence) - 1], axis=1)
            agreed += int((chosen == np.array(sequence[start:])).sum())
            total += len(sequence) - start
    finally:
        model.close()
    return agreed / total if total else 1.0

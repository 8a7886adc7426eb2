"""A trained LoRA adapter as a GGUF adapter file that llama.cpp applies to the original,
still quantised base model (`lora_path` in a model's definition): small and exact.

The file holds `general.type = adapter`, `adapter.type = lora`, `adapter.lora.alpha`, and
for each adapted weight `blk.N.<tensor>.weight.lora_a` (rank × inputs) and `.lora_b`
(outputs × rank) in f32; llama.cpp scales B·A by alpha / rank, as PEFT does. Llama-family
GGUFs store the query and key projections with their rows reordered for llama.cpp's
rotary embedding; B's rows, which index those outputs, get the same reordering.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from modelarena.engines.gguf_header import read_metadata

# PEFT module names (Hugging Face Llama-style) and the GGUF tensors they adapt.
TENSORS = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
NAME = re.compile(r"layers\.(\d+)\.(.+)\.lora_([AB])\.weight$")
ROTARY_REORDERED = {"llama"}  # architectures whose q/k rows the GGUF converter reorders


def rotary_order(rows, heads: int):
    """Hugging Face's q/k row order to llama.cpp's: within each head, the two halves of
    the rotary dimensions interleaved."""
    shape = rows.shape
    return rows.reshape(heads, 2, shape[0] // heads // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


def write_adapter(adapter_dir: Path, base_gguf: Path, out: Path) -> Path:
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    settings = json.loads((adapter_dir / "adapter_config.json").read_text())
    weights = load_file(str(adapter_dir / "adapter_model.safetensors"))
    meta = read_metadata(base_gguf)
    arch = meta.get("general.architecture", "llama")
    heads = int(meta.get(f"{arch}.attention.head_count", 1))
    kv_heads = int(meta.get(f"{arch}.attention.head_count_kv", heads))
    writer = gguf.GGUFWriter(str(out), arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(settings["lora_alpha"]))
    written = 0
    for name in sorted(weights):
        found = NAME.search(name)
        if not found or found.group(2) not in TENSORS:
            raise ValueError(f"cannot place adapter tensor {name} in a GGUF of {arch}")
        layer, module, part = found.groups()
        value = weights[name].astype(np.float32)
        if part == "B" and arch in ROTARY_REORDERED and module.endswith(("q_proj", "k_proj")):
            value = rotary_order(value, heads if module.endswith("q_proj") else kv_heads)
        suffix = "lora_a" if part == "A" else "lora_b"
        writer.add_tensor(
            f"blk.{layer}.{TENSORS[module]}.weight.{suffix}", np.ascontiguousarray(value)
        )
        written += 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    if not written:
        raise ValueError(f"{adapter_dir} holds no LoRA weights")
    return out

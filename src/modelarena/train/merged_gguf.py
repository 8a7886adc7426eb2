"""A fine-tuned Hugging Face checkpoint as one GGUF file that llama.cpp loads on its own:
the source GGUF's metadata (tokenizer, chat template, architecture) carried over with
provenance added, and every tensor the source holds taken from the fine-tuned weights, in
F16 or Q8_0 (norms and other vectors stay F32).

Four-bit types are refused: re-quantising a merge to Q4_1 erased a LoRA fine-tune
entirely (0 of 4 prompts kept it; the delta is smaller than one 4-bit step). Serve the
adapter on the original quantised base instead, or a Q8_0 merge.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelarena.train.lora_gguf import ROTARY_REORDERED, rotary_order

TYPES = ("f16", "q8_0")
FILE_TYPE = {"f16": 1, "q8_0": 7}  # llama_ftype: MOSTLY_F16, MOSTLY_Q8_0
WRITTEN_BY_WRITER = {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count",
                     "general.architecture", "general.alignment"}  # fmt: skip


class ExportError(ValueError):
    """The merge cannot be written as asked; the message says what to do instead."""


def check_type(kind: str) -> None:
    if kind.lower() not in TYPES:
        raise ExportError(
            f"cannot merge into {kind!r}: choose {' or '.join(TYPES)}. Four-bit types erase "
            "a fine-tune (the change is smaller than one 4-bit step); to serve it at 4 bits, "
            "use the LoRA adapter GGUF on the original quantised base"
        )


def write_merged(
    hf_dir: Path, source_gguf: Path, out: Path, kind: str, provenance: dict[str, Any]
) -> Path:
    """Writes `out` from the checkpoint in `hf_dir` and the metadata of `source_gguf`."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    check_type(kind)
    reader = gguf.GGUFReader(str(source_gguf))
    arch = str(reader.fields["general.architecture"].contents())
    weights: dict[str, Any] = {}
    for file in sorted(hf_dir.glob("*.safetensors")):
        weights.update(load_file(str(file)))
    blocks = int(reader.fields[f"{arch}.block_count"].contents())
    names = gguf.get_tensor_name_map(_model_arch(gguf, arch), blocks)
    by_gguf_name = {}
    for name, value in weights.items():
        mapped = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if mapped:
            by_gguf_name[mapped] = value
    heads = int(reader.fields[f"{arch}.attention.head_count"].contents())
    kv_heads = int(
        reader.fields[f"{arch}.attention.head_count_kv"].contents()
        if f"{arch}.attention.head_count_kv" in reader.fields
        else heads
    )
    writer = gguf.GGUFWriter(str(out), arch)
    for field in reader.fields.values():
        if field.name in WRITTEN_BY_WRITER or field.name == "general.file_type":
            continue
        sub_type = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), field.types[0], sub_type=sub_type)
    writer.add_uint32("general.file_type", FILE_TYPE[kind.lower()])
    writer.add_string("modelarena.fine_tune", json.dumps(provenance, sort_keys=True))
    for tensor in reader.tensors:
        value = by_gguf_name.get(tensor.name)
        if value is None and tensor.name == "output.weight":
            value = by_gguf_name.get("token_embd.weight")  # tied to the embeddings
        if value is None:
            raise ExportError(f"the checkpoint has no weight for the GGUF tensor {tensor.name}")
        value = np.asarray(value, dtype=np.float32)
        if arch in ROTARY_REORDERED and tensor.name.endswith(("attn_q.weight", "attn_k.weight")):
            value = rotary_order(value, heads if "attn_q" in tensor.name else kv_heads)
        if value.ndim < 2:
            writer.add_tensor(tensor.name, value)
        elif kind.lower() == "f16":
            writer.add_tensor(tensor.name, value.astype(np.float16))
        else:
            quantised = gguf.quants.quantize(value, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(
                tensor.name, quantised, raw_shape=quantised.shape,
                raw_dtype=gguf.GGMLQuantizationType.Q8_0,
            )  # fmt: skip
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def _model_arch(gguf: Any, arch: str) -> Any:
    for member, name in gguf.MODEL_ARCH_NAMES.items():
        if name == arch:
            return member
    raise ExportError(f"the gguf package does not know the architecture {arch!r}")

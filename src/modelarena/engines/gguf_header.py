"""A GGUF file's metadata header: its scalar values and short numeric arrays, read without
the tensors or the vocabulary.

The `gguf` package parses every field into arrays, the tokenizer's ~50,000 strings
included: 3.7 s for the bundled SmolLM2 file here. Checking a model before loading it
needs a handful of numbers, so this walks the header and skips what it does not keep
(string arrays are stepped over one length at a time): a few milliseconds.
Layout (GGUF v2/v3, little-endian): magic, version u32, tensor count u64, key count u64,
then each key as a u64-length string, a u32 type and its value.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import IO, Any

MAGIC = b"GGUF"
# Value types and their struct codes; 8 is a string, 9 an array.
SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
STRING, ARRAY = 8, 9
LONGEST_KEPT_ARRAY = 4096  # numeric arrays up to this length are kept (per-layer counts)


class GGUFHeaderError(ValueError):
    """Not a GGUF file, or one cut short."""


def read_metadata(path: Path) -> dict[str, Any]:
    """Every key of the header with its value; long arrays and string arrays as None."""
    with path.open("rb") as file:
        if file.read(4) != MAGIC:
            raise GGUFHeaderError(f"{path} is not a GGUF file (it does not begin with 'GGUF')")
        version, _tensors, keys = _unpack(file, "<IQQ")
        if version < 2:
            raise GGUFHeaderError(f"{path} is GGUF version {version}; only 2 and later are read")
        metadata = {}
        for _ in range(keys):
            key = _string(file)
            (kind,) = _unpack(file, "<I")
            metadata[key] = _value(file, kind)
        return metadata


def _unpack(file: IO[bytes], layout: str) -> tuple:
    size = struct.calcsize(layout)
    data = file.read(size)
    if len(data) != size:
        raise GGUFHeaderError("the GGUF header ends early")
    return struct.unpack(layout, data)


def _string(file: IO[bytes]) -> str:
    (length,) = _unpack(file, "<Q")
    return file.read(length).decode("utf-8", errors="replace")


def _value(file: IO[bytes], kind: int) -> Any:
    if kind in SCALARS:
        return _unpack(file, "<" + SCALARS[kind])[0]
    if kind == STRING:
        return _string(file)
    if kind != ARRAY:
        raise GGUFHeaderError(f"unknown GGUF value type {kind}")
    item, count = _unpack(file, "<IQ")
    if item == STRING:
        for _ in range(count):
            (length,) = _unpack(file, "<Q")
            file.seek(length, 1)
        return None
    if item not in SCALARS:
        raise GGUFHeaderError(f"unsupported GGUF array of type {item}")
    if count > LONGEST_KEPT_ARRAY:
        file.seek(count * struct.calcsize(SCALARS[item]), 1)
        return None
    return list(_unpack(file, f"<{count}{SCALARS[item]}"))

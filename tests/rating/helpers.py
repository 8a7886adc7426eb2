"""Helpers for the rating tests: simulated battles and battle files in every format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from modelarena.rating.data import Battles
from modelarena.rating.style import conversation_metadata

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def simulate(
    strengths: np.ndarray,
    n: int,
    rng: np.random.Generator,
    *,
    tie_rate: float = 0.0,
    style: np.ndarray | None = None,
    beta: np.ndarray | None = None,
) -> Battles:
    """Battles between uniformly drawn pairs; model_a wins with σ(θa − θb + z·β).

    A share `tie_rate` of battles are ties whatever the strengths. `style` holds raw counts
    (n, 2, 4); with `beta`, the standardised differences z shift the winning odds.
    """
    m = len(strengths)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    logit = strengths[a] - strengths[b]
    if beta is not None:
        ratio = (style[:, 0] - style[:, 1]) / (style[:, 0] + style[:, 1] + 1.0)
        logit = logit + ((ratio - ratio.mean(0)) / ratio.std(0)) @ beta
    outcome = np.where(rng.random(n) < 1.0 / (1.0 + np.exp(-logit)), 2, 0)
    outcome = np.where(rng.random(n) < tie_rate, 1, outcome).astype(np.int8)
    return Battles(
        models=tuple(f"model-{k}" for k in range(m)),
        model_a=a.astype(np.int32),
        model_b=b.astype(np.int32),
        outcome=outcome,
        tstamp=np.arange(n, dtype=float),
        style=style,
    )


def rare_model_battles() -> Battles:
    """300 battles among three models, and a fourth with 4 battles: 3 wins, 1 loss."""
    rng = np.random.default_rng(0)
    pairs = np.array([rng.choice(3, 2, replace=False) for _ in range(300)])
    outcome = rng.integers(0, 3, 300)
    return Battles(
        models=("m0", "m1", "m2", "rare"),
        model_a=np.r_[pairs[:, 0], 3, 3, 3, 3].astype(np.int32),
        model_b=np.r_[pairs[:, 1], 0, 0, 0, 0].astype(np.int32),
        outcome=np.r_[outcome, 2, 2, 2, 0].astype(np.int8),
    )


def records(n: int = 1200, m: int = 5, seed: int = 0) -> list[dict]:
    """FastChat clean_battle records with conversations and conv_metadata."""
    rng = np.random.default_rng(seed)
    strengths = np.linspace(-1.0, 1.0, m)
    names = [f"model-{k}" for k in range(m)]
    rows = []
    for index in range(n):
        a, b = rng.choice(m, 2, replace=False)
        u = rng.random()
        if u < 0.1:
            winner = "tie"
        elif u < 0.15:
            winner = "tie (bothbad)"
        else:
            p = 1.0 / (1.0 + np.exp(strengths[b] - strengths[a]))
            winner = "model_a" if rng.random() < p else "model_b"
        prompt = "Write a Python function that sorts a list." if index % 3 == 0 else "Hello!"
        answer_a, answer_b = (_answer(rng) for _ in "ab")
        conversation_a = [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": answer_a},
        ]
        conversation_b = [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": answer_b},
        ]
        rows.append(
            {
                "model_a": names[a],
                "model_b": names[b],
                "winner": winner,
                "judge": f"voter-{index % 40}",
                "anony": bool(index % 10 != 0),
                "tstamp": 1_700_000_000.0 + 600.0 * index,
                "language": "English" if index % 4 else "Chinese",
                "turn": 1,
                "conversation_a": conversation_a,
                "conversation_b": conversation_b,
                "conv_metadata": conversation_metadata(conversation_a, conversation_b),
            }
        )
    return rows


def _answer(rng: np.random.Generator) -> str:
    """An answer with a random amount of text, headers, list items and bold spans."""
    parts = ["## Part\n"] * int(rng.integers(0, 3)) + ["- item\n"] * int(rng.integers(0, 4))
    parts += ["**bold** "] * int(rng.integers(0, 3)) + ["word "] * int(rng.integers(5, 60))
    return "".join(parts)


def write(rows: list[dict], path: Path) -> Path:
    """Write records as FastChat JSON (.json), JSON lines (.jsonl), CSV or Parquet."""
    if path.suffix == ".json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif path.suffix == ".csv":
        flat = [
            {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in r.items()}
            for r in rows
        ]
        pacsv.write_csv(pa.Table.from_pylist(flat), path)
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path

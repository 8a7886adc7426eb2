"""Battle weights for a topic: how similar each battle's prompt is to a query, as the
importance weights a Bradley–Terry fit takes, and the effective number of votes they leave.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from modelarena.rating.errors import RatingError

Kernel = Literal["exp", "top-k"]
KERNELS: tuple[Kernel, ...] = ("exp", "top-k")


def similarities(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine similarity of the query to each row of `vectors`, both taken relative to the
    rows' mean (the direction every prompt shares, which small language models' mean-pooled
    embeddings are dominated by, carries no topic)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[0] == 0:
        raise RatingError("similarities need one or more vectors, as the rows of a matrix")
    query = np.asarray(query, dtype=np.float64)
    if query.shape != (vectors.shape[1],):
        raise RatingError(
            f"the query has {query.size} dimensions; the vectors have {vectors.shape[1]}"
        )
    centre = vectors.mean(axis=0) if vectors.shape[0] > 1 else np.zeros(vectors.shape[1])
    rows = vectors - centre
    point = query - centre
    norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(point)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.where(norms > 0, rows @ point / norms, 0.0)
    return np.clip(cosine, -1.0, 1.0)


def topic_weights(
    similarity: np.ndarray, kernel: Kernel = "exp", *, temperature: float = 0.1, top_k: int = 500
) -> np.ndarray:
    """Importance of each battle for the query, in (0, 1].

    `exp`: exp((cos − 1)/temperature), 1 for a prompt pointing the query's way and falling
    by e for every `temperature` of cosine less. `top-k`: 1 for the `top_k` most similar
    prompts (ties at the cut broken by position), 0 for the others.
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    if kernel == "exp":
        if not temperature > 0:
            raise RatingError("the similarity temperature must be above 0")
        return np.exp((similarity - 1.0) / temperature)
    if kernel == "top-k":
        if top_k < 1:
            raise RatingError("top-k needs k of 1 or more")
        weights = np.zeros(similarity.size)
        weights[np.argsort(-similarity, kind="stable")[:top_k]] = 1.0
        return weights
    raise RatingError(f"unknown similarity kernel {kernel!r}; use one of {', '.join(KERNELS)}")


def effective_count(weights: np.ndarray) -> float:
    """Kish's effective sample size (Σw)² / Σw²: how many equally weighted votes would
    carry as much information as these weighted ones (0 when every weight is 0)."""
    weights = np.asarray(weights, dtype=np.float64)
    squares = float(weights @ weights)
    return 0.0 if squares == 0.0 else float(weights.sum()) ** 2 / squares

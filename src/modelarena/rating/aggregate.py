"""Aggregate battles into counts of distinct (model pair[, style features]) rows and outcomes.

Each pair is stored once with the lower model index first, so fitting cost follows distinct rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelarena.rating.data import A_WINS, TIE, Battles
from modelarena.rating.errors import RatingError
from modelarena.rating.style import style_features

# Above this many (pair, outcome) cells, count with a sort instead of a dense bincount.
_DENSE_CELLS = 1 << 22
IPW_FLOOR = 50


@dataclass(frozen=True, eq=False)
class PairCounts:
    """Distinct rows of the design with their outcome counts.

    Row g compares models i[g] < j[g]; counts[g] = (i won, tie, j won), battles counted with
    their weight. `features[g]` are the standardised style differences (i minus j) and
    `weights[g]` the inverse-propensity weight, when asked for. Battles with importance
    weights add `squares` (the same sums of each battle's importance squared, which the
    sandwich interval needs) and `units` (each battle, for the bootstrap to resample).
    """

    models: tuple[str, ...]
    i: np.ndarray
    j: np.ndarray
    counts: np.ndarray
    features: np.ndarray | None = None
    feature_names: tuple[str, ...] = ()
    weights: np.ndarray | None = None
    squares: np.ndarray | None = None
    units: Units | None = None

    @property
    def n_models(self) -> int:
        return len(self.models)


@dataclass(frozen=True, eq=False)
class Units:
    """The battles behind weighted counts, as the bootstrap resamples them: battle u stands
    for `count[u]` independent battles (its multiplicity), each adding `value[u]` (its
    importance) to the cell `cell[u]` of the flattened counts (column · rows + row)."""

    cell: np.ndarray
    value: np.ndarray
    count: np.ndarray


def aggregate(
    battles: Battles,
    *,
    drop_ties: bool = False,
    style_control: bool = False,
    reweight: bool = False,
) -> PairCounts:
    """Count outcomes per distinct row: per model pair, or per pair and style features."""
    a, b, outcome = battles.model_a, battles.model_b, battles.outcome
    weight = battles.likelihood_weight()
    importance, multiplicity = battles.importance, battles.multiplicity()
    raw_style = battles.style
    models = battles.models
    # Battles that count nothing are left out, so every battle kept has a row to count in.
    keep = (outcome != TIE) if drop_ties else None
    if importance is not None:
        keep = (weight > 0) if keep is None else keep & (weight > 0)
    if keep is not None:
        a, b, outcome, weight = a[keep], b[keep], outcome[keep], weight[keep]
        raw_style = None if raw_style is None else raw_style[keep]
        importance, multiplicity = (
            None if importance is None else importance[keep],
            multiplicity[keep],
        )
        if drop_ties and not a.size:
            raise RatingError("every battle is a tie, so nothing is left to rate with ties dropped")
        if not a.size:
            raise RatingError("every battle has importance 0, so nothing is left to rate")
        a, b, models = _drop_unused_models(a, b, models)
    m = len(models)
    low, high = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    a_is_low = a == low
    # Column of the counts table: 0 = lower model won, 1 = tie, 2 = higher model won.
    column = np.where(a_is_low, A_WINS - outcome, outcome).astype(np.int64)
    pair = low * m + high
    if style_control:
        if raw_style is None:
            raise RatingError("style control needs style counts: select with style_control=True")
        weighted = battles.weight is not None or importance is not None
        z, names = style_features(raw_style, weight if weighted else None)
        z = np.where(a_is_low[:, None], z, -z)
        rows, features, counts, row_of = _count_feature_rows(pair, z, column, weight)
    else:
        rows, counts = _count_pairs(pair, column, weight, m)
        features, names, row_of = None, (), None
    squares = units = None
    if importance is not None:
        if row_of is None:
            row_of = np.searchsorted(rows, pair)
        cells = row_of * 3 + column
        squares = np.bincount(cells, weight * importance, rows.size * 3).reshape(-1, 3)
        units = Units(cell=column * rows.size + row_of, value=importance, count=multiplicity)
    i, j = rows // m, rows % m
    weights = None
    if reweight:
        row_pair = pair_index(rows, m)[1]
        per_pair = np.bincount(row_pair, counts.sum(axis=1))
        weights = 1.0 / np.maximum(per_pair[row_pair], IPW_FLOOR)
    return PairCounts(
        models=models,
        i=i,
        j=j,
        counts=counts,
        features=features,
        feature_names=names,
        weights=weights,
        squares=squares,
        units=units,
    )


def _drop_unused_models(
    a: np.ndarray, b: np.ndarray, models: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Re-index models after dropping ties, leaving out those with no battle left."""
    played = np.bincount(a, minlength=len(models)) + np.bincount(b, minlength=len(models))
    used = np.flatnonzero(played)
    if used.size < 2:
        raise RatingError("the battles left name only one model, so there is nothing to rate")
    if used.size == len(models):
        return a, b, models
    index = np.full(len(models), -1, dtype=a.dtype)
    index[used] = np.arange(used.size, dtype=a.dtype)
    return index[a], index[b], tuple(models[k] for k in used)


def _count_pairs(
    pair: np.ndarray, column: np.ndarray, weight: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray]:
    cell = pair * 3 + column
    if m * m * 3 <= _DENSE_CELLS:
        table = np.bincount(cell, weight, minlength=m * m * 3).reshape(m * m, 3)
        rows = np.flatnonzero(table.any(axis=1))
        return rows, table[rows]
    cells, inverse = np.unique(cell, return_inverse=True)
    totals = np.bincount(inverse, weight)
    rows, row_of_cell = pair_index(cells // 3, m)
    counts = np.zeros((rows.size, 3))
    counts[row_of_cell, cells % 3] = totals
    return rows, counts


def _count_feature_rows(
    pair: np.ndarray, z: np.ndarray, column: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge battles whose pair and features are bit-for-bit equal, keeping first-seen order;
    also the row of each battle.

    Rows are sorted by a 64-bit hash of their contents; neighbours with equal hashes merge
    only when every field is equal, so a collision can leave duplicates apart but never
    merge different rows. Continuous features rarely repeat, so little is ever gathered.
    """
    n = len(pair)
    bits = z.view(np.uint64)
    digest = pair.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    for column_bits in bits.T:
        digest = (digest ^ column_bits) * np.uint64(0xBF58476D1CE4E5B9)
        digest ^= digest >> np.uint64(31)
    order = np.argsort(digest)
    ordered = digest[order]
    candidate = np.flatnonzero(ordered[1:] == ordered[:-1])
    first, second = order[candidate], order[candidate + 1]
    equal = (pair[first] == pair[second]) & np.all(bits[first] == bits[second], axis=1)
    if not equal.any():
        each = np.zeros((n, 3))
        each[np.arange(n), column] = weight
        return pair, z, each, np.arange(n)
    continues = np.zeros(n, dtype=bool)
    continues[candidate[equal] + 1] = True
    run_start = np.maximum.accumulate(np.where(continues, 0, np.arange(n)))
    representative = np.empty(n, dtype=np.int64)
    representative[order] = order[run_start]
    kept = representative == np.arange(n)
    group = (np.cumsum(kept) - 1)[representative]
    n_groups = int(np.count_nonzero(kept))
    counts = np.bincount(group * 3 + column, weight, minlength=n_groups * 3)
    return pair[kept], z[kept], counts.reshape(n_groups, 3), group


def pair_index(keys: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct pair keys (i·m + j) and each row's position among them."""
    if m * m <= _DENSE_CELLS:
        present = np.bincount(keys, minlength=m * m) > 0
        return np.flatnonzero(present), (np.cumsum(present) - 1)[keys]
    return np.unique(keys, return_inverse=True)


def model_totals(data: PairCounts) -> tuple[np.ndarray, np.ndarray]:
    """Battles of each model and the points it scored (a win 1, a tie ½)."""
    m = data.n_models
    battles_per_row = data.counts.sum(axis=1)
    half_ties = 0.5 * data.counts[:, 1]
    battles = np.bincount(data.i, battles_per_row, m) + np.bincount(data.j, battles_per_row, m)
    points = np.bincount(data.i, data.counts[:, 0] + half_ties, m) + np.bincount(
        data.j, data.counts[:, 2] + half_ties, m
    )
    return battles, points


def pair_matrices(data: PairCounts) -> tuple[np.ndarray, np.ndarray]:
    """Battle counts between models and the row model's observed score rate (ties ½; NaN: none)."""
    m = data.n_models
    flat_ij, flat_ji = data.i * m + data.j, data.j * m + data.i
    total = data.counts.sum(axis=1)
    n = np.bincount(flat_ij, total, m * m) + np.bincount(flat_ji, total, m * m)
    half_ties = 0.5 * data.counts[:, 1]
    points = np.bincount(flat_ij, data.counts[:, 0] + half_ties, m * m) + np.bincount(
        flat_ji, data.counts[:, 2] + half_ties, m * m
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = np.where(n > 0, points / n, np.nan)
    return n.reshape(m, m), observed.reshape(m, m)

"""Checks that the data identify Bradley–Terry ratings before anything is fitted.

`model_groups` finds the groups of models that battles link; without a penalty all models
must be linked, and no set of them may never lose (or never win) to the rest.
`ResampleLimits` says which models a bootstrap resample leaves without a finite rating.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelarena.rating.aggregate import PairCounts, pair_index
from modelarena.rating.errors import FitError


def model_groups(data: PairCounts) -> list[list[int]]:
    """The groups of models linked by battles (model indices, ascending), largest first.

    Groups of equal size come in the order of their alphabetically first model's name.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    m = data.n_models
    pairs = pair_index(data.i * m + data.j, m)[0]
    links = coo_matrix((np.ones(pairs.size), (pairs // m, pairs % m)), shape=(m, m))
    count, labels = connected_components(links, directed=False)
    ends = np.cumsum(np.bincount(labels, minlength=count))[:-1]
    groups = [group.tolist() for group in np.split(np.argsort(labels, kind="stable"), ends)]
    return sorted(groups, key=lambda group: (-len(group), min(data.models[k] for k in group)))


def list_groups(data: PairCounts, groups: list[list[int]], limit: int = 4) -> str:
    """'group 1: a, b; group 2: c' for the first `limit` groups, naming a few models each."""
    listed = "; ".join(
        f"group {number}: {names_of(data, group)}"
        for number, group in enumerate(groups[:limit], start=1)
    )
    more = f"; and {len(groups) - limit} more groups" if len(groups) > limit else ""
    return listed + more


def check_identified(data: PairCounts, *, penalized: bool) -> None:
    """Raise FitError naming the models that make the ratings unidentified or infinite.

    With a penalty the fit is unique even when groups never met (their differences then
    come from the penalty alone); `rate` says so in a warning.
    """
    if penalized:
        return
    groups = model_groups(data)
    if len(groups) > 1:
        raise FitError(
            f"the models fall into {len(groups)} groups that never met each other "
            f"({list_groups(data, groups)}); ratings across groups are not comparable: add "
            "battles between them, rate each group on its own (as `rate` does) or add an L2 "
            "penalty"
        )
    m = data.n_models
    pairs, row_pair = pair_index(data.i * m + data.j, m)
    per_pair = np.stack([np.bincount(row_pair, data.counts[:, c], pairs.size) for c in range(3)])
    low, high = pairs // m, pairs % m
    # Edges winner → loser; a tie links both ways.
    low_scored = per_pair[0] + per_pair[1] > 0
    high_scored = per_pair[2] + per_pair[1] > 0
    sources = np.concatenate([low[low_scored], high[high_scored]]).tolist()
    targets = np.concatenate([high[low_scored], low[high_scored]]).tolist()
    components = _strong_components(m, sources, targets)
    if len(components) == 1:
        return
    component_of = np.empty(m, dtype=np.int64)
    for index, members in enumerate(components):
        component_of[members] = index
    source_of, target_of = component_of[sources], component_of[targets]
    across = source_of != target_of
    has_in = np.bincount(target_of[across], minlength=len(components)) > 0
    has_out = np.bincount(source_of[across], minlength=len(components)) > 0
    problems = [
        f"{names_of(data, members)} never lost to the others"
        for index, members in enumerate(components)
        if not has_in[index]
    ] + [
        f"{names_of(data, members)} never beat the others"
        for index, members in enumerate(components)
        if not has_out[index]
    ]
    raise FitError(
        "the maximum-likelihood ratings do not exist (they would be infinite): "
        + "; ".join(problems[:4])
        + ". Add a small L2 penalty (e.g. --l2 0.01) or more battles"
    )


class ResampleLimits:
    """Where each model's unpenalised rating lies, per resample, relative to the main group.

    Built once for the data's model pairs `low` < `high` (every model in at least one pair).
    A resample's win graph has an edge winner → loser for each pair side that won or tied at
    least once (a tie links both ways). Its main group is the strongly connected part that
    holds the most battles; their ratings are finite relative to each other.
    """

    def __init__(self, m: int, low: np.ndarray, high: np.ndarray) -> None:
        self.m = m
        sources = np.r_[high, low].astype(np.int32)
        targets = np.r_[low, high].astype(np.int32)
        # Edges sorted by source; within a source the targets ascend (pairs are sorted).
        self._order = np.argsort(sources, kind="stable")
        self._targets = targets[self._order]
        self._starts = np.searchsorted(sources[self._order], np.arange(m))
        self._low, self._high = low, high

    def __call__(
        self, low_scored: np.ndarray, high_scored: np.ndarray, battles: np.ndarray
    ) -> np.ndarray:
        """Limits (rounds, m) from each pair's (rounds, pairs) scores and battle counts.

        0 for the main group's models, +inf for a model that beat it (directly or through
        others) without ever losing to it, -inf for one it beat that way, NaN for one not
        compared with it either way (for example, with no battles that round).
        """
        from scipy.sparse.csgraph import breadth_first_order, connected_components

        m, rounds = self.m, low_scored.shape[0]
        graph = self._graph(np.concatenate([high_scored, low_scored], axis=1)[:, self._order])
        count, labels = connected_components(graph, directed=True, connection="strong")
        labels = labels.reshape(rounds, m)
        limits = np.zeros((rounds, m))
        split = np.flatnonzero(np.any(labels != labels[:, :1], axis=1))
        if split.size == 0:
            return limits
        pair_low, pair_high = labels[:, self._low], labels[:, self._high]
        inside = pair_low == pair_high
        battles_inside = np.bincount(pair_low[inside], battles[inside], count)
        reverse = graph.T.tocsr()
        for r in split:
            members = labels[r]
            main = members[np.argmax(battles_inside[members])]
            start = int(r * m + np.flatnonzero(members == main)[0])
            beaten = breadth_first_order(graph, start, directed=True, return_predecessors=False)
            beating = breadth_first_order(reverse, start, directed=True, return_predecessors=False)
            row = np.full(m, np.nan)
            row[beaten - r * m] = -np.inf
            row[beating - r * m] = np.inf
            row[members == main] = 0.0
            limits[r] = row
        return limits

    def _graph(self, present: np.ndarray) -> Any:
        """Block-diagonal CSR graph of all rounds; node r·m + k is model k in round r."""
        from scipy.sparse import csr_matrix

        m, rounds = self.m, present.shape[0]
        offsets = (np.arange(rounds, dtype=np.int32) * m)[:, None]
        columns = (self._targets + offsets)[present]
        per_node = np.add.reduceat(present.view(np.int8), self._starts, axis=1, dtype=np.int32)
        pointers = np.zeros(rounds * m + 1, dtype=np.int32)
        np.cumsum(per_node.ravel(), out=pointers[1:])
        graph = csr_matrix(
            (np.ones(columns.size), columns, pointers), shape=(rounds * m, rounds * m)
        )
        graph.has_sorted_indices = True
        return graph


def _strong_components(m: int, sources: list[int], targets: list[int]) -> list[list[int]]:
    """Kosaraju's algorithm with explicit stacks."""
    forward: list[list[int]] = [[] for _ in range(m)]
    backward: list[list[int]] = [[] for _ in range(m)]
    for source, target in zip(sources, targets, strict=True):
        forward[source].append(target)
        backward[target].append(source)
    order: list[int] = []
    seen = [False] * m
    for start in range(m):
        if seen[start]:
            continue
        seen[start] = True
        stack = [(start, iter(forward[start]))]
        while stack:
            node, neighbours = stack[-1]
            advanced = False
            for nxt in neighbours:
                if not seen[nxt]:
                    seen[nxt] = True
                    stack.append((nxt, iter(forward[nxt])))
                    advanced = True
                    break
            if not advanced:
                order.append(node)
                stack.pop()
    assigned = [False] * m
    components = []
    for start in reversed(order):
        if assigned[start]:
            continue
        assigned[start] = True
        members, stack2 = [], [start]
        while stack2:
            node = stack2.pop()
            members.append(node)
            for previous in backward[node]:
                if not assigned[previous]:
                    assigned[previous] = True
                    stack2.append(previous)
        components.append(sorted(members))
    return components


def names_of(data: PairCounts, members: list[int], limit: int = 5) -> str:
    """The first `limit` members' names, then how many more there are."""
    names = [data.models[k] for k in members[:limit]]
    more = f" and {len(members) - limit} more" if len(members) > limit else ""
    return ", ".join(names) + more

"""Scores from lm-evaluation-harness's results JSON (the `results_*.json` that `lm_eval
--output_path` writes): one score per top-level task or group and metric, as
(model, benchmark, value) rows for `modelarena scores import`.

A benchmark is named `<task> <metric>`, with ` (<filter>)` added when a filter other than
lm-eval's `none` produced it: "arc_easy acc", "gsm8k exact_match (strict-match)". A group
with aggregate scores (mmlu) stands for its subtasks; a group without them is replaced by
its members. Standard errors and values that are not finite numbers are left out.
"""

from __future__ import annotations

import math
from typing import Any


def is_lm_eval_results(data: Any) -> bool:
    """Whether parsed JSON has the shape of lm-eval's results file: `results`, an object
    of task -> scores (a score table's values are numbers, never objects)."""
    results = data.get("results") if isinstance(data, dict) else None
    return isinstance(results, dict) and all(isinstance(v, dict) for v in results.values())


def lm_eval_rows(data: dict[str, Any], model: str | None) -> list[tuple[str, str, float]]:
    """The scores in lm-eval's results, for `model` or else the arena model the run asked
    for (`model=` in its model_args, as the `local-completions` and
    `local-chat-completions` models take it)."""
    name = model or arena_model(data)
    if not name:
        raise ValueError(
            "these lm-eval results do not name an arena model (their model_args have no "
            "model=...); give the model's name with --model NAME"
        )
    results: dict[str, Any] = data["results"]
    rows = []
    for task in _reported_tasks(data):
        for key, value in results.get(task, {}).items():
            benchmark = _benchmark(task, key)
            if benchmark is not None and _is_number(value):
                rows.append((name, benchmark, float(value)))
    return rows


def arena_model(data: dict[str, Any]) -> str | None:
    """`model` from the run's model_args, given as a dict or as "k=v,k=v" text."""
    args = (data.get("config") or {}).get("model_args")
    if isinstance(args, str):
        pairs = (part.split("=", 1) for part in args.split(",") if "=" in part)
        args = {key.strip(): value.strip() for key, value in pairs}
    if isinstance(args, dict) and args.get("model"):
        return str(args["model"])
    return None


def _reported_tasks(data: dict[str, Any]) -> list[str]:
    """Tasks and groups that belong to no group, a group without scores of its own
    replaced by its members."""
    results: dict[str, Any] = data["results"]
    members: dict[str, list[str]] = data.get("group_subtasks") or {}
    inside = {task for tasks in members.values() for task in tasks}

    def reported(task: str) -> list[str]:
        if members.get(task) and not _has_scores(results.get(task, {})):
            return [found for member in members[task] for found in reported(member)]
        return [task]

    return [found for task in results if task not in inside for found in reported(task)]


def _has_scores(entry: dict[str, Any]) -> bool:
    return any(
        _benchmark("", key) is not None and _is_number(value) for key, value in entry.items()
    )


def _benchmark(task: str, key: str) -> str | None:
    """The benchmark name of a "metric,filter" key; None for other keys and for stderr."""
    metric, comma, filter_name = key.partition(",")
    if not comma or metric.endswith("_stderr"):
        return None
    return f"{task} {metric}" if filter_name == "none" else f"{task} {metric} ({filter_name})"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

"""Many calls at once under a Rich progress bar: each item's failed call is recorded against
its key and the others go on; a fatal failure (or any other error) stops them all."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterable, Mapping
from typing import Any, TypeVar

from modelarena.judge.client import CallError, FatalCallError
from modelarena.judge.progress import progress_bar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


async def run_each(
    items: Mapping[K, T], work: Callable[[K, T], Awaitable[None]], description: str
) -> dict[K, str]:
    """Await `work(key, item)` for every item concurrently (the client limits how many
    requests are in flight); returns the error of each item whose call failed for good."""
    failures: dict[K, str] = {}
    with progress_bar(description, len(items)) as advance:

        async def one(key: K, item: T) -> None:
            try:
                await work(key, item)
            except FatalCallError:
                raise
            except CallError as exc:
                failures[key] = str(exc)
            advance()

        await _run_all(one(key, item) for key, item in items.items())
    return failures


async def _run_all(coroutines: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run the coroutines as concurrent tasks; the first exception cancels the others and
    is raised as itself (not inside an ExceptionGroup)."""
    try:
        async with asyncio.TaskGroup() as group:
            for coroutine in coroutines:
                group.create_task(coroutine)
    except BaseExceptionGroup as errors:
        raise errors.exceptions[0] from None

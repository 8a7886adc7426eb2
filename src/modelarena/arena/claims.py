"""One action at a time per conversation: while its turn is being generated or its vote
stored, the conversation is claimed, and any other action on it is refused (409)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from modelarena.arena.conversations import refusal


class Claims:
    """Claimed conversation ids. Votes claim from worker threads, turns from the event
    loop, so the check and the claim are one step under a lock."""

    def __init__(self) -> None:
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    def claim(self, conversation_id: str) -> None:
        with self._lock:
            if conversation_id in self._busy:
                raise refusal(
                    409,
                    "Answers are still being generated in this conversation.",
                    "conversation_busy",
                )
            self._busy.add(conversation_id)

    def release(self, conversation_id: str) -> None:
        self._busy.discard(conversation_id)

    def busy(self, conversation_id: str) -> bool:
        return conversation_id in self._busy

    @contextlib.contextmanager
    def held(self, conversation_id: str) -> Iterator[None]:
        """Claimed for the block, released after it whatever happens."""
        self.claim(conversation_id)
        try:
            yield
        finally:
            self.release(conversation_id)

    @contextlib.contextmanager
    def kept_unless_failing(self, conversation_id: str) -> Iterator[None]:
        """Claimed for the block and kept after it (whoever goes on releases it), or
        released at once if the block fails."""
        self.claim(conversation_id)
        try:
            yield
        except BaseException:
            self.release(conversation_id)
            raise

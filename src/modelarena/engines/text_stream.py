"""Turns token bytes into safe-to-send text: whole UTF-8 characters, stop strings cut.

Text that might be the start of a stop string is held back until it is known not to be,
so a client never sees part of a stop sequence.
"""

from __future__ import annotations

import codecs


class TextStream:
    """Feed token pieces (bytes) in; get out text that can be sent now.

    After `stopped` becomes true the output is final: the stop string and anything after
    it are dropped. `finish()` returns whatever was held back.
    """

    def __init__(self, stop: list[str], strip_leading_space: bool = False) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stop = [s for s in stop if s]
        self._longest = max((len(s) for s in self._stop), default=0)
        self._pending = ""
        self._strip = strip_leading_space
        self.stopped = False

    def feed(self, piece: bytes) -> str:
        if self.stopped:
            return ""
        text = self._pending + self._decoder.decode(piece)
        if self._strip:
            text = text.lstrip()
            if not text:
                self._pending = ""
                return ""
            self._strip = False
        if not self._stop:
            self._pending = ""
            return text
        cut = self._first_stop(text)
        if cut is not None:
            self.stopped = True
            self._pending = ""
            return text[:cut]
        keep = self._held_back(text)
        self._pending = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def finish(self) -> str:
        """Flush held-back text at the end of generation (no stop string was completed)."""
        if self.stopped:
            return ""
        text = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        cut = self._first_stop(text)
        return text if cut is None else text[:cut]

    def _first_stop(self, text: str) -> int | None:
        positions = [i for i in (text.find(s) for s in self._stop) if i >= 0]
        return min(positions) if positions else None

    def _held_back(self, text: str) -> int:
        """Length of the longest tail of `text` that is a proper prefix of a stop string."""
        for size in range(min(self._longest - 1, len(text)), 0, -1):
            tail = text[-size:]
            if any(s.startswith(tail) for s in self._stop):
                return size
        return 0

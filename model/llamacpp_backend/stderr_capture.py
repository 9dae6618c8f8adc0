"""Quieting llama.cpp's loading chatter without losing anyone else's stderr.

With ``verbose=False``, llama-cpp-python's ``Llama()`` silences loading by dup2-ing
/dev/null over file descriptors 1 and 2 for the whole process, so any LSP message another
thread writes to stdout meanwhile is lost. The backend therefore always passes
``verbose=True`` (no fd games) and instead mutes Python-level stderr writes of the loading
thread only; the muted text is kept so load errors can quote llama.cpp's own reason.
"""

from __future__ import annotations

import collections
import io
import threading
from typing import TextIO


class MutedThreadStream(io.TextIOBase):
    """Stands in for sys.stderr: drops (but remembers) writes from one thread only."""

    def __init__(self, inner: TextIO, thread_id: int) -> None:
        self._inner = inner
        self._thread_id = thread_id
        self.captured: collections.deque[str] = collections.deque(maxlen=200)

    def write(self, text: str) -> int:
        if threading.get_ident() == self._thread_id:
            self.captured.append(text)
            return len(text)
        return self._inner.write(text)

    def flush(self) -> None:
        self._inner.flush()

    def fileno(self) -> int:
        return self._inner.fileno()

    def error_lines(self) -> str:
        """The lines llama.cpp logged that look like the reason for a failure."""
        lines = "".join(self.captured).splitlines()
        hits = [ln.strip() for ln in lines if "error" in ln.lower() or "failed" in ln.lower()]
        return "; ".join(hits[-3:])

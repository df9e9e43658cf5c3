"""A small LRU cache of model answers for repeated identical requests (``cachetools``).

Keyed by the model (name and version) and the hash of what it saw (input fields and
applicant id), so an answer is reused only for exactly the same input to exactly the same
model. Every request still gets its own request id, audit event and stored prediction;
only the model work is skipped. The eviction order is ``cachetools.LRUCache``'s; a lock
makes it safe for the batch threads and the event loop together.
"""

from __future__ import annotations

import threading
from typing import Any

from cachetools import LRUCache


class AnswerCache:
    """Thread-safe least-recently-used cache; ``size`` 0 disables it.

    Attributes
    ----------
    hits, misses : int
    """

    def __init__(self, size: int) -> None:
        self.size = max(0, int(size))
        self._data: LRUCache[tuple[str, str], Any] | None = (
            LRUCache(maxsize=self.size) if self.size else None
        )
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, str]) -> Any | None:
        """The cached answer, or None."""
        if self._data is None:
            return None
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
            return value

    def put(self, key: tuple[str, str], value: Any) -> None:
        """Remember an answer, evicting the least recently used beyond ``size``."""
        if self._data is None:
            return
        with self._lock:
            self._data[key] = value

    def clear(self) -> None:
        """Forget everything (after a model swap the keys would never match anyway)."""
        if self._data is None:
            return
        with self._lock:
            self._data.clear()

"""Rejected or unusable input, counted by reason: the first of each kind said in full, the counts in
every stats line. ROS-free: the node gives the logger."""
from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Callable


def reason_key(message: str) -> str:
    """The kind of a problem, without its numbers: the text up to the first ``:``, ``=`` or ``(``,
    standalone numbers replaced by N (quoted names such as an encoding are kept)."""
    head = re.split(r"[:=(]", str(message), maxsplit=1)[0]
    head = re.sub(r"(?<![\w'.])-?\d+(\.\d+)?(?![\w'])", "N", head)
    return " ".join(head.split()) or "unknown"


class RejectionCounter(Mapping):
    """``count(what, message)`` from any thread; ``on_first(what, message, reason)`` is called for the
    first of each kind (``reason`` is the ``what: kind`` it is counted under). Reads as a mapping
    ``reason -> count``."""

    def __init__(self, on_first: Callable[[str, str, str], None] = lambda what, message, reason: None):
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._on_first = on_first

    def count(self, what: str, message: str) -> None:
        reason = f"{what}: {reason_key(message)}"
        with self._lock:
            first = reason not in self.counts
            self.counts[reason] += 1
        if first:
            self._on_first(what, message, reason)

    def __getitem__(self, reason: str) -> int:
        with self._lock:
            if reason not in self.counts:
                raise KeyError(reason)
            return self.counts[reason]

    def __iter__(self):
        with self._lock:
            return iter(list(self.counts))

    def __len__(self) -> int:
        return len(self.counts)

    def summary(self) -> str:
        with self._lock:
            return "; ".join(f"{reason} x{count}" for reason, count in sorted(self.counts.items()))

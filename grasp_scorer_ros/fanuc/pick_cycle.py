"""The bridge's pick cycle: ask for grasps seen after the previous pick ended, pick the best, repeat.

Picking from a stream of grasps takes whatever frame came last, which may have been taken while
the arm was still over the table or before the part it just took was gone. Here every pick starts
with a request for the grasps of a frame taken at or after ``max(now, end of the previous pick +
settle_time)`` (the detection node's ``grasp/detect``); only then is the best one submitted to the
:class:`~grasp_scorer_ros.fanuc.cell.PickCell`, and the next request waits for that pick to end.

The cycle runs only while the cell would accept a pick (armed, connected, idle, no fault: the
cell's rules decide, the cycle only asks). A request that fails (no frame in time, the detector
not running) or that brings no grasp is retried after ``retry_delay``; each kind of failure is
logged when it first happens and then at most every ``LOG_PERIOD_S``. ROS-free: ``fetch`` and
``clock`` are the bridge's service call and its ROS clock.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from grasp_scorer_ros.fanuc.cell import GraspRequest, PickCell, PickJob

logger = logging.getLogger(__name__)

LOG_PERIOD_S = 10.0     # a failure that repeats is logged at most this often
_READY_POLL_S = 0.05    # how often an idle cycle looks whether the cell would take a pick


class FetchError(Exception):
    """The grasps could not be fetched; the message says why (e.g. no frame in time)."""


@dataclass(frozen=True)
class CycleConfig:
    """Seconds."""

    request_timeout: float = 5.0    # the detector's answer (it waits this long for a new enough frame)
    retry_delay: float = 0.5        # after a failed request or a frame without a grasp
    settle_time: float = 0.0        # after a pick ends, before a frame counts (the arm leaving the view)

    def __post_init__(self) -> None:
        if not self.request_timeout > 0:
            raise ValueError(f"request_timeout must be positive, got {self.request_timeout}")
        if self.retry_delay < 0 or self.settle_time < 0:
            raise ValueError("retry_delay and settle_time must not be negative")


@dataclass(frozen=True)
class Fetched:
    """A detector's answer: grasps best first (may be empty) and what it says about them."""

    grasps: Sequence[GraspRequest]
    stamp_ns: int                   # when its frame was taken
    message: str = ""


class PickCycle:
    """Request, pick, repeat, on a thread of its own, from :meth:`start` to :meth:`stop`.

    ``fetch(not_before_ns, timeout_s)`` returns :class:`Fetched` or raises :class:`FetchError`;
    ``clock()`` is the time the frames' stamps are on, in integer nanoseconds."""

    def __init__(self, cell: PickCell, fetch: Callable[[int, float], Fetched], clock: Callable[[], int],
                 config: CycleConfig = CycleConfig()):
        self.cell, self.fetch, self.clock, self.config = cell, fetch, clock, config
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._pick_ended_ns: Optional[int] = None
        self._last_log: dict[str, float] = {}
        self.requests = 0               # requests made
        self.requests_failed = 0
        self.empty_frames = 0           # answered, but no grasp to pick
        # Per pick: (earliest frame allowed, the frame it came from, when it ended or None), ns.
        self.history: list[tuple[int, int, Optional[int]]] = []

    def start(self) -> "PickCycle":
        self._thread = threading.Thread(target=self._loop, name="pick-cycle", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Ask no more; a request in flight is left to time out (its answer is dropped)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def not_before_ns(self) -> int:
        """The oldest frame the next pick may come from: now, and never before the previous pick
        ended plus ``settle_time``."""
        now = self.clock()
        if self._pick_ended_ns is None:
            return now
        return max(now, self._pick_ended_ns + int(self.config.settle_time * 1e9))

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.cell.refusal() is not None:     # disarmed, busy, faulted or not connected
                self._stop.wait(_READY_POLL_S)
                continue
            job = self._request_and_submit()
            if job is None:
                self._stop.wait(self.config.retry_delay)
                continue
            while not job.done.wait(_READY_POLL_S):
                if self._stop.is_set():
                    return                  # the cell's close() stops the pick itself
            self._pick_ended_ns = self.clock()
            self.history[-1] = (*self.history[-1][:2], self._pick_ended_ns)

    def _request_and_submit(self) -> Optional[PickJob]:
        not_before = self.not_before_ns()
        self.requests += 1
        try:
            fetched = self.fetch(not_before, self.config.request_timeout)
        except FetchError as error:
            self.requests_failed += 1
            if not self._stop.is_set():
                self._log("request", f"no grasps: {error}; asking again in {self.config.retry_delay:g} s")
            return None
        if self._stop.is_set():
            return None
        if not fetched.grasps:
            self.empty_frames += 1
            self._log("empty", f"nothing to pick in the frame taken at {fetched.stamp_ns / 1e9:.3f} s: "
                               f"{fetched.message or 'no grasp'}; asking again")
            return None
        job = self.cell.submit(fetched.grasps[0])
        if isinstance(job, str):            # disarmed (or a goal took the cell) since refusal() said yes
            return None
        self.history.append((not_before, fetched.stamp_ns, None))
        self._last_log.clear()              # a failure after this pick is news again
        logger.info(f"picking the best of {len(fetched.grasps)} grasp(s) from the frame taken at "
                    f"{fetched.stamp_ns / 1e9:.3f} s ({(fetched.stamp_ns - not_before) / 1e9:+.3f} s after the "
                    f"earliest allowed)")
        return job

    def _log(self, kind: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last_log.get(kind, -LOG_PERIOD_S) >= LOG_PERIOD_S:
            self._last_log[kind] = now
            (logger.warning if kind == "request" else logger.info)(message)

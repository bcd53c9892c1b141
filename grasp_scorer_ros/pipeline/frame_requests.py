"""Callers waiting for the result of a frame taken at or after a given time (``grasp/detect``).

A pick cycle must never pick from an image taken before its previous pick ended: the part it took
may still be in it, or the arm. A request names that time (``not_before``); the inference worker
serves it with the first frame stamped at or after it, and a request that no such frame reaches
within its timeout fails with what went wrong (no frame at all, only older ones, or a newer one
that could not be used). A frame that would answer it and is still being ranked when the timeout
runs out is waited for (up to the timeout once more): ranking many grasps through the depth checks
takes time, and that is not the camera's fault. ROS-free: times are integer nanoseconds on the
images' clock; the detection node converts stamps and answers the service.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional


class RequestTimeout(Exception):
    """No usable frame taken at or after ``not_before`` came in time; the message says why."""


@dataclass
class _Request:
    not_before_ns: int
    count: int
    frames_seen: int = 0                 # frames the worker finished while this one waited
    newest_stamp_ns: Optional[int] = None
    problem: str = ""                    # why the last frame new enough could not be used
    result: object = None
    served: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Ranking:
    """The frame the worker is processing now."""
    stamp_ns: int
    ranked: int
    since: float = field(default_factory=time.monotonic)


class FrameRequests:
    """Requests waiting for a frame. :meth:`wait` from any number of threads (service callbacks);
    :meth:`wanted`, :meth:`serve` and :meth:`failed` from the one thread that processes frames."""

    def __init__(self):
        self._lock = threading.Lock()
        self._waiting: list[_Request] = []
        self._ranking: Optional[_Ranking] = None

    def wanted(self) -> int:
        """The most grasps a waiting request asks for (0: none waits), so that the frame about to be
        processed ranks enough of them."""
        with self._lock:
            return max((r.count for r in self._waiting), default=0)

    def wait(self, not_before_ns: int, count: int, timeout_s: float):
        """The result :meth:`serve` made for the first frame stamped at or after ``not_before_ns``
        (ranked with at least ``count`` grasps); :class:`RequestTimeout` after ``timeout_s``, or
        after up to ``timeout_s`` more while a frame that would answer it is being ranked."""
        request = _Request(int(not_before_ns), int(count))
        with self._lock:
            self._waiting.append(request)
        ranking = None
        try:
            if request.served.wait(max(0.0, timeout_s)):
                return request.result
            with self._lock:
                ranking = self._ranking if self._answers(self._ranking, request) else None
            if ranking is not None and request.served.wait(max(0.0, timeout_s)):
                return request.result
        finally:
            with self._lock:
                if request in self._waiting:
                    self._waiting.remove(request)
        if request.served.is_set():     # served between the timeout and the removal
            return request.result
        raise RequestTimeout(self._explain(request, timeout_s, ranking))

    def begin(self, stamp_ns: int, ranked: int) -> None:
        """The worker starts on a frame stamped ``stamp_ns``, ranking ``ranked`` grasps (then
        :meth:`serve` or :meth:`failed` ends it)."""
        with self._lock:
            self._ranking = _Ranking(int(stamp_ns), int(ranked))

    @staticmethod
    def _answers(ranking: Optional[_Ranking], request: _Request) -> bool:
        return ranking is not None and ranking.stamp_ns >= request.not_before_ns and ranking.ranked >= request.count

    def serve(self, stamp_ns: int, ranked: int, make_result: Callable[[int], object]) -> int:
        """A frame stamped ``stamp_ns`` was processed with ``ranked`` grasps looked at: every request
        it answers gets ``make_result(count)``. How many were served."""
        with self._lock:
            self._ranking = None
            answered = []
            for request in self._waiting:
                request.frames_seen += 1
                if request.newest_stamp_ns is None or stamp_ns > request.newest_stamp_ns:
                    request.newest_stamp_ns = stamp_ns
                # A request that came in while this frame was ranked for fewer grasps waits for the next.
                if stamp_ns >= request.not_before_ns and request.count <= ranked:
                    answered.append(request)
            for request in answered:
                self._waiting.remove(request)
        for request in answered:
            request.result = make_result(request.count)
            request.served.set()
        return len(answered)

    def failed(self, stamp_ns: int, reason: str) -> None:
        """A frame stamped ``stamp_ns`` could not be used (bad encoding...): the requests it would
        have answered keep waiting for the next one, and say why if none comes."""
        with self._lock:
            self._ranking = None
            for request in self._waiting:
                request.frames_seen += 1
                if stamp_ns >= request.not_before_ns:
                    request.problem = reason

    @staticmethod
    def _explain(request: _Request, timeout_s: float, ranking: Optional[_Ranking] = None) -> str:
        waited = f"within {timeout_s:g} s"
        if ranking is not None:
            return (f"a frame taken after the requested time was still being ranked for {ranking.ranked} grasps "
                    f"{time.monotonic() - ranking.since:.1f} s after it began, when twice the timeout of {timeout_s:g} "
                    f"s had passed (the camera is fine: ask for fewer grasps or give a longer timeout)")
        if request.problem:
            return f"no usable frame taken after the requested time came {waited}: the last one was refused: " \
                   f"{request.problem}"
        if request.frames_seen == 0:
            return f"no frame was processed {waited} (is the camera publishing?)"
        behind = (request.not_before_ns - request.newest_stamp_ns) / 1e9
        return (f"the {request.frames_seen} frame(s) processed {waited} were all taken before the requested time "
                f"(the newest {behind:.3f} s before it): is the camera's clock behind the requester's?")


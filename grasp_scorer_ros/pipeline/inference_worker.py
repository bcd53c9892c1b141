"""The thread that runs the detector: it builds it, warms it up, and then always takes the newest
frame of a one-slot mailbox, so that when the model is slower than the camera older frames are
dropped (and counted), never queued.

Everything torch does happens on this one thread, the detector's construction included: once
torch has run on one thread, its CPU kernels ran slower on another (built on the node's main
thread, detect() took 33-34 ms; built here, 21-23 ms; docs/speed.md). ROS-free: the detection node
gives it frames and a function that processes one.
"""
from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future
from typing import Callable, Generic, Optional, TypeVar

Frame = TypeVar("Frame")
WARM_UP_CALLS = 2    # calls on a blank image before the worker says it is ready


class InferenceWorker(Generic[Frame]):
    """``make_detector()`` and ``warm_up(detector)`` run on the worker thread; :meth:`start` returns
    the detector once both are done (or raises their error). Then ``process(frame)`` runs on each
    frame taken from the mailbox; an exception it raises goes to ``on_error(frame, error)`` and the
    worker goes on with the next frame."""

    def __init__(self, make_detector: Callable[[], object], warm_up: Callable[[object], None],
                 process: Callable[[Frame], None], on_error: Callable[[Frame, BaseException], None],
                 name: str = "grasp_inference"):
        self._make_detector, self._warm_up = make_detector, warm_up
        self._process, self._on_error = process, on_error
        self._condition = threading.Condition()
        self._pending: Optional[Frame] = None
        self._running = True
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._ready: Future = Future()

    def start(self):
        """Build and warm up the detector on the worker thread; return it (or raise why not)."""
        self._thread.start()
        try:
            return self._ready.result()
        except BaseException:
            self._thread.join(timeout=5.0)
            raise

    def submit(self, frame: Frame) -> bool:
        """Put ``frame`` in the mailbox; True when it replaced a frame not yet taken (dropped)."""
        with self._condition:
            dropped = self._pending is not None
            self._pending = frame
            self._condition.notify()
        return dropped

    @property
    def waiting(self) -> bool:
        """A frame waits in the mailbox (none taken yet)."""
        with self._condition:
            return self._pending is not None

    def stop(self, timeout: float = 5.0) -> None:
        """Let the frame in progress end, then stop (the one waiting is not processed)."""
        with self._condition:
            self._running = False
            self._condition.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    def _run(self) -> None:
        try:
            detector = self._make_detector()
            self._warm_up(detector)
            self._ready.set_result(detector)
        except BaseException as error:   # start() raises it: a start-up error
            self._ready.set_exception(error)
            return
        while True:
            with self._condition:
                while self._pending is None and self._running:
                    self._condition.wait(timeout=0.5)
                if not self._running:
                    return
                frame, self._pending = self._pending, None
            try:
                self._process(frame)
            except Exception as error:  # the worker keeps serving the frames that follow
                self._on_error(frame, error)


class RecentTimes:
    """The last ``size`` durations of something, for a median in a stats line (bounded memory)."""

    def __init__(self, size: int = 100):
        self._values: deque = deque(maxlen=size)

    def add(self, seconds: float) -> None:
        self._values.append(float(seconds))

    def __len__(self) -> int:
        return len(self._values)

    def median_ms(self) -> float:
        values = sorted(self._values)
        n = len(values)
        if not n:
            return float("nan")
        middle = values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])
        return 1000.0 * middle

    def max_ms(self) -> float:
        return 1000.0 * max(self._values) if self._values else float("nan")

"""Which depth frame goes with a colour frame: the one nearest in stamp, at most ``max_age`` away.

Depth and colour arrive on their own topics (RealSense's ``aligned_depth_to_color``), not always in
step; the detector keeps the newest few depth frames and pairs each colour frame with the nearest.
A depth frame taken with the colour frame may still be on its way when the colour frame is taken
up (seen in the physics cell on a loaded machine: the pair was refused with the previous depth
frame 0.5 s away), so when every depth frame held is older than ``max_age`` before the colour
frame, the pairing waits up to ``wait_s`` for the next one. ROS-free: the detection node stores the
raw messages with their stamps and gives a decoder.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Callable, Generic, Optional, TypeVar

import numpy as np

Message = TypeVar("Message")
KEPT = 8   # the newest depth frames kept for pairing


class DepthPairing(Generic[Message]):
    """``add`` from the thread that receives depth, ``depth_for`` from the one that processes colour."""

    def __init__(self, decode: Callable[[Message], np.ndarray], source: str = "the depth topic", kept: int = KEPT):
        self._decode = decode
        self._source = source
        self._frames: deque = deque(maxlen=kept)   # (stamp ns, message), newest last
        self._lock = threading.Condition()

    def add(self, stamp_ns: int, message: Message) -> None:
        with self._lock:
            self._frames.append((int(stamp_ns), message))
            self._lock.notify_all()

    def depth_for(self, stamp_ns: int, max_age_s: float, wait_s: float = 0.0) -> tuple[Optional[np.ndarray], str]:
        """The decoded depth nearest ``stamp_ns`` (metres), or None and why there is none; waits up
        to ``wait_s`` for a depth frame recent enough when every one held is too old."""
        late = int(stamp_ns - max_age_s * 1e9)
        with self._lock:
            self._lock.wait_for(lambda: any(s >= late for s, _ in self._frames), timeout=wait_s)
            frames = list(self._frames)
        if not frames:
            return None, f"no depth frame received on {self._source}"
        stamp, message = min(frames, key=lambda item: abs(item[0] - stamp_ns))
        age = abs(stamp - stamp_ns) / 1e9
        if age > max_age_s:
            return None, (f"no depth frame within depth_max_age {max_age_s:g} s of the image "
                          f"(nearest {age:.3f} s)")
        try:
            return self._decode(message), ""
        except ValueError as error:    # the decoder's format errors (DepthFormatError is one)
            return None, f"depth rejected: {error}"

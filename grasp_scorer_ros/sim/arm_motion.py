"""The simulated controller's motion: where the arm is, a move in progress, and how long a move takes.

No server and no controller state here (:mod:`.sim_controller` owns both); the arm's kinematics and
frames are :mod:`.sim_arm`'s.

* A linear move (``FRC_LinearMotion``, ``FRC_LinearRelative``) takes
  ``distance / (speed * override) * speed_scale`` seconds, or longer when its wrist turns more than
  :data:`ROTATION_SPEED_DEG_S` (times the override) allows; during it the tool position is
  interpolated (:func:`lerp_position`, the shortest turn of each of W, P, R).
* A joint move (``FRC_JointMotionJRep``, ``FRC_JointRelativeJRep``) takes its largest joint travel
  at ``Speed`` percent of :data:`JOINT_SPEED_DEG_S` (times the override); its joints are
  interpolated.
* A ``SpeedType`` of ``Time`` or ``mSec`` makes any move take ``Speed`` (milli)seconds.

No acceleration is modelled.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from grasp_scorer_ros.fanuc.rmi_protocol import Position
from grasp_scorer_ros.rotations import angle_difference_degrees

ROTATION_SPEED_DEG_S = 90.0         # wrist reorientation rate of the simulated arm
JOINT_SPEED_DEG_S = 180.0           # every joint's speed at 100 % (and 100 % override)
# The SpeedTypes of a linear move, each to mm/s.
LINEAR_SPEED_TYPES: dict[str, Callable[[float], float]] = {
    "mmSec": lambda v: v,
    "InchMin": lambda v: v * 25.4 / 60.0,
}
# The SpeedTypes that give a move's time: the move takes Speed * this seconds (linear or joint).
TIME_SPEED_TYPES = {"Time": 1.0, "mSec": 0.001}
# The SpeedType of a joint move other than a time: a percentage of JOINT_SPEED_DEG_S.
JOINT_SPEED_TYPE = "Percent"


@dataclass(frozen=True)
class Pose:
    """Where the arm is: the TCP ``position`` in user/tool ``frames``, the arm configuration
    ``(front, up, flip)``, and the joints when known exactly (after a joint move)."""

    position: Position
    frames: tuple[int, int]
    flags: tuple[int, int, int]
    joints: Optional[tuple[float, ...]] = None


@dataclass
class Motion:
    """A move in progress: linear (``start`` to ``target`` in ``frames``) or joint (``joints``)."""

    start: Pose
    target: Pose
    t0: float
    duration: float
    joints: Optional[tuple[np.ndarray, np.ndarray]] = None

    def fraction(self, t: float) -> float:
        """How much of the move is done at ``t`` (``time.monotonic()``), from 0 to 1."""
        return 1.0 if self.duration <= 0 else min(1.0, max(0.0, (t - self.t0) / self.duration))


def lerp_position(s: Position, e: Position, a: float) -> Position:
    """The position a fraction ``a`` of the way from ``s`` to ``e``; W, P, R take the shortest turn
    (an orientation lerp is enough for a simulation)."""
    lerp = lambda u, v: u + (v - u) * a  # noqa: E731
    return Position(lerp(s.x, e.x), lerp(s.y, e.y), lerp(s.z, e.z),
                    lerp(s.w, s.w + angle_difference_degrees(e.w, s.w)),
                    lerp(s.p, s.p + angle_difference_degrees(e.p, s.p)),
                    lerp(s.r, s.r + angle_difference_degrees(e.r, s.r)))


def linear_duration_s(packet: dict, start: Position, target: Position, override: int,
                      speed_scale: float) -> float:
    """Seconds a linear move (a checked ``packet``) from ``start`` to ``target`` takes at
    ``override`` percent, times ``speed_scale``."""
    if packet["SpeedType"] in TIME_SPEED_TYPES:       # the move takes Speed (milli)seconds
        return packet["Speed"] * TIME_SPEED_TYPES[packet["SpeedType"]] * speed_scale
    speed = LINEAR_SPEED_TYPES[packet["SpeedType"]](packet["Speed"]) * override / 100.0
    rotation = max(abs(angle_difference_degrees(a, b)) for a, b in
                   ((target.w, start.w), (target.p, start.p), (target.r, start.r)))
    rotation_rate = ROTATION_SPEED_DEG_S * override / 100.0
    return max(start.distance_mm(target) / speed, rotation / rotation_rate) * speed_scale


def joint_duration_s(packet: dict, travel_deg: float, override: int, speed_scale: float) -> float:
    """Seconds a joint move (a checked ``packet``) whose largest joint travel is ``travel_deg``
    takes at ``override`` percent, times ``speed_scale``."""
    if packet["SpeedType"] in TIME_SPEED_TYPES:
        return packet["Speed"] * TIME_SPEED_TYPES[packet["SpeedType"]] * speed_scale
    rate = JOINT_SPEED_DEG_S * packet["Speed"] / 100.0 * override / 100.0
    return travel_deg / rate * speed_scale

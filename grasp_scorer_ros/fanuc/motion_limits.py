"""The limits every motion must respect, checked where a pick is planned and again before each move
leaves the process.

:class:`MotionLimits` is the cell's envelope in the controller's user frame: a workspace box that the
tool centre point (TCP) and the commanded point (the flange, when the bridge applies the tool offset
itself) must stay in, a table plane plus clearance the TCP never goes below, a speed cap, and a
largest tilt of the tool axis from straight down. The planner checks every target of a plan with it
(:func:`MotionLimits.check_point`); the RMI client checks every linear move once more just before
it is written to the socket (:func:`MotionLimits.check_move`), so that no caller of the API can send
a move outside the limits. A move that breaks a limit raises :class:`PickRejected`, naming the limit;
it is never clipped into a different motion.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from grasp_scorer_ros.fanuc.rmi_protocol import Configuration, Position
from grasp_scorer_ros.rotations import wpr_to_matrix


class PickRejected(ValueError):
    """A grasp or a move outside the configured limits (nothing was sent)."""

    def __init__(self, reason: str, limit: str, step: Optional[str] = None):
        self.reason = reason
        # "input", "opening", "tilt", "speed", "workspace", "table", "frame"
        self.limit = limit
        self.step = step
        super().__init__(f"{step}: {reason}" if step else reason)


@dataclass(frozen=True)
class MotionLimits:
    """The envelope of every move. Lengths in metres in the user frame ``uframe_number`` (z up),
    speeds in mm/s; ``tool_offset_m``: the TCP lies this far along tool z from the commanded point
    (0 when the controller's UTool ``utool_number`` already is the TCP)."""

    workspace_min_m: tuple[float, float, float]
    workspace_max_m: tuple[float, float, float]
    floor_m: float                       # the TCP never goes below this height
    max_speed_mm_s: float
    max_tilt_deg: float
    tool_offset_m: float = 0.0
    uframe_number: int = 0
    utool_number: int = 1

    def check_point(self, step: Optional[str], tcp_m: Sequence[float], commanded_m: Sequence[float]) -> None:
        """TCP and commanded point inside the box, the TCP above the floor (metres)."""
        lo, hi = self.workspace_min_m, self.workspace_max_m
        points = [("TCP", tcp_m)] if tcp_m is commanded_m else [("TCP", tcp_m), ("flange", commanded_m)]
        for label, point in points:
            for axis, value, a, b in zip("xyz", point, lo, hi):
                if not a <= value <= b:
                    raise PickRejected(f"{label} {axis} = {value:.3f} m outside the workspace "
                                       f"[{a:.3f}, {b:.3f}] m", "workspace", step)
        if tcp_m[2] < self.floor_m:
            raise PickRejected(f"TCP z = {tcp_m[2]:.3f} m below the floor {self.floor_m:.3f} m "
                               f"(table plus clearance)", "table", step)

    def check_speed(self, step: Optional[str], speed_mm_s: float) -> None:
        if not 1.0 <= speed_mm_s <= self.max_speed_mm_s:
            raise PickRejected(f"speed {speed_mm_s} mm/s outside 1..{self.max_speed_mm_s} mm/s (speed cap)",
                               "speed", step)

    def check_tilt(self, step: Optional[str], rotation: np.ndarray) -> None:
        """The tool axis (``rotation``'s z column) within ``max_tilt_deg`` of straight down."""
        tilt = math.degrees(math.acos(float(np.clip(-rotation[2, 2], -1.0, 1.0))))
        if tilt > self.max_tilt_deg:
            raise PickRejected(f"tool axis is {tilt:.1f} deg from straight down (limit "
                               f"{self.max_tilt_deg:.1f} deg)", "tilt", step)

    @staticmethod
    def check_finite(step: Optional[str], position: Position) -> None:
        """Every coordinate a number: a NaN angle passes every comparison below (each is False) and
        would go out as ``"W":NaN``, which is not JSON."""
        bad = [f"{name.upper()} = {value}" for name, value in vars(position).items() if not math.isfinite(value)]
        if bad:
            raise PickRejected(f"position has non-finite {', '.join(bad)}", "input", step)

    def tcp_of(self, position: Position) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(tcp_m, commanded_m, rotation)`` of a commanded position (mm, deg)."""
        rotation = wpr_to_matrix(position.w, position.p, position.r)
        commanded = np.array([position.x, position.y, position.z]) / 1000.0
        tcp = commanded + self.tool_offset_m * rotation[:, 2] if self.tool_offset_m else commanded
        return tcp, commanded, rotation

    def check_position(self, step: Optional[str], position: Position) -> None:
        """Where the arm is (e.g. before a pick starts): inside the box and above the floor."""
        self.check_finite(step, position)
        tcp, commanded, _ = self.tcp_of(position)
        self.check_point(step, tcp, commanded if self.tool_offset_m else tcp)

    def check_move(self, position: Position, configuration: Configuration, speed_mm_s: float,
                   step: Optional[str] = None) -> None:
        """Everything about one linear move: frames, speed, tilt, box and floor."""
        frames = (configuration.uframe_number, configuration.utool_number)
        if frames != (self.uframe_number, self.utool_number):
            raise PickRejected(f"move in UFrame/UTool {frames}, the limits are for "
                               f"{(self.uframe_number, self.utool_number)}", "frame", step)
        self.check_speed(step, speed_mm_s)
        self.check_finite(step, position)
        tcp, commanded, rotation = self.tcp_of(position)
        self.check_tilt(step, rotation)
        self.check_point(step, tcp, commanded if self.tool_offset_m else tcp)

"""Pick planning: from a grasp pose to the RMI moves and gripper actions of one pick-and-place.

Pure functions on numbers (numpy, no sockets, no ROS): the bridge node turns a ``GraspPose`` into
:func:`plan_pick`'s arguments, and :mod:`grasp_scorer_ros.fanuc.pick_executor` sends the result.

Conventions
-----------
* Inputs are metres and radians in the controller's active **user frame** (z up; the bridge
  transforms the grasp into it). Quaternions are ``[x, y, z, w]`` (ROS order).
* The grasp pose is the gripper's tool centre point (TCP) at the grasp, with tool z pointing down
  into the surface and tool y along the jaws' closing axis; a top-down grasp is
  ``W, P, R = 180, 0, yaw`` in FANUC's terms.
* Outputs are millimetres and degrees, orientation as FANUC W, P, R: rotations about the *fixed*
  X, Y, Z axes, ``R_tool = Rz(R) · Ry(P) · Rx(W)`` (the same as ROS roll, pitch, yaw; conversions in
  :mod:`grasp_scorer_ros.rotations`).
* Tool offset: when no UTool is taught for the gripper (``apply_tool_offset``), the commanded
  point is the flange, ``tool_offset_m`` behind the TCP along tool z.

The plan: open the jaws, approach above the grasp (along the tool axis), descend (FINE), close the
jaws (only once the descend is acknowledged), lift straight up, move above the place pose, descend
to it (FINE), open the jaws, retreat upwards. Every target is checked before anything is sent:
inside the workspace box (TCP and commanded point), the TCP above the table plus a clearance,
speeds under the cap, the opening within the gripper's, the tool axis within a tilt of vertical.
The box and the table's half-space are convex, so the straight segments between checked targets
stay inside them too. A grasp that breaks a limit raises :class:`PickRejected` naming the limit;
it is never clipped into a different motion.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from grasp_scorer_ros.fanuc.rmi_protocol import Position
from grasp_scorer_ros.rotations import matrix_to_wpr, quaternion_to_matrix, wpr_to_matrix

logger = logging.getLogger(__name__)

# Step names (reported to the operator as the pick's progress).
OPEN_GRIPPER = "open-gripper"
APPROACH = "approach-above"
DESCEND = "descend"
CLOSE_GRIPPER = "close-gripper"
LIFT = "lift"
PLACE_ABOVE = "place-above"
PLACE_DESCEND = "place-descend"
RELEASE = "release"
RETREAT = "retreat"


class PickRejected(ValueError):
    """A grasp that cannot be picked within the configured limits (nothing was sent)."""

    def __init__(self, reason: str, limit: str, step: Optional[str] = None):
        self.reason = reason
        self.limit = limit          # "input", "opening", "tilt", "speed", "workspace", "table"
        self.step = step
        super().__init__(f"{step}: {reason}" if step else reason)


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PickConfig:
    """Everything a pick needs besides the grasp. Lengths in metres (user frame), speeds in mm/s."""

    # Frames on the controller (FRC_SetUFrameUTool) and speed override (percent).
    uframe_number: int = 0
    utool_number: int = 1
    override_percent: int = 100
    # Geometry.
    approach_height_m: float = 0.10         # approach point, back from the grasp along tool z
    lift_height_m: float = 0.15             # straight up from the grasp after closing
    place_position_m: tuple[float, float, float] = (0.40, -0.30, 0.05)   # TCP at release
    place_yaw_rad: float = 0.0              # top-down tool at the place pose, rotated about z
    place_approach_height_m: float = 0.10   # above the place pose (place-above, retreat)
    tool_offset_m: float = 0.0              # TCP distance from the flange along tool z
    apply_tool_offset: bool = False         # True when no UTool is taught: command the flange
    max_tilt_deg: float = 30.0              # tool z may deviate this much from straight down
    # Safety limits.
    workspace_min_m: tuple[float, float, float] = (0.20, -0.60, 0.00)
    workspace_max_m: tuple[float, float, float] = (0.90, 0.60, 0.60)
    table_height_m: float = 0.0
    min_clearance_m: float = 0.005          # the TCP never goes lower than table + this
    speed_mm_s: float = 250.0               # moves in free space
    approach_speed_mm_s: float = 50.0       # moves near the object or the place surface
    max_speed_mm_s: float = 500.0           # cap on every move
    # Gripper on a digital output.
    gripper_dout_port: int = 1
    gripper_close_on: bool = True           # polarity: the DO value that closes the jaws
    gripper_max_opening_m: float = 0.085    # widest jaw travel
    gripper_settle_s: float = 0.5           # wait after switching the jaws before moving

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "PickConfig":
        """Build from a parameter dict (e.g. YAML); unknown keys are an error, lists become tuples."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown pick parameters: {unknown}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def __post_init__(self) -> None:
        lo, hi = np.asarray(self.workspace_min_m, float), np.asarray(self.workspace_max_m, float)
        if lo.shape != (3,) or hi.shape != (3,) or np.any(lo >= hi):
            raise ValueError(f"workspace box min {self.workspace_min_m} must be below max {self.workspace_max_m}")
        if len(self.place_position_m) != 3:
            raise ValueError("place_position_m needs x, y, z")
        if not 1 <= self.override_percent <= 100:
            raise ValueError(f"override_percent {self.override_percent} outside 1..100")
        for name in ("approach_height_m", "lift_height_m", "place_approach_height_m",
                     "gripper_max_opening_m", "max_speed_mm_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.tool_offset_m < 0 or self.min_clearance_m < 0 or self.gripper_settle_s < 0:
            raise ValueError("tool_offset_m, min_clearance_m and gripper_settle_s must not be negative")


# ---------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinearMove:
    """An ``FRC_LinearMotion`` target: the commanded point in mm and W, P, R in degrees."""

    position: Position
    speed_mm_s: int
    term_type: str = "FINE"
    term_value: int = 0


@dataclass(frozen=True)
class GripperAction:
    """Switch the gripper's digital output; ``close`` says what the jaws do."""

    port: int
    on: bool
    close: bool
    settle_s: float


@dataclass(frozen=True)
class PickStep:
    """One step of a pick: either a linear move or a gripper action."""

    name: str
    move: Optional[LinearMove] = None
    gripper: Optional[GripperAction] = None

    def __post_init__(self) -> None:
        if (self.move is None) == (self.gripper is None):
            raise ValueError(f"step {self.name!r} needs exactly one of move, gripper")


# ---------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------
def plan_pick(grasp_position_m: Sequence[float], quaternion_xyzw: Sequence[float],
              opening_width_m: float, config: PickConfig) -> list[PickStep]:
    """The steps of one pick-and-place, every target checked; raises :class:`PickRejected`."""
    p = np.asarray(grasp_position_m, dtype=np.float64)
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        raise PickRejected(f"grasp position {grasp_position_m!r} is not three finite numbers", "input")
    try:
        rot = quaternion_to_matrix(quaternion_xyzw)
    except ValueError as exc:
        raise PickRejected(str(exc), "input") from None
    if not math.isfinite(opening_width_m) or opening_width_m < 0:
        raise PickRejected(f"opening width {opening_width_m!r} m is not a width", "input")
    if opening_width_m > config.gripper_max_opening_m:
        raise PickRejected(f"opening width {opening_width_m:.4f} m exceeds the gripper's maximum "
                           f"opening {config.gripper_max_opening_m:.4f} m", "opening")
    tool_z = rot[:, 2]
    tilt = math.degrees(math.acos(float(np.clip(-tool_z[2], -1.0, 1.0))))
    if tilt > config.max_tilt_deg:
        raise PickRejected(f"tool axis is {tilt:.1f} deg from straight down (limit "
                           f"{config.max_tilt_deg:.1f} deg)", "tilt")
    for name in ("speed_mm_s", "approach_speed_mm_s"):
        speed = getattr(config, name)
        if not 1.0 <= speed <= config.max_speed_mm_s:
            raise PickRejected(f"{name} {speed} mm/s outside 1..{config.max_speed_mm_s} mm/s (speed cap)",
                               "speed")

    up = np.array([0.0, 0.0, 1.0])
    place_rot = wpr_to_matrix(180.0, 0.0, math.degrees(config.place_yaw_rad))
    place = np.asarray(config.place_position_m, dtype=np.float64)
    fast, slow = config.speed_mm_s, config.approach_speed_mm_s
    opening = GripperAction(config.gripper_dout_port, not config.gripper_close_on, close=False,
                            settle_s=config.gripper_settle_s)
    closing = GripperAction(config.gripper_dout_port, config.gripper_close_on, close=True,
                            settle_s=config.gripper_settle_s)

    steps = [
        PickStep(OPEN_GRIPPER, gripper=opening),
        _move(APPROACH, p - config.approach_height_m * tool_z, rot, fast, config),
        _move(DESCEND, p, rot, slow, config),
        PickStep(CLOSE_GRIPPER, gripper=closing),
        _move(LIFT, p + config.lift_height_m * up, rot, slow, config),
        _move(PLACE_ABOVE, place + config.place_approach_height_m * up, place_rot, fast, config),
        _move(PLACE_DESCEND, place, place_rot, slow, config),
        PickStep(RELEASE, gripper=opening),
        _move(RETREAT, place + config.place_approach_height_m * up, place_rot, slow, config),
    ]
    logger.debug("planned pick: %s", steps)
    return steps


def _move(name: str, tcp_m: np.ndarray, rot: np.ndarray, speed_mm_s: float, config: PickConfig) -> PickStep:
    """A checked FINE linear move that puts the TCP at ``tcp_m`` with orientation ``rot``."""
    commanded = _commanded_point(tcp_m, rot, config)
    _check_point(name, tcp_m, commanded, config)
    w, p, r = matrix_to_wpr(rot)
    x, y, z = (commanded * 1000.0).tolist()
    return PickStep(name, move=LinearMove(Position(x, y, z, w, p, r), int(round(speed_mm_s))))


def _commanded_point(tcp_m: np.ndarray, rot: np.ndarray, config: PickConfig) -> np.ndarray:
    if not config.apply_tool_offset:
        return tcp_m
    return tcp_m - config.tool_offset_m * rot[:, 2]      # the flange sits behind the TCP


def _check_point(step: str, tcp_m: np.ndarray, commanded_m: np.ndarray, config: PickConfig) -> None:
    lo, hi = config.workspace_min_m, config.workspace_max_m
    for label, point in (("TCP", tcp_m), ("flange", commanded_m)):
        for axis, value, a, b in zip("xyz", point, lo, hi):
            if not a <= value <= b:
                raise PickRejected(f"{label} {axis} = {value:.3f} m outside the workspace "
                                   f"[{a:.3f}, {b:.3f}] m", "workspace", step)
        if commanded_m is tcp_m:
            break
    floor = config.table_height_m + config.min_clearance_m
    if tcp_m[2] < floor:
        raise PickRejected(f"TCP z = {tcp_m[2]:.3f} m below the table ({config.table_height_m:.3f} m) "
                           f"plus clearance {config.min_clearance_m:.3f} m", "table", step)


def check_start_position(position: Position, config: PickConfig) -> None:
    """Reject a pick when the arm is outside the limits now: the first move starts there.

    ``position`` is the controller's current position (mm, deg) of the commanded point.
    """
    rot = wpr_to_matrix(position.w, position.p, position.r)
    commanded = np.array([position.x, position.y, position.z]) / 1000.0
    tcp = commanded + config.tool_offset_m * rot[:, 2] if config.apply_tool_offset else commanded
    _check_point("start", tcp, commanded, config)

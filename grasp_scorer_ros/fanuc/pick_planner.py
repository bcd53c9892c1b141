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
to it (FINE), open the jaws, retreat upwards. Every target is checked before anything is sent
(:class:`~grasp_scorer_ros.fanuc.motion_limits.MotionLimits`): inside the workspace box (TCP and
commanded point), the TCP above the table plus a clearance, speeds under the cap, the opening within
the gripper's, the tool axis within a tilt of vertical. The box and the table's half-space are
convex, so the straight segments between checked targets stay inside them too. A grasp that breaks
a limit raises :class:`PickRejected` naming the limit; it is never clipped into a different motion.

When the jaws may still hold a part (a pick failed after closing them), :func:`plan_unload` gives
the steps that deliver it first: straight up from where the arm stopped, then to the place pose,
where the jaws open; never open over the scene.

With a part-present input (``part_present_port``: a proximity or finger-position switch wired to a
digital input), the plan checks it after the jaws close and again after the lift (``check`` steps,
read with ``FRC_ReadDIN``). A check that reads "empty" makes the pick a miss: the executor opens the
jaws and goes straight up (:func:`plan_miss_recovery`), never to the place pose with empty jaws.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from grasp_scorer_ros.fanuc.motion_limits import MotionLimits, PickRejected
from grasp_scorer_ros.fanuc.rmi_protocol import Position
from grasp_scorer_ros.rotations import matrix_to_wpr, quaternion_to_matrix, wpr_to_matrix

logger = logging.getLogger(__name__)

# Step names (reported to the operator as the pick's progress).
OPEN_GRIPPER = "open-gripper"
APPROACH = "approach-above"
DESCEND = "descend"
CLOSE_GRIPPER = "close-gripper"
CHECK_HELD = "check-held"                 # the part-present input, after the close
LIFT = "lift"
CHECK_STILL_HELD = "check-still-held"     # and after the lift
PLACE_ABOVE = "place-above"
PLACE_DESCEND = "place-descend"
RELEASE = "release"
RETREAT = "retreat"
# Delivering a part still in the jaws before a new pick (plan_unload).
CLEAR_UP = "clear-up"
UNLOAD_ABOVE = "unload-above"
UNLOAD_DESCEND = "unload-descend"
UNLOAD_RELEASE = "unload-release"
UNLOAD_RETREAT = "unload-retreat"
MISS_RELEASE = "miss-release"             # after a check read empty: open the jaws where they are
MISS_RETREAT = "miss-retreat"             # then straight up
SIMULATED_PART_PRESENT_PORT = 1           # where the simulated cells wire their part-present sensor


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PickConfig:
    """Everything a pick needs besides the grasp. Lengths in metres (user frame), speeds in mm/s.

    These defaults are the only ones: the bridge node declares its ``pick.*`` parameters from them
    and ``config/fanuc_bridge.yaml`` repeats them (a test checks both). They fit the bundled demo:
    table at z = 0 in base_link, grasps within x 0.3..0.9 m, y -0.35..0.35 m, objects up to 0.09 m
    wide; the place pose lies outside the camera's view.
    """

    # Frames on the controller (FRC_SetUFrameUTool) and speed override (percent).
    uframe_number: int = 0
    utool_number: int = 1
    override_percent: int = 100
    # Geometry.
    approach_height_m: float = 0.10         # approach point, back from the grasp along tool z
    lift_height_m: float = 0.15             # straight up from the grasp after closing
    place_position_m: tuple[float, float, float] = (0.35, -0.45, 0.10)   # TCP at release
    place_yaw_rad: float = 0.0              # top-down tool at the place pose, rotated about z
    place_approach_height_m: float = 0.10   # above the place pose (place-above, retreat)
    tool_offset_m: float = 0.0              # TCP distance from the flange along tool z
    apply_tool_offset: bool = False         # True when no UTool is taught: command the flange
    max_tilt_deg: float = 30.0              # tool z may deviate this much from straight down
    # Safety limits.
    workspace_min_m: tuple[float, float, float] = (0.20, -0.50, 0.00)
    workspace_max_m: tuple[float, float, float] = (1.00, 0.50, 0.60)
    table_height_m: float = 0.0
    min_clearance_m: float = 0.005          # the TCP never goes lower than table + this
    speed_mm_s: float = 250.0               # moves in free space
    approach_speed_mm_s: float = 50.0       # moves near the object or the place surface
    max_speed_mm_s: float = 500.0           # cap on every move
    # Gripper on a digital output.
    gripper_dout_port: int = 1
    gripper_close_on: bool = True           # polarity: the DO value that closes the jaws
    gripper_max_opening_m: float = 0.10     # widest jaw travel
    gripper_settle_s: float = 0.5           # wait after switching the jaws before moving
    # Part-present input (a sensor that says whether the jaws hold something); port 0: none, the
    # picks are unverified.
    part_present_port: int = 0
    part_present_on: bool = True            # polarity: the DI value that means "holding"
    part_present_wait_s: float = 1.0        # after the close, how long the input may take to say "holding"

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
        if self.part_present_wait_s < 0:
            raise ValueError(f"part_present_wait_s must not be negative, got {self.part_present_wait_s}")
        if self.part_present_port < 0:
            raise ValueError(f"part_present_port must be 0 (none) or a port number, got {self.part_present_port}")

    @property
    def verified(self) -> bool:
        """Whether picks are checked with a part-present input."""
        return self.part_present_port > 0

    def motion_limits(self) -> MotionLimits:
        """The envelope every move of a pick must stay in (also checked by the RMI client)."""
        return MotionLimits(
            workspace_min_m=tuple(self.workspace_min_m), workspace_max_m=tuple(self.workspace_max_m),
            floor_m=self.table_height_m + self.min_clearance_m, max_speed_mm_s=self.max_speed_mm_s,
            max_tilt_deg=self.max_tilt_deg,
            tool_offset_m=self.tool_offset_m if self.apply_tool_offset else 0.0,
            uframe_number=self.uframe_number, utool_number=self.utool_number)


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
class PartCheck:
    """Read the part-present input (``FRC_ReadDIN``); ``holding`` is the value that means a part is
    in the jaws. ``stage``: ``"close"`` (right after closing) or ``"lift"`` (after the lift)."""

    port: int
    holding: bool
    stage: str
    wait_s: float = 0.0          # how long the input may take to say "holding" (polled)


@dataclass(frozen=True)
class PickStep:
    """One step of a pick: a linear move, a gripper action, or a check of the part-present input."""

    name: str
    move: Optional[LinearMove] = None
    gripper: Optional[GripperAction] = None
    check: Optional[PartCheck] = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.move, self.gripper, self.check)) != 1:
            raise ValueError(f"step {self.name!r} needs exactly one of move, gripper, check")


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
    limits = config.motion_limits()
    limits.check_tilt(None, rot)
    for name in ("speed_mm_s", "approach_speed_mm_s"):
        try:
            limits.check_speed(None, getattr(config, name))
        except PickRejected as error:
            raise PickRejected(f"{name}: {error}", "speed") from None

    fast, slow = config.speed_mm_s, config.approach_speed_mm_s
    checks = config.verified
    steps = [
        PickStep(OPEN_GRIPPER, gripper=_gripper(config, close=False)),
        _move(APPROACH, p - config.approach_height_m * tool_z, rot, fast, config),
        _move(DESCEND, p, rot, slow, config),
        PickStep(CLOSE_GRIPPER, gripper=_gripper(config, close=True)),
        *([PickStep(CHECK_HELD, check=_check(config, "close"))] if checks else []),
        _move(LIFT, p + config.lift_height_m * _UP, rot, slow, config),
        *([PickStep(CHECK_STILL_HELD, check=_check(config, "lift"))] if checks else []),
        *_place(config, (PLACE_ABOVE, PLACE_DESCEND, RELEASE, RETREAT)),
    ]
    logger.debug("planned pick: %s", steps)
    return steps


def plan_unload(start: Position, config: PickConfig) -> list[PickStep]:
    """Deliver a part that may still be in the jaws, from ``start`` (the arm's commanded point now,
    mm and deg): straight up to the place pose's approach height (if below it), over to the place
    pose, down, open the jaws, back up. Raises :class:`PickRejected` when ``start`` is outside the
    limits (the arm must be brought back by hand first)."""
    limits = config.motion_limits()
    limits.check_position(CLEAR_UP, start)
    tcp, _, rot = limits.tcp_of(start)
    safe_z = config.place_position_m[2] + config.place_approach_height_m
    steps = []
    if tcp[2] < safe_z:
        steps.append(_move(CLEAR_UP, np.array([tcp[0], tcp[1], safe_z]), rot, config.approach_speed_mm_s,
                           config))
    return steps + _place(config, (UNLOAD_ABOVE, UNLOAD_DESCEND, UNLOAD_RELEASE, UNLOAD_RETREAT))


def plan_miss_recovery(start: Position, config: PickConfig) -> list[PickStep]:
    """After a check read "empty": open the jaws where they are (nothing is held, so nothing drops),
    then straight up by ``approach_height_m`` (capped by the workspace's top), away from the scene.
    ``start``: the arm's commanded point now (mm, deg)."""
    limits = config.motion_limits()
    tcp, _, rot = limits.tcp_of(start)
    top = config.workspace_max_m[2] - 1e-3
    up = np.array([tcp[0], tcp[1], min(tcp[2] + config.approach_height_m, top)])
    return [PickStep(MISS_RELEASE, gripper=_gripper(config, close=False)),
            _move(MISS_RETREAT, up, rot, config.approach_speed_mm_s, config)]


_UP = np.array([0.0, 0.0, 1.0])


def _check(config: PickConfig, stage: str) -> PartCheck:
    # After the close the jaws may still be travelling: the input gets part_present_wait_s to say so.
    return PartCheck(config.part_present_port, config.part_present_on, stage,
                     config.part_present_wait_s if stage == "close" else 0.0)


def _gripper(config: PickConfig, close: bool) -> GripperAction:
    on = config.gripper_close_on if close else not config.gripper_close_on
    return GripperAction(config.gripper_dout_port, on, close=close, settle_s=config.gripper_settle_s)


def _place(config: PickConfig, names: Sequence[str]) -> list[PickStep]:
    """Above the place pose, down to it, open the jaws, back up (step names in that order)."""
    above, descend, release, retreat = names
    rot = wpr_to_matrix(180.0, 0.0, math.degrees(config.place_yaw_rad))
    place = np.asarray(config.place_position_m, dtype=np.float64)
    top = place + config.place_approach_height_m * _UP
    return [_move(above, top, rot, config.speed_mm_s, config),
            _move(descend, place, rot, config.approach_speed_mm_s, config),
            PickStep(release, gripper=_gripper(config, close=False)),
            _move(retreat, top, rot, config.approach_speed_mm_s, config)]


def _move(name: str, tcp_m: np.ndarray, rot: np.ndarray, speed_mm_s: float, config: PickConfig) -> PickStep:
    """A checked FINE linear move that puts the TCP at ``tcp_m`` with orientation ``rot``."""
    commanded = _commanded_point(tcp_m, rot, config)
    config.motion_limits().check_point(name, tcp_m, commanded)
    w, p, r = matrix_to_wpr(rot)
    x, y, z = (commanded * 1000.0).tolist()
    return PickStep(name, move=LinearMove(Position(x, y, z, w, p, r), int(round(speed_mm_s))))


def _commanded_point(tcp_m: np.ndarray, rot: np.ndarray, config: PickConfig) -> np.ndarray:
    if not config.apply_tool_offset:
        return tcp_m
    return tcp_m - config.tool_offset_m * rot[:, 2]      # the flange sits behind the TCP


def check_start_position(position: Position, config: PickConfig) -> None:
    """Reject a pick when the arm is outside the limits now: the first move starts there.

    ``position`` is the controller's current position (mm, deg) of the commanded point.
    """
    config.motion_limits().check_position("start", position)

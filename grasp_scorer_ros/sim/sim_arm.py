"""Kinematics and frames of the simulated controller's arm (numpy only, millimetres and degrees).

A generic six-axis arm with a spherical wrist, about the size of a 20 kg / 1.8 m FANUC arm: J1
turns about the base's z axis; J2 tilts the upper arm from vertical (positive: forward); J3 is the
forearm's angle from horizontal (positive: down), independent of J2 as on FANUC arms; J4, J5, J6
form the wrist (J4 about the forearm, J5 bends, J6 about the flange). At J = 0 the upper arm is
vertical, the forearm horizontal and the flange faces forward; J5 = -90 points it straight down.
:meth:`SimArm.inverse` takes the arm configuration of an RMI ``Configuration`` (Front, Up, Flip).
No joint limits and no collisions are modelled.

Poses are 4x4 matrices of the flange in the world frame; :func:`position_matrix` and
:func:`matrix_position` convert an RMI ``Position`` (X, Y, Z, W, P, R) to and from one. User and tool
frames are such matrices too: a position in user frame U for tool T is ``U^-1 @ flange @ T``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from grasp_scorer_ros.fanuc.rmi_protocol import Position
from grasp_scorer_ros.rotations import matrix_to_wpr, wpr_to_matrix, wrap_degrees, wrap_radians

JOINTS = ("J1", "J2", "J3", "J4", "J5", "J6")
_EPS = 1e-9


def position_matrix(position: Position) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = wpr_to_matrix(position.w, position.p, position.r)
    m[:3, 3] = (position.x, position.y, position.z)
    return m


def matrix_position(m: np.ndarray) -> Position:
    w, p, r = matrix_to_wpr(m[:3, :3])
    x, y, z = (float(v) for v in m[:3, 3])
    return Position(x, y, z, w, p, r)


def _rot(axis: str, deg: float) -> np.ndarray:
    return wpr_to_matrix(*(deg if a == axis else 0.0 for a in "xyz"))


_FLANGE_MOUNT = _rot("y", 90.0)      # the flange's z axis lies along the forearm at J4..J6 = 0


@dataclass(frozen=True)
class SimArm:
    """Link lengths in mm: ``base_height`` (J2 axis above the base), ``shoulder_offset`` (J2 axis
    in front of J1's), ``upper_arm`` (J2 to J3), ``forearm`` (J3 to the wrist centre), ``flange``
    (wrist centre to the flange)."""

    base_height: float = 450.0
    shoulder_offset: float = 150.0
    upper_arm: float = 800.0
    forearm: float = 850.0
    flange: float = 100.0

    def forward(self, joints) -> np.ndarray:
        """The flange pose (4x4, world) at ``joints`` (degrees, J1..J6)."""
        j1, j2, j3, j4, j5, j6 = (float(j) for j in joints)
        r2, r3 = math.radians(j2), math.radians(j3)
        wrist_local = np.array([self.shoulder_offset + self.upper_arm * math.sin(r2) + self.forearm * math.cos(r3),
                                0.0,
                                self.base_height + self.upper_arm * math.cos(r2) - self.forearm * math.sin(r3)])
        base = _rot("z", j1)
        rotation = base @ _rot("y", j3) @ _rot("x", j4) @ _rot("y", -j5) @ _rot("x", j6) @ _FLANGE_MOUNT
        m = np.eye(4)
        m[:3, :3] = rotation
        m[:3, 3] = base @ wrist_local + self.flange * rotation[:, 2]
        return m

    def inverse(self, flange: np.ndarray, front: int = 1, up: int = 1, flip: int = 0) -> Optional[np.ndarray]:
        """Joint angles (degrees) that put the flange at ``flange`` in the given configuration, or
        None when the arm cannot reach it."""
        rotation = flange[:3, :3]
        wrist = flange[:3, 3] - self.flange * rotation[:, 2]
        j1 = math.degrees(math.atan2(wrist[1], wrist[0])) if abs(wrist[0]) + abs(wrist[1]) > _EPS else 0.0
        if not front:
            j1 += 180.0
        j1 = wrap_degrees(j1)
        c1, s1 = math.cos(math.radians(j1)), math.sin(math.radians(j1))
        r = c1 * wrist[0] + s1 * wrist[1] - self.shoulder_offset      # along the arm, from J2's axis
        z = wrist[2] - self.base_height
        d = math.hypot(r, z)
        a, b = self.upper_arm, self.forearm
        if d < _EPS or not abs(a - b) <= d <= a + b:
            return None
        elbow = math.acos(max(-1.0, min(1.0, (a * a + d * d - b * b) / (2 * a * d))))
        upper = math.atan2(z, r) + (elbow if up else -elbow)          # upper arm from horizontal
        fr, fz = r - a * math.cos(upper), z - a * math.sin(upper)
        j2 = 90.0 - math.degrees(upper)
        j3 = -math.degrees(math.atan2(fz, fr))
        wrist_rotation = (_rot("z", j1) @ _rot("y", j3)).T @ rotation @ _FLANGE_MOUNT.T   # Rx(J4) Ry(-J5) Rx(J6)
        bend = math.acos(max(-1.0, min(1.0, wrist_rotation[0, 0])))
        if flip:
            bend = -bend
        if abs(math.sin(bend)) < 1e-9:          # J4 and J6 line up: keep J4 at 0
            j4 = 0.0
            rest = _rot("y", math.degrees(bend)).T @ wrist_rotation
            j6 = math.degrees(math.atan2(rest[2, 1], rest[1, 1]))
        else:
            sign = 1.0 if bend > 0 else -1.0
            j4 = math.degrees(math.atan2(sign * wrist_rotation[1, 0], -sign * wrist_rotation[2, 0]))
            j6 = math.degrees(math.atan2(sign * wrist_rotation[0, 1], sign * wrist_rotation[0, 2]))
        return np.array([j1, wrap_degrees(j2), wrap_degrees(j3), j4, -math.degrees(bend), j6])

    def configuration(self, joints) -> tuple[int, int, int]:
        """``(front, up, flip)`` of ``joints``, as :meth:`inverse` takes them."""
        j1, j2 = math.radians(float(joints[0])), math.radians(float(joints[1]))
        flange = self.forward(joints)
        wrist = flange[:3, 3] - self.flange * flange[:3, 2]
        along = math.cos(j1) * wrist[0] + math.sin(j1) * wrist[1]
        r, z = along - self.shoulder_offset, wrist[2] - self.base_height
        above = wrap_radians(math.pi / 2 - j2 - math.atan2(z, r))
        up = above >= 0.0          # the upper arm above the line from J2's axis to the wrist
        return int(along >= 0.0), int(up), int(float(joints[4]) > 0.0)

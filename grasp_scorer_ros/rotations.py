"""Rotations in 3D: quaternions, rotation matrices, FANUC W, P, R angles and angle wrapping (numpy only).

The one home of this maths for the package: the camera calibration (camera pose, gripper pose), the
FANUC pick planner and RMI client, and the simulated controller and its arm all use it.

* Quaternions are ``[x, y, z, w]`` (ROS order) everywhere; functions that return one return it
  with ``w >= 0``.
* A rotation matrix ``R`` maps coordinates in the rotated frame to the reference frame
  (``p_ref = R p``): its columns are the rotated frame's axes.
* FANUC **W, P, R** (degrees) are rotations about the *fixed* X, then Y, then Z axes,
  ``R = Rz(R) Ry(P) Rx(W)``: ROS's roll, pitch, yaw. A top-down tool with yaw ``a`` on a horizontal
  table is ``W, P, R = 180, 0, a``.
* Angles of a full turn are wrapped with :func:`wrap_degrees` (to ``[-180, 180)``),
  :func:`angle_difference_degrees` and :func:`wrap_radians`. (A grasp's angle, with its 180-degree
  symmetry, is another convention: :func:`grasp_scorer_ros.grasp.normalize_angle`.)

Invalid input raises :class:`RotationError` (a ``ValueError``).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

# A quaternion whose norm is this far from 1 is a typo or a wrong field order, not rounding.
QUATERNION_NORM_TOLERANCE = 1e-2
# Below this cos(P) the W, P, R decomposition is at its singularity (P = +-90 deg).
_GIMBAL_EPS = 1e-6


class RotationError(ValueError):
    """Numbers that are not a rotation (wrong shape, non-finite, zero or non-unit norm, reflection)."""


def _vector(value, length: int, name: str) -> np.ndarray:
    try:
        v = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise RotationError(f"{name} must be {length} numbers, got {value!r}") from None
    if v.size != length:
        raise RotationError(f"{name} must have {length} values, got {v.size}: {value!r}")
    if not np.all(np.isfinite(v)):
        raise RotationError(f"{name} has non-finite values: {v.tolist()}")
    return v


def normalize_quaternion(quaternion_xyzw, name: str = "quaternion") -> np.ndarray:
    """Unit quaternion ``[x, y, z, w]`` from one that is unit up to rounding.

    Strict, for quaternions typed by a person (a calibration file): a norm near zero, or further
    than :data:`QUATERNION_NORM_TOLERANCE` from 1, raises :class:`RotationError`.
    """
    q = _vector(quaternion_xyzw, 4, name)
    norm = float(np.linalg.norm(q))
    if norm < 1e-9:
        raise RotationError(f"{name} {q.tolist()} has norm {norm:.3g}: not a rotation")
    if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
        raise RotationError(
            f"{name} {q.tolist()} is not a unit quaternion (norm {norm:.6g}); "
            "expected [x, y, z, w] with x^2 + y^2 + z^2 + w^2 = 1")
    return q / norm


def quaternion_to_matrix(quaternion_xyzw) -> np.ndarray:
    """3x3 rotation matrix of a quaternion ``[x, y, z, w]``, normalised here (any non-zero norm)."""
    q = _vector(quaternion_xyzw, 4, "quaternion")
    norm = float(np.linalg.norm(q))
    if norm < 1e-9:
        raise RotationError(f"quaternion {q.tolist()} has norm {norm:.3g}: not a rotation")
    x, y, z, w = q / norm
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_quaternion(rotation) -> np.ndarray:
    """Unit quaternion ``[x, y, z, w]`` of a 3x3 rotation matrix, with ``w >= 0``.

    Shepperd's method: the largest of ``w``, ``x``, ``y``, ``z`` (read from the trace and the
    diagonal) is computed first and the others are divided by it, so the result stays accurate
    for 180-degree rotations (``w`` near 0), which is every top-down gripper pose.
    """
    m = np.asarray(rotation, dtype=np.float64)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        raise RotationError(f"rotation must be a finite 3x3 matrix, got shape {m.shape}")
    if not np.allclose(m @ m.T, np.eye(3), atol=1e-6) or np.linalg.det(m) < 0:
        raise RotationError("matrix is not a rotation (not orthonormal, or a reflection)")
    trace = np.trace(m)
    if trace > max(m[0, 0], m[1, 1], m[2, 2]):
        s = 2.0 * math.sqrt(1.0 + trace)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4]
    elif m[0, 0] >= m[1, 1] and m[0, 0] >= m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [s / 4, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] >= m[2, 2]:
        s = 2.0 * math.sqrt(1.0 - m[0, 0] + m[1, 1] - m[2, 2])
        q = [(m[0, 1] + m[1, 0]) / s, s / 4, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 - m[0, 0] - m[1, 1] + m[2, 2])
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, s / 4, (m[1, 0] - m[0, 1]) / s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q


def pose_to_matrix(translation, quaternion_xyzw) -> np.ndarray:
    """4x4 homogeneous transform ``T`` with ``T @ [p, 1] = R p + t``."""
    t = np.eye(4)
    t[:3, :3] = quaternion_to_matrix(quaternion_xyzw)
    t[:3, 3] = _vector(translation, 3, "translation")
    return t


# ---------------------------------------------------------------------------------------------
# FANUC W, P, R
# ---------------------------------------------------------------------------------------------
def wpr_to_matrix(w_deg: float, p_deg: float, r_deg: float) -> np.ndarray:
    """``Rz(R) · Ry(P) · Rx(W)``: rotations about the fixed X, then Y, then Z axes."""
    w, p, r = np.deg2rad([w_deg, p_deg, r_deg])
    rx = np.array([[1, 0, 0], [0, math.cos(w), -math.sin(w)], [0, math.sin(w), math.cos(w)]])
    ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def matrix_to_wpr(rotation) -> tuple[float, float, float]:
    """W, P, R in degrees (W, R in (-180, 180], P in [-90, 90]) of a rotation matrix.

    At P = +-90 deg only W -/+ R is defined; W = 0 is chosen there.
    """
    m = np.asarray(rotation, dtype=np.float64)
    cos_p = math.hypot(m[0, 0], m[1, 0])
    p = math.atan2(-m[2, 0], cos_p)
    if cos_p > _GIMBAL_EPS:
        w = math.atan2(m[2, 1], m[2, 2])
        r = math.atan2(m[1, 0], m[0, 0])
    else:
        w = 0.0
        r = math.atan2(-m[0, 1], m[1, 1])
    return _wpr_degrees(math.degrees(w)), math.degrees(p) + 0.0, _wpr_degrees(math.degrees(r))


def quaternion_to_wpr(quaternion_xyzw: Sequence[float]) -> tuple[float, float, float]:
    """FANUC W, P, R (degrees) of a quaternion ``[x, y, z, w]``."""
    return matrix_to_wpr(quaternion_to_matrix(quaternion_xyzw))


def wpr_to_quaternion(w_deg: float, p_deg: float, r_deg: float) -> np.ndarray:
    """Quaternion ``[x, y, z, w]`` (``w >= 0``) of FANUC W, P, R in degrees."""
    return matrix_to_quaternion(wpr_to_matrix(w_deg, p_deg, r_deg))


def _wpr_degrees(a: float) -> float:
    """Angle in (-180, 180] (so a top-down tool reads W = 180, not -180), without a negative zero."""
    a = wrap_degrees(a)
    return 180.0 if a <= -180.0 + 1e-9 else a + 0.0


# ---------------------------------------------------------------------------------------------
# Angle wrapping
# ---------------------------------------------------------------------------------------------
def wrap_degrees(a):
    """``a`` (degrees; a number or an array) wrapped to ``[-180, 180)``."""
    return (a + 180.0) % 360.0 - 180.0


def angle_difference_degrees(a, b):
    """``a - b`` (degrees) wrapped to ``[-180, 180)``: the signed shortest turn from ``b`` to ``a``."""
    return wrap_degrees(a - b)


def wrap_radians(a):
    """``a`` (radians; a number or an array) wrapped to ``[-pi, pi)``."""
    return (a + math.pi) % (2 * math.pi) - math.pi

"""The camera/robot geometry as types: intrinsics, camera pose, work surface, the calibration that
holds them, and the gripper pose a grasp becomes.

Each constructor validates its numbers and raises :class:`CalibrationError`; frames and units are
described in :mod:`grasp_scorer_ros.camera`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from grasp_scorer_ros.rotations import (RotationError, matrix_to_quaternion, normalize_quaternion,
                                        pose_to_matrix, quaternion_to_matrix)


class CalibrationError(ValueError):
    """Invalid calibration data, or a grasp that cannot be mapped onto the work surface."""


# REP 103 body frame (x forward, y left, z up) to optical frame (z forward, x right, y down):
# columns are the optical axes expressed in the body frame.
BODY_TO_OPTICAL_ROTATION = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])

# Distortion vector lengths OpenCV accepts (k1 k2 p1 p2 [k3 [k4 k5 k6 [s1..s4 [tx ty]]]]).
OPENCV_DISTORTION_LENGTHS = (0, 4, 5, 8, 12, 14)
# CameraInfo distortion models that are OpenCV's pinhole model (CameraInfo may also leave the
# model empty, with no or all-zero coefficients).
SUPPORTED_DISTORTION_MODELS = ("plumb_bob", "rational_polynomial")


@dataclass(frozen=True, eq=False)
class CameraIntrinsics:
    """Pinhole intrinsics with OpenCV distortion, for the raw image the grasps are detected on.

    ``camera_matrix`` is K (3x3, pixels); ``distortion`` holds OpenCV's coefficients ``k1, k2,
    p1, p2[, k3[, ...]]``, empty for none. If grasps are detected on a rectified image
    (``image_rect``), pass that image's K with no distortion. ``width``/``height`` (pixels) are
    the calibrated resolution. ``distortion_model`` is the CameraInfo name of the model
    (``plumb_bob`` or ``rational_polynomial``); None picks it from the number of coefficients.
    """

    camera_matrix: np.ndarray
    distortion: np.ndarray
    width: int
    height: int
    distortion_model: str | None = None

    def __post_init__(self):
        k = finite_vector(self.camera_matrix, 9, "camera matrix K").reshape(3, 3)
        if not np.any(k):
            raise CalibrationError("camera matrix K is all zeros: the camera is not calibrated")
        if k[0, 0] <= 0 or k[1, 1] <= 0:
            raise CalibrationError(
                f"focal lengths must be positive, got fx={k[0, 0]}, fy={k[1, 1]}")
        if not np.allclose(k[2], [0, 0, 1]) or k[1, 0] != 0:
            raise CalibrationError(
                f"K must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]], got {k.tolist()}")
        d = finite_vector(self.distortion, None, "distortion coefficients")
        if d.size not in OPENCV_DISTORTION_LENGTHS:
            raise CalibrationError(
                f"distortion has {d.size} coefficients; OpenCV takes {OPENCV_DISTORTION_LENGTHS}")
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise CalibrationError(f"image {name} must be a positive integer, got {value!r}")
        k.flags.writeable = False
        d.flags.writeable = False
        object.__setattr__(self, "camera_matrix", k)
        object.__setattr__(self, "distortion", d)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        model = self.distortion_model
        if model is None or model == "":  # "": CameraInfo without a model, coefficients all zero
            model = "rational_polynomial" if d.size > 5 else "plumb_bob"
        if model not in SUPPORTED_DISTORTION_MODELS:
            raise CalibrationError(
                f"unsupported distortion model {model!r} "
                f"(supported: {', '.join(repr(m) for m in SUPPORTED_DISTORTION_MODELS)})")
        object.__setattr__(self, "distortion_model", model)

    @classmethod
    def from_camera_info_fields(cls, k, d, width, height, distortion_model) -> "CameraIntrinsics":
        """From ``sensor_msgs/CameraInfo`` fields: ``k`` (9, row-major), ``d``, size, model.

        R and P are not used: this is a monocular camera, so R is the identity.
        """
        k = finite_vector(k, 9, "CameraInfo k")
        d = finite_vector(d, None, "CameraInfo d")
        if distortion_model == "" and np.any(d):
            raise CalibrationError(f"distortion coefficients {d.tolist()} given without a model")
        return cls(k.reshape(3, 3), d, width, height, distortion_model)

    def undistort_to_rays(self, pixels) -> np.ndarray:
        """Ray directions ``[x', y', 1]`` ``(N, 3)``, camera optical frame, of raw pixels."""
        px = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        if not np.any(self.distortion):
            homogeneous = np.column_stack([px, np.ones(len(px))])
            return homogeneous @ np.linalg.inv(self.camera_matrix).T
        # OpenCV's default of 5 iterations leaves ~0.01 px error with real lenses; iterate to
        # convergence, then check it by projecting back (the inverse can diverge far off-image).
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
        src = px.reshape(-1, 1, 2)
        if hasattr(cv2, "undistortPointsIter"):  # OpenCV 4 (e.g. ROS's apt python3-opencv)
            # R = P = identity: no rectification, output in normalised coordinates.
            normalized = cv2.undistortPointsIter(src, self.camera_matrix, self.distortion,
                                                 np.eye(3), np.eye(3), criteria)
        else:  # OpenCV 5 merged it into undistortPoints
            normalized = cv2.undistortPoints(src, self.camera_matrix, self.distortion,
                                             criteria=criteria)
        normalized = normalized.reshape(-1, 2)
        rays = np.column_stack([normalized, np.ones(len(px))])
        reprojected, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), self.camera_matrix,
                                           self.distortion)
        error = np.linalg.norm(reprojected.reshape(-1, 2) - px, axis=1)
        if not np.all(error < 1e-3):
            worst = int(np.argmax(error))
            raise CalibrationError(
                f"undistortion of pixel {px[worst].tolist()} did not converge "
                f"(reprojection error {error[worst]:.3g} px): "
                "too far outside the calibrated image?")
        return rays


@dataclass(frozen=True, eq=False)
class CameraPose:
    """Pose of the camera *optical* frame in the base frame (``T_base_camera``).

    ``translation``: camera centre in the base frame, metres. ``quaternion``: ``[x, y, z, w]``,
    normalised on construction (see :func:`unit_quaternion`).
    """

    translation: np.ndarray
    quaternion: np.ndarray

    def __post_init__(self):
        t = finite_vector(self.translation, 3, "camera translation")
        q = unit_quaternion(self.quaternion, "camera quaternion")
        t.flags.writeable = False
        q.flags.writeable = False
        object.__setattr__(self, "translation", t)
        object.__setattr__(self, "quaternion", q)

    @property
    def rotation(self) -> np.ndarray:
        """3x3 rotation: columns are the optical x (right), y (down), z (forward) axes in base."""
        return quaternion_to_matrix(self.quaternion)

    def matrix(self) -> np.ndarray:
        """4x4 ``T_base_camera``."""
        return pose_to_matrix(self.translation, self.quaternion)

    @classmethod
    def from_body_frame(cls, translation, quaternion_xyzw) -> "CameraPose":
        """From the pose of the camera *body* frame (x forward, y left, z up, e.g.
        ``camera_link``), whose origin is taken to coincide with the optical frame's."""
        body = quaternion_to_matrix(unit_quaternion(quaternion_xyzw, "camera body quaternion"))
        rotation = body @ BODY_TO_OPTICAL_ROTATION
        return cls(translation, matrix_to_quaternion(rotation))


@dataclass(frozen=True, eq=False)
class WorkSurface:
    """The plane grasps lie on, in the base frame: a ``point`` on it (m) and its ``normal``.

    The normal is normalised on construction and must point to the side the camera is on (up,
    for a table): the tool approaches along ``-normal``.
    """

    point: np.ndarray = field(default_factory=lambda: np.zeros(3))
    normal: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))

    def __post_init__(self):
        p = finite_vector(self.point, 3, "work surface point")
        n = finite_vector(self.normal, 3, "work surface normal")
        norm = float(np.linalg.norm(n))
        if norm < 1e-9:
            raise CalibrationError(f"work surface normal {n.tolist()} has zero length")
        n = n / norm
        p.flags.writeable = False
        n.flags.writeable = False
        object.__setattr__(self, "point", p)
        object.__setattr__(self, "normal", n)

    @classmethod
    def horizontal(cls, height: float = 0.0) -> "WorkSurface":
        """The plane ``z = height`` (m) in the base frame, normal +z."""
        return cls(np.array([0.0, 0.0, height]), np.array([0.0, 0.0, 1.0]))


@dataclass(frozen=True, eq=False)
class Calibration:
    """Everything a calibration file holds (:mod:`grasp_scorer_ros.camera.calibration_file`): the
    fixed camera/robot geometry."""

    base_frame: str
    camera_frame: str
    camera_pose: CameraPose
    surface: WorkSurface
    intrinsics: CameraIntrinsics | None = None  # fallback for when no CameraInfo is published


@dataclass(frozen=True, eq=False)
class GripperPose:
    """A top-down grasp in the base frame.

    * ``position``: tool centre point, metres.
    * ``quaternion``: ``[x, y, z, w]`` of the tool frame (z down into the surface, y = closing
      axis).
    * ``yaw``: rotation about base z of the tool x axis, ``atan2(x_tool.y, x_tool.x)``, radians;
      on a horizontal table the orientation is ``Rz(yaw) Rx(pi)`` (FANUC ``R`` with ``W=180,
      P=0``).
      Of the two symmetric poses, the returned yaw lies in ``[reference_yaw - pi/2,
      reference_yaw + pi/2)``, so it is *not* wrapped to ``[-pi, pi)``.
    * ``opening_width_m``, ``jaw_size_m``: the grasp rectangle's sides on the surface, metres.
    """

    position: np.ndarray
    quaternion: np.ndarray
    yaw: float
    opening_width_m: float
    jaw_size_m: float

    @property
    def rotation(self) -> np.ndarray:
        """3x3 rotation: columns are the tool x, y (closing axis), z (approach) axes in base."""
        return quaternion_to_matrix(self.quaternion)

    def matrix(self) -> np.ndarray:
        """4x4 ``T_base_tool``."""
        return pose_to_matrix(self.position, self.quaternion)


# ---------------------------------------------------------------------------------------------
# Checked numbers
# ---------------------------------------------------------------------------------------------

def finite_vector(value, length: int | None, name: str) -> np.ndarray:
    """``length`` (any if None) finite numbers, nested lists flattened, as a new float array;
    anything else (bools, strings, ragged lists, NaN) is a :class:`CalibrationError`."""
    try:
        items = np.asarray(value, dtype=object).reshape(-1)
    except ValueError:  # ragged nested lists
        raise CalibrationError(f"{name} must be {length} numbers, got {value!r}") from None
    # Checked one by one: numpy would turn True into 1.0 and "0.5" into 0.5 without a word.
    if not all(isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)
               for x in items):
        raise CalibrationError(f"{name} must be {length} numbers, got {value!r}")
    v = items.astype(np.float64)
    if length is not None and v.size != length:
        raise CalibrationError(f"{name} must have {length} values, got {v.size}: {value!r}")
    if not np.all(np.isfinite(v)):
        raise CalibrationError(f"{name} has non-finite values: {v.tolist()}")
    return v


def unit_quaternion(quaternion_xyzw, name: str) -> np.ndarray:
    """:func:`~grasp_scorer_ros.rotations.normalize_quaternion` (strict: unit up to rounding) of
    numbers checked by :func:`finite_vector`; errors are :class:`CalibrationError`."""
    q = finite_vector(quaternion_xyzw, 4, name)
    try:
        return normalize_quaternion(q, name)
    except RotationError as error:
        raise CalibrationError(str(error)) from None

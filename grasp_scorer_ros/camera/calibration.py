"""From a grasp in image pixels to a top-down gripper pose in the robot base frame.

Pure numpy/OpenCV: no ROS import, so the geometry is tested with plain pytest and the node only
translates messages to and from these types.

Frames and units (metres and radians unless a name says otherwise):

* **base frame**: the robot base frame (REP 103: x forward, y left, z up for a floor-mounted arm).
  Every 3D quantity here is expressed in it.
* **camera optical frame** (REP 103 optical): z forward along the optical axis, x right and y down
  in the image. :class:`CameraPose` is the pose of this frame in the base frame, i.e. the transform
  ``T_base_camera`` that maps camera coordinates to base coordinates: ``p_base = R p_cam + t``.
* **pixel coordinates**: x to the right, y down, the raw (distorted) image the grasp was detected
  on; see :mod:`grasp_scorer_ros.grasp` for the 5D grasp ``[x, y, w, h, theta_deg]``.
* **tool frame** of the resulting :class:`GripperPose`: z points down into the work surface
  (``-normal``), y is the closing axis of the jaws (the grasp's opening axis projected onto the
  surface), x = y cross z completes a right-handed frame. A top-down tool with ``yaw = 0`` on a
  horizontal table has ``R = Rz(0) Rx(pi)``, i.e. FANUC ``W, P, R = 180, 0, 0`` deg.

Quaternions are ``[x, y, z, w]`` (ROS order) everywhere (rotation maths:
:mod:`grasp_scorer_ros.rotations`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml

from grasp_scorer_ros.grasp import H, THETA, W, X, Y
from grasp_scorer_ros.rotations import (RotationError, matrix_to_quaternion, normalize_quaternion,
                                        pose_to_matrix, quaternion_to_matrix)


class CalibrationError(ValueError):
    """Invalid calibration data, or a grasp that cannot be mapped onto the work surface."""


def unit_quaternion(quaternion_xyzw, name: str) -> np.ndarray:
    """:func:`~grasp_scorer_ros.rotations.normalize_quaternion` (strict: unit up to rounding) of
    numbers checked as :func:`_finite_vector` checks them; errors are :class:`CalibrationError`."""
    q = _finite_vector(quaternion_xyzw, 4, name)
    try:
        return normalize_quaternion(q, name)
    except RotationError as error:
        raise CalibrationError(str(error)) from None


# REP 103 body frame (x forward, y left, z up) to optical frame (z forward, x right, y down):
# columns are the optical axes expressed in the body frame.
BODY_TO_OPTICAL_ROTATION = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


# ---------------------------------------------------------------------------------------------
# Calibration data
# ---------------------------------------------------------------------------------------------

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
        k = _finite_vector(self.camera_matrix, 9, "camera matrix K").reshape(3, 3)
        if not np.any(k):
            raise CalibrationError("camera matrix K is all zeros: the camera is not calibrated")
        if k[0, 0] <= 0 or k[1, 1] <= 0:
            raise CalibrationError(
                f"focal lengths must be positive, got fx={k[0, 0]}, fy={k[1, 1]}")
        if not np.allclose(k[2], [0, 0, 1]) or k[1, 0] != 0:
            raise CalibrationError(
                f"K must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]], got {k.tolist()}")
        d = _finite_vector(self.distortion, None, "distortion coefficients")
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
        k = _finite_vector(k, 9, "CameraInfo k")
        d = _finite_vector(d, None, "CameraInfo d")
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
        t = _finite_vector(self.translation, 3, "camera translation")
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
        p = _finite_vector(self.point, 3, "work surface point")
        n = _finite_vector(self.normal, 3, "work surface normal")
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
    """Everything :func:`load_calibration_yaml` reads: the fixed camera/robot geometry."""

    base_frame: str
    camera_frame: str
    camera_pose: CameraPose
    surface: WorkSurface
    intrinsics: CameraIntrinsics | None = None  # fallback for when no CameraInfo is published


# ---------------------------------------------------------------------------------------------
# YAML file (schema documented in config/calibration.yaml)
# ---------------------------------------------------------------------------------------------

_TOP_KEYS = {"base_frame", "camera_frame", "camera_pose", "work_surface", "intrinsics"}
_POSE_KEYS = {"convention", "translation", "quaternion_xyzw"}
# The keys camera_info_manager writes (rectification and projection are unused: monocular).
_INTRINSICS_KEYS = {"image_width", "image_height", "camera_name", "camera_matrix",
                    "distortion_model", "distortion_coefficients", "rectification_matrix",
                    "projection_matrix"}


def load_calibration_yaml(path) -> Calibration:
    """Read a calibration file; every problem is a :class:`CalibrationError` naming file and key.

    Schema (all poses in ``base_frame``; see ``config/calibration.yaml`` for a commented example)::

        base_frame: base_link            # required
        camera_frame: camera_color_optical_frame   # required: frame_id of the images
        camera_pose:                     # required: T_base_camera from hand-eye calibration
          convention: optical            # optional: optical (default) or body
          translation: [x, y, z]         # metres
          quaternion_xyzw: [x, y, z, w]
        work_surface:                    # required: either height, or point and normal
          height: 0.0                    #   plane z = height, normal +z
          # point: [x, y, z]
          # normal: [x, y, z]            #   towards the camera
        intrinsics:                      # optional; as in a camera_info_manager file (see
          image_width: 1280              # load_intrinsics_yaml, whose extra keys are allowed)
          image_height: 720
          camera_matrix: {rows: 3, cols: 3, data: [9 values]}   # or a plain list of 9
          distortion_model: plumb_bob    # default plumb_bob; or rational_polynomial
          distortion_coefficients: {rows: 1, cols: 5, data: [5 values]}   # or a plain list
    """
    doc = _read_yaml(path)
    try:
        return _calibration_from_dict(doc)
    except CalibrationError as error:
        raise CalibrationError(f"{path}: {error}") from None


def _read_yaml(path):
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f"calibration file not found: {path}")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise CalibrationError(f"{path}: invalid YAML: {error}") from None


def _calibration_from_dict(doc) -> Calibration:
    _check_mapping(doc, "top level", _TOP_KEYS)
    base_frame = _frame_name(doc, "base_frame")
    camera_frame = _frame_name(doc, "camera_frame")

    pose = _required(doc, "camera_pose", "top level")
    _check_mapping(pose, "camera_pose", _POSE_KEYS)
    translation = _finite_vector(_required(pose, "translation", "camera_pose"), 3,
                                 "camera_pose.translation")
    quaternion = unit_quaternion(_required(pose, "quaternion_xyzw", "camera_pose"),
                                 "camera_pose.quaternion_xyzw")
    convention = pose.get("convention", "optical")
    if convention == "optical":
        camera_pose = CameraPose(translation, quaternion)
    elif convention == "body":
        camera_pose = CameraPose.from_body_frame(translation, quaternion)
    else:
        raise CalibrationError(
            f"camera_pose.convention must be 'optical' or 'body', got {convention!r}")

    surface_doc = _required(doc, "work_surface", "top level")
    _check_mapping(surface_doc, "work_surface", {"height", "point", "normal"})
    if "height" in surface_doc:
        if "point" in surface_doc or "normal" in surface_doc:
            raise CalibrationError(
                "work_surface: give either height, or point and normal, not both")
        height = _finite_scalar(surface_doc["height"], "work_surface.height")
        surface = WorkSurface.horizontal(height)
    else:
        point = _required(surface_doc, "point", "work_surface")
        normal = _required(surface_doc, "normal", "work_surface")
        surface = WorkSurface(_finite_vector(point, 3, "work_surface.point"),
                              _finite_vector(normal, 3, "work_surface.normal"))

    intrinsics = None
    if doc.get("intrinsics") is not None:
        intrinsics = _intrinsics_from_dict(doc["intrinsics"], "intrinsics")
    return Calibration(base_frame, camera_frame, camera_pose, surface, intrinsics)


def load_intrinsics_yaml(path) -> CameraIntrinsics:
    """Intrinsics from a camera_info_manager calibration file (what ``camera_calibration`` writes:
    ``image_width``, ``image_height``, ``camera_matrix``, ``distortion_model``,
    ``distortion_coefficients``; ``camera_name``, ``rectification_matrix`` and
    ``projection_matrix`` are accepted and ignored)."""
    doc = _read_yaml(path)
    try:
        return _intrinsics_from_dict(doc, "top level")
    except CalibrationError as error:
        raise CalibrationError(f"{path}: {error}") from None


def _intrinsics_from_dict(doc, where: str) -> CameraIntrinsics:
    _check_mapping(doc, where, _INTRINSICS_KEYS)
    prefix = "" if where == "top level" else f"{where}."
    return CameraIntrinsics.from_camera_info_fields(
        k=_finite_vector(_matrix_data(_required(doc, "camera_matrix", where)), 9,
                         f"{prefix}camera_matrix"),
        d=_finite_vector(_matrix_data(doc.get("distortion_coefficients", [])), None,
                         f"{prefix}distortion_coefficients"),
        width=_required(doc, "image_width", where),
        height=_required(doc, "image_height", where),
        distortion_model=doc.get("distortion_model", "plumb_bob"))


def _check_mapping(value, where: str, allowed: set[str]) -> None:
    if not isinstance(value, dict):
        raise CalibrationError(f"{where} must be a mapping, got {type(value).__name__}")
    unknown = sorted(set(map(str, value)) - allowed)
    if unknown:  # a misspelt key would otherwise silently fall back to a default
        raise CalibrationError(f"unknown key(s) {unknown} in {where} (allowed: {sorted(allowed)})")


def _required(mapping: dict, key: str, where: str):
    if key not in mapping or mapping[key] is None:
        raise CalibrationError(f"missing key '{key}' in {where}")
    return mapping[key]


def _frame_name(doc: dict, key: str) -> str:
    value = _required(doc, key, "top level")
    if not isinstance(value, str) or not value.strip():
        raise CalibrationError(f"{key} must be a non-empty string, got {value!r}")
    return value


def _matrix_data(value):
    """camera_info_manager writes matrices as ``{rows, cols, data}``; accept a plain list too."""
    return value.get("data") if isinstance(value, dict) else value


def _finite_vector(value, length: int | None, name: str) -> np.ndarray:
    """``length`` (any if None) finite numbers, nested lists flattened, as a new float array."""
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


def _finite_scalar(value, name: str) -> float:
    if isinstance(value, (list, tuple, dict)):
        raise CalibrationError(f"{name} must be a number, got {value!r}")
    return float(_finite_vector([value], 1, name)[0])


# ---------------------------------------------------------------------------------------------
# Pixel grasp to gripper pose
# ---------------------------------------------------------------------------------------------

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


def pixels_to_surface(pixels, intrinsics: CameraIntrinsics, camera_pose: CameraPose,
                      surface: WorkSurface) -> np.ndarray:
    """Points ``(N, 3)`` (base frame, m) where rays through raw pixels ``(N, 2)`` meet the surface.

    Raises :class:`CalibrationError` if the camera is not on the normal's side of the surface, or
    a ray is parallel to the surface or meets it behind the camera.
    """
    px = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
    if not np.all(np.isfinite(px)):
        raise CalibrationError(f"pixel coordinates must be finite, got {px.tolist()}")
    origin = camera_pose.translation
    height = float(np.dot(origin - surface.point, surface.normal))
    if height <= 0:
        raise CalibrationError(
            f"camera is {-height:.3f} m behind the work surface: it must be on the side the "
            "surface normal points to (check the normal's sign and the camera pose)")
    directions = intrinsics.undistort_to_rays(px) @ camera_pose.rotation.T  # (N, 3) in base
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    toward_surface = -(directions @ surface.normal)  # cosine between ray and -normal
    for pixel, cosine in zip(px, toward_surface):
        if abs(cosine) < 1e-9:
            raise CalibrationError(
                f"ray through pixel {pixel.tolist()} is parallel to the surface")
        if cosine < 0:
            raise CalibrationError(
                f"ray through pixel {pixel.tolist()} meets the work surface behind the camera")
    distances = height / toward_surface
    return origin + distances[:, None] * directions


def grasp_to_gripper_pose(grasp_px, intrinsics: CameraIntrinsics, camera_pose: CameraPose,
                          surface: WorkSurface, grasp_depth: float = 0.0,
                          reference_yaw: float = 0.0) -> GripperPose:
    """Top-down gripper pose of a pixel grasp ``[x, y, w, h, theta_deg]`` (see ``grasp.py``).

    * position: where the ray through the grasp centre meets the surface, then moved
      ``grasp_depth`` metres along ``-normal``: positive goes deeper (towards and into the surface,
      away from the camera), negative stops above it.
    * closing axis (tool y): direction between the surface points of the opening axis's two ends
      ``centre -/+ w/2 (cos theta, sin theta)``; for ``w`` under 1 px, ends 1 px apart are used
      for the direction only. Opening width and jaw size are the distances between the surface
      points of the two ends of each axis.
    * the gripper is symmetric under a half turn about tool z: of the two poses, the one whose
      ``yaw`` is nearest ``reference_yaw`` (radians, e.g. the current or neutral wrist yaw) is
      returned, so ``theta`` and ``theta + 180`` give the same pose.
    """
    g = np.asarray(grasp_px, dtype=np.float64).reshape(-1)
    if g.size != 5 or not np.all(np.isfinite(g)):
        raise CalibrationError(
            f"grasp must be 5 finite numbers [x, y, w, h, theta_deg], got {grasp_px!r}")
    if g[W] < 0 or g[H] < 0:
        raise CalibrationError(
            f"grasp opening width and jaw size must be >= 0, got w={g[W]}, h={g[H]}")
    for name, value in (("grasp_depth", grasp_depth), ("reference_yaw", reference_yaw)):
        if not math.isfinite(value):
            raise CalibrationError(f"{name} must be finite, got {value}")

    centre = g[[X, Y]]
    theta = math.radians(g[THETA])
    opening_axis = np.array([math.cos(theta), math.sin(theta)])
    across_axis = np.array([-math.sin(theta), math.cos(theta)])
    half_w, half_h = g[W] / 2, g[H] / 2
    half_direction = max(half_w, 0.5)
    pixels = np.array([
        centre,
        centre - half_w * opening_axis, centre + half_w * opening_axis,
        centre - half_h * across_axis, centre + half_h * across_axis,
        centre - half_direction * opening_axis, centre + half_direction * opening_axis,
    ])
    points = pixels_to_surface(pixels, intrinsics, camera_pose, surface)
    hit, opening_a, opening_b, jaw_a, jaw_b, direction_a, direction_b = points

    tool_z = -surface.normal
    tool_y = direction_b - direction_a
    tool_y -= np.dot(tool_y, tool_z) * tool_z  # both points lie on the plane: only rounding
    tool_y /= np.linalg.norm(tool_y)
    tool_x = np.cross(tool_y, tool_z)

    # Yaw of the two symmetric candidates differs by pi: keep the one within pi/2 of the reference.
    candidate_yaw = math.atan2(tool_x[1], tool_x[0])
    offset = (candidate_yaw - reference_yaw + math.pi / 2) % math.pi - math.pi / 2
    yaw = reference_yaw + offset
    if np.dot(tool_x[:2], [math.cos(yaw), math.sin(yaw)]) < 0:
        tool_x, tool_y = -tool_x, -tool_y

    rotation = np.column_stack([tool_x, tool_y, tool_z])
    return GripperPose(
        position=hit - grasp_depth * surface.normal,
        quaternion=matrix_to_quaternion(rotation),
        yaw=yaw,
        opening_width_m=float(np.linalg.norm(opening_b - opening_a)),
        jaw_size_m=float(np.linalg.norm(jaw_b - jaw_a)),
    )

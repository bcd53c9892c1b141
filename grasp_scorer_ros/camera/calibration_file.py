"""Calibration files: the camera pose and work surface YAML (schema documented in
``config/calibration.yaml``) and camera_info_manager intrinsics files.

Unknown keys are an error (a misspelt key would otherwise silently fall back to a default), and
every problem is a :class:`~grasp_scorer_ros.camera.models.CalibrationError` naming file and key.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from grasp_scorer_ros.camera.models import (Calibration, CalibrationError, CameraIntrinsics,
                                            CameraPose, WorkSurface, finite_vector,
                                            unit_quaternion)

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
    translation = finite_vector(_required(pose, "translation", "camera_pose"), 3,
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
        surface = WorkSurface(finite_vector(point, 3, "work_surface.point"),
                              finite_vector(normal, 3, "work_surface.normal"))

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
        k=finite_vector(_matrix_data(_required(doc, "camera_matrix", where)), 9,
                         f"{prefix}camera_matrix"),
        d=finite_vector(_matrix_data(doc.get("distortion_coefficients", [])), None,
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


def _finite_scalar(value, name: str) -> float:
    if isinstance(value, (list, tuple, dict)):
        raise CalibrationError(f"{name} must be a number, got {value!r}")
    return float(finite_vector([value], 1, name)[0])

"""Pixel grasp to gripper pose: rays through the raw image's pixels cast onto the work surface.

Frames and units: :mod:`grasp_scorer_ros.camera`; the 5D grasp: :mod:`grasp_scorer_ros.grasp`.
"""
from __future__ import annotations

import math

import numpy as np

from grasp_scorer_ros.camera.models import (CalibrationError, CameraIntrinsics, CameraPose,
                                            GripperPose, WorkSurface)
from grasp_scorer_ros.grasp import H, THETA, W, X, Y
from grasp_scorer_ros.rotations import matrix_to_quaternion


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

"""Where grasps may be: a polygon on the table (base frame, metres) and/or an image mask.

A grasp is inside when its centre and the four corners of its rectangle (which hold both jaws:
the rectangle's short sides are the fingers) are inside: in the mask, every point on a non-zero
pixel; on the table, every point's ray meets the work surface inside the polygon (x, y of the base
frame). No ROS: the detection node parses its parameters into a :class:`Workspace` and drops the
grasps it refuses.

    workspace = Workspace.from_settings("0.3,-0.2 0.8,-0.2 0.8,0.25 0.3,0.25", "bin_mask.png")
    reason = workspace.refusal(grasp_px, intrinsics, camera_pose, surface)   # None: inside
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import cv2
import numpy as np
from shapely.geometry import Point, Polygon

from grasp_scorer_ros.camera.models import CalibrationError, CameraIntrinsics, CameraPose, WorkSurface
from grasp_scorer_ros.camera.pixel_to_pose import pixels_to_surface
from grasp_scorer_ros.grasp import grasp_corners


def parse_polygon(text: str) -> Optional[Polygon]:
    """``"x,y x,y x,y ..."`` (metres, base frame; at least 3 corners) -> a valid polygon, or None
    for an empty string. Raises ``ValueError`` saying what is wrong."""
    if not text.strip():
        return None
    try:
        corners = [tuple(float(v) for v in pair.split(",")) for pair in text.replace(";", " ").split()]
    except ValueError:
        raise ValueError(f"workspace polygon must be 'x,y x,y x,y ...' in metres, got {text!r}") from None
    if any(len(c) != 2 or not all(np.isfinite(c)) for c in corners) or len(corners) < 3:
        raise ValueError(f"workspace polygon needs at least 3 finite 'x,y' corners, got {text!r}")
    polygon = Polygon(corners)
    if not polygon.is_valid or polygon.area <= 0:
        raise ValueError(f"workspace polygon {text!r} is not a simple polygon with an area (do its edges cross?)")
    return polygon


def load_mask(path: str) -> Optional[np.ndarray]:
    """A mask image file -> ``(H, W)`` bool (non-zero: allowed), or None for an empty path."""
    if not path:
        return None
    if not Path(path).is_file():
        raise FileNotFoundError(f"workspace mask not found: {path}")
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"workspace mask {path} is not an image OpenCV can read")
    if not mask.any():
        raise ValueError(f"workspace mask {path} allows no pixel (all zero)")
    return mask > 0


@dataclass(frozen=True)
class Workspace:
    polygon: Optional[Polygon] = None     # base frame x, y (m)
    mask: Optional[np.ndarray] = None     # (H, W) bool, the camera image's size

    @classmethod
    def from_settings(cls, polygon: str = "", mask_file: str = "") -> "Workspace":
        return cls(parse_polygon(polygon), load_mask(mask_file))

    @property
    def active(self) -> bool:
        return self.polygon is not None or self.mask is not None

    def refusal(self, grasp_px, intrinsics: Optional[CameraIntrinsics], camera_pose: CameraPose,
                surface: WorkSurface) -> Optional[str]:
        """Why the grasp ``[x, y, w, h, theta]`` (raw image pixels) is outside, or None if inside."""
        grasp = np.asarray(grasp_px, dtype=np.float64)
        points = np.vstack([grasp[None, :2], grasp_corners(grasp)])      # centre, then the 4 corners
        if self.mask is not None:
            height, width = self.mask.shape
            cols, rows = np.round(points[:, 0]).astype(int), np.round(points[:, 1]).astype(int)
            on_image = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
            if not on_image.all():
                return "a jaw is off the mask's image (is the mask the camera image's size?)"
            if not self.mask[rows, cols].all():
                return "outside the image mask" if not self.mask[rows[0], cols[0]] else "a jaw outside the image mask"
        if self.polygon is not None:
            if intrinsics is None:
                return "no camera intrinsics to place it on the table"
            try:
                table = pixels_to_surface(points, intrinsics, camera_pose, surface)
            except CalibrationError as error:
                return f"not on the work surface ({error})"
            inside = [self.polygon.covers(Point(x, y)) for x, y, _ in table]
            if not all(inside):
                return "outside the workspace polygon" if not inside[0] else "a jaw outside the workspace polygon"
        return None

"""Height and finger clearance of a pixel grasp from an aligned depth image.

Without depth a grasp lies on the work surface (the table plane), whatever the object's height.
With a depth image registered to the colour camera (``16UC1`` in millimetres or ``32FC1`` in
metres, as RealSense's ``aligned_depth_to_color`` and Azure Kinect's ``depth_to_rgb`` publish it):

* **where the image sees the grasp**: the top of what lies between the jaws (a low percentile of the
  depth inside the rectangle: its nearest robust surface). The rectangle is measured on the plane
  parallel to the work surface at that height (its opening width in metres is the object's, not
  the table's), and the grasp centre is where the centre's ray meets that plane;
* **how deep the fingertips go**: each finger lands where it is as the jaws come down: just outside
  the rectangle, or ``jaw_opening`` apart when the gripper opens wider than the grasp before it
  descends (a gripper driven open and closed opens fully: the bridge's ``gripper_max_opening_m``),
  across the jaw's full size and a finger's width (``finger_width``) deep along the opening axis.
  The fingertips go down to the higher of the two landing zones, but never more than
  ``finger_length`` below the top (the palm would meet it): the grasp height is
  ``max(landing, top - finger_length)``;
* **clearance**: a landing zone that stands higher than the top itself (more than
  ``clearance_tolerance``) leaves the fingers nothing to close on below it: a neighbour the finger
  would land on. The grasp is refused, with the height of the obstacle. So is a grasp whose
  fingers could not get ``MIN_REACH`` below the top (a landing zone about as high as the top): its
  jaws would close above the object. Measured in the physics cell: with the landing zones at the
  rectangle's own ends (no ``jaw_opening``) and no minimum reach, 59 of 206 picks closed on nothing,
  most of them metric-correct grasps whose tight rectangle put a landing zone on the object itself.

Depth is camera z in metres (the optical axis), as ``sensor_msgs/Image`` depth encodings define it;
0 (no return) and non-finite values are invalid, and a grasp with too little valid depth inside it
or in a landing zone is refused rather than guessed. Pure numpy/OpenCV: the node translates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import cv2
import numpy as np

from grasp_scorer_ros.camera.image_decoding import ImageFormatError, as_byte_array, positive_int
from grasp_scorer_ros.camera.models import CalibrationError, CameraIntrinsics, CameraPose, WorkSurface
from grasp_scorer_ros.grasp import H, THETA, W, X, Y

DEPTH_ENCODINGS = {"16UC1": (np.dtype("uint16"), 0.001), "mono16": (np.dtype("uint16"), 0.001),
                   "32FC1": (np.dtype("float32"), 1.0)}   # dtype, metres per unit
TOP_PERCENTILE = 10.0        # the top between the jaws: robust to a few stray near pixels
MIN_VALID_SHARE = 0.3        # of a region's pixels, for its depth to count
MIN_REACH = 0.005            # m the fingertips must get below the top between the jaws to hold anything


class DepthFormatError(ImageFormatError):
    """A depth image that cannot be used; the message says why."""


def depth_fields_to_metres(*, encoding: str, height: int, width: int, step: int, data,
                           is_bigendian=0) -> np.ndarray:
    """Depth ``(height, width)`` float32 metres from ``sensor_msgs/Image`` fields; invalid pixels
    (0, NaN, inf) become NaN. Raises :class:`DepthFormatError` for another encoding, a buffer that
    does not match the fields, or an image without a single valid pixel."""
    if encoding not in DEPTH_ENCODINGS:
        raise DepthFormatError(f"unsupported depth encoding {encoding!r} (supported: 16UC1 or mono16 in "
                               f"millimetres, 32FC1 in metres)")
    dtype, scale = DEPTH_ENCODINGS[encoding]
    height, width, step = (positive_int(v, n) for v, n in ((height, "height"), (width, "width"), (step, "step")))
    row_bytes = width * dtype.itemsize
    if step < row_bytes:
        raise DepthFormatError(f"step {step} is smaller than width * {dtype.itemsize} = {row_bytes} for '{encoding}'")
    buffer = as_byte_array(data)
    if buffer.size != step * height:
        raise DepthFormatError(f"depth data has {buffer.size} bytes, expected step * height = {step * height}")
    rows = buffer.reshape(height, step)[:, :row_bytes]
    values = np.ascontiguousarray(rows).view(dtype.newbyteorder(">" if is_bigendian else "<")).reshape(height, width)
    metres = values.astype(np.float32) * np.float32(scale)
    metres[~np.isfinite(metres) | (metres <= 0)] = np.nan
    if not np.isfinite(metres).any():
        raise DepthFormatError("depth image has no valid pixel (all zero or NaN)")
    return metres


def depth_msg_to_metres(msg) -> np.ndarray:
    return depth_fields_to_metres(encoding=msg.encoding, height=msg.height, width=msg.width, step=msg.step,
                                  data=msg.data, is_bigendian=msg.is_bigendian)


def depth_path(image: Path) -> Optional[Path]:
    """The depth image stored for colour image ``image``, if any: ``depth/<name>.png`` (16-bit,
    millimetres) or ``depth/<name>.tiff`` (float, metres) in its folder, or Jacquard's
    ``<i>_<id>_perfect_depth.tiff`` next to ``<i>_<id>_RGB.png``."""
    image = Path(image)
    stem = image.stem
    candidates = [image.parent / "depth" / f"{stem}.png", image.parent / "depth" / f"{stem}.tiff"]
    if stem.endswith("_RGB"):
        candidates.append(image.parent / f"{stem[:-len('_RGB')]}_perfect_depth.tiff")
    return next((path for path in candidates if path.is_file()), None)


def depth_to_image_fields(depth: np.ndarray) -> dict:
    """``sensor_msgs/Image`` fields of a depth image: uint16 millimetres as ``16UC1``, float32
    metres as ``32FC1`` (little-endian), as depth cameras publish them."""
    depth = np.ascontiguousarray(depth)
    if depth.ndim != 2 or depth.dtype not in (np.uint16, np.float32):
        raise DepthFormatError(f"a depth image is HxW uint16 (mm) or float32 (m), got {depth.dtype} {depth.shape}")
    encoding = "16UC1" if depth.dtype == np.uint16 else "32FC1"
    data = depth.astype(depth.dtype.newbyteorder("<")).tobytes()
    return dict(encoding=encoding, height=depth.shape[0], width=depth.shape[1], is_bigendian=0,
                step=depth.shape[1] * depth.dtype.itemsize, data=data)


@dataclass(frozen=True)
class DepthSettings:
    finger_width: float = 0.01          # m, a finger's extent along the opening axis
    finger_length: float = 0.04         # m, how far below an object's top the fingertips may go
    clearance_tolerance: float = 0.005  # m, how far a landing zone may stand above the top
    jaw_opening: float = 0.10           # m between the fingers as they descend; 0: the grasp's own width

    def __post_init__(self):
        if not (self.finger_width > 0 and self.finger_length > 0 and self.clearance_tolerance >= 0
                and self.jaw_opening >= 0):
            raise ValueError("finger_width and finger_length must be positive, clearance_tolerance and jaw_opening "
                             "not negative")


@dataclass(frozen=True)
class GraspHeight:
    """A grasp seen on ``surface`` (parallel to the work surface at the ``top``), closed ``reach``
    metres below it. Heights in metres above the work surface."""

    surface: WorkSurface
    top: float                  # the top between the jaws
    landing: float              # the higher of the two landing zones
    reach: float                # how far below the top the fingertips go

    @property
    def height(self) -> float:
        """Of the fingertips (the TCP) at the grasp."""
        return self.top - self.reach


def grasp_height(grasp_px, depth: np.ndarray, intrinsics: CameraIntrinsics, camera_pose: CameraPose,
                 surface: WorkSurface, settings: DepthSettings = DepthSettings()) -> Union[GraspHeight, str]:
    """The grasp's height from ``depth`` (metres, aligned with the image the grasp is in), or why
    the grasp must not be used (the reason, a sentence)."""
    g = np.asarray(grasp_px, dtype=np.float64).reshape(-1)
    top = _top_depth(_rectangle_values(depth, g[[X, Y]], g[W], g[H], g[THETA]))
    if top is None:
        return f"too little valid depth between the jaws (under {MIN_VALID_SHARE:.0%} of its pixels)"
    # Metres to pixels at that depth (focal length along the opening axis, roughly).
    pixels_per_metre = float(np.asarray(intrinsics.camera_matrix).reshape(3, 3)[0, 0]) / top
    finger_px = max(2.0, settings.finger_width * pixels_per_metre)
    half_opening_px = max(g[W], settings.jaw_opening * pixels_per_metre) / 2
    theta = math.radians(g[THETA])
    axis = np.array([math.cos(theta), math.sin(theta)])
    pixels, depths = [g[[X, Y]]], [top]
    for side in (-1.0, 1.0):
        zone_centre = g[[X, Y]] + side * (half_opening_px + finger_px / 2) * axis
        zone = _rectangle_values(depth, zone_centre, finger_px, g[H], g[THETA])
        if zone.size == 0:
            return "a finger lands outside the depth image"
        zone_top = _top_depth(zone)
        if zone_top is None:
            return "too little valid depth where a finger lands"
        pixels.append(zone_centre)
        depths.append(zone_top)
    # Heights above the work surface of the top and of the two landing zones, in one back-projection.
    points = _points_at_depth(np.array(pixels), np.array(depths), intrinsics, camera_pose)
    top_height, *landing = ((points - surface.point) @ surface.normal).tolist()
    highest = max(landing)
    if highest > top_height + settings.clearance_tolerance:
        return (f"a finger's landing zone is not clear: something stands {100 * (highest - top_height):.1f} cm above "
                f"the object's top ({100 * highest:.1f} cm above the surface, the top {100 * top_height:.1f} cm)")
    if top_height - highest < MIN_REACH:
        return (f"the fingers cannot get below the object's top: a landing zone stands {100 * highest:.1f} cm above "
                f"the surface, the top {100 * top_height:.1f} cm (at least {1000 * MIN_REACH:.0f} mm below it is "
                f"needed to hold anything)")
    raised = WorkSurface(surface.point + top_height * surface.normal, surface.normal)
    reach = min(top_height - highest, settings.finger_length)
    return GraspHeight(raised, top_height, highest, reach)


def _rectangle_values(depth: np.ndarray, centre, length: float, width: float, theta_deg: float) -> np.ndarray:
    """Depth values of the pixels of the rotated rectangle (``length`` along the opening axis,
    ``width`` across) that lie in the image. Drawn in its bounding box only: a few per grasp."""
    corners = np.round(cv2.boxPoints(((float(centre[0]), float(centre[1])),
                                      (max(float(length), 1.0), max(float(width), 1.0)), float(theta_deg))))
    x0, y0 = np.maximum(corners.min(axis=0).astype(int), 0)
    x1, y1 = np.minimum(corners.max(axis=0).astype(int) + 1, (depth.shape[1], depth.shape[0]))
    if x1 <= x0 or y1 <= y0:
        return depth[:0, 0]
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    cv2.fillConvexPoly(mask, (corners - (x0, y0)).astype(np.int32), 1)
    return depth[y0:y1, x0:x1][mask.astype(bool)]


def _top_depth(values: np.ndarray) -> Optional[float]:
    valid = values[np.isfinite(values)]
    if values.size == 0 or valid.size < MIN_VALID_SHARE * values.size:
        return None
    return float(np.percentile(valid, TOP_PERCENTILE))


def _points_at_depth(pixels: np.ndarray, depths: np.ndarray, intrinsics: CameraIntrinsics,
                     camera_pose: CameraPose) -> np.ndarray:
    """Base-frame points ``(N, 3)`` of raw pixels ``(N, 2)`` at camera z ``depths`` ``(N,)``."""
    rays = intrinsics.undistort_to_rays(pixels)     # [x', y', 1]: camera z is 1
    return camera_pose.translation + (rays * depths[:, None]) @ camera_pose.rotation.T

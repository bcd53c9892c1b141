"""Affine image transforms that carry grasps along with the pixels.

A transform is a ``(2, 3)`` float64 matrix ``M`` mapping a *source* pixel ``(x, y)`` to the
*destination* pixel ``M @ [x, y, 1]``, the convention of ``cv2.warpAffine``. Pixel coordinates are
those of :mod:`grasp_scorer_ros.grasp` (x right, y down) with integer values at pixel centres, so
pixel ``(0, 0)`` is the centre of the top-left pixel and the image centre is ``((W-1)/2, (H-1)/2)``.

Only similarity transforms (rotation, mirror, uniform scale, shift) are allowed on grasps: a
non-uniform scale would change grasp angles and the shape of the rectangles, so
:func:`transform_grasps` refuses it. That is also why the network input is made with
:func:`letterbox_matrix` (uniform scale + padding) at evaluation and in the detection node.
"""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import cv2
import numpy as np

from grasp_scorer_ros.grasp import THETA, W, H, normalize_angle

Size = Union[int, Tuple[int, int]]  # square side, or (width, height)


def _as_matrix(matrix) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (2, 3):
        raise ValueError(f"an affine matrix has shape (2, 3), got {m.shape}")
    return m


def _homogeneous(matrix) -> np.ndarray:
    return np.vstack([_as_matrix(matrix), [0.0, 0.0, 1.0]])


def compose_affine(*matrices) -> np.ndarray:
    """Product of affine matrices, written like matrix products: ``compose_affine(C, B, A)``
    applies ``A`` first, then ``B``, then ``C``."""
    if not matrices:
        raise ValueError("compose_affine needs at least one matrix")
    result = np.eye(3)
    for m in matrices:
        result = result @ _homogeneous(m)
    return result[:2].copy()


def invert_affine(matrix) -> np.ndarray:
    """Inverse transform (destination pixels back to source pixels)."""
    return np.linalg.inv(_homogeneous(matrix))[:2].copy()


def uniform_scale(matrix, rtol: float = 1e-6) -> float:
    """Scale factor of a similarity transform; ``ValueError`` if the scale is not uniform
    (or the matrix is sheared or singular), since grasps cannot follow such a transform."""
    a = _as_matrix(matrix)[:, :2]
    gram = a.T @ a  # s^2 * I for a similarity (rotation/mirror times scale)
    scale_sq = 0.5 * np.trace(gram)
    if scale_sq <= 0.0 or not np.allclose(gram, scale_sq * np.eye(2), rtol=0.0, atol=rtol * scale_sq):
        raise ValueError(
            "grasps can only follow rotation, mirror, uniform scale and shift; "
            f"this matrix's linear part {a.tolist()} scales non-uniformly or shears")
    return float(np.sqrt(scale_sq))


def letterbox_matrix(height: int, width: int, size: int = 320) -> np.ndarray:
    """Uniform scale so that the longer side of a ``height x width`` image fits ``size``, centred
    in a ``size x size`` square (the rest is padding).

    Pixel *areas* are mapped, not pixel indices: the image's outer border lands on the square's
    border along the longer side and the image centre on the square's centre.
    """
    if height <= 0 or width <= 0 or size <= 0:
        raise ValueError(f"image and output sizes must be positive, got {height}x{width} -> {size}")
    scale = size / max(height, width)
    # Continuous coordinates (u = x + 0.5) are scaled and padded; then back to pixel centres.
    offset_x = 0.5 * (size - scale * width) + 0.5 * scale - 0.5
    offset_y = 0.5 * (size - scale * height) + 0.5 * scale - 0.5
    return np.array([[scale, 0.0, offset_x], [0.0, scale, offset_y]])


def rotation_about(centre: Sequence[float], angle_deg: float, mirror: bool = False) -> np.ndarray:
    """Rotation by ``angle_deg`` about ``centre`` (image coordinates, y down, so a positive angle
    turns the x axis towards the y axis, like grasp angles), preceded by a left-right mirror about
    the vertical line through ``centre`` when ``mirror`` is set."""
    cx, cy = float(centre[0]), float(centre[1])
    t = np.deg2rad(angle_deg)
    c, s = np.cos(t), np.sin(t)
    linear = np.array([[c, -s], [s, c]])
    if mirror:
        linear = linear @ np.diag([-1.0, 1.0])
    shift = np.array([cx, cy]) - linear @ np.array([cx, cy])
    return np.hstack([linear, shift[:, None]])


def translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])


def _output_size(size: Size) -> Tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    width, height = size
    return int(width), int(height)


def warp_image(image: np.ndarray, matrix, size: Size, border_value=0) -> np.ndarray:
    """Apply an affine matrix to an image (bilinear interpolation, constant border).

    ``size`` is the output side (square) or ``(width, height)``; ``border_value`` fills what falls
    outside the source (a number or one value per channel).
    """
    width, height = _output_size(size)
    if np.isscalar(border_value) and image.ndim == 3:
        border_value = (border_value,) * image.shape[2]
    return cv2.warpAffine(image, _as_matrix(matrix), (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)


def network_input(rgb: np.ndarray, size: int, pad_value: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """``rgb`` letterboxed to the network: ``(1, 3, size, size)`` float32 in [0, 1], and the
    letterbox matrix (image pixels -> network-input pixels). What the detector feeds the network,
    and what int8 calibration sees."""
    matrix = letterbox_matrix(rgb.shape[0], rgb.shape[1], size)
    warped = warp_image(rgb, matrix, size, border_value=pad_value)
    return np.ascontiguousarray((warped.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]), matrix


def transform_grasps(grasps, matrix) -> np.ndarray:
    """Grasps ``(N, 5)`` as seen after the image went through ``matrix``.

    The centre is mapped by the matrix; ``w`` and ``h`` are multiplied by its uniform scale; the
    opening axis direction is mapped by its linear part, which rotates ``theta`` and mirrors it when
    the determinant is negative. Angles are re-normalised to ``[-90, 90)``.
    """
    m = _as_matrix(matrix)
    scale = uniform_scale(m)
    g = np.asarray(grasps, dtype=np.float64).reshape(-1, 5)
    out = g.copy()
    out[:, :2] = g[:, :2] @ m[:, :2].T + m[:, 2]
    out[:, W] = g[:, W] * scale
    out[:, H] = g[:, H] * scale
    t = np.deg2rad(g[:, THETA])
    axis = np.stack([np.cos(t), np.sin(t)], axis=1) @ m[:, :2].T
    out[:, THETA] = normalize_angle(np.rad2deg(np.arctan2(axis[:, 1], axis[:, 0])))
    return out


def points_inside(points, size: Size) -> np.ndarray:
    """Boolean mask of points ``(N, 2)`` that fall on a pixel of an image of ``size``."""
    width, height = _output_size(size)
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return (p[:, 0] >= -0.5) & (p[:, 0] < width - 0.5) & (p[:, 1] >= -0.5) & (p[:, 1] < height - 0.5)

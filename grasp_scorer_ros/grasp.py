"""The 5D grasp rectangle and its one convention, used everywhere in the package.

A grasp is a float array ``[x, y, w, h, theta]`` (shape ``(..., 5)``):

* ``x, y``  centre in pixels, image coordinates (x to the right, y down);
* ``w``     opening width in pixels: the jaw travel, measured along the opening axis;
* ``h``     jaw size in pixels: the extent of a jaw, perpendicular to the opening axis;
* ``theta`` angle of the opening axis in degrees, image coordinates: the axis points along
  ``(cos theta, sin theta)`` with y down. A parallel gripper is symmetric under 180 degrees, so
  angles are kept in ``[-90, 90)``.

This is the convention of Jacquard's ``_grasps.txt`` files; Cornell's rectangles are converted by
:func:`corners_to_grasp` (first edge = opening axis).

The angle functions come in two forms side by side: numpy (float64 arrays) and torch (``*_torch``:
same formula on tensors, keeping their dtype, device and autograd graph; used by the network's box
coder and losses). This module does not import torch itself.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

X, Y, W, H, THETA = range(5)


def normalize_angle(theta_deg):
    """Wrap angles in degrees to ``[-90, 90)`` (grasps are symmetric under 180 degrees)."""
    return (np.asarray(theta_deg, dtype=np.float64) + 90.0) % 180.0 - 90.0


def normalize_angle_torch(theta_deg: torch.Tensor) -> torch.Tensor:
    """:func:`normalize_angle` on a tensor."""
    return (theta_deg + 90.0).remainder(180.0) - 90.0


def angle_difference(a_deg, b_deg):
    """Smallest difference between two grasp angles, modulo 180 degrees, in ``[0, 90]``."""
    d = np.abs(normalize_angle(np.asarray(a_deg) - np.asarray(b_deg)))
    return np.minimum(d, 180.0 - d)


def angle_difference_torch(a_deg: torch.Tensor, b_deg: torch.Tensor) -> torch.Tensor:
    """:func:`angle_difference` on tensors (they broadcast against each other)."""
    d = normalize_angle_torch(a_deg - b_deg).abs()
    return d.minimum(180.0 - d)


def grasp_corners(grasps) -> np.ndarray:
    """Corner points ``(..., 4, 2)`` of grasp rectangles, in pixel coordinates.

    Order: the first edge (corner 0 to corner 1) runs along the opening axis, as in Cornell files.
    """
    g = np.asarray(grasps, dtype=np.float64)
    t = np.deg2rad(g[..., THETA])
    ax = np.stack([np.cos(t), np.sin(t)], axis=-1) * (g[..., W, None] / 2.0)   # half opening
    jy = np.stack([-np.sin(t), np.cos(t)], axis=-1) * (g[..., H, None] / 2.0)  # half jaw
    c = g[..., :2]
    return np.stack([c - ax - jy, c + ax - jy, c + ax + jy, c - ax + jy], axis=-2)


def corners_to_grasp(corners) -> np.ndarray:
    """Grasp ``[x, y, w, h, theta]`` from 4 rectangle corners ``(4, 2)`` (Cornell vertex order).

    The first edge (vertex 0 to vertex 1) is the opening axis: its length is the opening width and
    its direction the angle; the second edge's length is the jaw size.
    """
    p = np.asarray(corners, dtype=np.float64).reshape(4, 2)
    centre = p.mean(axis=0)
    e0 = p[1] - p[0]
    e1 = p[2] - p[1]
    theta = np.rad2deg(np.arctan2(e0[1], e0[0]))
    return np.array([centre[0], centre[1], np.hypot(*e0), np.hypot(*e1), float(normalize_angle(theta))])

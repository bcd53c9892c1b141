"""Grasp <-> anchor deformation coding (Eq. 2 of Depierre et al., ICRA 2021).

Grasps and anchors follow :mod:`grasp_scorer_ros.grasp`: ``[x, y, w, h, theta]`` with ``w`` the
opening (along the opening axis), ``h`` the jaw size and ``theta`` the opening-axis angle in degrees,
image coordinates, wrapped to ``[-90, 90)``. A deformation ``delta = [dx, dy, dw, dh, dtheta]`` maps
an anchor ``a`` to a grasp by::

    x     = dx * w_a + x_a
    y     = dy * h_a + y_a
    w     = exp(dw) * w_a
    h     = exp(dh) * h_a
    theta = dtheta * (180 / k) + theta_a      (then wrapped to [-90, 90))

Note that ``dx`` is scaled by the anchor's *width* and ``dy`` by its *height*, whatever the anchor's
orientation, exactly as in the paper. ``k`` is the number of anchor orientations, so one unit of
``dtheta`` is the angle between two neighbouring anchors.
"""
from __future__ import annotations

import math

import torch

from grasp_scorer_ros.grasp import normalize_angle_torch

# Same bound as torchvision's BoxCoder: keeps exp() finite for wild early predictions.
DEFAULT_EXP_CLAMP = math.log(1000.0 / 16)


def angle_step(num_orientations: int) -> float:
    """Degrees per unit of ``dtheta``: ``180 / k``."""
    return 180.0 / num_orientations


def encode(grasps: torch.Tensor, anchors: torch.Tensor, num_orientations: int) -> torch.Tensor:
    """Regression targets: the deformation ``(..., 5)`` taking ``anchors`` to ``grasps`` (inverse Eq. 2).

    The angle difference is wrapped to ``[-90, 90)`` before dividing by ``180 / k``, so a grasp is
    always reached by the shortest rotation from its anchor.
    """
    dx = (grasps[..., 0] - anchors[..., 0]) / anchors[..., 2]
    dy = (grasps[..., 1] - anchors[..., 1]) / anchors[..., 3]
    dw = torch.log(grasps[..., 2] / anchors[..., 2])
    dh = torch.log(grasps[..., 3] / anchors[..., 3])
    dt = normalize_angle_torch(grasps[..., 4] - anchors[..., 4]) / angle_step(num_orientations)
    return torch.stack([dx, dy, dw, dh, dt], dim=-1)


def decode(deltas: torch.Tensor, anchors: torch.Tensor, num_orientations: int,
           exp_clamp: float = DEFAULT_EXP_CLAMP) -> torch.Tensor:
    """Grasps ``(..., 5)`` from deformations ``deltas`` applied to ``anchors`` (Eq. 2).

    ``dw`` and ``dh`` are clamped at ``exp_clamp`` before the exponential; angles are wrapped to
    ``[-90, 90)``. ``deltas`` and ``anchors`` broadcast against each other.
    """
    x = deltas[..., 0] * anchors[..., 2] + anchors[..., 0]
    y = deltas[..., 1] * anchors[..., 3] + anchors[..., 1]
    w = torch.exp(deltas[..., 2].clamp(max=exp_clamp)) * anchors[..., 2]
    h = torch.exp(deltas[..., 3].clamp(max=exp_clamp)) * anchors[..., 3]
    t = normalize_angle_torch(deltas[..., 4] * angle_step(num_orientations) + anchors[..., 4])
    return torch.stack([x, y, w, h, t], dim=-1)

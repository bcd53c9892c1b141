"""Oriented anchor grasps (Zhou et al., IROS 2018; Depierre et al., ICRA 2021 sect. IV-C.1).

One anchor size with ``k`` orientations at every cell of the feature map. The ``k`` angles are evenly
spaced over the 180 degrees of grasp symmetry and centred on 0: for ``k = 6`` they are
``-75, -45, -15, 15, 45, 75`` degrees, 30 degrees apart, so that ``180 / k`` in Eq. 2 is the step
between two neighbouring anchors. Anchor centres are the cell centres
``((j + 0.5) * stride, (i + 0.5) * stride)`` in network-input pixels. The anchor width (opening) and
height (jaw size) are the mean ground-truth grasp of the training set (:func:`mean_grasp_size`),
computed once before training and stored in the model configuration.
"""
from __future__ import annotations

from typing import Iterable, Tuple

import numpy as np
import torch


def anchor_angles(num_orientations: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The ``k`` anchor angles in degrees, ``(k,)``, ascending, in ``(-90, 90)``."""
    step = 180.0 / num_orientations
    return -90.0 + step * (torch.arange(num_orientations, dtype=dtype, device=device) + 0.5)


def grid_anchors(feature_height: int, feature_width: int, stride: float, anchor_width: float,
                 anchor_height: float, num_orientations: int, dtype=torch.float32,
                 device=None) -> torch.Tensor:
    """All anchors ``(H, W, k, 5)`` as grasps ``[x, y, w, h, theta]`` in network-input pixels.

    Index ``[i, j, a]`` is the anchor of orientation ``a`` at feature row ``i``, column ``j``: the
    same layout as the network's ``deltas`` and ``primary_logits``.
    """
    k = num_orientations
    ys = (torch.arange(feature_height, dtype=dtype, device=device) + 0.5) * stride  # (H,)
    xs = (torch.arange(feature_width, dtype=dtype, device=device) + 0.5) * stride   # (W,)
    shape = (feature_height, feature_width, k)
    x = xs.view(1, -1, 1).expand(shape)
    y = ys.view(-1, 1, 1).expand(shape)
    w = torch.full(shape, float(anchor_width), dtype=dtype, device=device)
    h = torch.full(shape, float(anchor_height), dtype=dtype, device=device)
    t = anchor_angles(k, dtype=dtype, device=device).view(1, 1, k).expand(shape)
    return torch.stack([x, y, w, h, t], dim=-1)  # (H, W, k, 5)


def mean_grasp_size(ground_truths: Iterable) -> Tuple[float, float]:
    """Mean opening width and jaw size ``(w, h)`` over every grasp of a training set.

    ``ground_truths`` yields arrays ``(N_i, 5)`` of grasps, in network-input pixels (that is, after
    the same resize the network input gets). This is the paper's "mean box" anchor size.
    """
    total = np.zeros(2, dtype=np.float64)
    count = 0
    for grasps in ground_truths:
        g = np.asarray(grasps, dtype=np.float64).reshape(-1, 5)
        total += g[:, 2:4].sum(axis=0)
        count += len(g)
    if count == 0:
        raise ValueError("mean_grasp_size: the training set holds no ground-truth grasp")
    w, h = total / count
    return float(w), float(h)

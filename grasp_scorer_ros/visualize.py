"""Drawing grasp rectangles on images (evaluation figures, the detection node's debug image).

Each rectangle is drawn with its two kinds of edges in different colours: the edges along the
opening axis (the jaw travel, length ``w``) in ``color`` and the two jaw edges (length ``h``, where
the fingers are) in ``jaw_color``, so the grasp direction reads at a glance.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import cv2
import numpy as np

from grasp_scorer_ros.grasp import grasp_corners

Color = Union[Sequence[int], np.ndarray]

_SUBPIXEL_BITS = 4  # cv2 draws at 1/16 pixel precision


def _per_grasp(color, count: int) -> np.ndarray:
    c = np.asarray(color, dtype=np.float64)
    if c.ndim == 1:
        c = np.broadcast_to(c, (count, c.shape[0]))
    if len(c) != count:
        raise ValueError(f"{len(c)} colours for {count} grasps")
    return c


def draw_grasps(image: np.ndarray, grasps, color: Color = (0, 220, 0), jaw_color: Optional[Color] = (230, 40, 40),
                thickness: int = 1, centre: bool = True) -> np.ndarray:
    """A copy of ``image`` (``(H, W, 3)`` uint8, colours in the image's own channel order, RGB in
    this package) with ``grasps`` ``(N, 5)`` drawn on it.

    ``color`` and ``jaw_color`` are one colour or one per grasp ``(N, 3)``; ``jaw_color=None``
    draws the whole rectangle in ``color``. ``centre`` marks each grasp's centre with a dot.
    """
    out = np.ascontiguousarray(image).copy()
    if out.ndim == 2:
        out = cv2.cvtColor(out, cv2.COLOR_GRAY2RGB)
    g = np.asarray(grasps, dtype=np.float64).reshape(-1, 5)
    if len(g) == 0:
        return out
    colors = _per_grasp(color, len(g))
    jaw_colors = colors if jaw_color is None else _per_grasp(jaw_color, len(g))
    corners = np.round(grasp_corners(g) * (1 << _SUBPIXEL_BITS)).astype(np.int32)  # (N, 4, 2)
    for k in range(len(g)):
        p = corners[k]
        axis_c = tuple(float(v) for v in colors[k])
        jaw_c = tuple(float(v) for v in jaw_colors[k])
        # Edges 0-1 and 2-3 run along the opening axis; 1-2 and 3-0 are the jaws.
        for a, b, c in ((0, 1, axis_c), (2, 3, axis_c), (1, 2, jaw_c), (3, 0, jaw_c)):
            cv2.line(out, tuple(map(int, p[a])), tuple(map(int, p[b])), c, thickness, cv2.LINE_AA,
                     _SUBPIXEL_BITS)
        if centre:
            ctr = tuple(int(v) for v in np.round(g[k, :2] * (1 << _SUBPIXEL_BITS)))
            cv2.circle(out, ctr, 2 << _SUBPIXEL_BITS, axis_c, -1, cv2.LINE_AA, _SUBPIXEL_BITS)
    return out

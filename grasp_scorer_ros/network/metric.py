"""The rectangle metric ("Jaccard index" criterion) and the Jaccard matching it is built on.

A predicted grasp matches a ground truth when their angle difference (modulo 180 degrees) is *below*
``angle_threshold`` and the intersection over union of the two rectangles *exceeds*
``iou_threshold``. IoU is computed exactly on polygons (shapely). Evaluation uses 30 degrees / 25%;
the scorer's training labels use the stricter 15 degrees / 25% (see
:mod:`grasp_scorer_ros.network.losses`).
Grasps are ``[x, y, w, h, theta]`` as in :mod:`grasp_scorer_ros.grasp`.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import shapely

from grasp_scorer_ros.grasp import angle_difference, grasp_corners


def _as_grasps(grasps) -> np.ndarray:
    return np.asarray(grasps, dtype=np.float64).reshape(-1, 5)


def grasp_polygons(grasps) -> np.ndarray:
    """Shapely polygons ``(N,)`` of grasp rectangles ``(N, 5)``."""
    return shapely.polygons(grasp_corners(_as_grasps(grasps)))


def grasp_iou_matrix(a, b, mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Exact IoU ``(N, M)`` between every grasp of ``a`` ``(N, 5)`` and every grasp of ``b`` ``(M, 5)``.

    Only the pairs where ``mask`` ``(N, M)`` is True are computed (the others are 0); pairs whose
    circumscribed circles do not touch are skipped as well, since their IoU is 0.
    """
    a, b = _as_grasps(a), _as_grasps(b)
    iou = np.zeros((len(a), len(b)), dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        return iou
    # Cheap reject: centres farther apart than the two half-diagonals cannot overlap.
    radius_a = 0.5 * np.hypot(a[:, 2], a[:, 3])
    radius_b = 0.5 * np.hypot(b[:, 2], b[:, 3])
    distance = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    todo = distance < radius_a[:, None] + radius_b[None, :]
    if mask is not None:
        todo &= np.asarray(mask, dtype=bool)
    ia, ib = np.nonzero(todo)
    if len(ia) == 0:
        return iou
    poly_a, poly_b = grasp_polygons(a), grasp_polygons(b)
    inter = shapely.area(shapely.intersection(poly_a[ia], poly_b[ib]))
    area_a = a[ia, 2] * a[ia, 3]
    area_b = b[ib, 2] * b[ib, 3]
    union = area_a + area_b - inter
    iou[ia, ib] = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
    return iou


def grasp_iou(a, b) -> float:
    """Exact intersection over union of two grasp rectangles ``(5,)``."""
    return float(grasp_iou_matrix(a, b)[0, 0])


def match_grasps(predictions, ground_truths, angle_threshold: float = 30.0,
                 iou_threshold: float = 0.25) -> np.ndarray:
    """For each prediction ``(N, 5)``: does it match at least one ground truth ``(M, 5)``? -> ``(N,)`` bool.

    A match is an angle difference below ``angle_threshold`` (degrees, modulo 180) and an IoU above
    ``iou_threshold``. IoU is only computed for the pairs that pass the angle test.
    """
    p, g = _as_grasps(predictions), _as_grasps(ground_truths)
    if len(p) == 0 or len(g) == 0:
        return np.zeros(len(p), dtype=bool)
    angle_ok = angle_difference(p[:, None, 4], g[None, :, 4]) < angle_threshold  # (N, M)
    iou = grasp_iou_matrix(p, g, mask=angle_ok)
    return np.any(angle_ok & (iou > iou_threshold), axis=1)


def is_grasp_correct(prediction, ground_truths, angle_threshold: float = 30.0,
                     iou_threshold: float = 0.25) -> bool:
    """The rectangle metric for one predicted grasp ``(5,)`` against an image's ground truths."""
    return bool(match_grasps(prediction, ground_truths, angle_threshold, iou_threshold)[0])


def top1_accuracy(predictions: Sequence, ground_truths: Sequence, angle_threshold: float = 30.0,
                  iou_threshold: float = 0.25) -> float:
    """Share of images whose best prediction is correct.

    ``predictions[i]`` is image i's best grasp ``(5,)`` or its grasps ``(N, 5)`` sorted best first
    (only the first row is used; an image without prediction counts as wrong).
    ``ground_truths[i]`` is ``(M_i, 5)``.
    """
    if len(predictions) != len(ground_truths):
        raise ValueError(f"top1_accuracy: {len(predictions)} predictions for "
                         f"{len(ground_truths)} ground-truth sets")
    if len(predictions) == 0:
        raise ValueError("top1_accuracy: no image to evaluate")
    correct = 0
    for pred, gts in zip(predictions, ground_truths):
        pred = _as_grasps(pred)
        if len(pred) and is_grasp_correct(pred[0], gts, angle_threshold, iou_threshold):
            correct += 1
    return correct / len(predictions)

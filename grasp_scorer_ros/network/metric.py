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
import torch

from grasp_scorer_ros.grasp import angle_difference, grasp_corners


def _as_grasps(grasps) -> np.ndarray:
    return np.asarray(grasps, dtype=np.float64).reshape(-1, 5)


def grasp_polygons(grasps) -> np.ndarray:
    """Shapely polygons ``(N,)`` of grasp rectangles ``(N, 5)``."""
    return shapely.polygons(grasp_corners(_as_grasps(grasps)))


def _clip_by_half_plane(poly: np.ndarray, count: np.ndarray, p: np.ndarray, q: np.ndarray):
    """One Sutherland-Hodgman step for many convex polygons at once.

    ``poly`` ``(N, M, 2)`` holds ``count`` ``(N,)`` valid vertices each; the half-plane is the left of
    the directed line ``p -> q`` (``(N, 2)`` each). Returns the clipped polygons ``(N, M + 1, 2)``
    and their vertex counts (a convex polygon gains at most one vertex per clip).
    """
    n, m, _ = poly.shape
    slot = np.arange(m)[None, :]
    valid = slot < count[:, None]
    nxt = np.where(slot + 1 < count[:, None], slot + 1, 0)
    following = np.take_along_axis(poly, nxt[..., None], axis=1)
    edge = (q - p)[:, None, :]
    side_cur = edge[..., 0] * (poly[..., 1] - p[:, None, 1]) - edge[..., 1] * (poly[..., 0] - p[:, None, 0])
    side_nxt = np.take_along_axis(side_cur, nxt, axis=1)
    inside_cur, inside_nxt = side_cur >= 0, side_nxt >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = side_cur / (side_cur - side_nxt)
        crossing = poly + t[..., None] * (following - poly)  # used only where the edge crosses
    # Each input vertex emits itself (if inside) then the crossing of its edge (if the edge crosses).
    emit = np.stack([valid & inside_cur, valid & (inside_cur != inside_nxt)], axis=2).reshape(n, 2 * m)
    points = np.stack([poly, crossing], axis=2).reshape(n, 2 * m, 2)
    rows, cols = np.nonzero(emit)                                  # emitted vertices, in order
    position = np.cumsum(emit, axis=1)[rows, cols] - 1
    keep = position <= m
    out = np.zeros((n, m + 1, 2))
    out[rows[keep], position[keep]] = points[rows[keep], cols[keep]]
    return out, emit.sum(axis=1)


def rectangle_intersection_area(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact areas ``(N,)`` of the intersections of rectangle pairs given by corners ``(N, 4, 2)``.

    Clips each rectangle of ``a`` by the four edges of its partner in ``b`` (Sutherland-Hodgman;
    exact for convex polygons), vectorised over the pairs: about 40x faster than shapely's
    per-pair intersection, which the tests use as the reference.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n = len(a)
    signed = 0.5 * np.sum(_cross2(b, np.roll(b, -1, axis=1)), axis=1)
    b = np.where((signed < 0)[:, None, None], b[:, ::-1], b)       # counter-clockwise clip region
    poly = np.zeros((n, 8, 2))
    poly[:, :4] = a
    count = np.full(n, 4)
    for i in range(4):
        poly, count = _clip_by_half_plane(poly, count, b[:, i], b[:, (i + 1) % 4])
        poly = poly[:, :8]
        count = np.minimum(count, 8)
    slot = np.arange(poly.shape[1])[None, :]
    nxt = np.where(slot + 1 < count[:, None], slot + 1, 0)
    following = np.take_along_axis(poly, nxt[..., None], axis=1)
    terms = np.where(slot < count[:, None], _cross2(poly, following), 0.0)
    return np.abs(0.5 * terms.sum(axis=1))


def _cross2(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


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
    inter = rectangle_intersection_area(grasp_corners(a[ia]), grasp_corners(b[ib]))
    area_a = a[ia, 2] * a[ia, 3]
    area_b = b[ib, 2] * b[ib, 3]
    union = area_a + area_b - inter
    iou[ia, ib] = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
    return iou


def grasp_iou(a, b) -> float:
    """Exact intersection over union of two grasp rectangles ``(5,)``."""
    return float(grasp_iou_matrix(a, b)[0, 0])


def _overlap_bound(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """An upper bound ``(N,)`` on the intersection area of grasp pairs ``a``, ``b`` ``(N, 5)``.

    The intersection lies inside ``a`` and inside ``b``'s extent along ``a``'s two axes, so it is at
    most the product of the two interval overlaps; tight for nearly parallel rectangles.
    """
    t = np.deg2rad(a[:, 4])
    u = np.stack([np.cos(t), np.sin(t)], axis=1)
    v = np.stack([-np.sin(t), np.cos(t)], axis=1)
    d = b[:, :2] - a[:, :2]
    tb = np.deg2rad(b[:, 4] - a[:, 4])
    cos, sin = np.abs(np.cos(tb)), np.abs(np.sin(tb))
    half_u = 0.5 * (b[:, 2] * cos + b[:, 3] * sin)   # b's half extent along a's axis
    half_v = 0.5 * (b[:, 2] * sin + b[:, 3] * cos)   # and across it
    cu, cv = np.sum(d * u, axis=1), np.sum(d * v, axis=1)
    ov_u = np.clip(np.minimum(cu + half_u, a[:, 2] / 2) - np.maximum(cu - half_u, -a[:, 2] / 2), 0, None)
    ov_v = np.clip(np.minimum(cv + half_v, a[:, 3] / 2) - np.maximum(cv - half_v, -a[:, 3] / 2), 0, None)
    return ov_u * ov_v


def _candidate_pairs(p: np.ndarray, g: np.ndarray, angle_threshold: float):
    """Index pairs ``(ip, ig)`` of predictions and ground truths whose circumscribed circles touch
    and whose angles differ by less than ``angle_threshold`` (plus a float32 margin: the caller
    applies the exact angle test). The all-pairs screen runs in float32 torch, many times faster
    than numpy's float64 on the hundreds of thousands of pairs that dense ground truth makes."""
    tp, tg = torch.from_numpy(p).float(), torch.from_numpy(g).float()
    reach = 0.5 * torch.hypot(tp[:, 2], tp[:, 3])[:, None] + 0.5 * torch.hypot(tg[:, 2], tg[:, 3])[None, :]
    near = torch.cdist(tp[:, :2], tg[:, :2]) < reach + 1e-3
    d = torch.remainder(tp[:, None, 4] - tg[None, :, 4], 180.0)
    near &= torch.minimum(d, 180.0 - d) < angle_threshold + 1e-3
    ip, ig = torch.nonzero(near, as_tuple=True)
    return ip.numpy(), ig.numpy()


def match_grasps(predictions, ground_truths, angle_threshold: float = 30.0,
                 iou_threshold: float = 0.25) -> np.ndarray:
    """For each prediction ``(N, 5)``: does it match at least one ground truth ``(M, 5)``? -> ``(N,)`` bool.

    A match is an angle difference below ``angle_threshold`` (degrees, modulo 180) and an IoU above
    ``iou_threshold``. The exact IoU is only computed for the pairs that pass the angle test and
    whose intersection bound (:func:`_overlap_bound`) leaves the IoU able to pass, most promising
    pair first, until each prediction has a match or runs out of candidates: dense ground truth
    (hundreds of grasps per object) stays cheap.
    """
    p, g = _as_grasps(predictions), _as_grasps(ground_truths)
    matched = np.zeros(len(p), dtype=bool)
    if len(p) == 0 or len(g) == 0:
        return matched
    ip, ig = _candidate_pairs(p, g, angle_threshold)
    exact = angle_difference(p[ip, 4], g[ig, 4]) < angle_threshold
    ip, ig = ip[exact], ig[exact]
    if len(ip) == 0:
        return matched
    area_p, area_g = p[ip, 2] * p[ip, 3], g[ig, 2] * g[ig, 3]
    bound = np.minimum(_overlap_bound(p[ip], g[ig]), _overlap_bound(g[ig], p[ip]))
    bound_iou = bound / np.maximum(area_p + area_g - bound, 1e-12)
    keep = bound_iou > iou_threshold
    ip, ig, area_p, area_g, bound_iou = ip[keep], ig[keep], area_p[keep], area_g[keep], bound_iou[keep]
    # The most promising candidate of each prediction first, then all the others of the predictions
    # still unmatched.
    order = np.lexsort((-bound_iou, ip))
    ip, ig, area_p, area_g = ip[order], ig[order], area_p[order], area_g[order]
    first = np.arange(len(ip)) == np.searchsorted(ip, ip)
    for todo in (first, ~first):
        todo = todo & ~matched[ip]
        if not todo.any():
            break
        a, b = p[ip[todo]], g[ig[todo]]
        inter = rectangle_intersection_area(grasp_corners(a), grasp_corners(b))
        union = area_p[todo] + area_g[todo] - inter
        hit = inter > iou_threshold * np.maximum(union, 1e-12)
        matched[ip[todo][hit]] = True
    return matched


def best_iou(grasps, ground_truths, angle_threshold: float = 30.0, return_index: bool = False):
    """For each grasp ``(N, 5)``: its highest IoU with a ground truth ``(M, 5)`` whose angle differs
    by less than ``angle_threshold`` (0 if none) -> ``(N,)``; with ``return_index`` also the index
    of that ground truth (-1 if none)."""
    p, g = _as_grasps(grasps), _as_grasps(ground_truths)
    result = np.zeros(len(p))
    index = np.full(len(p), -1, dtype=np.int64)
    if len(p) and len(g):
        ip, ig = _candidate_pairs(p, g, angle_threshold)
        exact = angle_difference(p[ip, 4], g[ig, 4]) < angle_threshold
        ip, ig = ip[exact], ig[exact]
        if len(ip):
            inter = rectangle_intersection_area(grasp_corners(p[ip]), grasp_corners(g[ig]))
            union = p[ip, 2] * p[ip, 3] + g[ig, 2] * g[ig, 3] - inter
            iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
            order = np.lexsort((-iou, ip))                  # per grasp, best pair first
            first = order[np.r_[True, ip[order][1:] != ip[order][:-1]]]
            keep = iou[first] > 0
            result[ip[first[keep]]] = iou[first[keep]]
            index[ip[first[keep]]] = ig[first[keep]]
    return (result, index) if return_index else result


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

"""Grasp rectangles that are correct by construction, for an object outline among other objects.

The gripper is a parallel-jaw gripper seen from above (:class:`GripperModel`): two fingers of size
``jaw_size`` (across the opening axis) and ``finger_thickness`` (along it), open to at most
``max_opening``. A grasp ``[x, y, w, h, theta]`` (convention of :mod:`grasp_scorer_ros.grasp`)
places the inner faces of the open fingers at the two short edges of its rectangle, ``w`` apart.
A candidate is kept only if

* it pinches the object: the rectangle holds a part of it, and the first contact on each side,
  where a closing finger touches the object, is on a face whose normal is within
  ``friction_deg`` of the opening axis (so the pair of contacts is antipodal within the friction
  cone); contacts on corners or slanted faces are rejected;
* the opening is the object's extent between the fingers plus ``clearance`` on each side, and
  lies in ``[min_opening, max_opening]``;
* both open fingers are clear of every object (this one included) and inside the image;
* the space between the fingers holds no other object.

Candidates are lines at several angles and offsets across the object; the object's outline edges
are intersected with ``jaw_samples`` parallel lines across the jaw, all in numpy, and the final
clearance checks use exact polygons (shapely, vectorised).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np
import shapely
from shapely.geometry import Polygon

from grasp_scorer_ros.grasp import normalize_angle


@dataclass(frozen=True)
class GripperModel:
    """Finger geometry in pixels. ``jaw_sizes``: the finger widths grasps are annotated at (several,
    as in Jacquard, where each position is repeated at several jaw sizes); empty means ``jaw_size``."""
    max_opening: float
    min_opening: float
    jaw_size: float
    finger_thickness: float
    clearance: float
    friction_deg: float = 20.0
    jaw_sizes: Tuple[float, ...] = ()

    @property
    def all_jaw_sizes(self) -> Tuple[float, ...]:
        return tuple(self.jaw_sizes) or (self.jaw_size,)

    @classmethod
    def for_image_size(cls, size: int) -> "GripperModel":
        """The default gripper for ``size x size`` scenes: jaws of 3, 4 and 5% of the image side."""
        return cls(max_opening=0.3 * size, min_opening=0.03 * size, jaw_size=0.05 * size,
                   finger_thickness=0.025 * size, clearance=0.02 * size,
                   jaw_sizes=(0.03 * size, 0.04 * size, 0.05 * size))


def _edges(shape: Polygon) -> Tuple[np.ndarray, np.ndarray]:
    """Start points ``(E, 2)`` and vectors ``(E, 2)`` of all outline edges, holes included."""
    starts, vectors = [], []
    for ring in [shape.exterior, *shape.interiors]:
        c = np.asarray(ring.coords, dtype=np.float64)
        starts.append(c[:-1])
        vectors.append(c[1:] - c[:-1])
    p0, d = np.concatenate(starts), np.concatenate(vectors)
    keep = np.hypot(d[:, 0], d[:, 1]) > 1e-9
    return p0[keep], d[keep]


def _cross(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _rectangles(centre_line_points, axis, normal, s_lo, s_hi, half_h) -> np.ndarray:
    """Polygons of rectangles spanning ``[s_lo, s_hi]`` along ``axis`` and ``+-half_h`` across."""
    a = centre_line_points + s_lo[:, None] * axis
    b = centre_line_points + s_hi[:, None] * axis
    n = normal * half_h
    return np.stack([a - n, b - n, b + n, a + n], axis=1)  # (N, 4, 2)


def plan_grasps(shape: Polygon, occupied, obstacles, image_size: Tuple[int, int], gripper: GripperModel,
                rng: np.random.Generator, angle_step_deg: float = 5.0, offset_step: Optional[float] = None,
                jaw_samples: int = 5, max_grasps: Optional[int] = None) -> np.ndarray:
    """Every grasp ``(N, 5)`` on ``shape`` (image pixels) that the candidate grid finds, at every jaw
    size of the gripper; or up to ``max_grasps`` diverse ones of them.

    Candidates are lines across the object every ``angle_step_deg`` degrees (random phase) and every
    ``offset_step`` pixels across it (default: half the smallest jaw size), so the result
    covers the positions along the object and the range of orientations that still close on it,
    like Jacquard's annotations of all the grasps that succeeded. ``occupied`` is the union of all
    objects in the scene (this one included), ``obstacles`` the union of the others (``None`` or
    empty if there are none); ``image_size`` is ``(width, height)``.
    """
    p0, d = _edges(shape)
    edge_normals = np.stack([-d[:, 1], d[:, 0]], axis=1) / np.hypot(d[:, 0], d[:, 1])[:, None]
    centre = np.array(shape.centroid.coords[0])
    vertices = np.asarray(shape.exterior.coords)
    jaw_sizes = gripper.all_jaw_sizes
    offset_step = offset_step or 0.5 * min(jaw_sizes)

    # Candidate lines: angles over [0, 180) with a random phase, offsets every offset_step across the
    # object (random phase per angle).
    angles = max(1, int(round(180.0 / angle_step_deg)))
    theta = np.deg2rad(rng.uniform(0, 180 / angles) + np.arange(angles) * 180 / angles)
    axis_a = np.stack([np.cos(theta), np.sin(theta)], axis=1)            # (A, 2)
    normal_a = np.stack([-np.sin(theta), np.cos(theta)], axis=1)         # (A, 2)
    across = (vertices - centre) @ normal_a.T                              # (V, A)
    lo, hi = across.min(axis=0), across.max(axis=0)
    counts = np.floor((hi - lo) / offset_step).astype(int) + 1             # (A,)
    angle_of = np.repeat(np.arange(angles), counts)                       # (C,)
    step_of = np.arange(len(angle_of)) - np.repeat(np.cumsum(counts) - counts, counts)
    phase = rng.uniform(0, 1, size=angles)[angle_of]
    # (The last line stays a hair inside the object: a line through its extreme vertex would graze it.)
    t = lo[angle_of] + np.minimum((step_of + phase) * offset_step, (hi - lo)[angle_of] - 1e-6)
    axis, normal = axis_a[angle_of], normal_a[angle_of]                   # (C, 2)
    line_points = centre + t[:, None] * normal                             # (C, 2) on the centre subline

    # Crossings of the candidate lines with every edge. A subline at offset o across the jaw, the
    # line moved by o along the normal, crosses edge e at s = A - o * B along the axis, inside the
    # edge iff 0 <= R + o / denom < 1: the (C, E) arrays below serve every subline of every jaw.
    denom = axis[:, None, 0] * d[None, :, 1] - axis[:, None, 1] * d[None, :, 0]          # (C, E)
    rel = p0[None, :, :] - line_points[:, None, :]                                         # (C, E, 2)
    parallel = np.abs(denom) <= 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(parallel, np.nan, 1.0 / denom)                                      # nan: never a hit
    crossings = np.stack([_cross(rel, d[None]) * inv,                                      # A
                          (normal[:, None, 0] * d[None, :, 1] - normal[:, None, 1] * d[None, :, 0]) * inv,  # B
                          _cross(rel, axis[:, None, :]) * inv,                             # R
                          inv])                                                            # (4, C, E)
    # The edges within reach of a line's widest jaw (across the line): the only ones its sublines
    # can cross.
    q0 = rel[..., 0] * normal[:, None, 0] + rel[..., 1] * normal[:, None, 1]              # (C, E)
    q1 = q0 + normal @ d.T
    reach = 0.5 * max(jaw_sizes) + 1e-6
    near = (np.maximum(q0, q1) >= -reach) & (np.minimum(q0, q1) <= reach)

    # Pinch candidates are found on the centre subline, the same for every jaw size.
    s_mid = np.where((crossings[2] >= 0) & (crossings[2] < 1), crossings[0], np.inf)
    line_idx, s_in, s_out = _pinch_candidates(s_mid, gripper)
    if len(line_idx) == 0:
        return np.zeros((0, 5))
    # Each candidate keeps only its line's edges within reach (padded with never-hit entries).
    near = near[line_idx]
    kept = max(int(near.sum(axis=1).max()), 1)
    edge_idx = np.argsort(~near, axis=1, kind="stable")[:, :kept]                          # (N, M)
    selected = crossings[:, line_idx[:, None], edge_idx]                                    # (4, N, M)
    selected[3][~np.take_along_axis(near, edge_idx, axis=1)] = np.nan
    candidates = (line_idx, s_in, s_out, edge_idx, selected)
    found = [_grasps_for_jaw(jaw, candidates, line_points, axis, normal, edge_normals, occupied, obstacles,
                             image_size, gripper, jaw_samples) for jaw in jaw_sizes]
    grasps = np.concatenate(found).reshape(-1, 5)
    if max_grasps is not None:
        return pick_diverse(grasps, rng, max_grasps)
    return grasps


def _pinch_candidates(s_mid: np.ndarray, gripper: GripperModel):
    """Candidate pinches ``(line, s_in, s_out)`` from the crossings ``(C, E)`` of the centre
    sublines: each run of the object along a line, and, where the line crosses the object more than
    once (a ring, a U), the whole span from first entry to last exit. Spans wider than the gripper's
    opening are left out: the first contacts can only widen them."""
    s_mid = np.sort(s_mid, axis=1)
    count = np.isfinite(s_mid).sum(axis=1)
    even = count % 2 == 0
    pairs = s_mid.shape[1] // 2
    runs_in, runs_out = s_mid[:, 0:2 * pairs:2], s_mid[:, 1:2 * pairs:2]
    valid = np.isfinite(runs_in) & np.isfinite(runs_out) & even[:, None]
    run_line, _ = np.nonzero(valid)
    span_line = np.nonzero(even & (count >= 4))[0]
    line_idx = np.concatenate([run_line, span_line])
    s_in = np.concatenate([runs_in[valid], s_mid[span_line, 0]])
    s_out = np.concatenate([runs_out[valid], s_mid[span_line, np.maximum(count[span_line] - 1, 0)]])
    fits = s_out - s_in + 2 * gripper.clearance <= gripper.max_opening
    return line_idx[fits], s_in[fits], s_out[fits]


def _grasps_for_jaw(jaw_size, candidates, line_points, axis, normal, edge_normals, occupied, obstacles,
                    image_size, gripper: GripperModel, jaw_samples: int) -> np.ndarray:
    """The candidate pinches that make a valid grasp with fingers ``jaw_size`` wide, as grasps ``(N, 5)``."""
    line_idx, s_in, s_out, edge_idx, (a_c, b_c, r_c, inv_c) = candidates
    n = len(line_idx)
    # Crossings of every subline across the jaw with the candidate's edges: s along the axis.
    half_h = jaw_size / 2
    jaw_offsets = np.linspace(-half_h, half_h, jaw_samples)               # (K,)
    o = jaw_offsets[None, :, None]
    r = r_c[:, None, :] + o * inv_c[:, None, :]                           # (N, K, M)
    sc = a_c[:, None, :] - o * b_c[:, None, :]
    # First contact on each side over all sublines, within reach of the fingers.
    m, ft = gripper.clearance, gripper.finger_thickness
    inside = ((r >= 0) & (r < 1) & (sc > (s_in - m - ft)[:, None, None])
              & (sc < (s_out + m + ft)[:, None, None]))
    s_left = np.where(inside, sc, np.inf)
    s_right = np.where(inside, sc, -np.inf)
    first, last = s_left.min(axis=2), s_right.max(axis=2)                 # (N, K)
    rows = np.arange(n)
    k_lo, k_hi = first.argmin(axis=1), last.argmax(axis=1)
    contact_lo, contact_hi = first[rows, k_lo], last[rows, k_hi]
    axis_n = axis[line_idx]
    normal_lo = edge_normals[edge_idx[rows, s_left[rows, k_lo].argmin(axis=1)]]
    normal_hi = edge_normals[edge_idx[rows, s_right[rows, k_hi].argmax(axis=1)]]
    cone = np.cos(np.deg2rad(gripper.friction_deg))
    # Antipodal within the friction cone: each first contact is on a face whose normal is close to
    # the closing direction, and the two contact patches (the sublines touched within a pixel of
    # the first contact) face each other: the lateral gap between them, over the distance between
    # the fingers, stays within the cone.
    touch_lo = first <= contact_lo[:, None] + 1.0
    touch_hi = last >= contact_hi[:, None] - 1.0
    offsets_k = jaw_offsets[None, :]
    lateral_gap = np.maximum(
        np.maximum(np.where(touch_lo, offsets_k, np.inf).min(axis=1), np.where(touch_hi, offsets_k, np.inf).min(axis=1))
        - np.minimum(np.where(touch_lo, offsets_k, -np.inf).max(axis=1), np.where(touch_hi, offsets_k, -np.inf).max(axis=1)),
        0.0)
    antipodal = ((np.abs(np.sum(normal_lo * axis_n, axis=1)) >= cone)
                 & (np.abs(np.sum(normal_hi * axis_n, axis=1)) >= cone)
                 & (lateral_gap <= np.tan(np.deg2rad(gripper.friction_deg)) * (contact_hi - contact_lo)))
    sublines_hit = np.isfinite(first).sum(axis=1)
    width = contact_hi - contact_lo + 2 * m
    ok = (antipodal & (width >= gripper.min_opening) & (width <= gripper.max_opening)
          & (sublines_hit >= 2))
    if not ok.any():
        return np.zeros((0, 5))
    line_idx, contact_lo, contact_hi, width = line_idx[ok], contact_lo[ok], contact_hi[ok], width[ok]
    base, axis_n, normal_n = line_points[line_idx], axis[line_idx], normal[line_idx]

    # Exact clearance checks: fingers free and inside the image, nothing else between them.
    # Fingers are checked with a 1-pixel safety band so that they stay clear of rasterised edges.
    band = 1.0
    fingers_lo = _rectangles(base, axis_n, normal_n, contact_lo - m - ft - band, contact_lo - m + band, half_h + band)
    fingers_hi = _rectangles(base, axis_n, normal_n, contact_hi + m - band, contact_hi + m + ft + band, half_h + band)
    closing = _rectangles(base, axis_n, normal_n, contact_lo - m, contact_hi + m, half_h)
    width_px, height_px = image_size
    corners = np.concatenate([fingers_lo, fingers_hi], axis=1)
    in_image = np.all((corners[..., 0] >= 0) & (corners[..., 0] <= width_px - 1)
                      & (corners[..., 1] >= 0) & (corners[..., 1] <= height_px - 1), axis=1)
    finger_polys = shapely.polygons(np.concatenate([fingers_lo, fingers_hi]))
    shapely.prepare(occupied)
    fingers_free = ~shapely.intersects(finger_polys, occupied).reshape(2, -1).any(axis=0)
    ok = in_image & fingers_free
    if obstacles is not None and not obstacles.is_empty:
        shapely.prepare(obstacles)
        ok &= ~shapely.intersects(shapely.polygons(closing), obstacles)
    if not ok.any():
        return np.zeros((0, 5))

    centre_s = 0.5 * (contact_lo + contact_hi)
    centres = base + centre_s[:, None] * axis_n
    angles_deg = normalize_angle(np.rad2deg(np.arctan2(axis_n[:, 1], axis_n[:, 0])))
    return np.column_stack([centres, width, np.full(len(width), float(jaw_size)), angles_deg])[ok]


def pick_diverse(grasps: np.ndarray, rng: np.random.Generator, count: int) -> np.ndarray:
    """Up to ``count`` grasps in random order, skipping near-duplicates of those already picked."""
    chosen = []
    for i in rng.permutation(len(grasps)):
        g = grasps[i]
        duplicate = False
        for c in chosen:
            angle = abs(normalize_angle(g[4] - c[4]))
            if np.hypot(*(g[:2] - c[:2])) < 0.25 * g[3] and min(angle, 180 - angle) < 10:
                duplicate = True
                break
        if not duplicate:
            chosen.append(g)
            if len(chosen) == count:
                break
    return np.array(chosen).reshape(-1, 5)


def occupancy(shapes: Sequence[Polygon], exclude: Optional[int] = None):
    """Union of ``shapes`` (all of them, or all but index ``exclude``)."""
    kept = [s for i, s in enumerate(shapes) if i != exclude]
    return shapely.union_all(kept) if kept else None

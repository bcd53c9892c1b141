"""The rectangle metric on hand-made cases."""
import numpy as np
import pytest

from grasp_scorer_ros.grasp import angle_difference
from grasp_scorer_ros.network.metric import (grasp_iou, grasp_iou_matrix, is_grasp_correct,
                                             match_grasps, top1_accuracy)

GT = np.array([100.0, 80.0, 40.0, 30.0, 10.0])


def _with(grasp, **changes):
    g = np.array(grasp, dtype=float)
    for name, value in changes.items():
        g["xywht".index(name)] = value
    return g


def test_identical_grasp_is_correct():
    assert grasp_iou(GT, GT) == pytest.approx(1.0)
    assert is_grasp_correct(GT, GT[None])


def test_iou_is_exact_on_polygons():
    square = np.array([0.0, 0.0, 10.0, 10.0, 0.0])
    # A square and itself rotated by 45 degrees: the intersection is a regular octagon.
    octagon = 2 * (np.sqrt(2) - 1) * 100
    assert grasp_iou(square, _with(square, t=45)) == pytest.approx(octagon / (200 - octagon), rel=1e-9)
    # Axis-aligned shift d along the opening: IoU = (w - d) / (w + d).
    assert grasp_iou(square, _with(square, x=4)) == pytest.approx(6 / 14, rel=1e-9)
    assert grasp_iou(square, _with(square, x=50)) == 0.0


@pytest.mark.parametrize("rotation, expected", [(29.0, True), (31.0, False), (-29.0, True), (-31.0, False)])
def test_angle_threshold(rotation, expected):
    rotated = _with(GT, t=GT[4] + rotation)
    assert grasp_iou(GT, rotated) > 0.5  # the IoU alone would pass: only the angle decides
    assert is_grasp_correct(rotated, GT[None]) is expected


def test_iou_threshold_just_under_and_over():
    # Shifting along the opening axis by d gives IoU (w - d) / (w + d) = 0.25 at d = 0.6 w.
    w = GT[2]
    axis = np.array([np.cos(np.deg2rad(GT[4])), np.sin(np.deg2rad(GT[4]))])
    for d, expected in [(0.6 * w - 0.1, True), (0.6 * w + 0.1, False)]:
        shifted = _with(GT, x=GT[0] + d * axis[0], y=GT[1] + d * axis[1])
        iou = grasp_iou(GT, shifted)
        assert iou == pytest.approx((w - d) / (w + d), rel=1e-9)
        assert (iou > 0.25) is expected
        assert is_grasp_correct(shifted, GT[None]) is expected


def test_180_degree_wrap():
    a = _with(GT, t=89.0)
    b = _with(GT, t=-89.0)  # 2 degrees away, through the 90/-90 seam
    assert is_grasp_correct(a, b[None])
    assert is_grasp_correct(_with(GT, t=-90.0), _with(GT, t=90.0)[None])
    assert grasp_iou(a, _with(GT, t=269.0)) == pytest.approx(1.0)


def test_thresholds_are_parameters():
    rotated = _with(GT, t=GT[4] + 20)
    assert is_grasp_correct(rotated, GT[None])
    assert not is_grasp_correct(rotated, GT[None], angle_threshold=15.0)
    assert not is_grasp_correct(GT, _with(GT, x=GT[0] + 10)[None], iou_threshold=0.9)


def test_any_ground_truth_counts_and_empty_sets():
    far = _with(GT, x=500.0)
    assert is_grasp_correct(GT, np.stack([far, GT]))
    assert not is_grasp_correct(GT, far[None])
    assert not is_grasp_correct(GT, np.zeros((0, 5)))


def test_vectorised_matching_equals_pairwise():
    rng = np.random.default_rng(0)
    preds = np.column_stack([rng.uniform(0, 100, (60, 2)), rng.uniform(5, 60, (60, 2)),
                             rng.uniform(-90, 90, 60)])
    gts = np.column_stack([rng.uniform(0, 100, (25, 2)), rng.uniform(5, 60, (25, 2)),
                           rng.uniform(-90, 90, 25)])
    matrix = grasp_iou_matrix(preds, gts)
    pairwise = np.array([[grasp_iou(p, g) for g in gts] for p in preds])
    np.testing.assert_allclose(matrix, pairwise, atol=1e-12)
    assert (matrix > 0).any()
    expected = [any(is_grasp_correct(p, g[None], 15.0, 0.25) for g in gts) for p in preds]
    np.testing.assert_array_equal(match_grasps(preds, gts, 15.0, 0.25), expected)


def test_top1_accuracy_uses_the_first_prediction_only():
    good, bad = GT, _with(GT, x=500.0)
    gts = [GT[None], GT[None], GT[None]]
    predictions = [np.stack([good, bad]), np.stack([bad, good]), np.zeros((0, 5))]
    assert top1_accuracy(predictions, gts) == pytest.approx(1 / 3)
    assert top1_accuracy([good, good], gts[:2]) == 1.0
    with pytest.raises(ValueError):
        top1_accuracy([good], gts)


def _random_grasps(rng, n, spread=8.0):
    centre = rng.uniform(100, 120, size=(n, 2))
    size = np.c_[rng.uniform(5, 80, n), rng.uniform(3, 20, n)]
    return np.c_[centre, size, rng.uniform(-90, 90, n)]


def test_rectangle_intersection_equals_shapely():
    """The vectorised polygon clipping against shapely's exact intersection, including identical,
    nested, touching and disjoint rectangles."""
    import shapely

    from grasp_scorer_ros.network.metric import grasp_polygons, rectangle_intersection_area
    from grasp_scorer_ros.grasp import grasp_corners
    rng = np.random.default_rng(0)
    a = _random_grasps(rng, 4000)
    b = a + rng.normal(size=a.shape) * [8, 8, 10, 4, 30]
    b[:, 2:4] = np.abs(b[:, 2:4]) + 0.5
    b[:50] = a[:50]                                              # identical
    b[50:100] = a[50:100] * [1, 1, 0.5, 0.5, 1]                  # nested
    t = np.deg2rad(a[100:150, 4])
    b[100:150] = a[100:150] + np.c_[a[100:150, 2] * np.cos(t), a[100:150, 2] * np.sin(t), 0 * a[100:150, :3]]
    b[150:200, 0] += 500                                          # disjoint
    expected = shapely.area(shapely.intersection(grasp_polygons(a), grasp_polygons(b)))
    got = rectangle_intersection_area(grasp_corners(a), grasp_corners(b))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    assert np.all(got[150:200] == 0) and np.allclose(got[:50], a[:50, 2] * a[:50, 3])


def test_dense_matching_equals_brute_force():
    """match_grasps and best_iou (pruned, most promising pair first) against every pair's IoU,
    on hundreds of ground truths as the dense synthetic labels give."""
    from grasp_scorer_ros.network.metric import best_iou
    rng = np.random.default_rng(1)
    gts = _random_grasps(rng, 300)
    predictions = gts[rng.integers(len(gts), size=150)] + rng.normal(size=(150, 5)) * [8, 8, 12, 3, 15]
    predictions[:, 2:4] = np.abs(predictions[:, 2:4]) + 0.5
    for angle, iou in ((30.0, 0.25), (15.0, 0.25), (15.0, 0.6)):
        ok = angle_difference(predictions[:, None, 4], gts[None, :, 4]) < angle
        full = grasp_iou_matrix(predictions, gts)
        expected = np.any(ok & (full > iou), axis=1)
        np.testing.assert_array_equal(match_grasps(predictions, gts, angle, iou), expected)
        assert 0.1 < expected.mean() < 0.95  # both outcomes are exercised
        np.testing.assert_allclose(best_iou(predictions, gts, angle), np.where(ok, full, 0).max(axis=1))

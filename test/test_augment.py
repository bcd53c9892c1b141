"""The paper's online augmentation: image and grasps move together."""
import numpy as np
import pytest

from grasp_scorer_ros.datasets.augment import (apply_transform, augment, evaluation_matrix,
                                               letterbox, random_augmentation_matrix)
from grasp_scorer_ros.network.image_transform import translation, uniform_scale

RED, BLUE, GREY = (255, 0, 0), (0, 0, 255), (128, 128, 128)


def _grasp_frame(grasp, points):
    """Coordinates of points along the opening axis (a) and across it (b)."""
    x, y, w, h, theta = grasp
    t = np.deg2rad(theta)
    d = np.asarray(points, dtype=np.float64) - (x, y)
    return d @ (np.cos(t), np.sin(t)), d @ (-np.sin(t), np.cos(t))


def _painted_image(grasp, height=480, width=640):
    """Grey image with the grasp rectangle painted: red where the jaws are, blue in between."""
    yy, xx = np.mgrid[0:height, 0:width]
    a, b = _grasp_frame(grasp, np.stack([xx, yy], axis=-1))
    image = np.empty((height, width, 3), np.uint8)
    image[:] = GREY
    inside = (np.abs(a) <= grasp[2] / 2) & (np.abs(b) <= grasp[3] / 2)
    ends = inside & (np.abs(a) >= 0.55 * grasp[2] / 2)
    image[inside] = BLUE
    image[ends] = RED
    return image


def _pixel(image, point):
    x, y = np.round(point).astype(int)
    return image[y, x].astype(int)


def _close(pixel, color, tol=45):
    return bool(np.all(np.abs(np.asarray(pixel) - color) <= tol))


def test_transformed_grasps_still_cover_the_same_content():
    grasp = np.array([300.0, 220.0, 140.0, 60.0, 30.0])  # an angle that a wrong mirror would betray
    source = _painted_image(grasp)
    mirrored, kept = 0, 0
    for seed in range(60):
        matrix = random_augmentation_matrix(480, 640, np.random.default_rng(seed))
        image, grasps = augment(source, grasp[None], np.random.default_rng(seed))
        assert image.shape == (320, 320, 3)
        if len(grasps) == 0:
            continue
        kept += 1
        mirrored += np.linalg.det(matrix[:, :2]) < 0
        x, y, w, h, theta = grasps[0]
        assert w == pytest.approx(grasp[2] * uniform_scale(matrix))
        t = np.deg2rad(theta)
        u, n = np.array([np.cos(t), np.sin(t)]), np.array([-np.sin(t), np.cos(t)])
        c = np.array([x, y])
        inside_output = lambda p: np.all((p > 1) & (p < 318))
        checks = [(c, BLUE), (c + 0.4 * w / 2 * u, BLUE), (c - 0.4 * w / 2 * u, BLUE)]
        for side in (-1, 1):
            for across in (-0.3, 0.0, 0.3):
                checks.append((c + side * 0.8 * w / 2 * u + across * h * n, RED))
        for point, color in checks:
            if inside_output(point):
                assert _close(_pixel(image, point), color), (seed, point, color, _pixel(image, point))
        # Just beyond the rectangle, along and across the axis, the paint is gone.
        for point in (c + (w / 2 + 6) * u, c - (w / 2 + 6) * u, c + (h / 2 + 6) * n, c - (h / 2 + 6) * n):
            if inside_output(point):
                pixel = _pixel(image, point)
                assert not _close(pixel, RED) and not _close(pixel, BLUE), (seed, point, pixel)
    assert kept >= 50
    assert 10 <= mirrored <= kept - 10  # mirrored and plain cases both exercised


def test_no_augmentation_at_evaluation_and_with_everything_off():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8)
    grasps = np.array([[320.0, 240.0, 50.0, 20.0, 10.0]])
    eval_image, eval_grasps = letterbox(image, grasps)
    np.testing.assert_array_equal(evaluation_matrix(480, 640), random_augmentation_matrix(
        480, 640, rng, max_shift=0, max_rotation_deg=0, mirror_probability=0))
    still_image, still_grasps = augment(image, grasps, rng, max_shift=0, max_rotation_deg=0, mirror_probability=0)
    np.testing.assert_array_equal(still_image, eval_image)
    np.testing.assert_allclose(still_grasps, eval_grasps)


def test_shift_and_rotation_ranges():
    rng = np.random.default_rng(5)
    centre = np.array([(640 - 1) / 2, (480 - 1) / 2, 1.0])
    scale = 320 / 640
    offsets, angles = [], []
    for _ in range(300):
        m = random_augmentation_matrix(480, 640, rng)
        offsets.append(m @ centre - (320 - 1) / 2)  # rotation is about the centre: only the shift moves it
        angles.append(np.degrees(np.arctan2(m[1, 0], m[0, 0])))
    offsets = np.abs(np.array(offsets)) / scale
    assert offsets.max() <= 50 + 1e-9 and offsets.max() > 40  # up to 50 source pixels per axis
    assert np.ptp(angles) > 300  # rotations all around


def test_grasps_leaving_the_image_are_dropped():
    image = np.zeros((320, 320, 3), np.uint8)
    grasps = np.array([[300.0, 160.0, 20.0, 10.0, 0.0], [100.0, 160.0, 20.0, 10.0, 0.0]])
    _, moved = apply_transform(image, grasps, translation(40, 0), size=320)
    np.testing.assert_allclose(moved, [[140.0, 160.0, 20.0, 10.0, 0.0]])

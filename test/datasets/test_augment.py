"""The paper's online augmentation: image and grasps move together; the photometric option."""
from dataclasses import replace

import cv2
import numpy as np
import pytest

from grasp_scorer_ros.datasets.augment import (PhotometricAugmentation, apply_transform, augment, colour_matrix,
                                               evaluation_matrix, letterbox, photometric_augment,
                                               random_augmentation_matrix)
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


# ------------------------------------------------------------------------------------- photometric

IDENTITY = PhotometricAugmentation(brightness=(1, 1), contrast=(1, 1), saturation=(1, 1), hue_deg=(0, 0),
                                   gamma=(1, 1), blur_probability=0.0, noise_probability=0.0)


def _scene_like(seed=0, size=96):
    rng = np.random.default_rng(seed)
    image = cv2.resize(rng.integers(0, 256, size=(12, 12, 3)).astype(np.uint8), (size, size),
                       interpolation=cv2.INTER_NEAREST)
    return image


def test_photometric_changes_the_image_deterministically():
    image = _scene_like()
    a = photometric_augment(image, np.random.default_rng(3))
    b = photometric_augment(image, np.random.default_rng(3))
    c = photometric_augment(image, np.random.default_rng(4))
    assert a.dtype == np.uint8 and a.shape == image.shape
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, image) and not np.array_equal(a, c)
    # Every call draws as many random numbers, whatever was drawn: what follows is reproducible.
    r1, r2 = np.random.default_rng(9), np.random.default_rng(9)
    photometric_augment(image, r1)
    photometric_augment(image, r2, replace(IDENTITY, blur_probability=1.0))
    assert r1.random() == r2.random()
    # With every range at its neutral value, nothing changes.
    np.testing.assert_array_equal(photometric_augment(image, np.random.default_rng(3), IDENTITY), image)
    np.testing.assert_allclose(colour_matrix(), np.eye(3), atol=1e-12)


def test_photometric_factors_and_their_ranges():
    grey = np.full((64, 64, 3), 100, np.uint8)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        bright = photometric_augment(grey, rng, replace(IDENTITY, brightness=(1.2, 1.2)))
        assert np.all(np.abs(bright.astype(int) - 120) <= 1)
    gains = [photometric_augment(grey, np.random.default_rng(s), replace(IDENTITY, brightness=(0.7, 1.3)))[0, 0, 0]
             for s in range(200)]
    assert 70 - 1 <= min(gains) < 78 and 122 < max(gains) <= 130 + 1
    # Gamma on intensities in [0, 1].
    dark = photometric_augment(np.full((8, 8, 3), 128, np.uint8), np.random.default_rng(0),
                               replace(IDENTITY, gamma=(2, 2)))
    assert abs(int(dark[0, 0, 0]) - round(255 * (128 / 255) ** 2)) <= 1
    # Saturation 0: grey; hue: a rotation that keeps the grey level and moves the hue by the angle.
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[:] = (200, 60, 40)
    flat = photometric_augment(colour, np.random.default_rng(0), replace(IDENTITY, saturation=(0, 0)))
    assert np.ptp(flat[0, 0].astype(int)) <= 1
    hsv = lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2HSV_FULL)[0, 0].astype(float)  # noqa: E731  hue 0-255
    turned = photometric_augment(colour, np.random.default_rng(0), replace(IDENTITY, hue_deg=(20, 20)))
    hue_shift = lambda im: ((hsv(im)[0] - hsv(colour)[0]) * 360 / 256 + 180) % 360 - 180  # noqa: E731
    assert 10 < hue_shift(turned) < 30
    assert abs(hsv(turned)[2] - hsv(colour)[2]) < 0.25 * hsv(colour)[2]
    # (The rotation is in the YIQ chroma plane: HSV's hue turns by about as much, not exactly.)
    shifts = [hue_shift(photometric_augment(colour, np.random.default_rng(s), replace(IDENTITY, hue_deg=(-12, 12))))
              for s in range(60)]
    assert max(np.abs(shifts)) < 20 and min(shifts) < -8 and max(shifts) > 8
    # Contrast: the distance to the mean grey level scales.
    two = np.zeros((8, 8, 3), np.uint8)
    two[:4], two[4:] = 80, 160
    strong = photometric_augment(two, np.random.default_rng(0), replace(IDENTITY, contrast=(1.5, 1.5)))
    assert abs(int(strong[0, 0, 0]) - 60) <= 1 and abs(int(strong[7, 0, 0]) - 180) <= 1
    # Noise of the given deviation, on every channel; blur softens edges.
    noisy = photometric_augment(np.full((128, 128, 3), 128, np.uint8), np.random.default_rng(0),
                                replace(IDENTITY, noise_probability=1.0, noise_sigma=(5, 5))).astype(float)
    assert np.allclose(noisy.reshape(-1, 3).std(axis=0), 5, atol=0.3)
    edges = _scene_like(1)
    soft = photometric_augment(edges, np.random.default_rng(0), replace(IDENTITY, blur_probability=1.0,
                                                                         blur_sigma=(1.5, 1.5)))
    assert np.abs(np.diff(soft.astype(int), axis=1)).max() < 0.7 * np.abs(np.diff(edges.astype(int), axis=1)).max()


def test_photometric_defaults_are_documented_and_checked():
    defaults = PhotometricAugmentation()
    assert defaults.brightness == (0.7, 1.3) and defaults.hue_deg == (-12.0, 12.0)
    for text in ("brightness 0.7-1.3", "contrast 0.7-1.3", "saturation 0.6-1.4", "hue +-12 deg", "gamma\n    0.75-1.35",
                 "sigma 0.3-1.5 px", "sigma 1-8 grey levels"):
        assert text in PhotometricAugmentation.__doc__, text
    assert (defaults.contrast, defaults.saturation, defaults.gamma) == ((0.7, 1.3), (0.6, 1.4), (0.75, 1.35))
    assert (defaults.blur_probability, defaults.blur_sigma) == (0.3, (0.3, 1.5))
    assert (defaults.noise_probability, defaults.noise_sigma) == (0.5, (1.0, 8.0))
    with pytest.raises(ValueError):
        PhotometricAugmentation(brightness=(1.3, 0.7))
    with pytest.raises(ValueError):
        PhotometricAugmentation(gamma=(0.0, 1.0))
    with pytest.raises(ValueError):
        PhotometricAugmentation(noise_probability=2.0)

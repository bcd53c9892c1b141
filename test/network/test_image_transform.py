"""Affine transforms of images and grasps (grasp_scorer_ros.network.image_transform)."""
import numpy as np
import pytest
import shapely

from grasp_scorer_ros.grasp import angle_difference, grasp_corners
from grasp_scorer_ros.network.image_transform import (compose_affine, invert_affine,
                                                      letterbox_matrix, points_inside,
                                                      rotation_about, transform_grasps, translation,
                                                      uniform_scale, warp_image)


def _apply(matrix, points):
    p = np.asarray(points, dtype=np.float64)
    return p @ matrix[:, :2].T + matrix[:, 2]


def _random_similarity(rng):
    m = rotation_about(rng.uniform(0, 400, size=2), rng.uniform(-180, 180), mirror=bool(rng.integers(2)))
    scale = rng.uniform(0.2, 3.0)
    return compose_affine(np.array([[scale, 0, 0], [0, scale, 0]]), translation(*rng.uniform(-50, 50, 2)), m)


@pytest.mark.parametrize("height,width", [(480, 640), (640, 480), (1024, 1024), (100, 333)])
def test_letterbox_fits_longer_side_and_centres(height, width):
    size = 320
    m = letterbox_matrix(height, width, size)
    scale = uniform_scale(m)
    assert scale == pytest.approx(size / max(height, width))
    # The image centre lands on the square's centre ...
    np.testing.assert_allclose(_apply(m, [((width - 1) / 2, (height - 1) / 2)]), [[(size - 1) / 2] * 2])
    # ... and the outer border of the image area (pixel edges at -0.5) spans the longer side exactly.
    corners = _apply(m, [(-0.5, -0.5), (width - 0.5, height - 0.5)])
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    longer = 0 if width >= height else 1
    assert lo[longer] == pytest.approx(-0.5) and hi[longer] == pytest.approx(size - 0.5)
    # Equal padding on both sides of the shorter one.
    assert (lo[1 - longer] + 0.5) == pytest.approx(size - 0.5 - hi[1 - longer])


def test_warp_image_puts_pixels_where_the_matrix_says():
    image = np.full((480, 640, 3), 50, np.uint8)
    image[100:140, 400:460] = (255, 0, 0)
    m = letterbox_matrix(480, 640, 320)
    out = warp_image(image, m, 320)
    assert out.shape == (320, 320, 3)
    x, y = _apply(m, [(430, 120)])[0]
    assert tuple(out[int(round(y)), int(round(x))]) == (255, 0, 0)
    assert tuple(out[5, 5]) == (0, 0, 0)  # padding (top band) uses the border value
    assert tuple(warp_image(image, m, 320, border_value=114)[5, 5]) == (114, 114, 114)
    assert warp_image(image, m, (200, 100)).shape == (100, 200, 3)


def test_transformed_grasp_is_the_transformed_rectangle():
    """The rectangle of transform_grasps(g, M) is exactly M applied to the rectangle of g, for
    rotations, mirrors, uniform scales and shifts."""
    rng = np.random.default_rng(0)
    grasps = np.column_stack([rng.uniform(0, 400, 20), rng.uniform(0, 400, 20), rng.uniform(5, 80, 20),
                              rng.uniform(5, 40, 20), rng.uniform(-90, 90, 20)])
    mirrored = 0
    for _ in range(30):
        m = _random_similarity(rng)
        mirrored += np.linalg.det(m[:, :2]) < 0
        out = transform_grasps(grasps, m)
        assert np.all((out[:, 4] >= -90) & (out[:, 4] < 90))
        for g, o in zip(grasps, out):
            expected = shapely.Polygon(_apply(m, grasp_corners(g)))
            got = shapely.Polygon(grasp_corners(o))
            assert expected.symmetric_difference(got).area < 1e-6 * expected.area
    assert 0 < mirrored < 30  # both cases were exercised


def test_mirror_and_rotation_angles():
    g = np.array([[10.0, 20.0, 30.0, 10.0, 30.0]])
    mirror = rotation_about((0, 0), 0.0, mirror=True)
    assert transform_grasps(g, mirror)[0, 4] == pytest.approx(-30.0)
    turned = transform_grasps(g, rotation_about((0, 0), 90.0))[0]
    assert angle_difference(turned[4], 120.0) == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(turned[:2], [-20.0, 10.0])  # y down: +90 turns x towards y


@pytest.mark.parametrize("matrix", [
    [[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]],      # non-uniform scale
    [[1.0, 0.5, 0.0], [0.0, 1.0, 0.0]],      # shear
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],      # singular
])
def test_grasps_refuse_distorting_transforms(matrix):
    with pytest.raises(ValueError, match="uniform"):
        transform_grasps(np.zeros((1, 5)), np.array(matrix))


def test_inverse_and_composition():
    rng = np.random.default_rng(1)
    a, b = _random_similarity(rng), _random_similarity(rng)
    p = rng.uniform(0, 300, size=(5, 2))
    np.testing.assert_allclose(_apply(invert_affine(a), _apply(a, p)), p, atol=1e-9)
    np.testing.assert_allclose(_apply(compose_affine(b, a), p), _apply(b, _apply(a, p)), atol=1e-9)
    with pytest.raises(ValueError):
        compose_affine(np.eye(3))


def test_points_inside():
    inside = points_inside([(0, 0), (-0.6, 3), (319.4, 319.4), (319.6, 10)], 320)
    assert inside.tolist() == [True, False, True, False]

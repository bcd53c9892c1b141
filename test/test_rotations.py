"""The package's one rotation module: quaternions, rotation matrices, FANUC W, P, R."""
import math

import numpy as np
import pytest

from grasp_scorer_ros.rotations import (RotationError, angle_difference_degrees, matrix_to_quaternion,
                                        matrix_to_wpr, normalize_quaternion, pose_to_matrix,
                                        quaternion_to_matrix, quaternion_to_wpr, wpr_to_matrix,
                                        wpr_to_quaternion, wrap_degrees, wrap_radians)
from rotation_helpers import LOOKING_DOWN, rot_x, rot_z, top_down


# -- quaternions and matrices -------------------------------------------------------------------
def test_quaternion_to_matrix_of_known_rotations():
    np.testing.assert_allclose(quaternion_to_matrix([0, 0, 0, 1]), np.eye(3))
    s = math.sqrt(0.5)
    np.testing.assert_allclose(quaternion_to_matrix([0, 0, s, s]), rot_z(math.pi / 2), atol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix([1, 0, 0, 0]), rot_x(math.pi), atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_quaternion_round_trip_random(seed):
    q = np.random.default_rng(seed).normal(size=4)
    q /= np.linalg.norm(q)
    q = -q if q[3] < 0 else q
    np.testing.assert_allclose(matrix_to_quaternion(quaternion_to_matrix(q)), q, atol=1e-12)


@pytest.mark.parametrize("rotation", [
    rot_x(math.pi), rot_z(math.pi), rot_z(math.pi) @ rot_x(math.pi / 2),
    LOOKING_DOWN, rot_z(0.3) @ rot_x(math.pi), np.eye(3),
])
def test_matrix_to_quaternion_half_turns_and_every_branch(rotation):
    q = matrix_to_quaternion(rotation)
    assert q[3] >= 0 and abs(np.linalg.norm(q) - 1) < 1e-12
    np.testing.assert_allclose(quaternion_to_matrix(q), rotation, atol=1e-12)


def test_matrix_to_quaternion_rejects_non_rotations():
    with pytest.raises(RotationError, match="not a rotation"):
        matrix_to_quaternion(np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(RotationError, match="not a rotation"):
        matrix_to_quaternion(2 * np.eye(3))
    with pytest.raises(RotationError, match="3x3"):
        matrix_to_quaternion(np.eye(4))


def test_pose_to_matrix_maps_points():
    s = math.sqrt(0.5)
    t = pose_to_matrix([1.0, 2.0, 3.0], [0, 0, s, s])
    np.testing.assert_allclose(t @ [1.0, 0.0, 0.0, 1.0], [1.0, 3.0, 3.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(t[3], [0, 0, 0, 1])


def test_quaternion_to_matrix_normalises_any_nonzero_quaternion():
    np.testing.assert_allclose(quaternion_to_matrix([0, 0, 0, 2.0]), np.eye(3))
    for bad in ([0, 0, 0, 0], [0, 0, 1], [0, 0, float("inf"), 1], "1 0 0 0"):
        with pytest.raises(RotationError):
            quaternion_to_matrix(bad)


def test_normalize_quaternion():
    np.testing.assert_allclose(normalize_quaternion([0, 0, 0, 1.004]), [0, 0, 0, 1])
    with pytest.raises(RotationError, match="norm"):
        normalize_quaternion([0, 0, 0, 1e-12])
    with pytest.raises(RotationError, match="not a unit quaternion"):
        normalize_quaternion([0, 0, 0, 2.0])
    with pytest.raises(RotationError, match="non-finite"):
        normalize_quaternion([0, 0, float("nan"), 1])
    with pytest.raises(RotationError, match="4 values"):
        normalize_quaternion([0, 0, 1])


# -- FANUC W, P, R -------------------------------------------------------------------------------
@pytest.mark.parametrize("q, wpr", [
    ([0, 0, 0, 1], (0, 0, 0)),
    ([1, 0, 0, 0], (180, 0, 0)),                               # tool straight down
    (top_down(30), (180, 0, 30)),
    (top_down(-90), (180, 0, -90)),
    ([0, 0, math.sin(math.pi / 8), math.cos(math.pi / 8)], (0, 0, 45)),
    ([math.sin(math.pi / 12), 0, 0, math.cos(math.pi / 12)], (30, 0, 0)),
    ([0, math.sin(math.pi / 4), 0, math.cos(math.pi / 4)], (0, 90, 0)),
    ([0, -math.sin(math.pi / 4), 0, math.cos(math.pi / 4)], (0, -90, 0)),
])
def test_quaternion_to_wpr_known_rotations(q, wpr):
    assert quaternion_to_wpr(q) == pytest.approx(wpr, abs=1e-9)


def test_wpr_is_fixed_axis_xyz():
    # W about X first, then P about the fixed Y, then R about the fixed Z.
    w, p, r = 10.0, 20.0, 30.0
    expected = wpr_to_matrix(0, 0, r) @ wpr_to_matrix(0, p, 0) @ wpr_to_matrix(w, 0, 0)
    assert np.allclose(wpr_to_matrix(w, p, r), expected)
    assert np.allclose(quaternion_to_matrix(wpr_to_quaternion(w, p, r)), expected)
    assert quaternion_to_wpr(wpr_to_quaternion(w, p, r)) == pytest.approx((w, p, r))


def test_round_trip_random_rotations():
    rng = np.random.default_rng(0)
    for q in rng.normal(size=(200, 4)):
        q /= np.linalg.norm(q)
        q2 = wpr_to_quaternion(*quaternion_to_wpr(q))
        assert abs(abs(float(np.dot(q, q2))) - 1.0) < 1e-12       # same rotation (q ~ -q)


@pytest.mark.parametrize("p", [90.0, -90.0, 89.99999, -89.99999, 89.9, -89.9])
@pytest.mark.parametrize("w, r", [(0.0, 0.0), (30.0, -50.0), (170.0, 120.0)])
def test_round_trip_near_the_singularity(p, w, r):
    rot = wpr_to_matrix(w, p, r)
    w2, p2, r2 = matrix_to_wpr(rot)
    assert np.allclose(wpr_to_matrix(w2, p2, r2), rot, atol=1e-6)
    assert p2 == pytest.approx(p, abs=1e-4)


def test_quaternion_to_wpr_rejects_a_zero_quaternion():
    with pytest.raises(ValueError):
        quaternion_to_wpr([0, 0, 0, 0])


# -- angle wrapping -------------------------------------------------------------------------------
@pytest.mark.parametrize("angle, expected", [
    (0.0, 0.0), (179.0, 179.0), (180.0, -180.0), (-180.0, -180.0), (-179.5, -179.5),
    (190.0, -170.0), (-190.0, 170.0), (360.0, 0.0), (540.0, -180.0), (725.0, 5.0), (-725.0, -5.0),
])
def test_wrap_degrees_to_minus_180_up_to_180(angle, expected):
    assert wrap_degrees(angle) == pytest.approx(expected, abs=1e-12)


def test_wrap_degrees_of_an_array():
    np.testing.assert_allclose(wrap_degrees(np.array([0.0, 180.0, 270.0, -270.0])), [0.0, -180.0, -90.0, 90.0])


@pytest.mark.parametrize("a, b, expected", [
    (10.0, 350.0, 20.0),          # the short way round, across 0
    (350.0, 10.0, -20.0),
    (-170.0, 170.0, 20.0),        # across +-180
    (180.0, -180.0, 0.0),         # the same angle
    (90.0, -90.0, -180.0),        # half a turn either way: -180
    (45.0, 45.0, 0.0),
])
def test_angle_difference_degrees_is_the_signed_shortest_turn(a, b, expected):
    assert angle_difference_degrees(a, b) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("angle, expected", [
    (0.0, 0.0), (math.pi, -math.pi), (-math.pi, -math.pi), (1.5 * math.pi, -0.5 * math.pi),
    (-1.5 * math.pi, 0.5 * math.pi), (2 * math.pi + 0.25, 0.25),
])
def test_wrap_radians_to_minus_pi_up_to_pi(angle, expected):
    assert wrap_radians(angle) == pytest.approx(expected, abs=1e-12)


def test_wpr_reads_180_not_minus_180():
    # W and R take (-180, 180]: a top-down tool reads W = 180, whichever sign the maths gives.
    w, p, r = matrix_to_wpr(wpr_to_matrix(-180.0, 0.0, -180.0))
    assert (w, r) == (180.0, 180.0) and p == pytest.approx(0.0, abs=1e-12)

"""The simulated arm's kinematics: forward and inverse agree, and an unreachable pose is said so."""
import numpy as np
import pytest

from grasp_scorer_ros.fanuc.rmi_protocol import Position
from grasp_scorer_ros.sim.sim_arm import SimArm, matrix_position, position_matrix

ARM = SimArm()
# Joint angles (degrees) away from the wrist's singularity (J5 = 0), each in its own configuration.
JOINTS = [
    (0.0, 0.0, 0.0, 0.0, -90.0, 0.0),              # the flange straight down in front of the base
    (30.0, 20.0, -10.0, 15.0, -60.0, 45.0),
    (-120.0, -30.0, 25.0, -40.0, -100.0, 170.0),
    (10.0, 5.0, 5.0, 0.0, 45.0, -20.0),            # flipped wrist (J5 > 0)
    (170.0, 40.0, -40.0, 90.0, -30.0, 10.0),
]
# TCP poses the arm reaches in every configuration (front/back, elbow up/down, wrist flipped or not).
POSES = [
    Position(900.0, 200.0, 300.0, 180.0, 0.0, 30.0),
    Position(500.0, 0.0, 400.0, 180.0, 0.0, 0.0),      # the simulated controller's start position
    Position(700.0, -400.0, 600.0, 150.0, 20.0, -60.0),
]
CONFIGURATIONS = [(1, 1, 0), (1, 0, 0), (0, 1, 0), (1, 1, 1), (0, 0, 1)]


def assert_same_pose(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_allclose(a[:3, :3], b[:3, :3], atol=1e-9)
    np.testing.assert_allclose(a[:3, 3], b[:3, 3], atol=1e-6)      # mm


@pytest.mark.parametrize("joints", JOINTS)
def test_inverse_of_forward_gives_the_joints_back(joints):
    flange = ARM.forward(joints)
    got = ARM.inverse(flange, *ARM.configuration(joints))
    assert got is not None
    np.testing.assert_allclose(got, joints, atol=1e-6)


@pytest.mark.parametrize("position", POSES)
@pytest.mark.parametrize("flags", CONFIGURATIONS)
def test_forward_of_inverse_gives_the_pose_back_in_the_configuration_asked(position, flags):
    flange = position_matrix(position)
    joints = ARM.inverse(flange, *flags)
    assert joints is not None
    assert_same_pose(ARM.forward(joints), flange)
    assert ARM.configuration(joints) == flags
    assert all(-180.0 <= j < 180.0 for j in joints[:3])


def test_the_wrist_singularity_keeps_j4_at_zero():
    joints = (20.0, 10.0, -15.0, 30.0, 0.0, 40.0)       # J4 and J6 in line: only J4 + J6 counts
    flange = ARM.forward(joints)
    got = ARM.inverse(flange, *ARM.configuration(joints))
    assert got is not None and got[3] == 0.0
    assert_same_pose(ARM.forward(got), flange)


FRONT = [flags for flags in CONFIGURATIONS if flags[0] == 1]


@pytest.mark.parametrize("position, configurations", [
    (Position(5000.0, 0.0, 400.0, 180.0, 0.0, 0.0), CONFIGURATIONS),     # beyond the arm's reach
    (Position(0.0, 0.0, 4000.0, 180.0, 0.0, 0.0), CONFIGURATIONS),       # far above the base
    # the wrist centre on J2's axis, facing front: too close (with J1 turned back, it is not)
    (Position(150.0, 0.0, 350.0, 180.0, 0.0, 0.0), FRONT),
])
def test_an_unreachable_pose_is_none(position, configurations):
    for flags in configurations:
        assert ARM.inverse(position_matrix(position), *flags) is None


def test_position_matrix_round_trip():
    for position in POSES:
        back = matrix_position(position_matrix(position))
        np.testing.assert_allclose([back.x, back.y, back.z, back.w, back.p, back.r],
                                   [position.x, position.y, position.z, position.w, position.p, position.r],
                                   atol=1e-9)

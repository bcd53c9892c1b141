"""Rotations written out independently of grasp_scorer_ros.rotations, for the tests to compare with."""
import math

import numpy as np

# Straight down, image right = base -y, image down = base -x (as in config/calibration.yaml).
LOOKING_DOWN = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])


def rot_x(angle):
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_z(angle):
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def top_down(yaw_deg: float) -> list[float]:
    """Quaternion [x, y, z, w] of Rz(yaw) Rx(180): tool z down."""
    half = math.radians(yaw_deg) / 2
    return [math.cos(half), math.sin(half), 0.0, 0.0]

"""Depth images: decoding (16UC1 mm, 32FC1 m, bad ones refused) and a grasp's height and finger
clearance over a known scene: a straight-down camera 0.8 m above a table with boxes on it."""
import numpy as np
import pytest

from grasp_scorer_ros.camera.depth import (DepthFormatError, DepthSettings, depth_fields_to_metres,
                                           grasp_height)
from grasp_scorer_ros.camera.pixel_to_pose import grasp_to_gripper_pose
from overhead_scene import CAMERA_HEIGHT, FX, INTRINSICS, POSE, TABLE, table_with


def fields(array, encoding, bigendian=False):
    data = array.astype(array.dtype.newbyteorder(">" if bigendian else "<")).tobytes()
    return dict(encoding=encoding, height=array.shape[0], width=array.shape[1],
                step=array.shape[1] * array.dtype.itemsize, data=data, is_bigendian=int(bigendian))


def test_millimetres_and_metres_decode_to_the_same_depth_and_zeros_are_invalid():
    mm = np.full((4, 6), 800, dtype=np.uint16)
    mm[1, 2] = 0
    metres = depth_fields_to_metres(**fields(mm, "16UC1"))
    assert metres.dtype == np.float32 and metres[0, 0] == pytest.approx(0.8) and np.isnan(metres[1, 2])
    floats = np.where(mm == 0, np.nan, mm / 1000.0).astype(np.float32)
    assert np.allclose(depth_fields_to_metres(**fields(floats, "32FC1")), metres, equal_nan=True)
    assert np.allclose(depth_fields_to_metres(**fields(mm, "16UC1", bigendian=True)), metres, equal_nan=True)


@pytest.mark.parametrize("change, words", [
    (dict(encoding="rgb8"), "unsupported depth encoding 'rgb8'"),
    (dict(height=5), "expected step * height"),
    (dict(step=4), "smaller than width"),
    (dict(data=np.zeros(48, np.uint8)), "no valid pixel"),
])
def test_bad_depth_is_refused_with_a_reason(change, words):
    good = fields(np.full((4, 6), 800, dtype=np.uint16), "16UC1")
    with pytest.raises(DepthFormatError, match=words.replace("*", r"\*").replace("(", r"\(")):
        depth_fields_to_metres(**{**good, **change})


@pytest.mark.parametrize("box_height, grasp_at", [(0.05, 0.01), (0.03, 0.0), (0.10, 0.06)])
def test_a_grasp_across_a_box_closes_below_its_top_with_its_width_at_the_top(box_height, grasp_at):
    depth = table_with((40, 38, 56, 58, box_height))   # 16 px wide
    grasp = [48.0, 48.0, 30.0, 10.0, 0.0]               # jaws 30 px apart along x, across the box
    result = grasp_height(grasp, depth, INTRINSICS, POSE, TABLE)
    assert not isinstance(result, str), result
    assert result.top == pytest.approx(box_height, abs=1e-4) and result.landing == pytest.approx(0.0, abs=1e-4)
    # Fingertips down to the table beside it, but at most finger_length (4 cm) below the top.
    assert result.height == pytest.approx(grasp_at, abs=1e-4)
    pose = grasp_to_gripper_pose(grasp, INTRINSICS, POSE, result.surface, grasp_depth=result.reach)
    flat = grasp_to_gripper_pose(grasp, INTRINSICS, POSE, TABLE)
    assert pose.position[2] == pytest.approx(grasp_at, abs=1e-4) and flat.position[2] == pytest.approx(0.0)
    # Pixels are smaller at the box top (0.75 m from the camera) than on the table.
    assert pose.opening_width_m == pytest.approx(30 * (CAMERA_HEIGHT - box_height) / FX, rel=1e-3)
    assert flat.opening_width_m == pytest.approx(30 * 0.80 / FX, rel=1e-3)
    assert np.allclose(pose.position[:2], flat.position[:2], atol=1e-6)   # straight down: same x, y


def test_a_finger_landing_on_a_taller_neighbour_is_refused():
    depth = table_with((40, 38, 56, 58, 0.05), (64, 30, 80, 66, 0.12))   # a 12 cm box right of it
    narrow = [48.0, 48.0, 22.0, 10.0, 0.0]      # fingers land at x 37-40 and 59-62: the table
    wide = [48.0, 48.0, 34.0, 10.0, 0.0]        # the right finger lands on the tall box at x 65+
    assert not isinstance(grasp_height(narrow, depth, INTRINSICS, POSE, TABLE), str)
    reason = grasp_height(wide, depth, INTRINSICS, POSE, TABLE)
    assert isinstance(reason, str) and "landing zone is not clear" in reason
    assert "7.0 cm above the object's top" in reason
    # A lower neighbour than the grasp point is no obstacle: the finger stops on it, 3 cm under the top.
    lower = table_with((40, 38, 56, 58, 0.05), (64, 30, 80, 66, 0.02))
    on_lower = grasp_height(wide, lower, INTRINSICS, POSE, TABLE)
    assert not isinstance(on_lower, str) and on_lower.height == pytest.approx(0.02, abs=1e-4)
    # One within the tolerance passes the clearance check, but the fingers would close above the top.
    level = table_with((40, 38, 56, 58, 0.05), (64, 30, 80, 66, 0.053))
    assert "cannot get below the object's top" in grasp_height(wide, level, INTRINSICS, POSE, TABLE)
    strict = grasp_height(wide, level, INTRINSICS, POSE, TABLE, DepthSettings(clearance_tolerance=0.0))
    assert "landing zone is not clear" in strict


def test_the_fingers_land_where_the_open_gripper_puts_them():
    """A rectangle tight round a box puts its landing zones on the box's own edge: a gripper that
    opens to its full jaw_opening before it descends lands beyond it, on the table, or on a neighbour."""
    depth = table_with((40, 38, 56, 58, 0.05))     # 16 px wide, 5 cm tall
    tight = [48.0, 48.0, 14.0, 10.0, 0.0]          # the rectangle's ends at x 41 and 55: on the box
    at_its_ends = grasp_height(tight, depth, INTRINSICS, POSE, TABLE, DepthSettings(jaw_opening=0.0))
    assert "cannot get below the object's top" in at_its_ends
    opened = grasp_height(tight, depth, INTRINSICS, POSE, TABLE, DepthSettings(jaw_opening=0.2))  # 32 px apart
    assert not isinstance(opened, str) and opened.landing == pytest.approx(0.0, abs=1e-4)
    assert opened.height == pytest.approx(0.01, abs=1e-4)          # top - finger_length
    crowded = table_with((40, 38, 56, 58, 0.05), (62, 30, 80, 66, 0.12))
    assert "landing zone is not clear" in grasp_height(tight, crowded, INTRINSICS, POSE, TABLE,
                                                       DepthSettings(jaw_opening=0.2))
    with pytest.raises(ValueError, match="jaw_opening"):
        DepthSettings(jaw_opening=-0.1)


def test_missing_depth_where_it_matters_refuses_the_grasp():
    depth = table_with((40, 38, 56, 58, 0.05))
    grasp = [48.0, 48.0, 30.0, 10.0, 0.0]
    holes = depth.copy()
    holes[40:56, 36:60] = np.nan
    assert "between the jaws" in grasp_height(grasp, holes, INTRINSICS, POSE, TABLE)
    landing = depth.copy()
    landing[:, 62:68] = np.nan
    assert "where a finger lands" in grasp_height(grasp, landing, INTRINSICS, POSE, TABLE)
    edge = [4.0, 48.0, 10.0, 10.0, 0.0]
    assert "outside the depth image" in grasp_height(edge, depth, INTRINSICS, POSE, TABLE)

"""Depth images: decoding (16UC1 mm, 32FC1 m, bad ones refused) and a grasp's height and finger
clearance over a known scene: a straight-down camera 0.8 m above a table with boxes on it."""
import numpy as np
import pytest

from grasp_scorer_ros.camera.depth import (DepthFormatError, DepthSettings, depth_fields_to_metres,
                                           grasp_height)
from grasp_scorer_ros.camera.models import CameraIntrinsics, CameraPose, WorkSurface
from grasp_scorer_ros.camera.pixel_to_pose import grasp_to_gripper_pose

SIZE, FX, CAMERA_HEIGHT = 96, 120.0, 0.8
INTRINSICS = CameraIntrinsics(np.array([[FX, 0, SIZE / 2], [0, FX, SIZE / 2], [0, 0, 1]]), np.zeros(5), SIZE, SIZE)
POSE = CameraPose([0.5, 0.1, CAMERA_HEIGHT], [0.7071068, -0.7071068, 0.0, 0.0])   # looking straight down
TABLE = WorkSurface.horizontal(0.0)


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


def table_with(*boxes):
    """Depth of the table, with boxes (x0, y0, x1, y1, height m) standing on it."""
    depth = np.full((SIZE, SIZE), CAMERA_HEIGHT, dtype=np.float32)
    for x0, y0, x1, y1, height in boxes:
        depth[y0:y1, x0:x1] = CAMERA_HEIGHT - height
    return depth


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
    # A lower neighbour than the grasp point is no obstacle; one within the tolerance neither.
    lower = table_with((40, 38, 56, 58, 0.05), (64, 30, 80, 66, 0.053))
    assert not isinstance(grasp_height(wide, lower, INTRINSICS, POSE, TABLE), str)
    strict = grasp_height(wide, lower, INTRINSICS, POSE, TABLE, DepthSettings(clearance_tolerance=0.0))
    assert isinstance(strict, str)


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


# -- the detection node with a depth topic, over a real rclpy graph --------------------------------------
from ros_helpers import spin_until  # noqa: E402
from test_detection_node import calibration_file, checkpoint, graph, image_message, scene  # noqa: E402,F401


def depth_message(depth, stamp_sec, encoding="32FC1"):
    from sensor_msgs.msg import Image
    values = (depth * 1000).astype("<u2") if encoding == "16UC1" else depth.astype("<f4")
    message = Image(height=depth.shape[0], width=depth.shape[1], encoding=encoding, is_bigendian=0,
                    step=depth.shape[1] * values.dtype.itemsize, data=values.tobytes())
    message.header.stamp.sec = stamp_sec
    return message


def bar_depth():
    """The depth of test_detection_node's scene: its bar (x 20-76, y 40-56) stands 5 cm tall."""
    return table_with((20, 40, 77, 57, 0.05))


def send_pair(g, depth, stamp, **depth_options):
    from sensor_msgs.msg import Image
    publisher = g.depth_pub if hasattr(g, "depth_pub") else None
    if publisher is None:
        g.depth_pub = publisher = g.peer.create_publisher(Image, "depth", 10)
        assert spin_until(g.executor, lambda: publisher.get_subscription_count() > 0, timeout=10)
    if depth is not None:
        publisher.publish(depth_message(depth, stamp, **depth_options))
        g.executor.spin_once(timeout_sec=0.05)
    processed = g.node.stats["processed"]
    g.deliver(image_message(scene(), stamp_sec=stamp))
    assert spin_until(g.executor, lambda: g.node.stats["processed"] > processed, timeout=20)
    assert spin_until(g.executor, lambda: any(c.header.stamp.sec == stamp for c in g.candidates), timeout=10)
    return next(c for c in g.candidates if c.header.stamp.sec == stamp).candidates


@pytest.mark.parametrize("encoding", ["32FC1", "16UC1"])
def test_published_grasps_stand_on_what_the_depth_shows(graph, encoding):
    g = graph(depth_topic="depth", num_candidates=8)
    candidates = send_pair(g, bar_depth(), 5, encoding=encoding)
    assert candidates
    tops = []
    for c in candidates:
        ig = c.image_grasp
        grasp = [ig.center_x, ig.center_y, ig.opening_width, ig.jaw_size, np.degrees(ig.angle)]
        expected = grasp_height(grasp, bar_depth(), INTRINSICS, POSE, TABLE)
        assert not isinstance(expected, str), expected        # refused ones never get out
        assert c.pose.position.z == pytest.approx(expected.height, abs=2e-3)
        tops.append(expected.top)
    assert max(tops) == pytest.approx(0.05, abs=2e-3)         # some grasps are on the bar
    assert g.best and g.best[-1].pose.position.z == pytest.approx(candidates[0].pose.position.z)


def test_grasps_whose_fingers_would_land_on_something_are_refused(graph):
    import cv2
    g = graph(depth_topic="depth", num_candidates=8)
    first = send_pair(g, bar_depth(), 5)[0].image_grasp
    # A 20 cm post where the first grasp's right finger lands (just past its rectangle's end).
    axis = np.array([np.cos(first.angle), np.sin(first.angle)])
    spot = np.array([first.center_x, first.center_y]) + (first.opening_width / 2 + 1.5) * axis
    depth = bar_depth()
    post = np.zeros_like(depth, dtype=np.uint8)
    cv2.circle(post, tuple(int(round(v)) for v in spot), 3, 1, -1)
    depth[post.astype(bool)] = CAMERA_HEIGHT - 0.20
    again = send_pair(g, depth, 6)
    same = [c for c in again if abs(c.image_grasp.center_x - first.center_x) < 1e-6
            and abs(c.image_grasp.center_y - first.center_y) < 1e-6 and abs(c.image_grasp.angle - first.angle) < 1e-6]
    assert again and not same          # the same image ranks the same grasps: that one is refused now
    assert any(reason.startswith("grasp refused by depth: a finger's landing zone is not clear")
               for reason in g.node.rejections), g.node.rejections


def test_bad_or_missing_depth_refuses_the_frames_grasps_with_a_reason(graph):
    g = graph(depth_topic="depth")
    assert send_pair(g, None, 7) == []                    # no depth frame yet
    assert send_pair(g, bar_depth()[:48, :48], 8) == []   # another size than the colour image
    nan = np.full((SIZE, SIZE), np.nan, dtype=np.float32)
    assert send_pair(g, nan, 9) == []
    assert send_pair(g, bar_depth(), 15, ) != []          # and the good one that follows is used
    reasons = " | ".join(g.node.rejections)
    assert "no depth: no depth frame received on /depth" in reasons
    assert "no depth: depth rejected" in reasons
    assert not any(b.header.stamp.sec in (7, 8, 9) for b in g.best)
    # A depth frame too far in time from the image is not paired with it.
    assert send_pair(g, None, 30) == []
    assert any(r.startswith("no depth: no depth frame within depth_max_age") for r in g.node.rejections)

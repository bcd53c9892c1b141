"""The detection node over a real rclpy graph: images in, calibrated grasps out, bad input survived."""
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import yaml

from ros_helpers import spin_until
from tiny_model import tiny_model

IMAGE_SIZE = 96
CAMERA = {"fx": 120.0, "cx": IMAGE_SIZE / 2, "height": 0.8}


@pytest.fixture
def checkpoint(tmp_path):
    from grasp_scorer_ros.network.checkpoint import save_checkpoint
    path = tmp_path / "tiny.pt"
    save_checkpoint(str(path), tiny_model(seed=3))
    return path


@pytest.fixture
def calibration_file(tmp_path):
    doc = {
        "base_frame": "robot_base",
        "camera_frame": "camera_optical",
        "camera_pose": {"translation": [0.5, 0.1, CAMERA["height"]],
                        "quaternion_xyzw": [0.7071068, -0.7071068, 0.0, 0.0]},
        "work_surface": {"height": 0.0},
    }
    path = tmp_path / "calibration.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def scene(seed=0):
    """A simple overhead scene: a bar on a textured table."""
    import cv2
    rng = np.random.default_rng(seed)
    image = rng.integers(60, 90, size=(IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    cv2.rectangle(image, (20, 40), (76, 56), (200, 30, 30), -1)
    return image


def camera_info(width=IMAGE_SIZE, height=IMAGE_SIZE, fx=CAMERA["fx"]):
    from sensor_msgs.msg import CameraInfo
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    info.k = [fx, 0.0, width / 2, 0.0, fx, height / 2, 0.0, 0.0, 1.0]
    info.d = [0.0] * 5
    return info


def image_message(rgb, stamp_sec, encoding="rgb8"):
    from sensor_msgs.msg import Image
    from grasp_scorer_ros.camera.image_decoding import rgb_to_image_fields
    message = Image(**rgb_to_image_fields(rgb, encoding))
    message.header.stamp.sec = stamp_sec
    message.header.frame_id = "camera_optical"
    return message


class Graph:
    """The node under test plus a peer node that publishes camera data and records outputs."""

    def __init__(self, context, checkpoint, calibration_file, **parameters):
        import rclpy
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.parameter import Parameter
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image
        from grasp_scorer_ros.msg import GraspCandidates, GraspPose
        from grasp_scorer_ros.nodes.detection_node import GraspDetectionNode

        values = {"checkpoint": str(checkpoint), "calibration_file": str(calibration_file),
                  "score_threshold": 0.0, "num_candidates": 4, **parameters}
        self.node = GraspDetectionNode(
            context=context, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
        self.peer = rclpy.create_node("camera_and_robot", context=context)
        self.image_pub = self.peer.create_publisher(Image, "image", qos_profile_sensor_data)
        self.info_pub = self.peer.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
        self.best, self.candidates, self.debug = [], [], []
        self.peer.create_subscription(GraspPose, "/grasp/best", self.best.append, 50)
        self.peer.create_subscription(GraspCandidates, "/grasp/candidates", self.candidates.append, 50)
        self.peer.create_subscription(Image, "/grasp/debug_image", self.debug.append, 50)
        self.executor = MultiThreadedExecutor(num_threads=2, context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)
        raw = parameters.get("image_transport", "raw") == "raw"   # else the node listens on image/compressed
        assert spin_until(self.executor, lambda: (self.image_pub.get_subscription_count() > 0 or not raw)
                          and self.node.best_pub.get_subscription_count() > 0)

    def send(self, message, info=True):
        if info:
            self.info_pub.publish(camera_info())
            self.executor.spin_once(timeout_sec=0.05)
        self.image_pub.publish(message)

    def deliver(self, message, timeout=10.0):
        """Publish until the node has received it (images travel best-effort, like a camera's)."""
        before = self.node.stats["received"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.send(message)
            if spin_until(self.executor, lambda: self.node.stats["received"] > before, timeout=1.0):
                return
        raise AssertionError("the node never received the message")

    def wait_idle(self, timeout=20.0):
        """Spin until the node has no frame pending and its counters stop moving."""
        def idle():
            s = self.node.stats
            return not self.node.worker.waiting and s["received"] == s["processed"] + s["dropped"] + s["rejected"]
        return spin_until(self.executor, idle, timeout)

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        self.peer.destroy_node()


@pytest.fixture
def graph(ros, checkpoint, calibration_file):
    graphs = []

    def make(model=None, **parameters):
        graphs.append(Graph(ros, model or checkpoint, calibration_file, **parameters))
        return graphs[-1]
    yield make
    for g in graphs:
        g.close()


def test_best_grasp_is_calibrated_pose_with_image_stamp(graph, calibration_file):
    from grasp_scorer_ros.camera.calibration_file import load_calibration_yaml
    from grasp_scorer_ros.camera.models import CameraIntrinsics
    from grasp_scorer_ros.camera.pixel_to_pose import grasp_to_gripper_pose
    g = graph()
    g.send(image_message(scene(), stamp_sec=42))
    assert spin_until(g.executor, lambda: g.best and g.candidates and g.debug, timeout=20)
    best = g.best[0]
    assert best.header.stamp.sec == 42 and best.header.frame_id == "robot_base"
    ranked = g.candidates[0].candidates
    assert len(ranked) == 4
    assert [c.score for c in ranked] == sorted((c.score for c in ranked), reverse=True)
    assert best.score == ranked[0].score

    # The pose is the calibration of the published pixel grasp: recompute it independently.
    ig = best.image_grasp
    grasp = [ig.center_x, ig.center_y, ig.opening_width, ig.jaw_size, np.degrees(ig.angle)]
    calibration = load_calibration_yaml(calibration_file)
    intrinsics = CameraIntrinsics.from_camera_info_fields(camera_info().k, [0.0] * 5, IMAGE_SIZE,
                                                          IMAGE_SIZE, "plumb_bob")
    expected = grasp_to_gripper_pose(grasp, intrinsics, calibration.camera_pose, calibration.surface)
    p = best.pose.position
    assert np.allclose([p.x, p.y, p.z], expected.position, atol=1e-6)
    q = best.pose.orientation
    assert abs(abs(np.dot([q.x, q.y, q.z, q.w], expected.quaternion)) - 1) < 1e-6
    assert best.opening_width == pytest.approx(expected.opening_width_m)
    # Straight-down camera, 0.8 m, f = 120 px: one pixel is 0.8/120 m on the table.
    assert best.opening_width == pytest.approx(ig.opening_width * 0.8 / 120, rel=1e-3)
    assert p.z == pytest.approx(0.0, abs=1e-9)
    assert g.debug[0].encoding == "rgb8" and g.debug[0].width == IMAGE_SIZE


def test_encodings_agree_and_unknown_ones_are_rejected(graph):
    g = graph()
    rgb = scene(1)
    gray = rgb.mean(axis=2).astype(np.uint8)
    for stamp, encoding in ((1, "rgb8"), (2, "bgr8")):
        g.send(image_message(rgb, stamp, encoding))
        assert spin_until(g.executor, lambda: len(g.candidates) == stamp, timeout=20)
    first, second = (c.candidates[0].image_grasp for c in g.candidates)
    assert (first.center_x, first.center_y, first.angle) == pytest.approx(
        (second.center_x, second.center_y, second.angle))

    from sensor_msgs.msg import Image
    mono = Image(height=IMAGE_SIZE, width=IMAGE_SIZE, encoding="mono8", step=IMAGE_SIZE,
                 data=gray.tobytes())
    mono.header.stamp.sec = 3
    g.send(mono)
    assert spin_until(g.executor, lambda: len(g.candidates) == 3, timeout=20)
    depth = Image(height=4, width=4, encoding="16UC1", step=8, data=bytes(32))
    g.deliver(depth)
    assert spin_until(g.executor, lambda: g.node.stats["rejected"] == 1, timeout=10)
    assert len(g.candidates) == 3


def test_malformed_images_are_rejected_and_the_next_good_one_served(graph):
    from sensor_msgs.msg import Image
    g = graph()
    good = image_message(scene(), stamp_sec=100)
    truncated = image_message(scene(), stamp_sec=1)
    truncated.data = truncated.data[: len(truncated.data) // 2]
    wrong_step = image_message(scene(), stamp_sec=2)
    wrong_step.step = wrong_step.step - 3
    wrong_size = image_message(scene(), stamp_sec=3)
    wrong_size.height = wrong_size.height + 5
    empty = Image(encoding="rgb8")
    bad = [truncated, wrong_step, wrong_size, empty]
    for message in bad:
        g.deliver(message)
        g.wait_idle()
    assert g.node.stats["rejected"] == len(bad), g.node.stats
    assert not g.candidates
    g.send(good)
    assert spin_until(g.executor, lambda: g.best, timeout=20)
    assert g.best[0].header.stamp.sec == 100


def test_invalid_camera_info_is_ignored(graph):
    from sensor_msgs.msg import CameraInfo
    g = graph()
    broken = camera_info()
    broken.k[0] = float("nan")
    zeros = CameraInfo(width=IMAGE_SIZE, height=IMAGE_SIZE)
    for info in (broken, zeros):
        g.info_pub.publish(info)
        g.executor.spin_once(timeout_sec=0.1)
    g.send(image_message(scene(), stamp_sec=5), info=False)
    assert spin_until(g.executor, lambda: g.candidates, timeout=20)
    assert g.node.intrinsics is None
    assert not g.best, "no intrinsics: no pose, so nothing may be published as best"
    g.send(image_message(scene(), stamp_sec=6))  # with a valid CameraInfo first
    assert spin_until(g.executor, lambda: g.best, timeout=20)
    assert g.best[0].header.stamp.sec == 6


def test_score_threshold_keeps_weak_grasps_off_best(graph):
    g = graph(score_threshold=1.0)
    g.send(image_message(scene(), stamp_sec=7))
    assert spin_until(g.executor, lambda: g.candidates, timeout=20)
    g.wait_idle()
    assert not g.best
    assert len(g.candidates[0].candidates) == 4


def test_scorer_weight_sets_how_far_the_final_score_leans_on_the_scorer(graph, tmp_path):
    from grasp_scorer_ros.network.checkpoint import save_checkpoint
    path = tmp_path / "product.pt"
    save_checkpoint(str(path), tiny_model(seed=3, final_ranking="product", scorer_weight=0.5))
    g = graph(model=path, scorer_weight=0.0)
    assert g.node.detector.config.scorer_weight == 0.0
    g.send(image_message(scene(), stamp_sec=9))
    assert spin_until(g.executor, lambda: g.candidates, timeout=20)
    candidates = g.candidates[0].candidates
    # w = 0: the final score is the primary score, and the list is in its order.
    assert [c.score for c in candidates] == pytest.approx([c.primary_score for c in candidates], abs=1e-6)
    assert all(a.primary_score >= b.primary_score for a, b in zip(candidates, candidates[1:]))


def test_an_onnx_engine_publishes_the_grasps_torch_finds_and_says_where_it_runs(graph, checkpoint, tmp_path,
                                                                                 monkeypatch):
    pytest.importorskip("openvino")
    from grasp_scorer_ros.network.detector import GraspDetector
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    g = graph(engine="openvino", precision="float32")
    assert g.node.detector.engine.name == "openvino"
    assert list((tmp_path / "cache").rglob("*.onnx")), "the checkpoint was exported on first use"
    rgb = scene()
    g.send(image_message(rgb, stamp_sec=11))
    assert spin_until(g.executor, lambda: g.candidates, timeout=20)
    expected = GraspDetector(str(checkpoint)).detect(rgb, top_k=4)
    published = g.candidates[0].candidates
    assert [c.score for c in published] == pytest.approx(expected.scores.tolist(), abs=1e-4)


def _set_parameters(g, **values):
    """Set the node's parameters from the peer node, through the parameter services (as
    ``ros2 param set`` does); the results, one per parameter."""
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient
    client = AsyncParameterClient(g.peer, g.node.get_fully_qualified_name())
    assert client.wait_for_services(timeout_sec=10.0)
    future = client.set_parameters([Parameter(name, value=value) for name, value in values.items()])
    assert spin_until(g.executor, future.done, timeout=10)
    return future.result().results


def _describe(g, names):
    from rclpy.parameter_client import AsyncParameterClient
    client = AsyncParameterClient(g.peer, g.node.get_fully_qualified_name())
    future = client.describe_parameters(names)
    assert spin_until(g.executor, future.done, timeout=10)
    return future.result().descriptors


def test_live_parameters_take_effect_on_the_next_frame(graph):
    g = graph()
    g.send(image_message(scene(), stamp_sec=21))
    assert spin_until(g.executor, lambda: g.best and g.candidates, timeout=20)
    g.wait_idle()
    assert len(g.candidates[-1].candidates) == 4
    results = _set_parameters(g, score_threshold=1.0, num_candidates=2)
    assert all(r.successful for r in results)
    best_before, candidates_before = len(g.best), len(g.candidates)
    g.send(image_message(scene(), stamp_sec=22))
    assert spin_until(g.executor, lambda: len(g.candidates) > candidates_before, timeout=20)
    g.wait_idle()
    assert len(g.candidates[-1].candidates) == 2
    assert len(g.best) == best_before, "a grasp under the new threshold reached grasp/best"
    assert g.node.get_parameter("score_threshold").value == 1.0


def test_start_up_parameters_and_values_out_of_range_are_refused_with_a_reason(graph, tmp_path):
    g = graph()
    refused = _set_parameters(g, checkpoint=str(tmp_path / "other.pt"))[0]
    assert not refused.successful and "read-only parameter: checkpoint" in refused.reason   # rclpy's own refusal
    assert g.node.get_parameter("checkpoint").value != str(tmp_path / "other.pt")
    out_of_range = _set_parameters(g, score_threshold=1.5)[0]
    assert not out_of_range.successful
    assert g.node.get_parameter("score_threshold").value == 0.0
    assert not _set_parameters(g, scorer_weight=2.0)[0].successful
    threshold, candidates, checkpoint = _describe(g, ["score_threshold", "num_candidates", "checkpoint"])
    assert (threshold.floating_point_range[0].from_value, threshold.floating_point_range[0].to_value) == (0.0, 1.0)
    assert candidates.integer_range[0].to_value == 100 and "live" in threshold.description
    assert not checkpoint.floating_point_range and "live" not in checkpoint.description
    assert checkpoint.read_only and not threshold.read_only


def test_scorer_weight_changes_the_ranking_live(graph, tmp_path):
    from grasp_scorer_ros.network.checkpoint import save_checkpoint
    path = tmp_path / "product.pt"
    save_checkpoint(str(path), tiny_model(seed=3, final_ranking="product", scorer_weight=0.5))
    g = graph(model=path)
    assert _set_parameters(g, scorer_weight=0.0)[0].successful
    assert g.node.detector.config.scorer_weight == 0.0
    g.send(image_message(scene(), stamp_sec=23))
    assert spin_until(g.executor, lambda: g.candidates, timeout=20)
    candidates = g.candidates[-1].candidates
    assert [c.score for c in candidates] == pytest.approx([c.primary_score for c in candidates], abs=1e-6)
    assert _set_parameters(g, scorer_weight=-1.0)[0].successful     # back to the checkpoint's own
    assert g.node.detector.config.scorer_weight == 0.5


def test_a_workspace_keeps_grasps_outside_it_off_every_output(graph, tmp_path):
    import cv2
    from grasp_scorer_ros.grasp import grasp_corners
    mask = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    mask[:, 32:] = 255                                    # all but the left third
    path = tmp_path / "mask.png"
    cv2.imwrite(str(path), mask)
    g = graph(workspace_mask=str(path), publish_debug_image=False)
    g.send(image_message(scene(), stamp_sec=61))
    assert spin_until(g.executor, lambda: g.candidates, timeout=20)
    g.wait_idle()
    # what the node must publish: the model's 20 best, those whose centre and corners are on the mask
    ranked = g.node.detector.detect(scene(), top_k=20).grasps
    points = np.concatenate([ranked[:, None, :2], grasp_corners(ranked)], axis=1).round()
    inside = ((points >= 0) & (points < IMAGE_SIZE)).all(axis=(1, 2)) & (points[..., 0] >= 32).all(axis=1)
    assert 0 < inside.sum() and not inside[:4].all(), "the scene must put some of the best grasps outside"
    expected = ranked[inside][:4]
    published = g.candidates[-1].candidates
    assert len(published) == len(expected)
    np.testing.assert_allclose([(c.image_grasp.center_x, c.image_grasp.center_y) for c in published],
                               expected[:, :2], atol=1e-3)
    assert any(k.startswith("grasp outside the workspace") for k in g.node.rejections)
    # a polygon far from the camera's view, set live: nothing reaches grasp/best or grasp/candidates
    assert _set_parameters(g, workspace_mask="", workspace_polygon="5,5 6,5 6,6")[0].successful
    best_before = len(g.best)
    g.send(image_message(scene(), stamp_sec=62))
    assert spin_until(g.executor, lambda: g.candidates[-1].header.stamp.sec == 62, timeout=20)
    g.wait_idle()
    assert g.candidates[-1].candidates == [] and len(g.best) == best_before
    assert g.node.rejections["grasp outside the workspace: outside the workspace polygon"] >= 20
    refused = _set_parameters(g, workspace_polygon="0,0 1,1")[0]
    assert not refused.successful and "at least 3" in refused.reason


def test_slow_inference_drops_old_frames_and_keeps_the_newest(graph):
    g = graph(publish_debug_image=False)
    detector = g.node.detector
    real_detect = detector.detect
    started = threading.Event()

    def slow_detect(*args, **kwargs):  # the model, made slower than the camera
        started.set()
        time.sleep(0.4)
        return real_detect(*args, **kwargs)
    detector.detect = slow_detect

    g.info_pub.publish(camera_info())
    stamps = list(range(1000, 1012))
    for stamp in stamps:
        g.image_pub.publish(image_message(scene(), stamp))
        g.executor.spin_once(timeout_sec=0.03)
    assert g.wait_idle(timeout=60)
    assert spin_until(g.executor, lambda: len(g.candidates) == g.node.stats["processed"], timeout=20)
    out = [c.header.stamp.sec for c in g.candidates]
    assert set(out) <= set(stamps)
    assert out == sorted(out), "results come out in camera order"
    assert out[-1] == stamps[-1], "the newest frame is always processed"
    # 12 frames in about 0.4 s against 0.4 s per inference: most must have been dropped.
    assert len(out) < len(stamps) / 2, f"frames were queued instead of dropped: {out}"
    assert g.node.stats["dropped"] == g.node.stats["received"] - len(out)


@pytest.mark.parametrize("content", [None, b"this is not a checkpoint"])
def test_missing_or_corrupt_checkpoint_exits_with_a_clear_message(ros, tmp_path, calibration_file, content):
    path = tmp_path / "model.pt"
    if content is not None:
        path.write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "grasp_scorer_ros.nodes.detection_node", "--ros-args",
         "-p", f"checkpoint:={path}", "-p", f"calibration_file:={calibration_file}"],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 2
    assert str(path) in result.stderr
    assert ("not found" in result.stderr) if content is None else ("corrupt" in result.stderr)
    assert "Traceback" not in result.stderr


def test_a_scorer_weight_over_one_is_refused_at_start(ros, tmp_path, checkpoint, calibration_file):
    result = subprocess.run(
        [sys.executable, "-m", "grasp_scorer_ros.nodes.detection_node", "--ros-args",
         "-p", f"checkpoint:={checkpoint}", "-p", f"calibration_file:={calibration_file}", "-p", "scorer_weight:=1.5"],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 2
    assert "scorer_weight must be in [0, 1]" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("parameter, message", [("engine:=tensorrt", "engine must be one of"),
                                                ("onnx_model:=/nonexistent/model.onnx", "ONNX model not found")])
def test_a_bad_engine_or_graph_is_refused_at_start(ros, checkpoint, calibration_file, parameter, message):
    extra = [] if parameter.startswith("engine") else ["-p", "engine:=onnxruntime"]
    result = subprocess.run(
        [sys.executable, "-m", "grasp_scorer_ros.nodes.detection_node", "--ros-args",
         "-p", f"checkpoint:={checkpoint}", "-p", f"calibration_file:={calibration_file}", "-p", parameter, *extra],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_camera_info_for_another_resolution_gives_no_pose(graph):
    g = graph()
    g.info_pub.publish(camera_info(width=640, height=480))
    g.executor.spin_once(timeout_sec=0.1)
    assert spin_until(g.executor, lambda: g.node.intrinsics is not None, timeout=5)
    for _ in range(10):  # images travel best-effort: publish until one is processed
        g.image_pub.publish(image_message(scene(), stamp_sec=8))
        if spin_until(g.executor, lambda: g.candidates, timeout=3):
            break
    assert g.candidates
    g.wait_idle()
    assert not g.best, "intrinsics of another resolution must not produce a pose"


class LogRecorder:
    """Stands in for a node's logger: records the warnings, passes everything on."""

    def __init__(self, logger):
        self._logger = logger
        self.warnings = []

    def warning(self, message, **kwargs):
        self.warnings.append(message)
        return self._logger.warning(message, **kwargs)

    def __getattr__(self, name):
        return getattr(self._logger, name)


def test_frames_with_a_repeated_stamp_are_processed_and_counted(graph):
    g = graph(publish_debug_image=False)
    for i in range(3):                      # three different images, one stamp (a driver that never stamps)
        g.deliver(image_message(scene(seed=i), stamp_sec=31))
        g.wait_idle()
    assert g.node.stats["processed"] == 3
    assert {k: v for k, v in g.node.rejections.items() if k.startswith("repeated stamp")} == {
        "repeated stamp: a frame has the stamp N of an earlier one": 2}
    assert spin_until(g.executor, lambda: len(g.candidates) == 3, timeout=10)


def test_camera_driver_encodings_reach_the_detector(graph):
    """usb_cam's yuv422_yuy2, a raw Bayer camera's bayer_rggb8 and cv_bridge's 8UC3 (BGR): each
    frame is decoded and its grasps published, the same as the detector finds on the decoded image."""
    import cv2
    from sensor_msgs.msg import Image
    from grasp_scorer_ros.camera.image_decoding import image_msg_to_rgb
    g = graph(publish_debug_image=False)
    rgb = scene()
    bayer = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)           # R G / G B
    bayer[0::2, 0::2], bayer[0::2, 1::2] = rgb[0::2, 0::2, 0], rgb[0::2, 1::2, 1]
    bayer[1::2, 0::2], bayer[1::2, 1::2] = rgb[1::2, 0::2, 1], rgb[1::2, 1::2, 2]
    frames = {"8UC3": (3, np.ascontiguousarray(rgb[..., ::-1])),
              "yuv422_yuy2": (2, cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_YUY2)),
              "bayer_rggb8": (1, bayer)}
    messages = []
    for i, (encoding, (channels, pixels)) in enumerate(frames.items()):
        message = Image(height=IMAGE_SIZE, width=IMAGE_SIZE, encoding=encoding, step=channels * IMAGE_SIZE,
                        data=pixels.tobytes())
        message.header.stamp.sec = 41 + i
        messages.append(message)
        g.deliver(message)
        g.wait_idle()
    assert spin_until(g.executor, lambda: len(g.candidates) == 3, timeout=10)
    assert g.node.stats["rejected"] == 0
    for message, published in zip(messages, g.candidates):
        decoded = image_msg_to_rgb(message)
        assert np.abs(decoded.astype(int) - rgb).mean() < 20, message.encoding    # the scene, not noise
        expected = g.node.detector.detect(decoded, top_k=1).grasps[0]
        top = published.candidates[0].image_grasp
        assert (top.center_x, top.center_y) == pytest.approx((expected[0], expected[1]), abs=1e-3), message.encoding


def test_a_compressed_camera_is_heard_on_its_compressed_topic(graph):
    import cv2
    from sensor_msgs.msg import CompressedImage
    from rclpy.qos import qos_profile_sensor_data
    g = graph(image_transport="compressed", publish_debug_image=False)
    assert g.node.image_input.topic.endswith("/image/compressed")
    publisher = g.peer.create_publisher(CompressedImage, "image/compressed", qos_profile_sensor_data)
    assert spin_until(g.executor, lambda: publisher.get_subscription_count() > 0)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(scene(), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    message = CompressedImage(format="rgb8; jpeg compressed bgr8", data=jpeg.tobytes())
    message.header.stamp.sec = 51
    broken = CompressedImage(format="jpeg", data=b"\xff\xd8 not a jpeg")
    broken.header.stamp.sec = 52
    for m in (message, broken):
        before = g.node.stats["received"]
        deadline = time.monotonic() + 10
        while g.node.stats["received"] == before and time.monotonic() < deadline:
            publisher.publish(m)
            spin_until(g.executor, lambda: g.node.stats["received"] > before, timeout=1.0)
        g.wait_idle()
    assert spin_until(g.executor, lambda: g.candidates, timeout=10)
    assert g.candidates[0].header.stamp.sec == 51
    assert g.node.stats["rejected"] == 1
    assert any("could not be decoded" in k or "compressed image" in k for k in g.node.rejections), g.node.rejections


def test_rejections_are_counted_by_reason_and_the_first_of_each_is_logged(graph):
    from sensor_msgs.msg import CameraInfo, Image
    g = graph()
    recorder = g.node._logger = LogRecorder(g.node._logger)
    truncated = image_message(scene(), stamp_sec=1)
    truncated.data = truncated.data[: len(truncated.data) // 2]
    wrong_step = image_message(scene(), stamp_sec=2)
    wrong_step.step -= 3
    depth = Image(height=4, width=4, encoding="16UC1", step=8, data=bytes(32))
    for round_ in range(2):
        for message in (truncated, wrong_step, depth):
            message.header.stamp.nanosec = round_ + 1   # a new frame each time
            g.deliver(message)
            g.wait_idle()
        g.info_pub.publish(CameraInfo(width=IMAGE_SIZE, height=IMAGE_SIZE))  # K all zeros
        assert spin_until(g.executor, lambda: g.node.stats["camera_info_rejected"] >= round_ + 1, timeout=10)
    expected = {"image rejected: image data is truncated": 2,
                "image rejected: step N is smaller than width * channels": 2,
                "image rejected: unsupported encoding '16UC1'": 2}
    assert {k: v for k, v in g.node.rejections.items() if k.startswith("image")} == expected
    assert g.node.rejections["CameraInfo ignored: camera matrix K is all zeros"] >= 2
    # One warning per kind, however often it happens, with the full message.
    kinds = ("truncated", f"step {3 * IMAGE_SIZE - 3} ", "'16UC1'", "all zeros")
    for kind in kinds:
        assert sum(kind in w for w in recorder.warnings) == 1, (kind, recorder.warnings)
    line = g.node.stats_line()
    assert "rejected 6" in line
    for reason, count in expected.items():
        assert f"{reason} x{count}" in line


def test_image_reliability_auto_follows_the_publishers(graph):
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    g = graph()   # the peer's camera publishers are best-effort (sensor data QoS)
    node = g.node
    assert node.params["image_reliability"] == "auto"
    assert spin_until(g.executor, lambda: node.image_input.reliability == ReliabilityPolicy.BEST_EFFORT)
    # Only reliable publishers: reliable, so that lost fragments are resent.
    g.peer.destroy_publisher(g.image_pub)
    g.image_pub = g.peer.create_publisher(Image, "image", QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    assert spin_until(g.executor, lambda: node.image_input.reliability == ReliabilityPolicy.RELIABLE, timeout=10)
    g.send(image_message(scene(), stamp_sec=31))
    assert spin_until(g.executor, lambda: g.best and g.best[-1].header.stamp.sec == 31, timeout=20)
    # A best-effort camera joins: best-effort again, or nothing of it would arrive.
    from rclpy.qos import qos_profile_sensor_data
    other = g.peer.create_publisher(Image, "image", qos_profile_sensor_data)
    assert spin_until(g.executor, lambda: node.image_input.reliability == ReliabilityPolicy.BEST_EFFORT,
                      timeout=10)
    for _ in range(20):
        other.publish(image_message(scene(), stamp_sec=32))
        if spin_until(g.executor, lambda: g.best and g.best[-1].header.stamp.sec == 32, timeout=1.0):
            break
    assert g.best[-1].header.stamp.sec == 32


def test_explicit_reliable_says_why_a_best_effort_camera_is_not_heard(ros, checkpoint, calibration_file):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from grasp_scorer_ros.nodes.detection_node import GraspDetectionNode
    node = GraspDetectionNode(context=ros, parameter_overrides=[
        Parameter("checkpoint", value=str(checkpoint)), Parameter("calibration_file", value=str(calibration_file)),
        Parameter("image_reliability", value="reliable")])
    recorder = node._logger = LogRecorder(node._logger)
    peer = rclpy.create_node("best_effort_camera", context=ros)
    peer.create_publisher(Image, "image", qos_profile_sensor_data)
    executor = SingleThreadedExecutor(context=ros)
    executor.add_node(node)
    executor.add_node(peer)
    try:
        assert spin_until(executor, lambda: any("best-effort" in w for w in recorder.warnings), timeout=10)
        assert sum("best-effort" in w for w in recorder.warnings) == 1, "said once"
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()


def test_precision_auto_is_resolved_for_this_machine(graph):
    from grasp_scorer_ros.network.precision import resolve_precision
    g = graph()
    assert g.node.params["precision"] == "auto"
    assert g.node.precision == resolve_precision("auto", "cpu")[0]
    dtype = next(g.node.detector.model.parameters()).dtype
    assert str(dtype) == f"torch.{g.node.precision}"


@pytest.mark.parametrize("name, value", [("precision", "float16"), ("image_reliability", "sometimes")])
def test_bad_choices_are_start_up_errors(ros, checkpoint, calibration_file, name, value):
    result = subprocess.run(
        [sys.executable, "-m", "grasp_scorer_ros.nodes.detection_node", "--ros-args",
         "-p", f"checkpoint:={checkpoint}", "-p", f"calibration_file:={calibration_file}", "-p", f"{name}:={value}"],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"GraspDetectionNode: cannot start: {name} must be one of "
        + ("auto, float32, bfloat16" if name == "precision" else "auto, reliable, best_effort") + f", got '{value}'"]

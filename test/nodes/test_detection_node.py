"""The detection node over a real rclpy graph: images in, calibrated grasps out, bad input survived;
then with a depth topic (grasps that stand on what the depth shows), and its ``grasp/detect`` service
(the rules of pipeline/frame_requests.py are tested alone in test/pipeline/test_frame_requests.py)."""
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from grasp_scorer_ros.camera.depth import grasp_height
from overhead_scene import (CAMERA_HEIGHT, IMAGE_SIZE, INTRINSICS, POSE, SIZE, TABLE, camera_info, image_message,
                            scene, table_with)
from ros_helpers import spin_until
from tiny_model import tiny_model


@pytest.fixture
def checkpoint(tmp_path):
    from grasp_scorer_ros.network.checkpoint import save_checkpoint
    path = tmp_path / "tiny.pt"
    save_checkpoint(str(path), tiny_model(seed=3))
    return path


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
def detection_graph(ros, checkpoint, calibration_file):
    graphs = []

    def make(model=None, **parameters):
        graphs.append(Graph(ros, model or checkpoint, calibration_file, **parameters))
        return graphs[-1]
    yield make
    for g in graphs:
        g.close()


def test_best_grasp_is_calibrated_pose_with_image_stamp(detection_graph, calibration_file):
    from grasp_scorer_ros.camera.calibration_file import load_calibration_yaml
    from grasp_scorer_ros.camera.models import CameraIntrinsics
    from grasp_scorer_ros.camera.pixel_to_pose import grasp_to_gripper_pose
    g = detection_graph()
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


def test_encodings_agree_and_unknown_ones_are_rejected(detection_graph):
    g = detection_graph()
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


def test_malformed_images_are_rejected_and_the_next_good_one_served(detection_graph):
    from sensor_msgs.msg import Image
    g = detection_graph()
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


@pytest.mark.slow
def test_invalid_camera_info_is_ignored(detection_graph):
    from sensor_msgs.msg import CameraInfo
    g = detection_graph()
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


def test_score_threshold_keeps_weak_grasps_off_best(detection_graph):
    g = detection_graph(score_threshold=1.0)
    g.send(image_message(scene(), stamp_sec=7))
    assert spin_until(g.executor, lambda: g.candidates, timeout=20)
    g.wait_idle()
    assert not g.best
    assert len(g.candidates[0].candidates) == 4


def test_scorer_weight_sets_how_far_the_final_score_leans_on_the_scorer(detection_graph, tmp_path):
    from grasp_scorer_ros.network.checkpoint import save_checkpoint
    path = tmp_path / "product.pt"
    save_checkpoint(str(path), tiny_model(seed=3, final_ranking="product", scorer_weight=0.5))
    g = detection_graph(model=path, scorer_weight=0.0)
    assert g.node.detector.config.scorer_weight == 0.0
    g.send(image_message(scene(), stamp_sec=9))
    assert spin_until(g.executor, lambda: g.candidates, timeout=20)
    candidates = g.candidates[0].candidates
    # w = 0: the final score is the primary score, and the list is in its order.
    assert [c.score for c in candidates] == pytest.approx([c.primary_score for c in candidates], abs=1e-6)
    assert all(a.primary_score >= b.primary_score for a, b in zip(candidates, candidates[1:]))


@pytest.mark.slow
def test_an_onnx_engine_publishes_the_grasps_torch_finds_and_says_where_it_runs(detection_graph, checkpoint, tmp_path,
                                                                                 monkeypatch):
    pytest.importorskip("openvino")
    from grasp_scorer_ros.network.detector import GraspDetector
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    g = detection_graph(engine="openvino", precision="float32")
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


def test_live_parameters_take_effect_on_the_next_frame(detection_graph):
    g = detection_graph()
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


def test_start_up_parameters_and_values_out_of_range_are_refused_with_a_reason(detection_graph, tmp_path):
    g = detection_graph()
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


def test_scorer_weight_changes_the_ranking_live(detection_graph, tmp_path):
    from grasp_scorer_ros.network.checkpoint import save_checkpoint
    path = tmp_path / "product.pt"
    save_checkpoint(str(path), tiny_model(seed=3, final_ranking="product", scorer_weight=0.5))
    g = detection_graph(model=path)
    assert _set_parameters(g, scorer_weight=0.0)[0].successful
    assert g.node.detector.config.scorer_weight == 0.0
    g.send(image_message(scene(), stamp_sec=23))
    assert spin_until(g.executor, lambda: g.candidates, timeout=20)
    candidates = g.candidates[-1].candidates
    assert [c.score for c in candidates] == pytest.approx([c.primary_score for c in candidates], abs=1e-6)
    assert _set_parameters(g, scorer_weight=-1.0)[0].successful     # back to the checkpoint's own
    assert g.node.detector.config.scorer_weight == 0.5


def test_a_workspace_keeps_grasps_outside_it_off_every_output(detection_graph, tmp_path):
    import cv2
    from grasp_scorer_ros.grasp import grasp_corners
    mask = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    mask[:, 32:] = 255                                    # all but the left third
    path = tmp_path / "mask.png"
    cv2.imwrite(str(path), mask)
    g = detection_graph(workspace_mask=str(path), publish_debug_image=False)
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


def test_slow_inference_drops_old_frames_and_keeps_the_newest(detection_graph):
    g = detection_graph(publish_debug_image=False)
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_scorer_weight_over_one_is_refused_at_start(ros, tmp_path, checkpoint, calibration_file):
    result = subprocess.run(
        [sys.executable, "-m", "grasp_scorer_ros.nodes.detection_node", "--ros-args",
         "-p", f"checkpoint:={checkpoint}", "-p", f"calibration_file:={calibration_file}", "-p", "scorer_weight:=1.5"],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 2
    assert "scorer_weight must be in [0, 1]" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
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


def test_camera_info_for_another_resolution_gives_no_pose(detection_graph):
    g = detection_graph()
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


def test_frames_with_a_repeated_stamp_are_processed_and_counted(detection_graph):
    g = detection_graph(publish_debug_image=False)
    for i in range(3):                      # three different images, one stamp (a driver that never stamps)
        g.deliver(image_message(scene(seed=i), stamp_sec=31))
        g.wait_idle()
    assert g.node.stats["processed"] == 3
    assert {k: v for k, v in g.node.rejections.items() if k.startswith("repeated stamp")} == {
        "repeated stamp: a frame has the stamp N of an earlier one": 2}
    assert spin_until(g.executor, lambda: len(g.candidates) == 3, timeout=10)


def test_camera_driver_encodings_reach_the_detector(detection_graph):
    """usb_cam's yuv422_yuy2, a raw Bayer camera's bayer_rggb8 and cv_bridge's 8UC3 (BGR): each
    frame is decoded and its grasps published, the same as the detector finds on the decoded image."""
    import cv2
    from sensor_msgs.msg import Image
    from grasp_scorer_ros.camera.image_decoding import image_msg_to_rgb
    g = detection_graph(publish_debug_image=False)
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


@pytest.mark.slow
def test_a_compressed_camera_is_heard_on_its_compressed_topic(detection_graph):
    import cv2
    from sensor_msgs.msg import CompressedImage
    from rclpy.qos import qos_profile_sensor_data
    g = detection_graph(image_transport="compressed", publish_debug_image=False)
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


def test_rejections_are_counted_by_reason_and_the_first_of_each_is_logged(detection_graph):
    from sensor_msgs.msg import CameraInfo, Image
    g = detection_graph()
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


@pytest.mark.slow
def test_image_reliability_auto_follows_the_publishers(detection_graph):
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    g = detection_graph()   # the peer's camera publishers are best-effort (sensor data QoS)
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


@pytest.mark.slow
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


def test_precision_auto_is_resolved_for_this_machine(detection_graph):
    from grasp_scorer_ros.network.precision import resolve_precision
    g = detection_graph()
    assert g.node.params["precision"] == "auto"
    assert g.node.precision == resolve_precision("auto", "cpu")[0]
    dtype = next(g.node.detector.model.parameters()).dtype
    assert str(dtype) == f"torch.{g.node.precision}"


@pytest.mark.slow
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


# -- the detection node with a depth topic, over a real rclpy graph --------------------------------------
def depth_message(depth, stamp_sec, encoding="32FC1"):
    from sensor_msgs.msg import Image
    values = (depth * 1000).astype("<u2") if encoding == "16UC1" else depth.astype("<f4")
    message = Image(height=depth.shape[0], width=depth.shape[1], encoding=encoding, is_bigendian=0,
                    step=depth.shape[1] * values.dtype.itemsize, data=values.tobytes())
    message.header.stamp.sec = stamp_sec
    return message


def bar_depth():
    """The depth of the overhead scene: its bar (x 20-76, y 40-56) stands 5 cm tall."""
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
def test_published_grasps_stand_on_what_the_depth_shows(detection_graph, encoding):
    g = detection_graph(depth_topic="depth", num_candidates=8)
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


def test_grasps_whose_fingers_would_land_on_something_are_refused(detection_graph):
    import cv2
    g = detection_graph(depth_topic="depth", num_candidates=8)
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


def test_bad_or_missing_depth_refuses_the_frames_grasps_with_a_reason(detection_graph):
    g = detection_graph(depth_topic="depth")
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


# -- the detection node's grasp/detect service ---------------------------------------------------------
class Requester:
    """Calls grasp/detect from the graph's peer node, as a pick cycle would."""

    def __init__(self, g):
        from grasp_scorer_ros.srv import DetectGrasps
        self.g, self.type = g, DetectGrasps
        self.client = g.peer.create_client(DetectGrasps, "/grasp/detect")
        assert spin_until(g.executor, self.client.service_is_ready, timeout=10)

    def call(self, not_before_s=0, timeout=10.0, count=0):
        request = self.type.Request(timeout=float(timeout), count=count)
        request.not_before.sec = not_before_s
        future = self.client.call_async(request)
        # Registered before any frame is sent, so that the test decides which frame answers.
        assert spin_until(self.g.executor, lambda: self.g.node.requests.wanted() > 0 or future.done(), timeout=10)
        return future

    def result(self, future, timeout=20.0):
        assert spin_until(self.g.executor, future.done, timeout=timeout)
        return future.result()


def test_the_service_answers_from_the_first_frame_taken_after_the_given_time(detection_graph):
    g = detection_graph()
    requester = Requester(g)
    future = requester.call(not_before_s=1000, count=3)
    g.deliver(image_message(scene(1), stamp_sec=999))        # taken before: no answer from it
    assert g.wait_idle() and not future.done()
    g.deliver(image_message(scene(2), stamp_sec=1001))
    response = requester.result(future)
    assert response.success, response.message
    assert response.header.stamp.sec == 1001 and response.header.frame_id == "robot_base"
    assert len(response.grasps) == 3 and response.ranked >= 3
    assert response.message.startswith("3 grasp(s): those with a pose that reach score_threshold 0")
    scores = [grasp.score for grasp in response.grasps]
    assert scores == sorted(scores, reverse=True)
    # grasps[0] is what grasp/best published for that very frame.
    assert spin_until(g.executor, lambda: any(b.header.stamp.sec == 1001 for b in g.best), timeout=10)
    best = next(b for b in g.best if b.header.stamp.sec == 1001)
    assert response.grasps[0].pose == best.pose and response.grasps[0].score == best.score

    # More grasps than the stream's num_candidates (4): the request gets them, the stream keeps its 4.
    future = requester.call(not_before_s=1002, count=12)
    g.deliver(image_message(scene(3), stamp_sec=1002))
    response = requester.result(future)
    assert response.success and len(response.grasps) == 12
    assert spin_until(g.executor, lambda: any(c.header.stamp.sec == 1002 for c in g.candidates), timeout=10)
    assert len(next(c for c in g.candidates if c.header.stamp.sec == 1002).candidates) == 4


@pytest.mark.slow
def test_a_request_without_a_time_needs_a_frame_taken_after_it(detection_graph):
    g = detection_graph()
    requester = Requester(g)
    future = requester.call(timeout=20.0)     # not_before zero: the time the node received it
    now = g.node.get_clock().now().seconds_nanoseconds()[0]
    g.deliver(image_message(scene(1), stamp_sec=now - 10))
    assert g.wait_idle() and not future.done()
    g.deliver(image_message(scene(2), stamp_sec=now + 2))
    response = requester.result(future)
    assert response.success and response.header.stamp.sec == now + 2


@pytest.mark.slow
def test_failed_requests_say_why_and_the_node_goes_on(detection_graph):
    g = detection_graph(score_threshold=1.0)
    requester = Requester(g)
    response = requester.result(requester.call(not_before_s=50, timeout=0.3))
    assert not response.success and "no frame was processed within 0.3 s" in response.message
    assert "/image" in response.message

    future = requester.call(not_before_s=50, timeout=3.0)
    broken = image_message(scene(1), stamp_sec=60)
    broken.encoding = "32FC9"
    g.deliver(broken)
    response = requester.result(future)
    assert not response.success and "refused: image rejected" in response.message, response.message

    bad = requester.result(requester.call(count=101, timeout=1.0))
    assert not bad.success and "count must be" in bad.message

    # A frame that answers, but no grasp reaches score_threshold 1.0: success, no grasp, and why.
    future = requester.call(not_before_s=70)
    g.deliver(image_message(scene(2), stamp_sec=70))
    response = requester.result(future)
    assert response.success and response.grasps == [] and response.ranked > 0
    assert "no grasp reaches score_threshold 1" in response.message
    assert any(reason.startswith("grasp request failed") for reason in g.node.rejections)

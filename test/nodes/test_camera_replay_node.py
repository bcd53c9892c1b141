"""The camera replay node publishes a folder's images with matching CameraInfo, like a camera."""
import subprocess
import sys

import cv2
import numpy as np
import pytest

from ros_helpers import spin_until


def write_images(folder, count=3):
    folder.mkdir()
    images = []
    for i in range(count):
        rgb = np.zeros((40, 60, 3), np.uint8)
        rgb[..., 0] = 50 * i
        rgb[5:15, 10:30] = (10, 200, 30)
        cv2.imwrite(str(folder / f"frame_{i}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        images.append(rgb)
    (folder / "notes.txt").write_text("not an image")
    (folder / "frame_9_corrupt.png").write_bytes(b"\x89PNG broken")
    return images


def test_publishes_each_image_once_with_camera_info(ros, tmp_path):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image
    from grasp_scorer_ros import bundled
    from grasp_scorer_ros.camera.calibration_file import load_intrinsics_yaml
    from grasp_scorer_ros.camera.image_decoding import image_msg_to_rgb
    from grasp_scorer_ros.nodes.camera_replay_node import CameraReplayNode

    images = write_images(tmp_path / "frames")
    peer = rclpy.create_node("viewer", context=ros)
    got_images, got_info = [], []
    peer.create_subscription(Image, "image", got_images.append, qos_profile_sensor_data)
    peer.create_subscription(CameraInfo, "camera_info", got_info.append, qos_profile_sensor_data)
    executor = SingleThreadedExecutor(context=ros)
    executor.add_node(peer)
    node = CameraReplayNode(context=ros, parameter_overrides=[
        Parameter("folder", value=str(tmp_path / "frames")), Parameter("rate", value=20.0),
        Parameter("loop", value=False), Parameter("encoding", value="bgr8")])
    executor.add_node(node)
    assert len(node.images) == 3, "the corrupt PNG and the text file are skipped"
    assert spin_until(executor, lambda: node.published == 3 and len(got_images) >= 2, timeout=10)
    executor.spin_once(timeout_sec=0.5)
    assert node.published == 3, "loop:=false stops after one pass"
    # Best-effort transport may lose the first frame before discovery completes; the rest arrive.
    for message in got_images:
        index = int(round(image_msg_to_rgb(message)[0, 0, 0] / 50))
        assert message.encoding == "bgr8"
        assert np.array_equal(image_msg_to_rgb(message), images[index])
    expected = load_intrinsics_yaml(bundled.demo_camera_path())
    info = got_info[-1]
    assert np.allclose(np.reshape(info.k, (3, 3)), expected.camera_matrix)
    image_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in got_images}
    info_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in got_info}
    assert image_stamps & info_stamps, "each frame's CameraInfo carries the frame's stamp"
    assert info.header.frame_id == got_images[-1].header.frame_id == "camera_color_optical_frame"
    executor.shutdown()
    node.destroy_node()
    peer.destroy_node()


@pytest.mark.parametrize("setup", ["missing", "empty"])
def test_bad_folder_exits_with_a_clear_message(ros, tmp_path, setup):
    folder = tmp_path / "frames"
    if setup == "empty":
        folder.mkdir()
    result = subprocess.run([sys.executable, "-m", "grasp_scorer_ros.nodes.camera_replay_node",
                             "--ros-args", "-p", f"folder:={folder}"],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 2
    assert str(folder) in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_replay_starts_with_its_first_subscriber_and_that_one_gets_every_frame(ros, tmp_path):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from grasp_scorer_ros.nodes.camera_replay_node import CameraReplayNode

    write_images(tmp_path / "frames")
    node = CameraReplayNode(context=ros, parameter_overrides=[
        Parameter("folder", value=str(tmp_path / "frames")), Parameter("rate", value=20.0),
        Parameter("count", value=6)])
    executor = SingleThreadedExecutor(context=ros)
    executor.add_node(node)
    try:
        spin_until(executor, lambda: False, timeout=0.5)
        assert node.published == 0, "nobody listens: nothing is sent"
        peer = rclpy.create_node("late_viewer", context=ros)
        got = []
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        peer.create_subscription(Image, "image", got.append, reliable)
        executor.add_node(peer)
        assert spin_until(executor, lambda: len(got) == 6, timeout=15)
        assert node.published == 6
        assert [m.header.stamp for m in got] == sorted((m.header.stamp for m in got),
                                                        key=lambda s: (s.sec, s.nanosec))
    finally:
        executor.shutdown()
        node.destroy_node()


def test_without_waiting_the_replay_publishes_like_a_camera(ros, tmp_path):
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from grasp_scorer_ros.nodes.camera_replay_node import CameraReplayNode

    write_images(tmp_path / "frames")
    node = CameraReplayNode(context=ros, parameter_overrides=[
        Parameter("folder", value=str(tmp_path / "frames")), Parameter("rate", value=20.0),
        Parameter("wait_for_subscriber", value=False), Parameter("reliability", value="best_effort")])
    executor = SingleThreadedExecutor(context=ros)
    executor.add_node(node)
    try:
        assert spin_until(executor, lambda: node.published >= 3, timeout=5)
    finally:
        executor.shutdown()
        node.destroy_node()


def test_depth_beside_the_images_goes_out_with_each_frames_stamp(ros, tmp_path):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image
    from grasp_scorer_ros.camera.depth import depth_msg_to_metres
    from grasp_scorer_ros.nodes.camera_replay_node import CameraReplayNode

    write_images(tmp_path / "frames")
    (tmp_path / "frames" / "depth").mkdir()
    depth_mm = np.full((40, 60), 800, np.uint16)
    depth_mm[5:15, 10:30] = 760
    cv2.imwrite(str(tmp_path / "frames" / "depth" / "frame_0.png"), depth_mm)                 # mm, 16-bit
    cv2.imwrite(str(tmp_path / "frames" / "depth" / "frame_1.tiff"), depth_mm.astype(np.float32) / 1000)  # m
    cv2.imwrite(str(tmp_path / "frames" / "depth" / "frame_2.png"), np.zeros((10, 10), np.uint16))  # wrong size
    peer = rclpy.create_node("depth_viewer", context=ros)
    images, depths = [], []
    peer.create_subscription(Image, "image", images.append, 10)
    peer.create_subscription(Image, "depth", depths.append, 10)
    executor = SingleThreadedExecutor(context=ros)
    executor.add_node(peer)
    node = CameraReplayNode(context=ros, parameter_overrides=[
        Parameter("folder", value=str(tmp_path / "frames")), Parameter("rate", value=10.0),
        Parameter("loop", value=False)])
    executor.add_node(node)
    assert [m is not None for m in node.depth_messages] == [True, True, False]   # the odd size is left out
    assert spin_until(executor, lambda: len(images) == 3 and len(depths) == 2, timeout=15)
    assert [d.encoding for d in depths] == ["16UC1", "32FC1"]
    for depth, image in zip(depths, images):
        assert depth.header.stamp == image.header.stamp and depth.header.frame_id == image.header.frame_id
        assert np.allclose(depth_msg_to_metres(depth), depth_mm / 1000.0, atol=1e-6)
    executor.shutdown()
    node.destroy_node()
    peer.destroy_node()


def test_the_bundled_scenes_have_depth_and_the_launch_gives_it_to_the_detector(tmp_path):
    from grasp_scorer_ros import bundled
    from grasp_scorer_ros.app.bringup import SIMULATED_DEPTH_TOPIC, node_specs, options_from_launch_arguments
    from grasp_scorer_ros.camera.depth import depth_path

    scenes = sorted(bundled.demo_scenes_dir().glob("*.png"))
    assert len(scenes) == 8 and all(depth_path(scene) is not None for scene in scenes)
    specs = {s.name: s for s in node_specs(options_from_launch_arguments(tmp_path, {"replay": "true"}))}
    assert ("depth", SIMULATED_DEPTH_TOPIC) in specs["camera_replay"].remappings
    assert specs["grasp_detection"].parameters["depth_topic"] == SIMULATED_DEPTH_TOPIC
    (tmp_path / "plain").mkdir()
    cv2.imwrite(str(tmp_path / "plain" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    specs = {s.name: s for s in node_specs(options_from_launch_arguments(
        tmp_path, {"replay": "true", "replay_folder": str(tmp_path / "plain")}))}
    assert "depth_topic" not in specs["grasp_detection"].parameters       # no depth: nothing changes

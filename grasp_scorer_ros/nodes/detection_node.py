"""Detection node: overhead camera image in, best gripper pose out on ``grasp/best``.

A thin translator: sensor_msgs -> numpy (camera.image_decoding), the network (network.detector),
pixel grasp -> base-frame pose (camera.pixel_to_pose), numpy -> grasp_scorer_ros messages. Inference runs on a worker
thread that always takes the newest frame: when the model is slower than the camera, older frames
are dropped, never queued, and every result carries the stamp of the image it was computed from.
"""
from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import Pose
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import Marker, MarkerArray

from grasp_scorer_ros import bundled
from grasp_scorer_ros.camera.calibration_file import load_calibration_yaml
from grasp_scorer_ros.camera.image_decoding import (ImageFormatError, image_msg_to_rgb,
                                                    rgb_to_image_fields)
from grasp_scorer_ros.camera.models import CalibrationError, CameraIntrinsics
from grasp_scorer_ros.camera.pixel_to_pose import grasp_to_gripper_pose
from grasp_scorer_ros.grasp import H, THETA, W, X, Y
from grasp_scorer_ros.msg import GraspCandidates, GraspPose, ImageGrasp
from grasp_scorer_ros.network.detector import GraspDetector
from grasp_scorer_ros.nodes.parameters import ParameterSpec, declare_parameters
from grasp_scorer_ros.nodes.runner import run_node
from grasp_scorer_ros.visualize import draw_grasps

# name: (default, description), declared by declare_parameters; config/detection.yaml sets them for
# the launch file.
PARAMETERS: ParameterSpec = {
    "checkpoint": ("", "Model checkpoint (.pt); empty: the checkpoint bundled with the package"),
    "device": ("cpu", "Torch device for inference: cpu or cuda"),
    "num_threads": (0, "CPU threads for inference; 0 keeps torch's default"),
    "precision": ("float32", "Inference precision: float32 or bfloat16 (CPUs with AVX-512 BF16/AMX)"),
    "score_threshold": (0.5, "A grasp is published on grasp/best only when its final score reaches this"),
    "num_candidates": (5, "Length of the ranked list published on grasp/candidates"),
    "calibration_file": ("", "Camera pose / work surface YAML; empty: the bundled demo calibration"),
    "base_frame": ("", "Frame of the published poses; empty: base_frame from the calibration file"),
    "grasp_depth": (0.0, "Metres to move the grasp point past the surface hit (positive = deeper)"),
    "reference_yaw": (0.0, "Wrist yaw (rad) the 180-degree gripper symmetry is resolved towards"),
    "publish_debug_image": (True, "Publish the image annotated with the candidates on grasp/debug_image"),
    "image_reliability": ("best_effort", "QoS of the image subscription: best_effort (sensor data: accepts "
                          "every camera driver) or reliable (lost fragments of large images are resent; "
                          "needs a reliable publisher)"),
    "image_topic": ("image", "Camera image topic (sensor_msgs/Image; rgb8, bgr8, mono8, rgba8, bgra8)"),
    "camera_info_topic": ("camera_info", "CameraInfo topic; the calibration file's intrinsics are the fallback"),
    "best_topic": ("grasp/best", "Output: best grasp (grasp_scorer_ros/GraspPose)"),
    "candidates_topic": ("grasp/candidates", "Output: ranked candidates (grasp_scorer_ros/GraspCandidates)"),
    "debug_image_topic": ("grasp/debug_image", "Output: annotated image (sensor_msgs/Image, rgb8)"),
    "markers_topic": ("grasp/markers", "Output: RViz markers of the best grasp"),
}

STATS_PERIOD_S = 10.0


@dataclass
class Frame:
    """The newest image waiting for inference."""
    message: Image
    received: float  # time.monotonic() at arrival


class GraspDetectionNode(Node):
    def __init__(self, **kwargs):
        super().__init__("grasp_detection", **kwargs)
        p = declare_parameters(self, PARAMETERS)
        self.params = p

        # Start-up failures (checkpoint, calibration) raise: main() reports them and exits non-zero.
        calibration_path = p["calibration_file"] or str(bundled.demo_calibration_path())
        self.calibration = load_calibration_yaml(calibration_path)
        self.base_frame = p["base_frame"] or self.calibration.base_frame
        self.intrinsics: CameraIntrinsics | None = self.calibration.intrinsics
        self.detector = GraspDetector(p["checkpoint"] or str(bundled.default_checkpoint_path()),
                                      device=p["device"], num_threads=p["num_threads"] or None,
                                      dtype=p["precision"])

        self.best_pub = self.create_publisher(GraspPose, p["best_topic"], 10)
        self.candidates_pub = self.create_publisher(GraspCandidates, p["candidates_topic"], 10)
        self.debug_pub = (self.create_publisher(Image, p["debug_image_topic"], 1)
                          if p["publish_debug_image"] else None)
        self.markers_pub = self.create_publisher(MarkerArray, p["markers_topic"], 10)
        # Depth 1 either way: only the newest frame matters.
        image_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE
                               if p["image_reliability"] == "reliable" else ReliabilityPolicy.BEST_EFFORT)
        if p["image_reliability"] not in ("best_effort", "reliable"):
            raise ValueError(f"image_reliability must be best_effort or reliable, got {p['image_reliability']!r}")
        self.create_subscription(Image, p["image_topic"], self._on_image, image_qos)
        self.create_subscription(CameraInfo, p["camera_info_topic"], self._on_camera_info,
                                 qos_profile_sensor_data)

        # One-slot mailbox: a new frame replaces the one not yet taken.
        self._lock = threading.Condition()
        self._pending: Frame | None = None
        self._running = True
        self.stats = {"received": 0, "processed": 0, "dropped": 0, "rejected": 0, "published": 0}
        self._latencies: list[float] = []
        self._worker = threading.Thread(target=self._work, name="grasp_inference", daemon=True)
        self._worker.start()
        self.create_timer(STATS_PERIOD_S, self._log_stats)
        self.get_logger().info(
            f"ready: {self.detector.config.backbone} {self.detector.config.variant} model, "
            f"calibration {calibration_path}, "
            f"listening on {self.resolve_topic_name(p['image_topic'])}")

    # -- inputs ---------------------------------------------------------------------------------
    def _on_image(self, message: Image) -> None:
        with self._lock:
            self.stats["received"] += 1
            if self._pending is not None:
                self.stats["dropped"] += 1
            self._pending = Frame(message, time.monotonic())
            self._lock.notify()

    def _on_camera_info(self, message: CameraInfo) -> None:
        try:
            intrinsics = CameraIntrinsics.from_camera_info_fields(
                message.k, message.d, message.width, message.height, message.distortion_model)
        except CalibrationError as error:
            self.get_logger().warning(f"ignoring CameraInfo: {error}", throttle_duration_sec=5.0)
            return
        self.intrinsics = intrinsics

    # -- inference worker -----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and self._running:
                    self._lock.wait(timeout=0.5)
                if not self._running:
                    return
                frame, self._pending = self._pending, None
            try:
                self._process(frame)
            except Exception as error:  # the node keeps serving the frames that follow
                self.stats["rejected"] += 1
                self.get_logger().error(f"frame dropped: {type(error).__name__}: {error}")

    def _process(self, frame: Frame) -> None:
        message = frame.message
        try:
            rgb = image_msg_to_rgb(message)
        except ImageFormatError as error:
            self.stats["rejected"] += 1
            self.get_logger().warning(f"rejected image: {error}", throttle_duration_sec=2.0)
            return
        detections = self.detector.detect(rgb, top_k=max(1, self.params["num_candidates"]))
        top = len(detections)
        intrinsics = self.intrinsics
        if intrinsics is not None and (int(intrinsics.width), int(intrinsics.height)) != (rgb.shape[1], rgb.shape[0]):
            self.get_logger().warning(
                f"intrinsics are for {intrinsics.width}x{intrinsics.height} images but the image is "
                f"{rgb.shape[1]}x{rgb.shape[0]}: no pose until they match", throttle_duration_sec=5.0)
            intrinsics = None
        candidates, reachable = [], []
        for i in range(top):
            candidate, has_pose = self._grasp_message(message, detections, i, intrinsics)
            candidates.append(candidate)
            if has_pose:
                reachable.append(candidate)

        # The best grasp is the highest-scoring one that maps onto the work surface.
        best = reachable[0] if reachable else None
        if best is not None and best.score >= self.params["score_threshold"]:
            self.best_pub.publish(best)
            self.markers_pub.publish(self._markers(best))
            self.stats["published"] += 1
            self._latencies.append(time.monotonic() - frame.received)
        elif intrinsics is None and self.intrinsics is None:
            self.get_logger().warning("no camera intrinsics yet (no valid CameraInfo and none in the "
                                      "calibration file): poses cannot be computed",
                                      throttle_duration_sec=5.0)
        self.candidates_pub.publish(GraspCandidates(header=self._header(message), candidates=candidates))
        # Drawing and sending a full image costs milliseconds per frame: only for a listener.
        if self.debug_pub is not None and self.debug_pub.get_subscription_count() > 0:
            annotated = draw_grasps(rgb, detections.grasps[1:][::-1], color=(255, 210, 0))
            annotated = draw_grasps(annotated, detections.grasps[:1], thickness=2)  # the top one on top
            debug = Image(header=message.header, **rgb_to_image_fields(annotated, "rgb8"))
            self.debug_pub.publish(debug)
        self.stats["processed"] += 1

    def _header(self, image: Image):
        header = type(image.header)()
        header.stamp = image.header.stamp
        header.frame_id = self.base_frame
        return header

    def _grasp_message(self, image: Image, detections, index: int, intrinsics) -> tuple[GraspPose, bool]:
        """Candidate ``index`` as a message, and whether it has a pose (intrinsics known, on the surface)."""
        g = detections.grasps[index]
        out = GraspPose(header=self._header(image))
        out.score = float(detections.scores[index])
        out.primary_score = float(detections.primary_scores[index])
        out.image_grasp = ImageGrasp(center_x=float(g[X]), center_y=float(g[Y]),
                                     opening_width=float(g[W]), jaw_size=float(g[H]),
                                     angle=math.radians(float(g[THETA])))
        if intrinsics is None:
            return out, False
        try:
            pose = grasp_to_gripper_pose(g, intrinsics, self.calibration.camera_pose,
                                         self.calibration.surface, self.params["grasp_depth"],
                                         self.params["reference_yaw"])
        except CalibrationError as error:
            self.get_logger().warning(f"grasp {index} not mapped: {error}", throttle_duration_sec=5.0)
            return out, False
        out.pose = Pose()
        out.pose.position.x, out.pose.position.y, out.pose.position.z = map(float, pose.position)
        q = pose.quaternion
        out.pose.orientation.x, out.pose.orientation.y = float(q[0]), float(q[1])
        out.pose.orientation.z, out.pose.orientation.w = float(q[2]), float(q[3])
        out.opening_width = pose.opening_width_m
        out.jaw_size = pose.jaw_size_m
        return out, True

    def _markers(self, best: GraspPose) -> MarkerArray:
        # The jaws' sweep as a thin box in the tool frame: y along the closing axis, x across it.
        box = Marker(header=best.header, ns="grasp", id=0, type=Marker.CUBE, action=Marker.ADD)
        box.pose = best.pose
        box.scale.x = max(best.jaw_size, 1e-3)
        box.scale.y = max(best.opening_width, 1e-3)
        box.scale.z = 0.005
        box.color.r, box.color.g, box.color.a = 0.1, 0.9, 0.8
        approach = Marker(header=best.header, ns="grasp", id=1, type=Marker.ARROW, action=Marker.ADD)
        approach.pose = best.pose  # arrow along tool x; scale.x is its length
        approach.scale.x, approach.scale.y, approach.scale.z = 0.05, 0.005, 0.005
        approach.color.b, approach.color.a = 1.0, 1.0
        return MarkerArray(markers=[box, approach])

    def _log_stats(self) -> None:
        s = self.stats
        latency = ""
        if self._latencies:
            ms = np.array(self._latencies[-100:]) * 1000
            latency = f", latency median {np.median(ms):.0f} ms (max {ms.max():.0f})"
        self.get_logger().info(
            f"frames received {s['received']}, processed {s['processed']}, dropped (stale) "
            f"{s['dropped']}, rejected {s['rejected']}, best published {s['published']}{latency}")

    def destroy_node(self):
        worker = getattr(self, "_worker", None)  # absent when the constructor failed
        if worker is not None:
            with self._lock:
                self._running = False
                self._lock.notify()
            worker.join(timeout=5.0)
        super().destroy_node()


def main(args=None) -> int:
    return run_node(GraspDetectionNode, args)


if __name__ == "__main__":
    sys.exit(main())

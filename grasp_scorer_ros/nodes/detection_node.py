"""Detection node: overhead camera image in, best gripper pose out on ``grasp/best``.

A translator: sensor_msgs -> numpy (camera.image_decoding), one frame through the frame pipeline
(pipeline.frame_pipeline: the network, the workspace and depth checks, the poses, the best grasp),
its result -> grasp_scorer_ros messages. The pipeline runs on an inference worker that always takes
the newest frame (pipeline.inference_worker): when the model is slower than the camera, older
frames are dropped, never queued, and every result carries the stamp of the image it came from.

* Inputs follow the camera's QoS (``image_reliability: auto``, nodes.following_subscription).
* Depth, when there is depth (``depth_topic``, aligned to the colour image): each colour frame is
  paired with the depth frame nearest its stamp (pipeline.depth_pairing).
* Grasps on request: ``grasp/detect`` (``DetectGrasps``) answers with the ranked grasps of the first
  frame taken at or after the time the caller names (pipeline.frame_requests, served on a helper
  node: nodes.request_server). Streaming on ``grasp/best`` goes on alongside.
* Bad input never stops the node; every rejected or unusable input is counted by reason
  (pipeline.rejections), the first of each reason is logged in full, and the stats line lists them.
"""
from __future__ import annotations

import math
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from grasp_scorer_ros import bundled
from grasp_scorer_ros.camera.calibration_file import load_calibration_yaml
from grasp_scorer_ros.camera.depth import depth_msg_to_metres
from grasp_scorer_ros.camera.image_decoding import ImageFormatError, image_msg_to_rgb
from grasp_scorer_ros.camera.models import CalibrationError, CameraIntrinsics
from grasp_scorer_ros.camera.workspace import Workspace
from grasp_scorer_ros.msg import GraspCandidates, GraspPose
from grasp_scorer_ros.network.detector import GraspDetector
from grasp_scorer_ros.network.precision import PRECISIONS, resolve_precision
from grasp_scorer_ros.network.pruned_ranking import prunable
from grasp_scorer_ros.nodes.detection_parameters import LIVE_PARAMETERS, PARAMETERS, SETTINGS_PARAMETERS
from grasp_scorer_ros.nodes.following_subscription import MODES, FollowingSubscription
from grasp_scorer_ros.nodes.grasp_messages import debug_image, grasp_markers, grasp_pose_message, header_for
from grasp_scorer_ros.nodes.parameters import declare_parameters
from grasp_scorer_ros.nodes.request_server import RequestServer
from grasp_scorer_ros.nodes.runner import run_node
from grasp_scorer_ros.nodes.stamps import is_unstamped, stamp_to_ns
from grasp_scorer_ros.pipeline.depth_pairing import DepthPairing
from grasp_scorer_ros.pipeline.frame_pipeline import FramePipeline, FrameSettings
from grasp_scorer_ros.pipeline.frame_requests import FrameRequests, RequestTimeout
from grasp_scorer_ros.pipeline.inference_worker import WARM_UP_CALLS, InferenceWorker, RecentTimes
from grasp_scorer_ros.pipeline.rejections import RejectionCounter
from grasp_scorer_ros.srv import DetectGrasps

STATS_PERIOD_S = 10.0
QOS_CHECK_PERIOD_S = 1.0   # how often auto reliability looks at the publishers again
FIRST_INFO_WAIT_S = 1.0    # the first frame waits this long for a CameraInfo that is on its way
IMAGE_QUEUE_DEPTH = 5      # frames the image subscription holds until the executor takes them
MAX_REQUESTED_GRASPS = 100  # a grasp/detect request's count, as num_candidates' range
DEPTH_WAIT_S = 0.25         # a colour frame waits at most this long for its depth frame still on its way


@dataclass
class Frame:
    """An image waiting for inference."""
    message: Image
    received: float  # time.monotonic() at arrival
    stamp_ns: int    # when it was taken: its stamp, or its arrival on the node's clock when unstamped


class GraspDetectionNode(Node):
    def __init__(self, **kwargs):
        super().__init__("grasp_detection", **kwargs)
        p = self.params = declare_parameters(self, PARAMETERS, live=LIVE_PARAMETERS)
        # Start-up failures (checkpoint, calibration) raise: main() reports them and exits non-zero.
        calibration_path = p["calibration_file"] or str(bundled.demo_calibration_path())
        self.calibration = load_calibration_yaml(calibration_path)
        self.base_frame = p["base_frame"] or self.calibration.base_frame
        self.intrinsics: CameraIntrinsics | None = self.calibration.intrinsics
        if p["image_reliability"] not in MODES:
            raise ValueError(f"image_reliability must be one of {', '.join(MODES)}, got {p['image_reliability']!r}")
        self._image_input(p["image_transport"], "")   # raises for an unknown transport, before the model loads
        if p["precision"] not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {p['precision']!r}")
        self.precision, precision_reason = resolve_precision(p["precision"], p["device"])
        if p["scorer_weight"] > 1.0:
            raise ValueError(f"scorer_weight must be in [0, 1] (or negative: the checkpoint's), got {p['scorer_weight']}")
        settings = FrameSettings.from_parameters(p)
        self.stats = {"received": 0, "processed": 0, "dropped": 0, "rejected": 0, "published": 0,
                      "camera_info_rejected": 0}
        self.rejections = RejectionCounter(self._log_first)
        self.latencies, self.inference = RecentTimes(), RecentTimes()   # arrival -> grasp/best; the pipeline
        self.requests = FrameRequests()
        self._recent_images: deque = deque(maxlen=16)   # stamps of the last frames received
        self._lock = threading.Lock()
        self._info_seen = threading.Event()
        self._waited_for_info = False
        if self.intrinsics is not None:
            self._info_seen.set()
        self.worker = InferenceWorker(self._make_detector, self._warm_up, self._process, self._frame_failed)
        self.detector = self.worker.start()
        self.pipeline = FramePipeline(self.detector, self.calibration.camera_pose, self.calibration.surface, settings)

        self.best_pub = self.create_publisher(GraspPose, p["best_topic"], 10)
        self.candidates_pub = self.create_publisher(GraspCandidates, p["candidates_topic"], 10)
        self.debug_pub = self.create_publisher(Image, p["debug_image_topic"], 1)  # publish_debug_image is live
        self.markers_pub = self.create_publisher(MarkerArray, p["markers_topic"], 10)
        # The worker keeps only the newest frame; the subscription's queue (a few frames) only holds
        # frames until the executor takes them, so that every frame delivered is counted as received,
        # and as dropped when stale.
        image_type, image_topic = self._image_input(p["image_transport"], self.resolve_topic_name(p["image_topic"]))
        mode = p["image_reliability"]
        self.image_input = FollowingSubscription(self, "image", image_type, image_topic, self._on_image,
                                                 IMAGE_QUEUE_DEPTH, mode)
        self.inputs = [self.image_input, FollowingSubscription(
            self, "camera_info", CameraInfo, self.resolve_topic_name(p["camera_info_topic"]), self._on_camera_info,
            5, mode)]
        self.depth = None
        if p["depth_topic"]:
            depth_topic = self.resolve_topic_name(p["depth_topic"])
            self.depth = DepthPairing(depth_msg_to_metres, depth_topic)
            self.inputs.append(FollowingSubscription(self, "depth", Image, depth_topic, self._on_depth,
                                                     IMAGE_QUEUE_DEPTH, mode))
        self.create_timer(QOS_CHECK_PERIOD_S, lambda: [i.check() for i in self.inputs])
        self.request_server = RequestServer(self, DetectGrasps, p["detect_service"], self._on_detect_request)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_timer(STATS_PERIOD_S, lambda: self.get_logger().info(self.stats_line()))
        scope = "no grasp (a baseline model)" if self.detector.model.scorer is None else \
            "the grasps that can win" if prunable(self.detector.config) else "every grasp"
        self.get_logger().info(
            f"ready: {self.detector.config.backbone} {self.detector.config.variant} model ({self._final_score()}) in "
            f"{self.precision} ({precision_reason}), FE+PGP on {self.detector.engine.description}, scorer on "
            f"{scope}, {self.detector.threads_description}, calibration {calibration_path}, listening on "
            f"{image_topic} ({self.image_input.describe()})"
            + (f", depth on {self.inputs[-1].topic}" if self.depth else ", no depth"))

    # -- the detector, on the worker thread ------------------------------------------------------------
    def _make_detector(self) -> GraspDetector:
        p = self.params
        return GraspDetector(p["checkpoint"] or str(bundled.default_checkpoint_path()), device=p["device"],
                             num_threads=p["num_threads"] or None, dtype=self.precision,
                             channels_last=self.precision == "bfloat16",
                             scorer_weight=p["scorer_weight"] if p["scorer_weight"] >= 0 else None,
                             engine=p["engine"], onnx_model=p["onnx_model"] or None)

    def _warm_up(self, detector: GraspDetector) -> None:
        # torch's first calls build its kernels (about a second). Unwarmed, the first frames took
        # longer than a 2 Hz camera's period and the next one was dropped.
        size = self.intrinsics
        blank = np.full((int(size.height), int(size.width), 3) if size else (480, 480, 3), 127, np.uint8)
        for _ in range(WARM_UP_CALLS):
            detector.detect(blank, top_k=max(1, self.params["num_candidates"]))

    @staticmethod
    def _image_input(transport: str, topic: str) -> tuple[type, str]:
        """The image subscription's message type and topic for ``image_transport``."""
        if transport == "raw":
            return Image, topic
        if transport == "compressed":
            return CompressedImage, topic.rstrip("/") + "/compressed"
        raise ValueError(f"image_transport must be raw or compressed, got {transport!r}")

    # -- parameters ---------------------------------------------------------------------------------
    def _on_set_parameters(self, parameters) -> SetParametersResult:
        """Run-time changes of LIVE_PARAMETERS, from the next frame (rclpy refuses the read-only
        ones and checks types and ranges; what it cannot check is checked here)."""
        values = {x.name: x.value for x in parameters if x.name in LIVE_PARAMETERS}
        if values.get("scorer_weight", 0.0) > 1.0:
            return SetParametersResult(successful=False, reason=(
                f"scorer_weight must be in [0, 1] (or negative: the checkpoint's), got {values['scorer_weight']}"))
        merged = {**self.params, **values}
        try:
            settings = FrameSettings.from_parameters(merged) if SETTINGS_PARAMETERS & set(values) else None
            if {"workspace_polygon", "workspace_mask"} & set(values):
                workspace = Workspace.from_settings(merged["workspace_polygon"], merged["workspace_mask"])
                settings = (settings or self.pipeline.settings).replace(workspace=workspace)
        except (ValueError, FileNotFoundError) as error:
            return SetParametersResult(successful=False, reason=str(error))
        self.params.update(values)
        if settings is not None:
            self.pipeline.settings = settings if "workspace_polygon" in values or "workspace_mask" in values \
                else settings.replace(workspace=self.pipeline.settings.workspace)
        if "scorer_weight" in values:
            self.detector.set_scorer_weight(values["scorer_weight"] if values["scorer_weight"] >= 0 else None)
        for name, value in values.items():
            self.get_logger().info(f"parameter {name} = {value!r} from the next frame"
                                   + (f" ({self._final_score()})" if name == "scorer_weight" else ""))
        return SetParametersResult(successful=True)

    def _final_score(self) -> str:
        config = self.detector.config
        if self.detector.model.scorer is None:
            return "final score: the primary score"
        if config.final_ranking == "product":
            return f"final score: primary^{1 - config.scorer_weight:g} x scorer^{config.scorer_weight:g}"
        return f"final score: {config.final_ranking}"

    # -- inputs ---------------------------------------------------------------------------------
    def _log_first(self, what: str, message: str, reason: str) -> None:
        if self.context.ok():
            self.get_logger().warning(f"{what}: {message} (first of its kind; the stats line every "
                                      f"{STATS_PERIOD_S:.0f} s counts them as '{reason}')")

    def _on_image(self, message: Image) -> None:
        stamp = message.header.stamp
        key = (stamp.sec, stamp.nanosec, message.header.frame_id)
        repeated = False
        with self._lock:
            if not is_unstamped(stamp):
                if key in self._recent_images:
                    if self.image_input.switching:
                        return  # the same frame from both subscriptions while switching reliability
                    repeated = True   # a camera that gives several frames one stamp: still frames
                self._recent_images.append(key)
            self.stats["received"] += 1
            stamp_ns = self.get_clock().now().nanoseconds if is_unstamped(stamp) else stamp_to_ns(stamp)
            if self.worker.submit(Frame(message, time.monotonic(), stamp_ns)):
                self.stats["dropped"] += 1
        if repeated:
            self.rejections.count("repeated stamp", f"a frame has the stamp {key[0]}.{key[1]:09d} of an earlier one: "
                                                    f"processed as a new frame (does the camera driver stamp its frames?)")

    def _on_depth(self, message: Image) -> None:
        self.depth.add(stamp_to_ns(message.header.stamp), message)

    def _on_camera_info(self, message: CameraInfo) -> None:
        try:
            intrinsics = CameraIntrinsics.from_camera_info_fields(
                message.k, message.d, message.width, message.height, message.distortion_model)
        except CalibrationError as error:
            self.stats["camera_info_rejected"] += 1
            self.rejections.count("CameraInfo ignored", str(error))
            return
        self.intrinsics = intrinsics
        self._info_seen.set()

    # -- one frame, on the worker ---------------------------------------------------------------
    def _frame_failed(self, frame: Frame, error: BaseException) -> None:
        if self.context.ok():   # shutting down: nothing left to count or publish
            self.stats["rejected"] += 1
            self.rejections.count("frame dropped", f"{type(error).__name__}: {error}")

    def _process(self, frame: Frame) -> None:
        message = frame.message
        try:
            rgb = image_msg_to_rgb(message)
        except ImageFormatError as error:
            self.stats["rejected"] += 1
            self.rejections.count("image rejected", str(error))
            self.requests.failed(frame.stamp_ns, f"image rejected: {error}")
            return
        streamed = max(1, self.params["num_candidates"])
        wanted = max(streamed, self.requests.wanted())
        self.requests.begin(frame.stamp_ns, wanted)
        if self.intrinsics is None and not self._waited_for_info:
            # The camera's first CameraInfo may still be on its way (its subscription can match a
            # moment after the image's): give it a moment, once.
            self._waited_for_info = True
            if self.count_publishers(self.inputs[1].topic) > 0:
                self._info_seen.wait(FIRST_INFO_WAIT_S)
        depth, no_depth = self.depth.depth_for(frame.stamp_ns, self.params["depth_max_age"],
                                               DEPTH_WAIT_S) if self.depth \
            else (None, "")
        started = time.monotonic()
        result = self.pipeline.process(rgb, self.intrinsics, depth, no_depth, wanted)
        self.inference.add(time.monotonic() - started)
        for what, reason in result.refusals + ([result.problem] if result.problem else []):
            self.rejections.count(what, reason)
        header = header_for(message.header, self.base_frame)
        candidates = [grasp_pose_message(header, c) for c in result.candidates]
        placed = [m for m, c in zip(candidates, result.candidates) if c.pose is not None]
        self.requests.serve(frame.stamp_ns, wanted, lambda count: DetectGrasps.Response(
            success=True, header=header, ranked=len(result.detections),
            grasps=[m for m, c in zip(placed, result.placed) if c.score >= result.threshold][:count],
            message=result.summary(count)))
        if not self.context.ok():   # shutting down: the publishers are gone with the context
            return
        if result.best is not None:
            self.best_pub.publish(placed[0])
            self.markers_pub.publish(grasp_markers(placed[0]))
            self.stats["published"] += 1
            self.latencies.add(time.monotonic() - frame.received)
        self.candidates_pub.publish(GraspCandidates(header=header, candidates=candidates[:streamed]))
        # Drawing and sending a full image costs milliseconds per frame: only for a listener.
        if self.params["publish_debug_image"] and self.debug_pub.get_subscription_count() > 0:
            shown = np.array([c.grasp_px for c in result.candidates[:streamed]]).reshape(-1, 5)
            self.debug_pub.publish(debug_image(message.header, rgb, shown))
        self.stats["processed"] += 1

    # -- grasps on request (the helper node's thread) --------------------------------------------
    def _on_detect_request(self, request, response):
        """grasp/detect: wait for the first frame taken at or after ``not_before`` (zero: now)."""
        count = request.count or max(1, self.params["num_candidates"])
        timeout = request.timeout or self.params["request_timeout"]
        problems = []
        if not 0 < count <= MAX_REQUESTED_GRASPS:
            problems.append(f"count must be 0 (num_candidates) to {MAX_REQUESTED_GRASPS}, got {request.count}")
        if not (timeout >= 0 and math.isfinite(timeout)):
            problems.append(f"timeout must be finite and not negative (0: request_timeout), got {request.timeout}")
        if problems:
            response.success, response.message = False, "bad request: " + "; ".join(problems)
            return response
        not_before = stamp_to_ns(request.not_before) or self.get_clock().now().nanoseconds
        try:
            return self.requests.wait(not_before, count, timeout)
        except RequestTimeout as error:
            self.rejections.count("grasp request failed", str(error))
            response.success, response.message = False, f"{error} (on {self.image_input.topic})"
            return response

    # -- statistics and shutdown -----------------------------------------------------------------
    def stats_line(self) -> str:
        """What the periodic log line says: frame counts, latency, and the rejections by reason."""
        s = self.stats
        latency = ""
        if len(self.latencies):
            latency = f", latency median {self.latencies.median_ms():.0f} ms (max {self.latencies.max_ms():.0f})"
        if len(self.inference):
            latency += f", inference median {self.inference.median_ms():.0f} ms"
        reasons = self.rejections.summary()
        return (f"frames received {s['received']}, processed {s['processed']}, dropped (stale) "
                f"{s['dropped']}, rejected {s['rejected']}, best published {s['published']}{latency}"
                + (f"; by reason: {reasons}" if reasons else ""))

    def destroy_node(self):
        if getattr(self, "worker", None) is not None and getattr(self, "request_server", None) is not None:
            self.worker.stop()
            self.request_server.stop()
            if self.context.ok():
                self.get_logger().info(f"at exit: {self.stats_line()}")
        elif getattr(self, "worker", None) is not None:
            self.worker.stop()
        super().destroy_node()


def main(args=None) -> int:
    return run_node(GraspDetectionNode, args)


if __name__ == "__main__":
    sys.exit(main())

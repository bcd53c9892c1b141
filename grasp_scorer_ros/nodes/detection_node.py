"""Detection node: overhead camera image in, best gripper pose out on ``grasp/best``.

A thin translator: sensor_msgs -> numpy (camera.image_decoding), the network (network.detector),
pixel grasp -> base-frame pose (camera.pixel_to_pose), numpy -> grasp_scorer_ros messages. Inference runs on a worker
thread that always takes the newest frame: when the model is slower than the camera, older frames
are dropped, never queued, and every result carries the stamp of the image it was computed from.

Image and CameraInfo subscriptions follow the camera's QoS (``image_reliability: auto``): reliable
when every publisher on the topic is reliable, so that lost fragments of large images are resent
and every frame arrives; best-effort as soon as one publisher is best-effort (a reliable
subscription would never receive from it). The graph is checked every second.

Grasps on request: the ``grasp/detect`` service (``DetectGrasps``) answers with the ranked grasps of
the first frame taken at or after the time the caller names (the bridge's pick cycle: once its
previous pick has ended), waiting up to a timeout for it (nodes/frame_requests.py). Streaming on
``grasp/best`` goes on alongside.

Depth, when there is depth (``depth_topic``, aligned to the colour image): each grasp's height comes
from the depth between its jaws and a grasp whose finger landing zones are not clear is never
published (camera/depth.py); a colour frame is paired with the depth frame nearest its stamp.

Bad input never stops the node; every rejected or unusable input is counted by reason, the first
of each reason is logged in full, and the periodic stats line lists the counts.
"""
from __future__ import annotations

import math
import re
import sys
import threading
import time
from collections import Counter, deque
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import Pose
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import Marker, MarkerArray

from grasp_scorer_ros import bundled
from grasp_scorer_ros.camera.calibration_file import load_calibration_yaml
from grasp_scorer_ros.camera.depth import DepthFormatError, DepthSettings, depth_msg_to_metres
from grasp_scorer_ros.camera.grasp_selection import select_grasps
from grasp_scorer_ros.camera.image_decoding import (ImageFormatError, image_msg_to_rgb,
                                                    rgb_to_image_fields)
from grasp_scorer_ros.camera.models import CalibrationError, CameraIntrinsics
from grasp_scorer_ros.camera.pixel_to_pose import grasp_to_gripper_pose
from grasp_scorer_ros.camera.workspace import Workspace
from grasp_scorer_ros.grasp import H, THETA, W, X, Y
from grasp_scorer_ros.msg import GraspCandidates, GraspPose, ImageGrasp
from grasp_scorer_ros.srv import DetectGrasps
from grasp_scorer_ros.network.detector import GraspDetector
from grasp_scorer_ros.network.precision import PRECISIONS, resolve_precision
from grasp_scorer_ros.network.pruned_ranking import prunable
from grasp_scorer_ros.nodes.frame_requests import FrameRequests, RequestTimeout
from grasp_scorer_ros.nodes.parameters import ParameterSpec, declare_parameters
from grasp_scorer_ros.nodes.runner import run_node
from grasp_scorer_ros.visualize import draw_grasps

# name: (default, description[, range]), declared by declare_parameters; config/detection.yaml sets them
# for the launch file. Those of LIVE_PARAMETERS ("live" in their description) take effect on the next
# frame when set at run time; setting any other is refused: it is read at start-up only.
PARAMETERS: ParameterSpec = {
    "checkpoint": ("", "Model checkpoint (.pt); empty: the checkpoint bundled with the package"),
    "device": ("cpu", "Torch device for inference: cpu or cuda"),
    "num_threads": (0, "CPU threads for inference; 0 keeps torch's default", (0, 1024)),
    "precision": ("auto", "Inference precision: auto (bfloat16 where the device computes it natively: CPUs "
                          "with AVX-512 BF16 or AMX, GPUs with bfloat16; float32 elsewhere), float32 or bfloat16"),
    "engine": ("torch", "Where the FE and PGP run: torch, onnxruntime or openvino (optional packages: pip install "
                        "'grasp_scorer_ros[openvino]'; the checkpoint is exported to ONNX once and cached, or see "
                        "onnx_model), or auto (every engine installed here timed at start-up, the fastest taken); the "
                        "scorer runs in torch"),
    "onnx_model": ("", "ONNX graph of the checkpoint for engine onnxruntime/openvino/auto (grasp-scorer-export, "
                       "e.g. an int8 one); int8: the bundled checkpoint's int8 graph, shipped with the package; empty: the "
                       "checkpoint's float32 export"),
    "score_threshold": (0.5, "A grasp is published on grasp/best only when its final score reaches this (a "
                               "probability: primary^(1-w) x scorer^w, see scorer_weight); live", (0.0, 1.0)),
    "scorer_weight": (-1.0, "How far the final score leans on the scorer, for a model whose final ranking is the "
                            "product: final = primary^(1-w) x scorer^w, w in [0, 1] (0: the primary score alone, "
                            "0.5: the geometric mean); negative: the checkpoint's own; live"),
    "num_candidates": (5, "Length of the ranked list published on grasp/candidates; live", (1, 100)),
    "calibration_file": ("", "Camera pose / work surface YAML; empty: the bundled demo calibration"),
    "base_frame": ("", "Frame of the published poses; empty: base_frame from the calibration file"),
    "grasp_depth": (0.0, "Metres to move the grasp point past the surface hit (positive = deeper); live",
                    (-0.5, 0.5)),
    "reference_yaw": (0.0, "Wrist yaw (rad) the 180-degree gripper symmetry is resolved towards; live",
                      (-6.3, 6.3)),
    "publish_debug_image": (True, "Publish the image annotated with the candidates on grasp/debug_image "
                                  "(when something listens); live"),
    "workspace_polygon": ("", "Grasps whose centre or jaws fall outside this polygon on the work surface are never "
                              "published: 'x,y x,y x,y ...' in metres, base frame; empty: none; live"),
    "workspace_mask": ("", "Grasps whose centre or jaws fall on a zero pixel of this mask image (the camera "
                           "image's size) are never published; empty: none; live"),
    "depth_topic": ("", "Optional depth image registered to the colour camera (sensor_msgs/Image, 16UC1 mm or 32FC1 "
                        "m, e.g. aligned_depth_to_color/image_raw): grasp heights from depth, grasps whose fingers "
                        "would land on something are refused; empty: none, grasps lie on the work surface"),
    "depth_max_age": (0.1, "Seconds between a colour frame's stamp and the depth frame paired with it, at most; "
                           "with no depth that near, the frame's grasps are refused", (0.0, 10.0)),
    "finger_width": (0.01, "Metres, a finger's extent along the opening axis: the landing zone checked in the depth; "
                           "live", (0.001, 0.2)),
    "finger_length": (0.04, "Metres the fingertips may go below an object's top (the palm meets it beyond); with "
                            "depth, a grasp closes at max(landing zones, top - finger_length); live", (0.001, 0.5)),
    "clearance_tolerance": (0.005, "Metres a finger's landing zone may stand above the object's top between the jaws "
                                   "(higher: nothing to close on, the grasp is refused); live", (0.0, 0.2)),
    "image_reliability": ("auto", "QoS reliability of the image and CameraInfo subscriptions: auto (reliable "
                          "when every publisher on the topic is reliable, so that lost fragments of large "
                          "images are resent; best_effort when one is best-effort), reliable (receives "
                          "nothing from best-effort publishers) or best_effort"),
    "image_topic": ("image", "Camera image topic (sensor_msgs/Image: rgb8, bgr8, mono8, rgba8, bgra8, 8UC1/3/4 "
                             "(cv_bridge's BGR orders), yuv422_yuy2, uyvy/yuv422, bayer_rggb8/bggr8/gbrg8/grbg8)"),
    "image_transport": ("raw", "raw: sensor_msgs/Image on image_topic; compressed: sensor_msgs/CompressedImage "
                               "(JPEG or PNG) on image_topic + '/compressed', as image_transport names it"),
    "camera_info_topic": ("camera_info", "CameraInfo topic; the calibration file's intrinsics are the fallback"),
    "best_topic": ("grasp/best", "Output: best grasp (grasp_scorer_ros/GraspPose)"),
    "candidates_topic": ("grasp/candidates", "Output: ranked candidates (grasp_scorer_ros/GraspCandidates)"),
    "debug_image_topic": ("grasp/debug_image", "Output: annotated image (sensor_msgs/Image, rgb8)"),
    "markers_topic": ("grasp/markers", "Output: RViz markers of the best grasp"),
    "detect_service": ("grasp/detect", "Service (grasp_scorer_ros/DetectGrasps): the ranked grasps of the first frame "
                                       "taken at or after a given time, e.g. once the arm has left the view"),
    "request_timeout": (2.0, "Seconds a grasp/detect request waits for such a frame when it names no timeout; live",
                        (0.0, 600.0)),
}

LIVE_PARAMETERS = ("score_threshold", "scorer_weight", "num_candidates", "grasp_depth", "reference_yaw",
                   "publish_debug_image", "workspace_polygon", "workspace_mask", "request_timeout", "finger_width",
                   "finger_length", "clearance_tolerance")
WORKSPACE_SEARCH = 4   # when too few of the best grasps pass the workspace and depth checks, the detector
                       # ranks this many times as many (at least 20) and they are checked again
DEPTH_FRAMES_KEPT = 8  # the newest depth frames, for pairing with the colour frame nearest in time
STATS_PERIOD_S = 10.0
QOS_CHECK_PERIOD_S = 1.0   # how often auto reliability looks at the publishers again
FIRST_INFO_WAIT_S = 1.0    # the first frame waits this long for a CameraInfo that is on its way
IMAGE_QUEUE_DEPTH = 5      # frames the image subscription holds until the executor takes them
RELIABILITIES = ("auto", "reliable", "best_effort")
MAX_REQUESTED_GRASPS = 100  # a grasp/detect request's count, as num_candidates' range
WARM_UP_CALLS = 2           # detect() calls on a blank image before the node says it is ready


def reason_key(message: str) -> str:
    """The kind of a problem, without its numbers: the text up to the first ``:``, ``=`` or ``(``,
    standalone numbers replaced by N (quoted names such as an encoding are kept)."""
    head = re.split(r"[:=(]", str(message), maxsplit=1)[0]
    head = re.sub(r"(?<![\w'.])-?\d+(\.\d+)?(?![\w'])", "N", head)
    return " ".join(head.split()) or "unknown"


@dataclass
class Frame:
    """The newest image waiting for inference."""
    message: Image
    received: float  # time.monotonic() at arrival
    stamp_ns: int    # when it was taken: its stamp, or its arrival on the node's clock when unstamped


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
        if p["image_reliability"] not in RELIABILITIES:
            raise ValueError(f"image_reliability must be one of {', '.join(RELIABILITIES)}, "
                             f"got {p['image_reliability']!r}")
        if p["precision"] not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {p['precision']!r}")
        self.precision, precision_reason = resolve_precision(p["precision"], p["device"])
        if p["scorer_weight"] > 1.0:
            raise ValueError(f"scorer_weight must be in [0, 1] (or negative: the checkpoint's), got {p['scorer_weight']}")
        self.workspace = Workspace.from_settings(p["workspace_polygon"], p["workspace_mask"])
        # One-slot mailbox: a new frame replaces the one not yet taken.
        self._lock = threading.Condition()
        self._pending: Frame | None = None
        self._running = True
        # Everything torch does happens on the inference thread, the detector's construction included:
        # once torch has run on one thread, its CPU kernels ran slower on another (built on the main
        # thread, the node's detect() took 33-34 ms; built here, 21-23 ms: benchmark.py --only node).
        detector_ready: Future = Future()
        worker = threading.Thread(target=self._work, name="grasp_inference", daemon=True, args=(
            lambda: GraspDetector(p["checkpoint"] or str(bundled.default_checkpoint_path()),
                                  device=p["device"], num_threads=p["num_threads"] or None,
                                  dtype=self.precision, channels_last=self.precision == "bfloat16",
                                  scorer_weight=p["scorer_weight"] if p["scorer_weight"] >= 0 else None,
                                  engine=p["engine"], onnx_model=p["onnx_model"] or None),
            detector_ready))
        worker.start()
        try:
            self.detector = detector_ready.result()
        except BaseException:
            worker.join(timeout=5.0)
            raise

        self.best_pub = self.create_publisher(GraspPose, p["best_topic"], 10)
        self.candidates_pub = self.create_publisher(GraspCandidates, p["candidates_topic"], 10)
        self.debug_pub = self.create_publisher(Image, p["debug_image_topic"], 1)  # publish_debug_image is live
        self.markers_pub = self.create_publisher(MarkerArray, p["markers_topic"], 10)
        self._recent_images: deque = deque(maxlen=16)   # stamps of the last frames received
        self.stats = {"received": 0, "processed": 0, "dropped": 0, "rejected": 0, "published": 0,
                      "camera_info_rejected": 0}
        self.rejections: Counter[str] = Counter()   # "what: kind" -> count, frames and CameraInfos
        self._rejections_lock = threading.Lock()
        self._latencies: list[float] = []       # arrival -> grasp/best published, s
        self.requests = FrameRequests()         # grasp/detect callers waiting for a frame
        self._depth_frames: deque = deque(maxlen=DEPTH_FRAMES_KEPT)   # (stamp ns, Image), newest last
        self._inference: deque = deque(maxlen=100)   # detect() of the last frames, s
        self._info_seen = threading.Event()
        self._waited_for_info = False
        if self.intrinsics is not None:
            self._info_seen.set()

        # The mailbox keeps only the newest frame; the subscription's queue (a few frames) only
        # holds frames until the executor takes them, so that every frame delivered is counted as
        # received, and as dropped when stale. Reliability: see the module docstring.
        self._inputs = {
            "image": _Input(*self._image_input(p["image_transport"], self.resolve_topic_name(p["image_topic"])),
                            self._on_image,
                            depth=IMAGE_QUEUE_DEPTH),
            "camera_info": _Input(CameraInfo, self.resolve_topic_name(p["camera_info_topic"]),
                                  self._on_camera_info, depth=5),
        }
        if p["depth_topic"]:
            self._inputs["depth"] = _Input(Image, self.resolve_topic_name(p["depth_topic"]), self._on_depth,
                                           depth=IMAGE_QUEUE_DEPTH)
        self._check_publishers()   # auto: the camera's publishers may be known already
        for name, entry in self._inputs.items():
            if entry.subscription is None:   # else best-effort until publishers show up
                self._subscribe(name, ReliabilityPolicy.RELIABLE if p["image_reliability"] == "reliable"
                                else ReliabilityPolicy.BEST_EFFORT, reason="")
        self.create_timer(QOS_CHECK_PERIOD_S, self._check_publishers)

        self._worker = worker   # running since the detector's construction
        self._serve_requests(p["detect_service"])
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_timer(STATS_PERIOD_S, self._log_stats)
        self.get_logger().info(
            f"ready: {self.detector.config.backbone} {self.detector.config.variant} model ({self._final_score()}) in "
            f"{self.precision} ({precision_reason}), FE+PGP on {self.detector.engine.description}, scorer on "
            f"{self._scorer_scope()}, "
            f"calibration {calibration_path}, "
            f"listening on {self._inputs['image'].topic} ({self._describe_qos()})"
            + (f", depth on {self._inputs['depth'].topic}" if "depth" in self._inputs else ", no depth"))

    def _scorer_scope(self) -> str:
        if self.detector.model.scorer is None:
            return "no grasp (a baseline model)"
        return "the grasps that can win" if prunable(self.detector.config) else "every grasp"

    @staticmethod
    def _image_input(transport: str, topic: str) -> tuple[type, str]:
        """The image subscription's message type and topic for ``image_transport``."""
        if transport == "raw":
            return Image, topic
        if transport == "compressed":
            return CompressedImage, topic.rstrip("/") + "/compressed"
        raise ValueError(f"image_transport must be raw or compressed, got {transport!r}")

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        """Run-time changes: those of LIVE_PARAMETERS from the next frame, the others refused.

        rclpy has checked types and ranges already; what it cannot check is checked here."""
        fixed = [x.name for x in parameters if x.name in PARAMETERS and x.name not in LIVE_PARAMETERS]
        if fixed:
            return SetParametersResult(successful=False, reason=(
                f"{', '.join(fixed)}: read at start-up only (restart the node; live: {', '.join(LIVE_PARAMETERS)})"))
        for x in parameters:
            if x.name == "scorer_weight" and x.value > 1.0:
                return SetParametersResult(successful=False, reason=(
                    f"scorer_weight must be in [0, 1] (or negative: the checkpoint's), got {x.value}"))
        values = {x.name: x.value for x in parameters}
        if {"workspace_polygon", "workspace_mask"} & set(values):
            try:
                workspace = Workspace.from_settings(values.get("workspace_polygon", self.params["workspace_polygon"]),
                                                    values.get("workspace_mask", self.params["workspace_mask"]))
            except (ValueError, FileNotFoundError) as error:
                return SetParametersResult(successful=False, reason=str(error))
            self.workspace = workspace
        for x in parameters:
            if x.name not in LIVE_PARAMETERS:
                continue
            self.params[x.name] = x.value
            if x.name == "scorer_weight":
                self.detector.set_scorer_weight(x.value if x.value >= 0 else None)
            self.get_logger().info(f"parameter {x.name} = {x.value!r} from the next frame"
                                   + (f" ({self._final_score()})" if x.name == "scorer_weight" else ""))
        return SetParametersResult(successful=True)

    def _final_score(self) -> str:
        config = self.detector.config
        if self.detector.model.scorer is None:
            return "final score: the primary score"
        if config.final_ranking == "product":
            return f"final score: primary^{1 - config.scorer_weight:g} x scorer^{config.scorer_weight:g}"
        return f"final score: {config.final_ranking}"

    # -- QoS of the inputs ------------------------------------------------------------------------
    def _subscribe(self, name: str, reliability: ReliabilityPolicy, reason: str) -> None:
        entry = self._inputs[name]
        if entry.subscription is not None and entry.reliability == reliability:
            return
        # The new subscription first; the old one goes once the new one hears every publisher
        # (_check_publishers), so that no frame falls between the two. A frame that both deliver is
        # recognised by its stamp in _on_image.
        if entry.retiring is not None:
            self.destroy_subscription(entry.retiring)
        entry.retiring, entry.reliability = entry.subscription, reliability
        entry.subscription = self.create_subscription(
            entry.message_type, entry.topic, entry.callback,
            QoSProfile(depth=entry.depth, reliability=reliability))
        if reason:
            self.get_logger().info(f"{name} subscription on {entry.topic}: {_reliability_name(reliability)} "
                                   f"({reason})")

    def _check_publishers(self) -> None:
        """auto: follow the publishers' reliability; reliable: say once why nothing arrives."""
        mode = self.params["image_reliability"]
        for name, entry in self._inputs.items():
            try:
                publishers = self.get_publishers_info_by_topic(entry.topic)
            except Exception:  # the graph is unavailable while the context shuts down
                return
            best_effort = sum(info.qos_profile.reliability != ReliabilityPolicy.RELIABLE for info in publishers)
            if entry.retiring is not None and entry.subscription is not None and \
                    entry.subscription.get_publisher_count() >= len(publishers):
                self.destroy_subscription(entry.retiring)
                entry.retiring = None
            if mode == "auto" and publishers:
                if best_effort:
                    self._subscribe(name, ReliabilityPolicy.BEST_EFFORT,
                                    f"auto: {best_effort} of {len(publishers)} publisher(s) best-effort")
                else:
                    self._subscribe(name, ReliabilityPolicy.RELIABLE,
                                    f"auto: all {len(publishers)} publisher(s) reliable: lost fragments are resent")
            elif mode == "reliable" and best_effort and not entry.warned:
                entry.warned = True
                self.get_logger().warning(
                    f"{best_effort} publisher(s) on {entry.topic} are best-effort: image_reliability "
                    f"reliable receives nothing from them (use auto or best_effort)")

    def _describe_qos(self) -> str:
        mode = self.params["image_reliability"]
        now = _reliability_name(self._inputs["image"].reliability)
        return f"image_reliability {mode}: {now} now" if mode == "auto" else f"image_reliability {mode}"

    # -- rejected input, by reason ----------------------------------------------------------------
    def _count(self, what: str, message: str) -> None:
        """Count a rejected or unusable input under ``what: kind``; log the first of each kind."""
        reason = f"{what}: {reason_key(message)}"
        with self._rejections_lock:
            first = reason not in self.rejections
            self.rejections[reason] += 1
        if first and self.context.ok():
            self.get_logger().warning(f"{what}: {message} (first of its kind; the stats line every "
                                      f"{STATS_PERIOD_S:.0f} s counts them as '{reason}')")

    # -- inputs ---------------------------------------------------------------------------------
    def _on_image(self, message: Image) -> None:
        key = (message.header.stamp.sec, message.header.stamp.nanosec, message.header.frame_id)
        repeated = False
        with self._lock:
            if key[:2] != (0, 0):
                if key in self._recent_images:
                    if self._inputs["image"].retiring is not None:
                        return  # the same frame from both subscriptions while switching reliability
                    repeated = True   # a camera that gives several frames one stamp: still frames
                self._recent_images.append(key)
            self.stats["received"] += 1
            if self._pending is not None:
                self.stats["dropped"] += 1
            stamp_ns = key[0] * 1_000_000_000 + key[1] if key[:2] != (0, 0) else self.get_clock().now().nanoseconds
            self._pending = Frame(message, time.monotonic(), stamp_ns)
            self._lock.notify()
        if repeated:
            self._count("repeated stamp", f"a frame has the stamp {key[0]}.{key[1]:09d} of an earlier one: processed "
                                          f"as a new frame (does the camera driver stamp its frames?)")

    def _on_depth(self, message: Image) -> None:
        stamp = message.header.stamp
        with self._lock:
            self._depth_frames.append((stamp.sec * 1_000_000_000 + stamp.nanosec, message))

    def _depth_for(self, frame: Frame, shape) -> tuple[object, str]:
        """The depth (metres) paired with ``frame``, or None and why there is none."""
        with self._lock:
            frames = list(self._depth_frames)
        if not frames:
            return None, f"no depth frame received on {self._inputs['depth'].topic}"
        stamp, message = min(frames, key=lambda item: abs(item[0] - frame.stamp_ns))
        age = abs(stamp - frame.stamp_ns) / 1e9
        if age > self.params["depth_max_age"]:
            return None, (f"no depth frame within depth_max_age {self.params['depth_max_age']:g} s of the image "
                          f"(nearest {age:.3f} s)")
        try:
            depth = depth_msg_to_metres(message)
        except DepthFormatError as error:
            return None, f"depth rejected: {error}"
        if depth.shape != tuple(shape[:2]):
            return None, (f"depth rejected: it is {depth.shape[1]}x{depth.shape[0]} but the colour image is "
                          f"{shape[1]}x{shape[0]} (the depth must be registered to the colour camera)")
        return depth, ""

    def _on_camera_info(self, message: CameraInfo) -> None:
        try:
            intrinsics = CameraIntrinsics.from_camera_info_fields(
                message.k, message.d, message.width, message.height, message.distortion_model)
        except CalibrationError as error:
            self.stats["camera_info_rejected"] += 1
            self._count("CameraInfo ignored", str(error))
            return
        self.intrinsics = intrinsics
        self._info_seen.set()

    # -- inference worker -----------------------------------------------------------------------
    def _work(self, make_detector, ready: Future) -> None:
        try:
            detector = make_detector()
            # Warm up: torch's first calls build its kernels (about a second). Unwarmed, the first
            # frames took longer than a 2 Hz camera's period and the next one was dropped.
            size = self.intrinsics or self.calibration.intrinsics
            blank = np.full((int(size.height), int(size.width), 3) if size else (480, 480, 3), 127, np.uint8)
            for _ in range(WARM_UP_CALLS):
                detector.detect(blank, top_k=max(1, self.params["num_candidates"]))
            ready.set_result(detector)
        except BaseException as error:   # the constructor raises it: a start-up error
            ready.set_exception(error)
            return
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
                if not self.context.ok():   # shutting down: nothing left to publish to
                    return
                self.stats["rejected"] += 1
                self._count("frame dropped", f"{type(error).__name__}: {error}")

    def _process(self, frame: Frame) -> None:
        message = frame.message
        try:
            rgb = image_msg_to_rgb(message)
        except ImageFormatError as error:
            self.stats["rejected"] += 1
            self._count("image rejected", str(error))
            self.requests.failed(frame.stamp_ns, f"image rejected: {error}")
            return
        started = time.monotonic()
        streamed = max(1, self.params["num_candidates"])
        wanted = max(streamed, self.requests.wanted())
        workspace = self.workspace
        with_depth = "depth" in self._inputs
        filtered = workspace.active or with_depth
        detections = self.detector.detect(rgb, top_k=wanted)
        self._inference.append(time.monotonic() - started)
        if self.intrinsics is None and not self._waited_for_info:
            # The camera's first CameraInfo may still be on its way (its subscription can match a
            # moment after the image's): give it a moment, once.
            self._waited_for_info = True
            if self.count_publishers(self._inputs["camera_info"].topic) > 0:
                self._info_seen.wait(FIRST_INFO_WAIT_S)
        intrinsics = self.intrinsics
        if intrinsics is not None and (int(intrinsics.width), int(intrinsics.height)) != (rgb.shape[1], rgb.shape[0]):
            self._count("no pose", f"intrinsics are for {intrinsics.width}x{intrinsics.height} images but an "
                                   f"image is {rgb.shape[1]}x{rgb.shape[0]}")
            intrinsics = None
        kept, heights = list(range(len(detections))), {}
        if filtered:   # refused grasps are never published, so never picked
            depth, no_depth = self._depth_for(frame, rgb.shape) if with_depth else (None, "")
            if no_depth:
                self._count("no depth", no_depth)
                kept = []                           # nothing published: the heights are unknown
            else:
                selection = self._select(detections, wanted, intrinsics, depth)
                if len(selection.kept) < wanted and len(detections) == wanted:
                    # Too few passed: rank more (the ranking is exact for any count, so the first
                    # ones are the same) and check them all again. Costs one more detect().
                    detections = self.detector.detect(rgb, top_k=max(WORKSPACE_SEARCH * wanted, 20))
                    selection = self._select(detections, wanted, intrinsics, depth)
                kept, heights = selection.kept, selection.heights
                for what, reason in selection.refusals:
                    self._count(what, reason)
        top = len(detections)
        candidates, reachable = [], []
        for i in kept:
            candidate, has_pose = self._grasp_message(message, detections, i, intrinsics, heights.get(i))
            candidates.append(candidate)
            if has_pose:
                reachable.append(candidate)

        # The best grasp is the highest-scoring one that maps onto the work surface.
        best = reachable[0] if reachable else None
        threshold = self.params["score_threshold"]
        self.requests.serve(frame.stamp_ns, wanted, lambda count: DetectGrasps.Response(
            success=True, header=self._header(message), ranked=top,
            grasps=[c for c in reachable if c.score >= threshold][:count],
            message=self._request_summary(reachable, threshold, len(candidates), top, count)))
        if not self.context.ok():   # shutting down: the publishers are gone with the context
            return
        if best is not None and best.score >= threshold:
            self.best_pub.publish(best)
            self.markers_pub.publish(self._markers(best))
            self.stats["published"] += 1
            self._latencies.append(time.monotonic() - frame.received)
        elif intrinsics is None and self.intrinsics is None:
            self._count("no pose", "no camera intrinsics yet (no valid CameraInfo and none in the "
                                   "calibration file)")
        self.candidates_pub.publish(GraspCandidates(header=self._header(message), candidates=candidates[:streamed]))
        # Drawing and sending a full image costs milliseconds per frame: only for a listener.
        if self.params["publish_debug_image"] and self.debug_pub.get_subscription_count() > 0:
            shown = detections.grasps[kept[:streamed]]   # what was published
            annotated = draw_grasps(rgb, shown[1:][::-1], color=(255, 210, 0))
            annotated = draw_grasps(annotated, shown[:1], thickness=2)  # the top one on top
            debug = Image(header=message.header, **rgb_to_image_fields(annotated, "rgb8"))
            self.debug_pub.publish(debug)
        self.stats["processed"] += 1

    # -- grasps on request ------------------------------------------------------------------------
    def _serve_requests(self, service: str) -> None:
        """grasp/detect on a helper node with an executor of its own: a request waits for its frame
        in the callback, and the node's own executor stays single-threaded. (A MultiThreadedExecutor
        for the whole node cost frames: at 10 Hz it received 131 of 203, against all 203 this way;
        benchmarks/benchmark.py's system run, 20 s.)"""
        self._request_node = rclpy.create_node(f"{self.get_name()}_requests", namespace=self.get_namespace(),
                                               context=self.context, use_global_arguments=False,
                                               start_parameter_services=False)
        self._request_node.create_service(DetectGrasps, self.resolve_service_name(service), self._on_detect_request)
        self._request_executor = SingleThreadedExecutor(context=self.context)
        self._request_executor.add_node(self._request_node)
        self._request_thread = threading.Thread(target=self._spin_requests, name="grasp_requests", daemon=True)
        self._request_thread.start()

    def _spin_requests(self) -> None:
        while self._running and self.context.ok():
            try:
                self._request_executor.spin_once(timeout_sec=0.1)
            except Exception:   # the context or the executor is shutting down
                return

    def _on_detect_request(self, request, response):
        """grasp/detect: wait for the first frame taken at or after ``not_before`` (zero: now)."""
        count = request.count or max(1, self.params["num_candidates"])
        timeout = request.timeout or self.params["request_timeout"]
        if not (0 < count <= MAX_REQUESTED_GRASPS and timeout >= 0 and math.isfinite(timeout)):
            response.success = False
            response.message = (f"bad request: count must be 0 (num_candidates) to {MAX_REQUESTED_GRASPS}, got "
                                f"{request.count}; timeout must be finite and not negative, got {request.timeout}")
            return response
        not_before = request.not_before.sec * 1_000_000_000 + request.not_before.nanosec
        if not_before == 0:
            not_before = self.get_clock().now().nanoseconds
        try:
            return self.requests.wait(not_before, count, timeout)
        except RequestTimeout as error:
            self._count("grasp request failed", str(error))
            response.success, response.message = False, f"{error} (on {self._inputs['image'].topic})"
            return response

    @staticmethod
    def _request_summary(reachable, threshold: float, candidates: int, ranked: int, count: int) -> str:
        """Why a request's answer holds the grasps it holds."""
        passed = sum(c.score >= threshold for c in reachable)
        if passed:
            return f"{min(passed, count)} grasp(s): those with a pose that reach score_threshold {threshold:g}" \
                + (f" (the best {count} of {passed})" if passed > count else "")
        if reachable:
            return f"no grasp reaches score_threshold {threshold:g} (best {reachable[0].score:.2f})"
        if candidates:
            return f"none of the {candidates} grasp(s) maps onto the work surface (camera intrinsics, calibration)"
        return (f"none of the {ranked} grasp(s) ranked passed the workspace and depth checks (the stats line counts "
                f"why)") if ranked else "no grasp found"

    def _header(self, image: Image):
        header = type(image.header)()
        header.stamp = image.header.stamp
        header.frame_id = self.base_frame
        return header

    def _select(self, detections, wanted: int, intrinsics, depth):
        return select_grasps(detections.grasps, wanted, self.workspace, intrinsics, self.calibration.camera_pose,
                             self.calibration.surface, depth, self._depth_settings())

    def _depth_settings(self) -> DepthSettings:
        return DepthSettings(self.params["finger_width"], self.params["finger_length"],
                             self.params["clearance_tolerance"])

    def _grasp_message(self, image: Image, detections, index: int, intrinsics,
                       height=None) -> tuple[GraspPose, bool]:
        """Candidate ``index`` as a message, and whether it has a pose (intrinsics known, on the surface:
        with depth, ``height`` (camera.depth.GraspHeight) places it, else the calibration's work surface)."""
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
            # With depth: seen on the object's top, closed `reach` below it.
            pose = grasp_to_gripper_pose(g, intrinsics, self.calibration.camera_pose,
                                         height.surface if height else self.calibration.surface,
                                         self.params["grasp_depth"] + (height.reach if height else 0.0),
                                         self.params["reference_yaw"])
        except CalibrationError as error:
            self._count("grasp not mapped", str(error))
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

    def stats_line(self) -> str:
        """What the periodic log line says: frame counts, latency, and the rejections by reason."""
        s = self.stats
        latency = ""
        if self._latencies:
            ms = np.array(self._latencies[-100:]) * 1000
            latency = f", latency median {np.median(ms):.0f} ms (max {ms.max():.0f})"
        if self._inference:
            latency += f", inference median {1000 * np.median(self._inference):.0f} ms"
        with self._rejections_lock:
            reasons = "; ".join(f"{reason} x{count}" for reason, count in sorted(self.rejections.items()))
        return (f"frames received {s['received']}, processed {s['processed']}, dropped (stale) "
                f"{s['dropped']}, rejected {s['rejected']}, best published {s['published']}{latency}"
                + (f"; by reason: {reasons}" if reasons else ""))

    def _log_stats(self) -> None:
        self.get_logger().info(self.stats_line())

    def destroy_node(self):
        worker = getattr(self, "_worker", None)  # absent when the constructor failed
        if worker is not None:
            with self._lock:
                self._running = False
                self._lock.notify()
            worker.join(timeout=5.0)
        if getattr(self, "_request_thread", None) is not None:
            self._request_thread.join(timeout=2.0)
            self._request_executor.shutdown()
            self._request_node.destroy_node()
            if self.context.ok():
                self.get_logger().info(f"at exit: {self.stats_line()}")
        super().destroy_node()


@dataclass
class _Input:
    """One camera input: its subscription and the reliability it was made with."""
    message_type: type
    topic: str
    callback: object
    depth: int
    subscription: object = None
    reliability: ReliabilityPolicy | None = None
    retiring: object = None       # the previous subscription, until the new one is matched
    warned: bool = False


def _reliability_name(reliability) -> str:
    return "reliable" if reliability == ReliabilityPolicy.RELIABLE else "best-effort"


def main(args=None) -> int:
    return run_node(GraspDetectionNode, args)


if __name__ == "__main__":
    sys.exit(main())

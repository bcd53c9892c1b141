"""Camera replay node: publishes the images of a folder, with matching CameraInfo, like a camera.

Stands in for the overhead camera driver so that the whole chain runs without hardware. Images are
decoded once at start-up, so the publishing rate does not depend on PNG decoding. Publishing starts
when the image topic has its first subscriber (``wait_for_subscriber``), so that a replay started
next to a detector that is still loading its model sends every frame to it.

Depth, where the folder has it (camera.depth.depth_path: ``depth/<name>.png`` in millimetres or
``depth/<name>.tiff`` in metres, or Jacquard's ``<i>_<id>_perfect_depth.tiff`` next to
``<i>_<id>_RGB.png``), goes out on ``depth`` (16UC1 or 32FC1) just before its colour frame, with its
stamp, as a depth camera registered to the colour one publishes it. The bundled scenes have it.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from grasp_scorer_ros import bundled
from grasp_scorer_ros.camera.calibration_file import load_intrinsics_yaml
from grasp_scorer_ros.camera.depth import depth_path, depth_to_image_fields
from grasp_scorer_ros.camera.image_decoding import rgb_to_image_fields
from grasp_scorer_ros.camera.models import CameraIntrinsics
from grasp_scorer_ros.nodes.parameters import ParameterSpec, declare_parameters
from grasp_scorer_ros.nodes.runner import run_node

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
ACK_TIMEOUT_S = 0.5   # at exit, how long the last frame may take to reach reliable subscribers
SUBSCRIBER_SETTLE_S = 0.5  # first frame this long after the first subscriber appears

# name: (default, description), declared by declare_parameters.
PARAMETERS: ParameterSpec = {
    "folder": ("", "Folder of images to publish (sorted by name); empty: the bundled demo scenes"),
    "camera_info_file": ("", "camera_info_manager YAML of the camera; empty: the demo scenes' camera"),
    "rate": (2.0, "Frames per second"),
    "loop": (True, "Start again after the last image; false: stop publishing after one pass"),
    "count": (0, "Stop after this many frames (0: no limit)"),
    "frame_id": ("camera_color_optical_frame", "frame_id of the published images and CameraInfo"),
    "encoding": ("rgb8", "Published encoding: rgb8 or bgr8"),
    "reliability": ("reliable", "QoS reliability of the image and CameraInfo publishers: reliable (like most "
                                "camera drivers; matches best-effort and reliable subscribers) or best_effort"),
    "publish_depth": (True, "Publish the depth images found beside the colour ones on depth (see the module "
                            "docstring); false: colour only"),
    "wait_for_subscriber": (True, "Publish the first frame only once the image topic has a subscriber; "
                                  "false: publish from the start, like a camera"),
}


def load_folder(folder: Path) -> list[tuple[str, "cv2.Mat"]]:
    """(name, RGB image) for every readable image in ``folder``; unreadable files are reported."""
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    images = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            print(f"camera_replay: skipping unreadable image {path}", file=sys.stderr)
            continue
        images.append((path.name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    if not images:
        raise FileNotFoundError(f"no readable images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    return images


def load_depth(image: Path, shape) -> "np.ndarray | None":
    """The depth of ``image`` (uint16 mm or float32 m) when there is one of the colour image's
    ``shape``; a depth file that cannot be used is reported and left out."""
    path = depth_path(image)
    if path is None:
        return None
    depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if depth is None or depth.ndim != 2 or depth.dtype not in (np.uint16, np.float32):
        print(f"camera_replay: skipping depth {path}: not a 16-bit (mm) or float (m) single-channel image",
              file=sys.stderr)
        return None
    if depth.shape != tuple(shape[:2]):
        print(f"camera_replay: skipping depth {path}: {depth.shape[1]}x{depth.shape[0]}, the colour image is "
              f"{shape[1]}x{shape[0]}", file=sys.stderr)
        return None
    return depth


def camera_info_message(intrinsics: CameraIntrinsics, frame_id: str) -> CameraInfo:
    info = CameraInfo()
    info.header.frame_id = frame_id
    info.width, info.height = int(intrinsics.width), int(intrinsics.height)
    info.distortion_model = intrinsics.distortion_model
    info.d = [float(v) for v in intrinsics.distortion]
    info.k = [float(v) for v in intrinsics.camera_matrix.reshape(-1)]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    k = intrinsics.camera_matrix
    info.p = [float(k[0, 0]), 0.0, float(k[0, 2]), 0.0, 0.0, float(k[1, 1]), float(k[1, 2]), 0.0,
              0.0, 0.0, 1.0, 0.0]
    return info


class CameraReplayNode(Node):
    def __init__(self, **kwargs):
        super().__init__("camera_replay", **kwargs)
        p = declare_parameters(self, PARAMETERS)
        if p["encoding"] not in ("rgb8", "bgr8"):
            raise ValueError(f"encoding must be rgb8 or bgr8, got {p['encoding']!r}")
        if not p["rate"] > 0:
            raise ValueError(f"rate must be positive, got {p['rate']}")
        if p["reliability"] not in ("reliable", "best_effort"):
            raise ValueError(f"reliability must be reliable or best_effort, got {p['reliability']!r}")
        self.params = p
        folder = Path(p["folder"] or bundled.demo_scenes_dir())
        self.images = load_folder(folder)
        self.depth_messages = [None] * len(self.images)
        if p["publish_depth"]:
            for i, (name, rgb) in enumerate(self.images):
                depth = load_depth(folder / name, rgb.shape)
                self.depth_messages[i] = Image(**depth_to_image_fields(depth)) if depth is not None else None
        intrinsics = load_intrinsics_yaml(p["camera_info_file"] or bundled.demo_camera_path())
        self.camera_info = camera_info_message(intrinsics, p["frame_id"])
        # Pre-encode each frame once: publishing then costs only the copy into the message.
        self.messages = []
        for _, rgb in self.images:
            self.messages.append(Image(**rgb_to_image_fields(rgb, p["encoding"])))
        # Reliable by default, like many camera drivers: matches best-effort and reliable subscribers.
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE if p["reliability"] == "reliable"
                         else ReliabilityPolicy.BEST_EFFORT)
        self.image_pub = self.create_publisher(Image, "image", qos)
        self.info_pub = self.create_publisher(CameraInfo, "camera_info", qos)
        with_depth = sum(m is not None for m in self.depth_messages)
        self.depth_pub = self.create_publisher(Image, "depth", qos) if with_depth else None
        self.published = 0
        self.waiting = bool(p["wait_for_subscriber"])
        self._subscriber_seen: float | None = None
        self.timer = self.create_timer(1.0 / p["rate"], self._publish_next)
        self.get_logger().info(
            f"publishing {len(self.images)} images from {folder} at {p['rate']} Hz ({p['reliability']}) on "
            f"{self.resolve_topic_name('image')}"
            + (f", {with_depth} with depth on {self.resolve_topic_name('depth')}" if with_depth else ", no depth")
            + (", from its first subscriber on" if self.waiting else ""))

    def _publish_next(self) -> None:
        p = self.params
        if self.waiting:
            # Discovery matches the two ends one after the other: the subscriber may still ignore
            # a frame sent the moment this publisher sees it. Start SUBSCRIBER_SETTLE_S later.
            now = time.monotonic()
            if self.image_pub.get_subscription_count() == 0:
                self._subscriber_seen = None
                return
            if self._subscriber_seen is None:
                self._subscriber_seen = now
            if now - self._subscriber_seen < SUBSCRIBER_SETTLE_S:
                return
            self.waiting = False
            self.get_logger().info(f"{self.image_pub.get_subscription_count()} subscriber(s): first frame")
        done = (p["count"] and self.published >= p["count"]) or (
            not p["loop"] and self.published >= len(self.messages))
        if done:
            self.timer.cancel()
            self.get_logger().info(f"done: {self.published} frames published")
            return
        message = self.messages[self.published % len(self.messages)]
        stamp = self.get_clock().now().to_msg()
        message.header.stamp = stamp
        message.header.frame_id = p["frame_id"]
        self.camera_info.header.stamp = stamp
        self.info_pub.publish(self.camera_info)
        depth = self.depth_messages[self.published % len(self.messages)]
        if depth is not None:   # first: the detector pairs the colour frame with it by stamp
            depth.header = message.header
            self.depth_pub.publish(depth)
        self.image_pub.publish(message)
        self.published += 1

    def destroy_node(self):
        if self.context.ok():
            # A reliable subscriber still receiving the last frame gets it before the writer goes.
            for publisher in (self.info_pub, self.image_pub):
                publisher.wait_for_all_acked(Duration(seconds=ACK_TIMEOUT_S))
            self.get_logger().info(f"at exit: {self.published} frames published")
        super().destroy_node()


def main(args=None) -> int:
    return run_node(CameraReplayNode, args)


if __name__ == "__main__":
    sys.exit(main())

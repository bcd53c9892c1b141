"""Physics world node: the simulated controller and the MuJoCo pick cell it moves, with the cell's
overhead camera as a ROS camera (``world:=physics`` in the launch file).

The bridge speaks RMI to the :class:`~grasp_scorer_ros.sim.sim_controller.SimulatedController`
hosted here (in place of ``sim_controller_node``); :class:`~grasp_scorer_ros.sim.physics_world.PhysicsWorld`
moves the cell's gripper with it on the wall clock; the calibrated camera's frames go out as
``image`` and ``camera_info`` (the camera the detection node's calibration describes), with its
depth, registered to it, on ``depth`` (32FC1, metres, the colour frame's stamp). Each pick's
outcome is logged, published on ``~/outcome`` (``std_msgs/String``: ``pick 3: success: ...``) and,
with ``output_dir`` set, drawn (side view when the jaws open).
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String

from grasp_scorer_ros import bundled
from grasp_scorer_ros.camera.calibration_file import load_calibration_yaml, load_intrinsics_yaml
from grasp_scorer_ros.camera.depth import depth_to_image_fields
from grasp_scorer_ros.camera.image_decoding import rgb_to_image_fields
from grasp_scorer_ros.fanuc import rmi_protocol as rmi
from grasp_scorer_ros.fanuc.pick_planner import SIMULATED_PART_PRESENT_PORT
from grasp_scorer_ros.fanuc.rmi_protocol import Position
from grasp_scorer_ros.nodes.camera_replay_node import camera_info_message
from grasp_scorer_ros.nodes.log_forwarding import LogForwarding, stop_log_forwarding
from grasp_scorer_ros.nodes.parameters import ParameterSpec, declare_parameters
from grasp_scorer_ros.nodes.runner import run_node
from grasp_scorer_ros.sim.cell_scene import make_cell_scene
from grasp_scorer_ros.sim.physics_cell import PhysicsCell, ensure_gl
from grasp_scorer_ros.sim.physics_world import PhysicsWorld
from grasp_scorer_ros.sim.sim_controller import CLIENT_GRACE_S, SimulatedController

PARAMETERS: ParameterSpec = {
    "host": ("127.0.0.1", "Address the simulated controller listens on"),
    "port": (rmi.DEFAULT_CONNECT_PORT, "RMI connect port (FRC_Connect); 0 picks a free port"),
    "speed_scale": (1.0, "Multiplies every motion's duration (1.0: the real arm's speeds, which the grasp needs)"),
    "calibration_file": ("", "Calibration YAML of the camera; empty: the demo camera's (the detection node's default)"),
    "camera_info_file": ("", "camera_info_manager YAML of the camera; empty: the demo camera's"),
    "seed": (1000, "Scene seed; scene k of a seed is always the same"),
    "look": ("heldout", "The synthetic generator's look of objects and tables: heldout or train"),
    "camera_rate": (2.0, "Camera frames per second"),
    "physics_rate": (50.0, "How often the physics catches up with the wall clock (Hz)"),
    "frame_id": ("camera_color_optical_frame", "frame_id of the images and CameraInfo"),
    "output_dir": ("", "Write a side view of the cell at the end of each pick here; empty: none"),
    "publish_depth": (True, "Publish the camera's depth on depth (32FC1, metres), registered to image"),
    "client_grace": (CLIENT_GRACE_S, "On stopping, seconds a connected client (the bridge) gets to end its session "
                                     "first, as with a real controller that outlives it", (0.0, 10.0)),
    "part_present_port": (SIMULATED_PART_PRESENT_PORT, "Digital input of the cell's part-present sensor: ON while the closed jaws touch an "
                             "object (the physics'); 0: none"),
}


class PhysicsWorldNode(Node):
    def __init__(self, **kwargs):
        super().__init__("physics_world", **kwargs)
        p = declare_parameters(self, PARAMETERS)
        if not (p["camera_rate"] > 0 and p["physics_rate"] > 0 and p["speed_scale"] > 0):
            raise ValueError("camera_rate, physics_rate and speed_scale must be positive")
        self.params = p
        ensure_gl()
        calibration = load_calibration_yaml(p["calibration_file"] or bundled.demo_calibration_path())
        intrinsics = load_intrinsics_yaml(p["camera_info_file"] or bundled.demo_camera_path())
        self._renderers: dict = {}

        def make_cell(index: int) -> PhysicsCell:
            scene = make_cell_scene(index, p["seed"], calibration, intrinsics, look=p["look"])
            self.get_logger().info(f"scene {index} of seed {p['seed']}: {scene.family}, "
                                   + ", ".join(o.kind for o in scene.objects))
            return PhysicsCell(scene, calibration, intrinsics, renderer_cache=self._renderers)

        self.sim = SimulatedController(host=p["host"], port=p["port"], speed_scale=p["speed_scale"],
                                       start_position=Position(500.0, 0.0, 400.0, 180.0, 0.0, 0.0),
                                       part_present_port=p["part_present_port"])
        self.world = PhysicsWorld(self.sim, make_cell)
        try:
            self.sim.start()
        except OSError as error:
            self.sim.stop()
            raise ValueError(f"cannot listen on {p['host']}:{p['port']}: {error}") from None
        self._log_forwarding = LogForwarding("grasp_scorer_ros.fanuc", self)
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.create_publisher(Image, "image", qos)
        self.info_pub = self.create_publisher(CameraInfo, "camera_info", qos)
        self.depth_pub = self.create_publisher(Image, "depth", qos) if p["publish_depth"] else None
        self.outcome_pub = self.create_publisher(String, "~/outcome", 10)
        self.camera_info = camera_info_message(intrinsics, p["frame_id"])
        self.outcomes: list[str] = []
        self.create_timer(1.0 / p["physics_rate"], self._step)
        self.create_timer(1.0 / p["camera_rate"], self._publish_frame)
        self.get_logger().info(
            f"physics world: simulated FANUC controller on {p['host']} port {self.sim.port} "
            f"(speed scale {p['speed_scale']}), camera {intrinsics.width}x{intrinsics.height} at "
            f"{p['camera_rate']} Hz on {self.resolve_topic_name('image')}")

    def _step(self) -> None:
        event = self.world.sync()
        if event is None:
            return
        text = f"pick {event.number}: {'success' if event.success else 'failure'}: {event.detail}"
        self.outcomes.append(text)
        self.get_logger().info(text)
        self.outcome_pub.publish(String(data=text))
        if self.params["output_dir"]:
            out = Path(self.params["output_dir"])
            out.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / f"pick_{event.number:03d}_side.png"),
                        cv2.cvtColor(self.world.side_view(), cv2.COLOR_RGB2BGR))

    def _publish_frame(self) -> None:
        rgb = self.world.render()
        message = Image(**rgb_to_image_fields(rgb, "rgb8"))
        stamp = self.get_clock().now().to_msg()
        message.header.stamp = stamp
        message.header.frame_id = self.params["frame_id"]
        self.camera_info.header.stamp = stamp
        self.info_pub.publish(self.camera_info)
        if self.depth_pub is not None:   # first: the detector pairs the colour frame with it by stamp
            depth_message = Image(**depth_to_image_fields(self.world.render_depth()))
            depth_message.header = message.header
            self.depth_pub.publish(depth_message)
        self.image_pub.publish(message)

    def destroy_node(self):
        sim = getattr(self, "sim", None)
        if sim is not None:
            sim.stop(client_grace=self.params["client_grace"])
        if hasattr(self, "outcomes"):
            self.get_logger().info(f"at exit: {len(self.outcomes)} pick(s), "
                                   f"{sum(': success:' in o for o in self.outcomes)} succeeded")
        stop_log_forwarding(self)
        super().destroy_node()


def main(args=None) -> int:
    return run_node(PhysicsWorldNode, args)


if __name__ == "__main__":
    sys.exit(main())

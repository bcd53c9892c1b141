"""Simulated FANUC controller as a ROS node: an RMI server on loopback for the bridge, no arm needed.

Wraps :class:`grasp_scorer_ros.sim.sim_controller.SimulatedController` (which documents what it
simulates): the server starts when the node is constructed and stops when it is destroyed. The
launch file's ``robot:=sim`` starts it next to the bridge. So that RViz shows what the arm does,
it publishes ``joint_states`` (``sensor_msgs/JointState``, ``joint_1`` .. ``joint_6`` in radians,
FANUC's URDF names) and ``~/tool_pose`` (``geometry_msgs/PoseStamped``, the TCP in the active user
frame, metres) every ``state_period`` seconds.
"""
from __future__ import annotations

import math
import sys

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState

from grasp_scorer_ros.fanuc import rmi_protocol as rmi
from grasp_scorer_ros.fanuc.pick_planner import SIMULATED_PART_PRESENT_PORT
from grasp_scorer_ros.fanuc.rmi_protocol import Position
from grasp_scorer_ros.sim.sim_controller import CLIENT_GRACE_S, SimulatedController
from grasp_scorer_ros.nodes.log_forwarding import LogForwarding, stop_log_forwarding
from grasp_scorer_ros.nodes.parameters import ParameterSpec, declare_parameters
from grasp_scorer_ros.nodes.runner import run_node
from grasp_scorer_ros.rotations import wpr_to_quaternion

# name: (default, description[, range]), declared by declare_parameters.
PARAMETERS: ParameterSpec = {
    "host": ("127.0.0.1", "Address to listen on"),
    "port": (rmi.DEFAULT_CONNECT_PORT, "RMI connect port (FRC_Connect); 0 picks a free port"),
    "handoff_port": (0, "Session port named in the FRC_Connect reply; 0 picks a free port"),
    "speed_scale": (0.1, "Multiplies every motion's duration (0.1: ten times faster than the real arm)"),
    "workspace_reach_mm": (1800.0, "Targets farther than this from the base origin are refused (RMIT-036)"),
    "floor_z_mm": (math.nan, "Targets below this height are refused (RMIT-036); NaN: no floor"),
    "start_position": ([500.0, 0.0, 400.0, 180.0, 0.0, 0.0],
                       "Arm position at start-up: X, Y, Z (mm), W, P, R (deg)"),
    "state_period": (0.1, "Seconds between joint_states and ~/tool_pose messages", (0.01, 10.0)),
    "base_frame": ("base_link", "Frame of ~/tool_pose (the controller's user frame)"),
    "client_grace": (CLIENT_GRACE_S, "On stopping, seconds a connected client (the bridge) gets to end its session "
                                     "first, as with a real controller that outlives it", (0.0, 10.0)),
    "part_present_port": (SIMULATED_PART_PRESENT_PORT, "Digital input of a stand-in part-present sensor: ON while the gripper output "
                             "(gripper_port) is closed, as if every close held a part; 0: none"),
    "gripper_port": (1, "Digital output of the gripper, which the stand-in sensor follows"),
}
JOINT_NAMES = tuple(f"joint_{i}" for i in range(1, 7))   # as FANUC's URDFs (fanuc_description) name them


class SimControllerNode(Node):
    def __init__(self, **kwargs):
        super().__init__("fanuc_sim_controller", **kwargs)
        p = self.params = declare_parameters(self, PARAMETERS)
        if len(p["start_position"]) != 6:
            raise ValueError("start_position needs X, Y, Z, W, P, R")
        if not p["speed_scale"] > 0:
            raise ValueError(f"speed_scale must be positive, got {p['speed_scale']}")
        self.sim = SimulatedController(
            host=p["host"], port=p["port"], handoff_port=p["handoff_port"], speed_scale=p["speed_scale"],
            workspace_reach_mm=p["workspace_reach_mm"],
            floor_z_mm=None if math.isnan(p["floor_z_mm"]) else p["floor_z_mm"],
            start_position=Position(*(float(v) for v in p["start_position"])),
            part_present_port=p["part_present_port"], gripper_port=p["gripper_port"])
        try:
            self.sim.start()
        except OSError as error:     # e.g. the port is taken: a start-up error for main() to report
            self.sim.stop()
            raise ValueError(f"cannot listen on {p['host']}:{p['port']}: {error}") from None
        self._base_frame = p["base_frame"]
        self.joint_pub = self.create_publisher(JointState, "joint_states", 10)
        self.tool_pub = self.create_publisher(PoseStamped, "~/tool_pose", 10)
        self.create_timer(p["state_period"], self._publish_state)
        self._log_forwarding = LogForwarding("grasp_scorer_ros.fanuc", self)
        self.get_logger().info(
            f"simulated FANUC controller on {p['host']}: connect port {self.sim.port}, "
            f"hand-off port {self.sim.handoff_port}, speed scale {p['speed_scale']}")

    def _publish_state(self) -> None:
        """Where the simulated arm is now (interpolated along a running move)."""
        stamp = self.get_clock().now().to_msg()
        joints = JointState(name=list(JOINT_NAMES), position=[math.radians(a) for a in self.sim.joint_angles])
        joints.header.stamp = stamp
        tcp = self.sim.tool_position
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, self._base_frame
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (tcp.x / 1000, tcp.y / 1000, tcp.z / 1000)
        q = wpr_to_quaternion(tcp.w, tcp.p, tcp.r)     # x, y, z, w
        o = pose.pose.orientation
        o.x, o.y, o.z, o.w = (float(v) for v in q)
        self.joint_pub.publish(joints)
        self.tool_pub.publish(pose)

    def destroy_node(self):
        if not self.context.ok():       # after Ctrl-C rosout is gone: the core's last words stay local
            stop_log_forwarding(self)
        sim = getattr(self, "sim", None)
        if sim is not None:
            sim.stop(client_grace=self.params["client_grace"])
        stop_log_forwarding(self)
        super().destroy_node()


def main(args=None) -> int:
    return run_node(SimControllerNode, args)


if __name__ == "__main__":
    sys.exit(main())

"""Simulated FANUC controller as a ROS node: an RMI server on loopback for the bridge, no arm needed.

Wraps :class:`grasp_scorer_ros.sim.sim_controller.SimulatedController` (which documents what it
simulates): the server starts when the node is constructed and stops when it is destroyed. The
launch file's ``robot:=sim`` starts it next to the bridge.
"""
from __future__ import annotations

import math
import sys

from rclpy.node import Node

from grasp_scorer_ros.fanuc import rmi_protocol as rmi
from grasp_scorer_ros.fanuc.rmi_protocol import Position
from grasp_scorer_ros.sim.sim_controller import SimulatedController
from grasp_scorer_ros.nodes.log_forwarding import LogForwarding, stop_log_forwarding
from grasp_scorer_ros.nodes.parameters import ParameterSpec, declare_parameters
from grasp_scorer_ros.nodes.runner import run_node

# name: (default, description), declared by declare_parameters.
PARAMETERS: ParameterSpec = {
    "host": ("127.0.0.1", "Address to listen on"),
    "port": (rmi.DEFAULT_CONNECT_PORT, "RMI connect port (FRC_Connect); 0 picks a free port"),
    "handoff_port": (0, "Session port named in the FRC_Connect reply; 0 picks a free port"),
    "speed_scale": (0.1, "Multiplies every motion's duration (0.1: ten times faster than the real arm)"),
    "workspace_reach_mm": (1800.0, "Targets farther than this from the base origin are refused (RMIT-036)"),
    "floor_z_mm": (math.nan, "Targets below this height are refused (RMIT-036); NaN: no floor"),
    "start_position": ([500.0, 0.0, 400.0, 180.0, 0.0, 0.0],
                       "Arm position at start-up: X, Y, Z (mm), W, P, R (deg)"),
}


class SimControllerNode(Node):
    def __init__(self, **kwargs):
        super().__init__("fanuc_sim_controller", **kwargs)
        p = declare_parameters(self, PARAMETERS)
        if len(p["start_position"]) != 6:
            raise ValueError("start_position needs X, Y, Z, W, P, R")
        if not p["speed_scale"] > 0:
            raise ValueError(f"speed_scale must be positive, got {p['speed_scale']}")
        self.sim = SimulatedController(
            host=p["host"], port=p["port"], handoff_port=p["handoff_port"], speed_scale=p["speed_scale"],
            workspace_reach_mm=p["workspace_reach_mm"],
            floor_z_mm=None if math.isnan(p["floor_z_mm"]) else p["floor_z_mm"],
            start_position=Position(*(float(v) for v in p["start_position"])))
        try:
            self.sim.start()
        except OSError as error:     # e.g. the port is taken: a start-up error for main() to report
            self.sim.stop()
            raise ValueError(f"cannot listen on {p['host']}:{p['port']}: {error}") from None
        self._log_forwarding = LogForwarding("grasp_scorer_ros.fanuc", self)
        self.get_logger().info(
            f"simulated FANUC controller on {p['host']}: connect port {self.sim.port}, "
            f"hand-off port {self.sim.handoff_port}, speed scale {p['speed_scale']}")

    def destroy_node(self):
        if not self.context.ok():       # after Ctrl-C rosout is gone: the core's last words stay local
            stop_log_forwarding(self)
        sim = getattr(self, "sim", None)
        if sim is not None:
            sim.stop()
        stop_log_forwarding(self)
        super().destroy_node()


def main(args=None) -> int:
    return run_node(SimControllerNode, args)


if __name__ == "__main__":
    sys.exit(main())

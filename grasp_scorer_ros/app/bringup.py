"""Which processes make up the running system, with which parameters: one list for two starters.

``launch/detect.launch.py`` turns these specs into launch_ros ``Node`` actions; the demo (and the
benchmark) start the very same executables with the same arguments as plain processes, for
machines where the ``launch`` packages are not installed. Pure data: no ROS import here.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "grasp_scorer_ros"


@dataclass
class NodeSpec:
    executable: str                 # `ros2 run grasp_scorer_ros <executable>`
    module: str                     # the same program as `python -m <module>`
    name: str
    parameter_files: list[str] = field(default_factory=list)
    parameters: dict = field(default_factory=dict)
    remappings: list[tuple[str, str]] = field(default_factory=list)

    def command(self, python: str = sys.executable) -> list[str]:
        """Command line equivalent to what launch_ros runs for this node."""
        args = [python, "-m", self.module, "--ros-args", "-r", f"__node:={self.name}"]
        for path in self.parameter_files:
            args += ["--params-file", str(path)]
        for key, value in self.parameters.items():
            args += ["-p", f"{key}:={_ros_arg_value(value)}"]
        for source, target in self.remappings:
            args += ["-r", f"{source}:={target}"]
        return args


def _ros_arg_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class BringupOptions:
    """The launch arguments of detect.launch.py (see its descriptions)."""
    config_dir: Path
    checkpoint: str = ""
    calibration_file: str = ""
    camera_topic: str = "/camera/color/image_raw"
    camera_info_topic: str = "/camera/color/camera_info"
    start_bridge: bool = True
    robot: str = "sim"              # sim: start the simulated controller on loopback; real: connect
    robot_ip: str = "192.168.1.10"
    rmi_port: int = 16001
    armed: bool = False
    dry_run: bool = False
    replay_folder: str | None = None  # start the camera replay node on this folder ("" = bundled)
    replay_rate: float = 2.0
    image_reliability: str = ""     # detection node's image QoS; "": its config file's value

    def __post_init__(self):
        if self.robot not in ("sim", "real"):
            raise ValueError(f"robot must be 'sim' or 'real', got {self.robot!r}")


def node_specs(options: BringupOptions) -> list[NodeSpec]:
    """The nodes of the system for these options, in start order."""
    config = Path(options.config_dir)
    specs = []
    if options.replay_folder is not None:
        specs.append(NodeSpec(
            "camera_replay", f"{PACKAGE}.nodes.camera_replay_node", "camera_replay",
            # An empty folder means the bundled scenes: the node's default (rcl refuses `-p folder:=`).
            parameters={"rate": options.replay_rate,
                        **({"folder": options.replay_folder} if options.replay_folder else {})},
            remappings=[("image", options.camera_topic), ("camera_info", options.camera_info_topic)]))
    detection_parameters = {}
    if options.checkpoint:
        detection_parameters["checkpoint"] = options.checkpoint
    if options.calibration_file:
        detection_parameters["calibration_file"] = options.calibration_file
    if options.image_reliability:
        detection_parameters["image_reliability"] = options.image_reliability
    specs.append(NodeSpec(
        "detection_node", f"{PACKAGE}.nodes.detection_node", "grasp_detection",
        parameter_files=[str(config / "detection.yaml")], parameters=detection_parameters,
        remappings=[("image", options.camera_topic), ("camera_info", options.camera_info_topic)]))
    if options.start_bridge:
        host = "127.0.0.1" if options.robot == "sim" else options.robot_ip
        if options.robot == "sim":
            specs.append(NodeSpec(
                "sim_controller", f"{PACKAGE}.nodes.sim_controller_node", "fanuc_sim_controller",
                parameters={"host": host, "port": options.rmi_port}))
        specs.append(NodeSpec(
            "fanuc_bridge", f"{PACKAGE}.nodes.fanuc_bridge_node", "fanuc_bridge",
            parameter_files=[str(config / "fanuc_bridge.yaml")],
            parameters={"robot_ip": host, "rmi_port": options.rmi_port, "armed": options.armed,
                        "dry_run": options.dry_run}))
    return specs

"""Which processes make up the running system, with which parameters: one source for every starter.

``launch/detect.launch.py`` declares :data:`LAUNCH_ARGUMENTS`, turns the values it is given into
options with :func:`options_from_launch_arguments` and the options into launch_ros ``Node`` actions
(:func:`node_specs`). The demo and the benchmark call the same two functions with the arguments a
user would type (``replay:=true armed:=true``) and start the very same executables with the same
parameters and environment as plain processes, for machines where the ``launch`` packages are not
installed. Pure data: no ROS import here.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from grasp_scorer_ros.fanuc.pick_planner import SIMULATED_PART_PRESENT_PORT

PACKAGE = "grasp_scorer_ros"

# The launch file's arguments: name, default, description, choices (None: free text).
LAUNCH_ARGUMENTS = [
    ("checkpoint", "", "Model checkpoint (.pt); empty: the checkpoint bundled with the package", None),
    ("engine", "", "Where the detector's FE+PGP run: torch, onnxruntime, openvino or auto; empty: "
                   "detection.yaml's value (torch)", None),
    ("onnx_model", "", "ONNX graph for an ONNX engine (int8: the bundled model's int8 graph); empty: "
                       "detection.yaml's value", None),
    ("calibration_file", "", "Camera pose / work surface YAML (config/calibration.yaml documents it); "
                             "empty: detection.yaml's value", None),
    ("camera_topic", "/camera/color/image_raw", "sensor_msgs/Image topic of the overhead camera (with a "
                     "namespace, the default one is inside it)", None),
    ("camera_info_topic", "/camera/color/camera_info", "sensor_msgs/CameraInfo topic of that camera", None),
    ("depth_topic", "", "Optional depth image registered to that camera (16UC1 mm or 32FC1 m): grasp heights from "
                    "depth, grasps whose fingers would land on something refused; empty: none, except with "
                    "world:=physics or a replay of images with depth (the bundled scenes): their depth, on "
                    "/camera/aligned_depth_to_color/image_raw", None),
    ("namespace", "", "Namespace of this cell's nodes and topics (cell1: /cell1/grasp/best ...), so that "
                      "several cells run side by side on one graph", None),
    ("sim_port", "auto", "Port of the simulated controller (robot:=sim, world:=physics): auto, a free port "
                         "chosen at launch (so that cells on one machine never collide); or a number", None),
    ("start_bridge", "true", "Start the FANUC motion bridge", ["true", "false"]),
    ("robot", "sim", "sim: start the simulated RMI controller on loopback; real: connect to robot_ip",
     ["sim", "real"]),
    ("robot_ip", "192.168.1.10", "Controller address when robot:=real", None),
    ("armed", "false", "Let the bridge execute picks from the start (else arm it with its service)",
     ["true", "false"]),
    ("dry_run", "false", "Bridge logs the RMI packets it would send and sends nothing", ["true", "false"]),
    ("replay", "false", "Start the camera replay node (no camera needed)", ["true", "false"]),
    ("replay_folder", "", "Images for the replay node; empty: the bundled demo scenes", None),
    ("replay_rate", "2.0", "Frames per second of the replay node", None),
    ("world", "none", "physics: a MuJoCo pick cell stands in for the camera and the arm (its camera on "
                      "camera_topic, its simulated controller for the bridge; needs robot:=sim)", ["none", "physics"]),
]

# Where the physics world and the replay (of a folder with depth, as the bundled scenes) publish their
# depth unless depth_topic names another: RealSense's name for depth registered to the colour camera.
SIMULATED_DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"

# Fast DDS profile for the launched nodes (config/): shared-memory segments large enough for camera
# frames. With the default 512 KiB segment, a 480x480 rgb8 frame (691 KB) does not fit, and a
# best-effort writer (a camera replay, the debug image) loses it. Given to the nodes through the
# environment unless the user configures Fast DDS, or another RMW, already.
FASTDDS_PROFILE = "fastdds_large_images.xml"
FASTDDS_PROFILE_VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"       # Fast DDS 3 (Kilted and later)
FASTDDS_2_PROFILE_VARIABLE = "FASTRTPS_DEFAULT_PROFILES_FILE"     # Fast DDS 2 (Humble, Jazzy)
FASTDDS_2_DISTROS = ("humble", "iron", "jazzy")
FASTDDS_USER_VARIABLES = (FASTDDS_PROFILE_VARIABLE, FASTDDS_2_PROFILE_VARIABLE, "FASTDDS_BUILTIN_TRANSPORTS")


@dataclass
class NodeSpec:
    executable: str                 # `ros2 run grasp_scorer_ros <executable>`
    module: str                     # the same program as `python -m <module>`
    name: str
    parameter_files: list[str] = field(default_factory=list)
    parameters: dict = field(default_factory=dict)
    remappings: list[tuple[str, str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # added to the starter's environment
    namespace: str = ""             # the node's, and of its relative topics

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The process environment: ``base`` (default: this process's) plus :attr:`env`."""
        return {**(os.environ if base is None else base), **self.env}

    def command(self, python: str = sys.executable) -> list[str]:
        """Command line equivalent to what launch_ros runs for this node."""
        args = [python, "-m", self.module, "--ros-args", "-r", f"__node:={self.name}"]
        if self.namespace:
            args += ["-r", f"__ns:=/{self.namespace}"]
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
    engine: str = ""
    onnx_model: str = ""
    calibration_file: str = ""
    camera_topic: str = "/camera/color/image_raw"
    camera_info_topic: str = "/camera/color/camera_info"
    depth_topic: str = ""           # empty: none, or the simulated camera's (SIMULATED_DEPTH_TOPIC)
    start_bridge: bool = True
    robot: str = "sim"              # sim: start the simulated controller on loopback; real: connect
    robot_ip: str = "192.168.1.10"
    rmi_port: int = 16001           # the real controller's
    namespace: str = ""
    sim_port: str = "auto"          # the simulated controller's: auto (a free one) or a number
    armed: bool = False
    dry_run: bool = False
    replay_folder: str | None = None  # start the camera replay node on this folder ("" = bundled)
    replay_rate: float = 2.0
    world: str = "none"             # physics: the MuJoCo cell is the camera and the robot
    # The environment the nodes are started from (default: this process's): decides whether the
    # package's Fast DDS profile is added (see transport_environment).
    environment: Mapping[str, str] | None = None

    def __post_init__(self):
        if self.robot not in ("sim", "real"):
            raise ValueError(f"robot must be 'sim' or 'real', got {self.robot!r}")
        if not self.replay_rate > 0:
            raise ValueError(f"replay_rate must be positive, got {self.replay_rate}")
        if self.world not in ("none", "physics"):
            raise ValueError(f"world must be 'none' or 'physics', got {self.world!r}")
        if self.world == "physics" and self.robot != "sim":
            raise ValueError("world:=physics simulates the arm too: it needs robot:=sim")


def _as_bool(text: str) -> bool:
    return str(text).strip().lower() in ("1", "true", "yes", "on")


def launch_defaults() -> dict[str, str]:
    return {name: default for name, default, _, _ in LAUNCH_ARGUMENTS}


def options_from_launch_arguments(config_dir: Path, arguments: Mapping[str, str] | None = None,
                                  environment: Mapping[str, str] | None = None) -> BringupOptions:
    """The options ``ros2 launch grasp_scorer_ros detect.launch.py name:=value ...`` gives, from the
    typed arguments (missing ones take their defaults), as text like on the command line."""
    value = launch_defaults()
    unknown = set(arguments or {}) - set(value)
    if unknown:
        raise ValueError(f"unknown launch argument(s): {', '.join(sorted(unknown))}")
    value.update({name: str(v) for name, v in (arguments or {}).items()})
    try:
        rate = float(value["replay_rate"])
    except ValueError:
        raise ValueError(f"replay_rate must be a number, got {value['replay_rate']!r}") from None
    return BringupOptions(
        config_dir=Path(config_dir),
        checkpoint=value["checkpoint"],
        engine=value["engine"],
        onnx_model=value["onnx_model"],
        calibration_file=value["calibration_file"],
        camera_topic=value["camera_topic"],
        camera_info_topic=value["camera_info_topic"],
        depth_topic=value["depth_topic"],
        start_bridge=_as_bool(value["start_bridge"]),
        robot=value["robot"],
        robot_ip=value["robot_ip"],
        armed=_as_bool(value["armed"]),
        dry_run=_as_bool(value["dry_run"]),
        replay_folder=value["replay_folder"] if _as_bool(value["replay"]) else None,
        replay_rate=rate,
        world=value["world"],
        namespace=_namespace(value["namespace"]),
        sim_port=_sim_port(value["sim_port"]),
        environment=environment,
    )


def _namespace(value: str) -> str:
    name = value.strip("/")
    if name and not all(part.replace("_", "a").isalnum() and not part[0].isdigit() for part in name.split("/")):
        raise ValueError(f"namespace must be a ROS name (letters, digits, _ and /, not starting with a digit), "
                         f"got {value!r}")
    return name


def _sim_port(value: str) -> str:
    if value == "auto":
        return value
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ValueError(f"sim_port must be auto or a port number, got {value!r}")
    return value


def free_port() -> int:
    """A TCP port free on loopback now (the simulated controller binds it a moment later)."""
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def transport_environment(config_dir: Path, environment: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variables that give the nodes the package's Fast DDS profile; none when ``environment``
    already configures Fast DDS or selects another RMW than Fast DDS."""
    environment = os.environ if environment is None else environment
    rmw = environment.get("RMW_IMPLEMENTATION", "")
    if rmw and not rmw.startswith("rmw_fastrtps"):
        return {}
    if any(environment.get(name) for name in FASTDDS_USER_VARIABLES):
        return {}
    # Fast DDS 3 warns that the Fast DDS 2 variable is deprecated: give each its own.
    fastdds_2 = environment.get("ROS_DISTRO", "") in FASTDDS_2_DISTROS
    return {FASTDDS_2_PROFILE_VARIABLE if fastdds_2 else FASTDDS_PROFILE_VARIABLE:
            str(Path(config_dir) / FASTDDS_PROFILE)}


def node_specs(options: BringupOptions) -> list[NodeSpec]:
    """The nodes of the system for these options, in start order."""
    config = Path(options.config_dir)
    env = transport_environment(config, options.environment)
    specs = []
    simulated = options.world == "physics" or (options.start_bridge and options.robot == "sim")
    sim_port = (free_port() if options.sim_port == "auto" else int(options.sim_port)) if simulated else None
    camera = [(name, _in_namespace(topic, default, options.namespace)) for name, topic, default in (
        ("image", options.camera_topic, BringupOptions.camera_topic),
        ("camera_info", options.camera_info_topic, BringupOptions.camera_info_topic))]
    replay = options.replay_folder is not None and options.world != "physics"
    simulated_depth = options.world == "physics" or (replay and replay_has_depth(options.replay_folder))
    depth_topic = options.depth_topic or (SIMULATED_DEPTH_TOPIC if simulated_depth else "")
    depth = _in_namespace(depth_topic, SIMULATED_DEPTH_TOPIC, options.namespace) if depth_topic else ""
    if options.world == "physics":
        specs.append(NodeSpec(
            "physics_world", f"{PACKAGE}.nodes.physics_world_node", "physics_world",
            parameters={"port": sim_port,
                        **({"calibration_file": options.calibration_file} if options.calibration_file else {})},
            remappings=camera + [("depth", depth)],
            env={**env, "MUJOCO_GL": (options.environment or os.environ).get("MUJOCO_GL", "egl")}))
    if replay:
        specs.append(NodeSpec(
            "camera_replay", f"{PACKAGE}.nodes.camera_replay_node", "camera_replay",
            # An empty folder means the bundled scenes: the node's default (rcl refuses `-p folder:=`).
            parameters={"rate": options.replay_rate,
                        **({"folder": options.replay_folder} if options.replay_folder else {})},
            remappings=camera + ([("depth", depth)] if depth else []),
            env=env))
    detection_parameters = {}
    for name in ("checkpoint", "engine", "onnx_model"):   # empty: detection.yaml's value
        if getattr(options, name):
            detection_parameters[name] = getattr(options, name)
    if options.calibration_file:
        detection_parameters["calibration_file"] = options.calibration_file
    if depth:
        detection_parameters["depth_topic"] = depth
    specs.append(NodeSpec(
        "detection_node", f"{PACKAGE}.nodes.detection_node", "grasp_detection",
        parameter_files=[str(config / "detection.yaml")], parameters=detection_parameters,
        remappings=camera,
        env=env))
    if options.start_bridge:
        host = "127.0.0.1" if options.robot == "sim" else options.robot_ip
        if options.robot == "sim" and options.world != "physics":
            specs.append(NodeSpec(
                "sim_controller", f"{PACKAGE}.nodes.sim_controller_node", "fanuc_sim_controller",
                parameters={"host": host, "port": sim_port}, env=env))
        specs.append(NodeSpec(
            "fanuc_bridge", f"{PACKAGE}.nodes.fanuc_bridge_node", "fanuc_bridge",
            parameter_files=[str(config / "fanuc_bridge.yaml")],
            parameters={"robot_ip": host, "rmi_port": sim_port if options.robot == "sim" else options.rmi_port,
                        "armed": options.armed, "dry_run": options.dry_run,
                        # a simulated cell has a part-present sensor: its picks are verified
                        **({"pick.part_present_port": SIMULATED_PART_PRESENT_PORT} if simulated else {})},
            env=env))
    for spec in specs:
        spec.namespace = options.namespace
    return specs


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")   # as the replay node reads


def replay_has_depth(folder: str) -> bool:
    """Whether a replay of ``folder`` ("" = the bundled scenes) publishes depth: one of its images has
    a depth image (camera.depth.depth_path)."""
    from grasp_scorer_ros import bundled
    from grasp_scorer_ros.camera.depth import depth_path
    path = Path(folder) if folder else bundled.demo_scenes_dir()
    if not path.is_dir():
        return False    # the replay node says why it cannot start
    return any(depth_path(image) is not None for image in path.iterdir() if image.suffix.lower() in IMAGE_SUFFIXES)


def _in_namespace(topic: str, default: str, namespace: str) -> str:
    """The default camera topics live inside the cell's namespace; a topic the user named stays as named."""
    return topic.lstrip("/") if namespace and topic == default else topic

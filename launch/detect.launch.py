"""Grasp detection and the FANUC bridge: `ros2 launch grasp_scorer_ros detect.launch.py`.

Examples:
  ros2 launch grasp_scorer_ros detect.launch.py camera_topic:=/camera/color/image_raw
  ros2 launch grasp_scorer_ros detect.launch.py robot:=real robot_ip:=192.168.1.10 armed:=true
  ros2 launch grasp_scorer_ros detect.launch.py replay:=true        # no camera: bundled scenes

The node list itself lives in grasp_scorer_ros/app/bringup.py, shared with the demo that starts the
same nodes without the launch packages.
"""
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from grasp_scorer_ros.app.bringup import BringupOptions, node_specs

ARGUMENTS = [
    # name, default, description, choices
    ("checkpoint", "", "Model checkpoint (.pt); empty: the checkpoint bundled with the package", None),
    ("calibration_file", "", "Camera pose / work surface YAML (config/calibration.yaml documents it); "
                             "empty: detection.yaml's value", None),
    ("camera_topic", "/camera/color/image_raw", "sensor_msgs/Image topic of the overhead camera", None),
    ("camera_info_topic", "/camera/color/camera_info", "sensor_msgs/CameraInfo topic of that camera", None),
    ("start_bridge", "true", "Start the FANUC motion bridge", ["true", "false"]),
    ("robot", "sim", "sim: start the simulated RMI controller on loopback; real: connect to robot_ip",
     ["sim", "real"]),
    ("robot_ip", "192.168.1.10", "Controller address when robot:=real", None),
    ("armed", "false", "Let the bridge execute picks from the start (else arm it with its service)",
     ["true", "false"]),
    ("dry_run", "false", "Bridge logs the RMI packets it would send and sends nothing", ["true", "false"]),
    ("replay", "false", "Start the camera replay node (no camera needed)", ["true", "false"]),
    ("replay_folder", "", "Images for the replay node; empty: the bundled demo scenes", None),
]


def _as_bool(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def _nodes(context):
    value = {name: LaunchConfiguration(name).perform(context) for name, *_ in ARGUMENTS}
    options = BringupOptions(
        config_dir=Path(get_package_share_directory("grasp_scorer_ros")) / "config",
        checkpoint=value["checkpoint"],
        calibration_file=value["calibration_file"],
        camera_topic=value["camera_topic"],
        camera_info_topic=value["camera_info_topic"],
        start_bridge=_as_bool(value["start_bridge"]),
        robot=value["robot"],
        robot_ip=value["robot_ip"],
        armed=_as_bool(value["armed"]),
        dry_run=_as_bool(value["dry_run"]),
        replay_folder=value["replay_folder"] if _as_bool(value["replay"]) else None,
    )
    return [
        Node(package="grasp_scorer_ros", executable=spec.executable, name=spec.name, output="screen",
             parameters=[*spec.parameter_files, spec.parameters], remappings=spec.remappings)
        for spec in node_specs(options)
    ]


def generate_launch_description():
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=description,
                              **({"choices": choices} if choices else {}))
        for name, default, description, choices in ARGUMENTS
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=_nodes)])

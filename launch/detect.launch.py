"""Grasp detection and the FANUC bridge: `ros2 launch grasp_scorer_ros detect.launch.py`.

Examples:
  ros2 launch grasp_scorer_ros detect.launch.py camera_topic:=/camera/color/image_raw
  ros2 launch grasp_scorer_ros detect.launch.py robot:=real robot_ip:=192.168.1.10 armed:=true
  ros2 launch grasp_scorer_ros detect.launch.py replay:=true        # no camera: bundled scenes
  ros2 launch grasp_scorer_ros detect.launch.py world:=physics armed:=true   # a MuJoCo cell is camera and arm

The arguments and the node list live in grasp_scorer_ros/app/bringup.py, shared with the demo and
the benchmark, which start the same nodes without the launch packages.

The detection node is required: when it ends (it cannot start without its checkpoint and
calibration, and says why in one line), the whole launch shuts down, and once every node has
stopped the launch repeats that line as its last word.
"""
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit, OnProcessIO
from launch.events import Shutdown
from launch.logging import get_logger
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from grasp_scorer_ros.app.bringup import LAUNCH_ARGUMENTS, node_specs, options_from_launch_arguments

DETECTOR = "grasp_detection"


class _Ending:
    """Why the launch ends, told after the last node has stopped."""

    def __init__(self, names):
        self.running = set(names)
        self.detector_said = []     # the detector's stderr lines
        self.reason = None

    def on_detector_stderr(self, event):
        self.detector_said += [line for line in event.text.decode(errors="replace").splitlines() if line.strip()]

    def on_detector_exit(self, event, context):
        if event.returncode == 0:
            reason = f"{DETECTOR} stopped"
        else:
            said = self.detector_said[-1] if self.detector_said else "no message"
            reason = f"{DETECTOR} exited with code {event.returncode}: {said}"
            self.reason = reason
        return [EmitEvent(event=Shutdown(reason=reason))]

    def on_exit(self, name):
        def handler(event, context):
            self.running.discard(name)
            if not self.running and self.reason:
                get_logger("launch").error(f"launch ended because {self.reason}")
        return handler


def _nodes(context):
    options = options_from_launch_arguments(
        Path(get_package_share_directory("grasp_scorer_ros")) / "config",
        {name: LaunchConfiguration(name).perform(context) for name, *_ in LAUNCH_ARGUMENTS},
        environment=dict(context.environment))
    specs = node_specs(options)
    ending = _Ending(spec.name for spec in specs)
    actions = []
    for spec in specs:
        node = Node(package="grasp_scorer_ros", executable=spec.executable, name=spec.name, output="screen",
                    namespace=spec.namespace or None,
                    parameters=[*spec.parameter_files, spec.parameters], remappings=spec.remappings,
                    additional_env=spec.env,
                    on_exit=ending.on_detector_exit if spec.name == DETECTOR else None)
        actions.append(node)
        actions.append(RegisterEventHandler(OnProcessExit(target_action=node, on_exit=ending.on_exit(spec.name))))
        if spec.name == DETECTOR:
            actions.append(RegisterEventHandler(OnProcessIO(target_action=node,
                                                            on_stderr=ending.on_detector_stderr)))
    return actions


def generate_launch_description():
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=description,
                              **({"choices": choices} if choices else {}))
        for name, default, description, choices in LAUNCH_ARGUMENTS
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=_nodes)])

"""The FANUC side of the bridge, free of ROS: RMI protocol and client, pick planning and execution.
What runs on a real cell; the stand-ins for the controller and the world live in
:mod:`grasp_scorer_ros.sim`, which this package never imports.

* :mod:`.rmi_protocol`   packets, framing, ErrorID table
* :mod:`.rmi_client`     :class:`RMIClient`, one RMI session over TCP (or a dry run)
* :mod:`.dry_run`        :class:`DryRunController`, what a dry-run client talks to instead
* :mod:`.motion_limits`  :class:`MotionLimits`, the envelope every move is checked against
* :mod:`.pick_planner`   :func:`plan_pick`: grasp pose to checked moves and gripper actions
* :mod:`.pick_executor`  :func:`execute_pick`: sends a plan, gripper only after the arm arrived
* :mod:`.cell`           :class:`PickCell`, every safety rule of the bridge (arming, faults, stall
  watchdog, gripper state) around one client
"""
from grasp_scorer_ros.fanuc.cell import CellConfig, CellStatus, GraspRequest, Outcome, PickCell, PickJob
from grasp_scorer_ros.fanuc.motion_limits import MotionLimits
from grasp_scorer_ros.fanuc.pick_executor import (PickAborted, PickExecutionError, execute_pick,
                                                  prepare_controller)
from grasp_scorer_ros.fanuc.pick_planner import PickConfig, PickRejected, PickStep, plan_pick
from grasp_scorer_ros.fanuc.rmi_client import (ControllerStatus, InstructionHandle, RMIAborted,
                                               RMIClient, RMIConnectionLost, RMIError, RMIException,
                                               RMIFault, RMINotReady, RMITerminated, RMITimeout)
from grasp_scorer_ros.fanuc.rmi_protocol import Configuration, Position, describe_error

__all__ = [
    "CellConfig", "CellStatus", "GraspRequest", "MotionLimits", "Outcome", "PickCell", "PickJob",
    "Configuration", "ControllerStatus", "InstructionHandle", "PickAborted", "PickConfig",
    "PickExecutionError", "PickRejected", "PickStep", "Position", "RMIAborted", "RMIClient",
    "RMIConnectionLost", "RMIError", "RMIException", "RMIFault", "RMINotReady", "RMITerminated",
    "RMITimeout", "describe_error", "execute_pick", "plan_pick",
    "prepare_controller",
]

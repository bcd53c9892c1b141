"""Field checks of RMI packets, as strict as the manual (B-84184EN): pure functions of a packet dict.

The simulated controller (:mod:`.sim_controller`) checks every packet field by field with these,
so that it catches a client's mistakes; they need no controller, and the tests run them on a table
of packets.

* A field the manual gives a default for may be left out (``Group`` and ``GroupMask`` 1,
  ``FRC_ReadError``'s ``Count`` 1, a FINE move's ``TermValue`` 0), as FANUC's own driver and the
  PyPI client ``fanuc-rmi`` send them: :func:`int_field_or_default`.
* A wrong field, or a missing one without a default, is refused with the alarm that names it
  (``GroupMask`` RMIT-040, ``Group`` RMIT-039, ``SpeedType`` RMIT-030, ``Speed`` (an integer, as in
  the manual's packets) RMIT-031, ``TermType``/``TermValue`` RMIT-032/033,
  ``Position``/``JointAngle``/``Configuration`` RMIT-023, frame numbers RMIT-003/002, ports
  RMIT-038, ``SequenceID``/``Count``/``Time``/``Frame`` RMIT-021). :func:`instruction_field_error`
  gives that alarm for an instruction's fields; the commands apply the same field checks to theirs.

A field check returns the value, or None where the field is missing or mistyped (a ``bool`` is not
an integer, a NaN or infinity not a number).
"""
from __future__ import annotations

import math
from typing import Callable, Optional

from grasp_scorer_ros.fanuc import rmi_protocol as rmi
from grasp_scorer_ros.sim.arm_motion import JOINT_SPEED_TYPE, LINEAR_SPEED_TYPES, TIME_SPEED_TYPES
from grasp_scorer_ros.sim.sim_arm import JOINTS

PORTS = range(1, 513)                               # digital input and output port numbers
UFRAMES, UTOOLS = range(0, 10), range(1, 11)        # user frame 0 is the world
POSITION_KEYS = ("X", "Y", "Z", "W", "P", "R")
FLAG_KEYS = ("Front", "Up", "Left", "Flip", "Turn4", "Turn5", "Turn6")
LINEAR_MOTIONS = ("FRC_LinearMotion", "FRC_LinearRelative")
JOINT_MOTIONS = ("FRC_JointMotionJRep", "FRC_JointRelativeJRep")
MOTIONS = LINEAR_MOTIONS + JOINT_MOTIONS
LINEAR_MOTION_SPEED_TYPES = (*LINEAR_SPEED_TYPES, *TIME_SPEED_TYPES)
JOINT_MOTION_SPEED_TYPES = (JOINT_SPEED_TYPE, *TIME_SPEED_TYPES)


# -- the field checks: the value, or None when missing or mistyped ----------------------------------
def int_field(packet: dict, key: str, allowed: Optional[range] = None) -> Optional[int]:
    """``packet[key]`` where it is an integer (not a ``bool``), in ``allowed`` when given; else None."""
    value = packet.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or (allowed is not None and value not in allowed):
        return None
    return value


def int_field_or_default(packet: dict, key: str, default: int, allowed: Optional[range] = None) -> Optional[int]:
    """``key``'s integer, ``default`` where the packet leaves it out (the manual's default), None
    where it is there but not allowed."""
    return default if key not in packet else int_field(packet, key, allowed)


def number_field(packet: dict, key: str) -> Optional[float]:
    """``packet[key]`` as a float where it is a finite number (an integer or a float, not a
    ``bool``); else None."""
    value = packet.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return float(value)


def number_fields(packet: dict, key: str, names: tuple[str, ...]) -> Optional[tuple[float, ...]]:
    """The numbers ``names`` of the block ``packet[key]`` (e.g. ``Position``'s X, Y, Z, W, P, R), in
    that order; None where the block is not an object or one of them is not a finite number."""
    block = packet.get(key)
    if not isinstance(block, dict):
        return None
    values = tuple(number_field(block, k) for k in names)
    return None if None in values else values


# -- the alarm of an instruction's fields ---------------------------------------------------------
def instruction_field_error(name: str, packet: dict) -> int:
    """The ErrorID of the first missing or mistyped field of the instruction ``name`` (0: none;
    RMIT-020 for an instruction the simulated controller does not implement). Only the fields:
    the controller's state (servo, pendant, sequence IDs, ...) is the controller's to check."""
    check = INSTRUCTION_CHECKS.get(name)
    return rmi.RMIT_INVALID_INSTRUCTION if check is None else check(packet)


def _wait_time_error(packet: dict) -> int:
    time_s = number_field(packet, "Time")
    return 0 if time_s is not None and time_s >= 0 else rmi.RMIT_INVALID_VALUE


def _wait_din_error(packet: dict) -> int:
    if int_field(packet, "PortNumber", PORTS) is None:
        return rmi.RMIT_INVALID_PORT_NUMBER
    return 0 if packet.get("PortValue") in ("ON", "OFF") else rmi.RMIT_INVALID_VALUE


def _set_uframe_error(packet: dict) -> int:
    return 0 if int_field(packet, "FrameNumber", UFRAMES) is not None else rmi.RMIT_INVALID_UFRAME


def _set_utool_error(packet: dict) -> int:
    return 0 if int_field(packet, "ToolNumber", UTOOLS) is not None else rmi.RMIT_INVALID_UTOOL


def _speed_and_term_error(packet: dict, speed_types: tuple[str, ...]) -> int:
    """A motion's ``SpeedType`` (one of ``speed_types``), ``Speed``, ``TermType`` and ``TermValue``."""
    if packet.get("SpeedType") not in speed_types:
        return rmi.RMIT_INVALID_SPEED_TYPE
    speed = int_field(packet, "Speed")
    if speed is None or speed <= 0 or (packet["SpeedType"] == JOINT_SPEED_TYPE and speed > 100):
        return rmi.RMIT_INVALID_SPEED_VALUE
    if packet.get("TermType") not in rmi.TERM_TYPES:
        return rmi.RMIT_INVALID_TERM_TYPE
    # TermValue matters to CNT (1-100) only; a FINE (or CR) move may leave it out
    if packet["TermType"] == "CNT":
        term = int_field(packet, "TermValue")
    else:
        term = int_field_or_default(packet, "TermValue", 0)
    if term is None or term < 0 or (packet["TermType"] == "CNT" and not 1 <= term <= 100):
        return rmi.RMIT_INVALID_TERM_VALUE
    return 0


def _linear_motion_error(packet: dict) -> int:
    error = _speed_and_term_error(packet, LINEAR_MOTION_SPEED_TYPES)
    if error:
        return error
    configuration = packet.get("Configuration")
    if not isinstance(configuration, dict) or any(int_field(configuration, k) is None for k in FLAG_KEYS):
        return rmi.RMIT_INVALID_POSITION_DATA
    if int_field(configuration, "UFrameNumber", UFRAMES) is None:
        return rmi.RMIT_INVALID_UFRAME
    if int_field(configuration, "UToolNumber", UTOOLS) is None:
        return rmi.RMIT_INVALID_UTOOL
    return 0 if number_fields(packet, "Position", POSITION_KEYS) is not None else rmi.RMIT_INVALID_POSITION_DATA


def _joint_motion_error(packet: dict) -> int:
    error = _speed_and_term_error(packet, JOINT_MOTION_SPEED_TYPES)
    if error:
        return error
    return 0 if number_fields(packet, "JointAngle", JOINTS) is not None else rmi.RMIT_INVALID_POSITION_DATA


# The instructions the simulated controller implements, each with the check of its fields.
INSTRUCTION_CHECKS: dict[str, Callable[[dict], int]] = {
    "FRC_LinearMotion": _linear_motion_error,
    "FRC_LinearRelative": _linear_motion_error,
    "FRC_JointMotionJRep": _joint_motion_error,
    "FRC_JointRelativeJRep": _joint_motion_error,
    "FRC_WaitTime": _wait_time_error,
    "FRC_WaitDIN": _wait_din_error,
    "FRC_SetUFrame": _set_uframe_error,
    "FRC_SetUTool": _set_utool_error,
}
INSTRUCTIONS = tuple(INSTRUCTION_CHECKS)

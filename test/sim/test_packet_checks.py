"""The simulated controller's field checks, on a table of packets: no controller, no sockets."""
import math

import pytest

from grasp_scorer_ros.fanuc import rmi_protocol as rmi
from grasp_scorer_ros.sim.packet_checks import (INSTRUCTIONS, instruction_field_error, int_field,
                                                int_field_or_default, number_field, number_fields)

CONFIG = {"UToolNumber": 1, "UFrameNumber": 0, "Front": 1, "Up": 1, "Left": 0, "Flip": 0,
          "Turn4": 0, "Turn5": 0, "Turn6": 0}
POSITION = {"X": 500.0, "Y": 0.0, "Z": 300.0, "W": 180.0, "P": 0.0, "R": 0.0}
JOINT_ANGLES = {"J1": 0.0, "J2": 10.0, "J3": -5.0, "J4": 0.0, "J5": -90.0, "J6": 0}


def linear(**changes):
    """A good FRC_LinearMotion (the manual's), with ``changes`` (None: the field left out)."""
    packet = {"Instruction": "FRC_LinearMotion", "SequenceID": 1, "Configuration": dict(CONFIG),
              "Position": dict(POSITION), "SpeedType": "mmSec", "Speed": 100, "TermType": "FINE",
              "TermValue": 0}
    return _changed(packet, changes)


def joint(**changes):
    packet = {"Instruction": "FRC_JointMotionJRep", "SequenceID": 1, "JointAngle": dict(JOINT_ANGLES),
              "SpeedType": "Percent", "Speed": 50, "TermType": "FINE", "TermValue": 0}
    return _changed(packet, changes)


def _changed(packet, changes):
    for key, value in changes.items():
        if value is None:
            packet.pop(key, None)
        else:
            packet[key] = value
    return packet


# -- the field checks ---------------------------------------------------------------------------
@pytest.mark.parametrize("value, allowed, expected", [
    (3, None, 3), (0, None, 0), (-2, None, -2),
    (3, range(1, 4), 3), (4, range(1, 4), None), (0, range(1, 4), None),
    (True, None, None), (False, None, None),          # a bool is not an integer
    (3.0, None, None), ("3", None, None), (None, None, None), ([3], None, None),
])
def test_int_field(value, allowed, expected):
    assert int_field({"Key": value}, "Key", allowed) == expected


def test_int_field_of_a_missing_key():
    assert int_field({}, "Key") is None


@pytest.mark.parametrize("packet, expected", [
    ({}, 1),                         # left out: the manual's default
    ({"Group": 1}, 1),
    ({"Group": 2}, None),            # there, but not allowed
    ({"Group": "1"}, None),
    ({"Group": None}, None),         # there (as null): not left out
])
def test_int_field_or_default(packet, expected):
    assert int_field_or_default(packet, "Group", 1, range(1, 2)) == expected


@pytest.mark.parametrize("value, expected", [
    (1, 1.0), (2.5, 2.5), (-0.0, 0.0),
    (math.nan, None), (math.inf, None), (-math.inf, None),
    (True, None), ("2.5", None), (None, None), ({}, None),
])
def test_number_field(value, expected):
    got = number_field({"Time": value}, "Time")
    assert got == expected and (got is None or isinstance(got, float))


@pytest.mark.parametrize("block, expected", [
    (POSITION, (500.0, 0.0, 300.0, 180.0, 0.0, 0.0)),
    ({**POSITION, "Extra": "ignored"}, (500.0, 0.0, 300.0, 180.0, 0.0, 0.0)),
    ({k: v for k, v in POSITION.items() if k != "R"}, None),      # one missing
    ({**POSITION, "Z": "300"}, None),                             # one not a number
    ({**POSITION, "W": math.nan}, None),
    ([500.0, 0.0, 300.0, 180.0, 0.0, 0.0], None),                 # not an object
    (None, None),
])
def test_number_fields(block, expected):
    assert number_fields({"Position": block}, "Position", ("X", "Y", "Z", "W", "P", "R")) == expected


# -- the alarm of an instruction's fields ------------------------------------------------------------
OK = 0
INSTRUCTION_TABLE = [
    # good packets, including the fields the manual gives a default for left out
    ("linear motion, as the manual prints it", linear(), OK),
    ("linear relative", _changed(linear(), {"Instruction": "FRC_LinearRelative"}), OK),
    ("FINE without TermValue", linear(TermValue=None), OK),
    ("CR without TermValue", linear(TermType="CR", TermValue=None), OK),
    ("CNT 50", linear(TermType="CNT", TermValue=50), OK),
    ("InchMin", linear(SpeedType="InchMin"), OK),
    ("a time in ms", linear(SpeedType="mSec", Speed=1500), OK),
    ("a time in s", linear(SpeedType="Time", Speed=2), OK),
    ("user frame 9, tool 10", linear(Configuration={**CONFIG, "UFrameNumber": 9, "UToolNumber": 10}), OK),
    ("integer coordinates", linear(Position={**POSITION, "X": 500}), OK),
    ("joint motion", joint(), OK),
    ("joint relative", _changed(joint(), {"Instruction": "FRC_JointRelativeJRep"}), OK),
    ("joint at 100 %", joint(Speed=100), OK),
    ("joint in ms", joint(SpeedType="mSec", Speed=800), OK),
    ("wait time", {"Instruction": "FRC_WaitTime", "SequenceID": 1, "Time": 0.5}, OK),
    ("wait no time", {"Instruction": "FRC_WaitTime", "SequenceID": 1, "Time": 0}, OK),
    ("wait for DI 512 ON", {"Instruction": "FRC_WaitDIN", "SequenceID": 1, "PortNumber": 512, "PortValue": "ON"}, OK),
    ("set user frame 0", {"Instruction": "FRC_SetUFrame", "SequenceID": 1, "FrameNumber": 0}, OK),
    ("set tool 10", {"Instruction": "FRC_SetUTool", "SequenceID": 1, "ToolNumber": 10}, OK),
    # bad packets: the alarm that names the field
    ("unknown instruction", _changed(linear(), {"Instruction": "FRC_CircularMotion"}), rmi.RMIT_INVALID_INSTRUCTION),
    ("no SpeedType", linear(SpeedType=None), rmi.RMIT_INVALID_SPEED_TYPE),
    ("Percent on a linear move", linear(SpeedType="Percent"), rmi.RMIT_INVALID_SPEED_TYPE),
    ("mmSec on a joint move", joint(SpeedType="mmSec"), rmi.RMIT_INVALID_SPEED_TYPE),
    ("a speed that is not an integer", linear(Speed=100.0), rmi.RMIT_INVALID_SPEED_VALUE),
    ("no speed", linear(Speed=None), rmi.RMIT_INVALID_SPEED_VALUE),
    ("speed 0", linear(Speed=0), rmi.RMIT_INVALID_SPEED_VALUE),
    ("speed as a bool", linear(Speed=True), rmi.RMIT_INVALID_SPEED_VALUE),
    ("joint speed over 100 %", joint(Speed=101), rmi.RMIT_INVALID_SPEED_VALUE),
    ("unknown TermType", linear(TermType="SMOOTH"), rmi.RMIT_INVALID_TERM_TYPE),
    ("no TermType", linear(TermType=None), rmi.RMIT_INVALID_TERM_TYPE),
    ("CNT without TermValue", linear(TermType="CNT", TermValue=None), rmi.RMIT_INVALID_TERM_VALUE),
    ("CNT 0", linear(TermType="CNT", TermValue=0), rmi.RMIT_INVALID_TERM_VALUE),
    ("CNT 101", linear(TermType="CNT", TermValue=101), rmi.RMIT_INVALID_TERM_VALUE),
    ("FINE with a negative TermValue", linear(TermValue=-1), rmi.RMIT_INVALID_TERM_VALUE),
    ("FINE with a TermValue that is not an integer", linear(TermValue="0"), rmi.RMIT_INVALID_TERM_VALUE),
    ("no Configuration", linear(Configuration=None), rmi.RMIT_INVALID_POSITION_DATA),
    ("a flag left out", linear(Configuration={k: v for k, v in CONFIG.items() if k != "Turn6"}),
     rmi.RMIT_INVALID_POSITION_DATA),
    ("a flag as a bool", linear(Configuration={**CONFIG, "Flip": False}), rmi.RMIT_INVALID_POSITION_DATA),
    ("user frame 10", linear(Configuration={**CONFIG, "UFrameNumber": 10}), rmi.RMIT_INVALID_UFRAME),
    ("no user frame", linear(Configuration={k: v for k, v in CONFIG.items() if k != "UFrameNumber"}),
     rmi.RMIT_INVALID_UFRAME),
    ("tool 0", linear(Configuration={**CONFIG, "UToolNumber": 0}), rmi.RMIT_INVALID_UTOOL),
    ("no Position", linear(Position=None), rmi.RMIT_INVALID_POSITION_DATA),
    ("a coordinate that is not a number", linear(Position={**POSITION, "Z": "300"}), rmi.RMIT_INVALID_POSITION_DATA),
    ("a NaN coordinate", linear(Position={**POSITION, "P": math.nan}), rmi.RMIT_INVALID_POSITION_DATA),
    ("a joint left out", joint(JointAngle={k: v for k, v in JOINT_ANGLES.items() if k != "J6"}),
     rmi.RMIT_INVALID_POSITION_DATA),
    ("no JointAngle", joint(JointAngle=None), rmi.RMIT_INVALID_POSITION_DATA),
    ("negative wait", {"Instruction": "FRC_WaitTime", "SequenceID": 1, "Time": -1}, rmi.RMIT_INVALID_VALUE),
    ("wait without Time", {"Instruction": "FRC_WaitTime", "SequenceID": 1}, rmi.RMIT_INVALID_VALUE),
    ("wait for DI 0", {"Instruction": "FRC_WaitDIN", "SequenceID": 1, "PortNumber": 0, "PortValue": "ON"},
     rmi.RMIT_INVALID_PORT_NUMBER),
    ("wait for DI 513", {"Instruction": "FRC_WaitDIN", "SequenceID": 1, "PortNumber": 513, "PortValue": "ON"},
     rmi.RMIT_INVALID_PORT_NUMBER),
    ("wait for DI 1 true", {"Instruction": "FRC_WaitDIN", "SequenceID": 1, "PortNumber": 1, "PortValue": True},
     rmi.RMIT_INVALID_VALUE),
    ("set user frame 10", {"Instruction": "FRC_SetUFrame", "SequenceID": 1, "FrameNumber": 10},
     rmi.RMIT_INVALID_UFRAME),
    ("set tool 0", {"Instruction": "FRC_SetUTool", "SequenceID": 1, "ToolNumber": 0}, rmi.RMIT_INVALID_UTOOL),
    # the first bad field decides
    ("bad speed and bad position", linear(Speed=0, Position=None), rmi.RMIT_INVALID_SPEED_VALUE),
    ("bad user frame and bad tool", linear(Configuration={**CONFIG, "UFrameNumber": -1, "UToolNumber": 0}),
     rmi.RMIT_INVALID_UFRAME),
]


@pytest.mark.parametrize("packet, expected", [(p, e) for _, p, e in INSTRUCTION_TABLE],
                         ids=[name for name, _, _ in INSTRUCTION_TABLE])
def test_instruction_field_error(packet, expected):
    got = instruction_field_error(packet["Instruction"], packet)
    assert got == expected, f"{rmi.describe_error(got)}, expected {rmi.describe_error(expected)}"


def test_every_implemented_instruction_is_in_the_table():
    covered = {packet["Instruction"] for _, packet, expected in INSTRUCTION_TABLE if expected == OK}
    assert covered == set(INSTRUCTIONS)

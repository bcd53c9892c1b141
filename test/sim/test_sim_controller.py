"""The simulated controller answers like the RMI manual says; driven here over raw sockets.

Covers sim/sim_controller.py with its parts sim/rmi_server.py and sim/arm_motion.py (the packet checks
and the arm's kinematics have their own files: test_packet_checks.py, test_sim_arm.py)."""
import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grasp_scorer_ros.fanuc import rmi_protocol as rmi
from grasp_scorer_ros.fanuc.rmi_protocol import Position
from grasp_scorer_ros.sim.sim_controller import PROGRAM_PAUSED, SimulatedController

REPO = Path(__file__).resolve().parents[2]
CONFIG = {"UToolNumber": 1, "UFrameNumber": 0, "Front": 1, "Up": 1, "Left": 0, "Flip": 0,
          "Turn4": 0, "Turn5": 0, "Turn6": 0}


class RawSession:
    """A bare-bones RMI client: the handshake, then packets in and out."""

    def __init__(self, sim: SimulatedController):
        self.connect_reply = self.handshake(sim)
        self.sock = socket.create_connection(("127.0.0.1", self.connect_reply["PortNumber"]), timeout=2.0)
        self.reader = rmi.PacketReader()
        self.inbox: list[dict] = []

    @staticmethod
    def handshake(sim: SimulatedController) -> dict:
        with socket.create_connection(("127.0.0.1", sim.port), timeout=2.0) as s:
            s.sendall(rmi.encode_packet(rmi.connect_packet()))
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(4096)
                assert chunk, "connect port closed without a reply"
                data += chunk
            assert s.recv(4096) == b""          # the controller closes the connect socket
        return json.loads(data)

    def send(self, packet: dict) -> None:
        self.sock.sendall(rmi.encode_packet(packet))

    def recv(self, timeout: float = 2.0) -> dict:
        deadline = time.monotonic() + timeout
        while not self.inbox:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no packet")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed")
            self.inbox += self.reader.feed(chunk)
        return self.inbox.pop(0)

    def nothing_within(self, seconds: float) -> bool:
        try:
            self.recv(seconds)
        except (TimeoutError, socket.timeout):
            return True
        return False

    def request(self, packet: dict) -> dict:
        self.send(packet)
        return self.recv()

    def close(self) -> None:
        self.sock.close()


def move(seq: int, x: float = 500.0, y: float = 0.0, z: float = 300.0, speed: int = 100) -> dict:
    return {"Instruction": "FRC_LinearMotion", "SequenceID": seq, "Configuration": CONFIG,
            "Position": {"X": x, "Y": y, "Z": z, "W": 180.0, "P": 0.0, "R": 0.0},
            "SpeedType": "mmSec", "Speed": speed, "TermType": "FINE", "TermValue": 0}


@pytest.fixture
def session(sim):
    s = RawSession(sim)
    yield s
    s.close()


@pytest.fixture
def ready_session(session):
    assert session.request(rmi.initialize_packet())["ErrorID"] == 0
    return session


def test_connect_hands_off_to_the_named_port(sim, session):
    reply = session.connect_reply
    assert reply["Communication"] == "FRC_Connect" and reply["ErrorID"] == 0
    assert reply["PortNumber"] == sim.handoff_port != sim.port
    assert {"MajorVersion", "MinorVersion"} <= set(reply)
    assert sim.wait_until(lambda: sim.connected)
    status = session.request(rmi.get_status_packet())
    assert status["ErrorID"] == 0 and status["ServoReady"] == 1 and status["TPMode"] == 0


def test_one_client_at_a_time(sim, session):
    assert sim.wait_until(lambda: sim.connected)
    assert RawSession.handshake(sim)["ErrorID"] == rmi.RMIT_ALREADY_CONNECTED


def test_handoff_port_refuses_a_client_that_did_not_connect(sim):
    with socket.create_connection(("127.0.0.1", sim.handoff_port), timeout=2.0) as s:
        assert s.recv(4096) == b""
    assert not sim.connected


def test_motion_needs_initialize_and_ids_restart_at_one(sim, session):
    assert session.request(move(1))["ErrorID"] == rmi.RMIT_NOT_RUNNING
    init = session.request(rmi.initialize_packet())
    assert init["ErrorID"] == 0 and init["GroupMask"] == 1
    assert session.request(rmi.initialize_packet())["ErrorID"] == rmi.MEMO_PROGRAM_IN_USE
    status = session.request(rmi.get_status_packet())
    assert status["RMIMotionStatus"] == 1 and status["ProgramStatus"] == 0 and status["NextSequenceID"] == 1
    for seq in (1, 2):
        session.send(move(seq, z=300 - seq))
        assert session.recv() == {"Instruction": "FRC_LinearMotion", "ErrorID": 0, "SequenceID": seq}
    assert session.request(rmi.abort_packet())["ErrorID"] == 0
    assert session.request(rmi.initialize_packet())["ErrorID"] == 0
    assert session.request(move(1))["ErrorID"] == 0


def test_servo_off_and_pendant_enabled_refuse_motion(sim, ready_session):
    sim.servo_ready = False
    assert ready_session.request(move(1))["ErrorID"] == rmi.RMIT_SERVO_OFF
    sim.servo_ready, sim.teach_pendant_enabled = True, True
    assert ready_session.request(move(1))["ErrorID"] == rmi.RMIT_TP_ENABLED
    assert ready_session.request(rmi.get_status_packet())["TPMode"] == 1
    sim.teach_pendant_enabled = False
    assert ready_session.request(move(1))["ErrorID"] == 0     # refused IDs are not consumed


def test_acknowledgement_comes_after_the_move(sim, ready_session):
    sim.speed_scale = 0.2                 # 100 mm at 100 mm/s: 1 s real, 0.2 s here
    start = time.monotonic()
    ready_session.send(move(1, z=300.0, speed=100))
    assert sim.wait_until(lambda: sim.tool_position.z < 400.0)      # on its way...
    assert ready_session.nothing_within(0.01)                               # ...and not acknowledged yet
    assert ready_session.recv()["ErrorID"] == 0
    assert time.monotonic() - start >= 0.18
    assert sim.tool_position.z == pytest.approx(300.0)
    position = ready_session.request(rmi.read_cartesian_position_packet())
    assert position["Position"]["Z"] == pytest.approx(300.0)
    assert position["Configuration"]["UToolNumber"] == 1


def test_override_slows_the_move(sim, ready_session):
    sim.speed_scale = 0.02
    assert ready_session.request(rmi.set_override_packet(10))["ErrorID"] == 0
    assert ready_session.request(rmi.set_override_packet(0))["ErrorID"] == rmi.RMIT_INVALID_OVERRIDE
    start = time.monotonic()
    ready_session.send(move(1, z=300.0, speed=100))       # 1 s at 100 %, 10 s at 10 %: 0.2 s here
    assert ready_session.recv()["ErrorID"] == 0
    assert time.monotonic() - start >= 0.18


def test_ninth_unacknowledged_instruction_is_refused(sim, ready_session):
    sim.speed_scale = 10.0                # nothing finishes during the test
    for seq in range(1, 9):
        ready_session.send(move(seq, z=300.0 - seq))
    ready_session.send(move(9))
    assert ready_session.recv() == {"Instruction": "FRC_LinearMotion", "ErrorID": rmi.RMIT_BUFFER_FULL, "SequenceID": 9}
    assert sim.unacknowledged == 8 and sim.max_unacknowledged == 8


def test_sequence_gap_holds_until_reset(sim, ready_session):
    assert ready_session.request(move(2))["ErrorID"] == rmi.RMIT_INVALID_SEQUENCE_ID
    assert ready_session.request(move(1))["ErrorID"] == rmi.RMIT_HOLD
    assert ready_session.request(move(2))["ErrorID"] == rmi.RMIT_HOLD
    assert ready_session.request(rmi.reset_packet())["ErrorID"] == 0
    assert ready_session.request(rmi.get_status_packet())["NextSequenceID"] == 1
    assert ready_session.request(move(1))["ErrorID"] == 0


def test_abort_drops_queued_instructions_without_replies(sim, ready_session):
    sim.speed_scale = 0.5                 # 100 mm: 0.5 s
    for seq in range(1, 4):
        ready_session.send(move(seq, z=400.0 - 100 * seq))
    assert sim.wait_until(lambda: sim.unacknowledged == 3 and sim.tool_position.z < 400.0)
    assert ready_session.request(rmi.abort_packet()) == {"Command": "FRC_Abort", "ErrorID": 0}
    stopped_at = sim.tool_position.z
    assert 300.0 < stopped_at < 400.0     # stopped part-way through the first move
    assert ready_session.nothing_within(0.3)
    assert sim.unacknowledged == 0 and sim.tool_position.z == stopped_at
    status = ready_session.request(rmi.get_status_packet())
    assert status["RMIMotionStatus"] == 0 and status["ProgramStatus"] == 2
    assert ready_session.request(move(4))["ErrorID"] == rmi.RMIT_NOT_RUNNING
    assert ready_session.request(rmi.abort_packet())["ErrorID"] == rmi.RMIT_NOT_RUNNING


def test_unreachable_target_is_refused_and_pauses(sim, ready_session):
    sim.floor_z_mm = -100.0
    ready_session.send(move(1, x=3000.0))
    assert ready_session.recv() == {"Instruction": "FRC_LinearMotion", "ErrorID": rmi.RMIT_INVALID_DESTINATION,
                            "SequenceID": 1}
    assert sim.program_status == PROGRAM_PAUSED
    ready_session.send(move(2, z=-200.0))                  # queued while paused
    assert ready_session.nothing_within(0.1)
    assert ready_session.request(rmi.continue_packet())["ErrorID"] == 0
    assert ready_session.recv()["ErrorID"] == rmi.RMIT_INVALID_DESTINATION      # below the floor
    assert sim.tool_position.z == pytest.approx(400.0)                   # never moved


def test_invalid_speed_and_term_are_refused(sim, ready_session):
    bad_speed_type = dict(move(1), SpeedType="furlongs")
    assert ready_session.request(bad_speed_type)["ErrorID"] == rmi.RMIT_INVALID_SPEED_TYPE
    assert ready_session.request(dict(move(1), Speed=0))["ErrorID"] == rmi.RMIT_INVALID_SPEED_VALUE
    assert ready_session.request(dict(move(1), TermType="CNT", TermValue=0))["ErrorID"] == rmi.RMIT_INVALID_TERM_VALUE
    assert (ready_session.request({"Instruction": "FRC_Teleport", "SequenceID": 1})["ErrorID"]
            == rmi.RMIT_INVALID_INSTRUCTION)
    assert ready_session.request({"Command": "FRC_MakeCoffee"})["ErrorID"] == rmi.RMIT_INVALID_COMMAND


def test_frames_and_digital_outputs(sim, ready_session):
    assert ready_session.request(rmi.set_uframe_utool_packet(2, 3))["ErrorID"] == 0
    assert ready_session.request(rmi.set_uframe_utool_packet(0, 11))["ErrorID"] == rmi.RMIT_INVALID_UTOOL
    config = ready_session.request(rmi.read_cartesian_position_packet())["Configuration"]
    assert (config["UFrameNumber"], config["UToolNumber"]) == (2, 3)
    assert ready_session.request(rmi.write_dout_packet(5, True))["ErrorID"] == 0
    assert ready_session.request(rmi.write_dout_packet(0, True))["ErrorID"] == rmi.RMIT_INVALID_PORT_NUMBER
    assert sim.digital_outputs == {5: True}
    event = sim.dout_events[-1]
    assert (event.port, event.on, event.arm_moving) == (5, True, False)


def test_stop_answering_reads_but_never_replies(sim, ready_session):
    sim.stop_answering = True
    ready_session.send(rmi.get_status_packet())
    assert ready_session.nothing_within(0.2)
    assert sim.received("Command")[-1] == {"Command": "FRC_GetStatus"}


def test_drop_connection_closes_the_session(sim, ready_session):
    sim.drop_connection()
    with pytest.raises((ConnectionError, OSError)):
        ready_session.recv(timeout=1.0)
    assert not sim.connected and not sim.rmi_running
    RawSession(sim).close()       # a new client may connect


def test_system_fault_stops_the_arm_until_reset(sim, ready_session):
    sim.speed_scale = 1.0
    ready_session.send(move(1, z=0.0, speed=10))
    assert sim.wait_until(lambda: sim.unacknowledged == 1)
    sim.raise_fault()
    assert ready_session.recv() == {"Communication": "FRC_SystemFault", "SequenceID": 1}
    assert ready_session.nothing_within(0.1)          # the interrupted move is never acknowledged
    assert ready_session.request(move(2))["ErrorID"] == rmi.RMIT_NOT_RUNNING
    assert ready_session.request(rmi.initialize_packet())["ErrorID"] == rmi.RMIT_INVALID_CONTROLLER_STATE
    assert ready_session.request(rmi.reset_packet())["ErrorID"] == 0
    assert ready_session.request(rmi.initialize_packet())["ErrorID"] == 0


def test_terminate_then_close(sim, ready_session):
    sim.send_terminate()
    assert ready_session.recv() == {"Communication": "FRC_Terminate"}
    with pytest.raises((ConnectionError, OSError)):
        ready_session.recv(timeout=1.0)


def test_disconnect(sim, ready_session):
    assert ready_session.request(rmi.disconnect_packet()) == {"Communication": "FRC_Disconnect", "ErrorID": 0}
    assert sim.wait_until(lambda: not sim.connected)
    assert not sim.rmi_running


def test_command_line_entry_point():
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "grasp_scorer_ros.sim.sim_controller", "--host", "127.0.0.1",
         "--port", "0", "--handoff-port", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 20.0)
        assert ready, "the simulator printed nothing within 20 s"
        line = proc.stdout.readline()
        assert "connect port" in line, proc.stderr.read()
        port = int(line.split("connect port ")[1].split(",")[0])
        sim = SimulatedController()       # only used for its .port in the handshake helper
        sim.port = port
        reply = RawSession.handshake(sim)
        assert reply["ErrorID"] == 0 and reply["PortNumber"] != port
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


# -- as the manual says: its packets answered as it describes, what it does not allow refused ----------
# The packets as the manual prints them (B-84184EN; the project's notes on RMI quote them).
MANUAL_LINEAR_MOTION = json.loads("""
{"Instruction":"FRC_LinearMotion","SequenceID":1,
 "Configuration":{"UToolNumber":1,"UFrameNumber":0,"Front":1,"Up":1,"Left":0,"Flip":0,"Turn4":0,"Turn5":0,"Turn6":0},
 "Position":{"X":500.0,"Y":0.0,"Z":300.0,"W":180.0,"P":0.0,"R":0.0},
 "SpeedType":"mmSec","Speed":100,"TermType":"FINE","TermValue":0}
""")


def test_the_manuals_packets_get_the_manuals_replies(sim, session):
    def reply(packet, *keys):
        answer = session.request(packet)
        assert answer["ErrorID"] == 0, (packet, answer)
        assert set(keys) <= set(answer), (packet, answer)
        return answer

    assert {"ErrorID", "PortNumber", "MajorVersion", "MinorVersion"} <= set(session.connect_reply)
    reply({"Command": "FRC_GetStatus"}, "ServoReady", "TPMode", "RMIMotionStatus", "ProgramStatus",
          "NextSequenceID", "Override")
    assert reply({"Command": "FRC_Initialize", "GroupMask": 1})["GroupMask"] == 1
    assert reply({"Command": "FRC_SetUFrameUTool", "UFrameNumber": 0, "UToolNumber": 1, "Group": 1}) == {
        "Command": "FRC_SetUFrameUTool", "ErrorID": 0, "Group": 1}
    reply({"Command": "FRC_SetOverRide", "Value": 30})
    position = reply({"Command": "FRC_ReadCartesianPosition", "Group": 1}, "Configuration", "Position")
    assert set(position["Configuration"]) == set(CONFIG) and set(position["Position"]) == set("XYZWPR")
    reply({"Command": "FRC_WriteDOUT", "PortNumber": 1, "PortValue": "ON"})
    reply({"Command": "FRC_ReadDIN", "PortNumber": 1}, "PortValue")
    reply({"Command": "FRC_ReadError", "Count": 5})
    session.send(MANUAL_LINEAR_MOTION)                 # acknowledged once executed, same ID
    assert session.recv() == {"Instruction": "FRC_LinearMotion", "ErrorID": 0, "SequenceID": 1}
    assert sim.tool_position.z == pytest.approx(300.0)
    reply({"Command": "FRC_Abort"})
    assert session.request({"Communication": "FRC_Disconnect"}) == {"Communication": "FRC_Disconnect", "ErrorID": 0}


@pytest.mark.parametrize("packet, error_id", [
    (dict(move(1), Speed=150.5), rmi.RMIT_INVALID_SPEED_VALUE),          # Speed is an integer
    (dict(move(1), Speed=True), rmi.RMIT_INVALID_SPEED_VALUE),
    (dict(move(1), Speed="100"), rmi.RMIT_INVALID_SPEED_VALUE),
    (dict(move(1), SpeedType="Percent"), rmi.RMIT_INVALID_SPEED_TYPE),    # a joint speed on a linear move
    ({k: v for k, v in dict(move(1), TermType="CNT").items() if k != "TermValue"}, rmi.RMIT_INVALID_TERM_VALUE),
    (dict(move(1), TermValue=-1), rmi.RMIT_INVALID_TERM_VALUE),
    ({k: v for k, v in move(1).items() if k != "Configuration"}, rmi.RMIT_INVALID_POSITION_DATA),
    (dict(move(1), Position={"X": 1.0, "Y": 2.0, "Z": 3.0}), rmi.RMIT_INVALID_POSITION_DATA),
    (dict(move(1), Configuration=dict(CONFIG, UFrameNumber=10)), rmi.RMIT_INVALID_UFRAME),
    ({"Instruction": "FRC_WaitTime", "SequenceID": 1, "Time": "1"}, rmi.RMIT_INVALID_VALUE),
    ({"Instruction": "FRC_JointMotionJRep", "SequenceID": 1, "JointAngle": {"J1": 0.0},
      "SpeedType": "Percent", "Speed": 10, "TermType": "FINE", "TermValue": 0}, rmi.RMIT_INVALID_POSITION_DATA),
    ({"Instruction": "FRC_LinearMotion", "SequenceID": "1"}, rmi.RMIT_INVALID_VALUE),
])
def test_instructions_the_manual_does_not_allow_are_refused(sim, ready_session, packet, error_id):
    answer = ready_session.request(packet)
    assert answer["ErrorID"] == error_id, answer
    assert ready_session.request(move(1))["ErrorID"] == 0          # a refused field consumes no ID


@pytest.mark.parametrize("packet, error_id", [
    ({"Command": "FRC_Initialize", "GroupMask": 3}, rmi.RMIT_INVALID_GROUP_MASK),
    ({"Command": "FRC_Initialize", "GroupMask": "1"}, rmi.RMIT_INVALID_GROUP_MASK),
    ({"Command": "FRC_ReadCartesianPosition", "Group": 0}, rmi.RMIT_INVALID_GROUP),
    ({"Command": "FRC_ReadJointAngles", "Group": 2}, rmi.RMIT_INVALID_GROUP),
    ({"Command": "FRC_ReadError", "Count": 0}, rmi.RMIT_INVALID_VALUE),
    ({"Command": "FRC_SetOverRide", "Value": 50.0}, rmi.RMIT_INVALID_OVERRIDE),
    ({"Command": "FRC_ReadDIN", "PortNumber": 0}, rmi.RMIT_INVALID_PORT_NUMBER),
    ({"Command": "FRC_WriteUFrameData", "FrameNumber": 0, "Group": 1,
      "Frame": {"X": 0.0, "Y": 0.0, "Z": 0.0, "W": 0.0, "P": 0.0, "R": 0.0}}, rmi.RMIT_INVALID_UFRAME),
])
def test_commands_the_manual_does_not_allow_are_refused(sim, session, packet, error_id):
    assert session.request(packet)["ErrorID"] == error_id


def test_fields_the_manual_gives_a_default_for_may_be_left_out(sim, session):
    """As FANUC's ROS 2 driver and the PyPI client fanuc-rmi send them: Group and GroupMask 1,
    FRC_ReadError's Count 1, a FINE move's TermValue 0."""
    init = session.request({"Command": "FRC_Initialize"})
    assert init["ErrorID"] == 0 and init["GroupMask"] == 1
    assert session.request({"Command": "FRC_SetUFrameUTool", "UFrameNumber": 0, "UToolNumber": 1}) == {
        "Command": "FRC_SetUFrameUTool", "ErrorID": 0, "Group": 1}
    position = session.request({"Command": "FRC_ReadCartesianPosition"})
    assert position["ErrorID"] == 0 and position["Group"] == 1 and "Position" in position
    error = session.request({"Command": "FRC_ReadError"})
    assert error["ErrorID"] == 0 and error["Count"] == 1
    fine = {k: v for k, v in move(1).items() if k != "TermValue"}
    assert session.request(fine)["ErrorID"] == 0


def test_a_line_that_is_not_json_is_answered(sim, session):
    session.sock.sendall(b'{"Command": "FRC_GetStatus", "W": NaN\r\n')      # not JSON
    assert session.recv() == {"Command": "Unknown", "ErrorID": rmi.RMIT_INVALID_COMMAND}
    assert session.request(rmi.get_status_packet())["ErrorID"] == 0          # the session goes on


def test_a_refused_client_cannot_take_anothers_hand_off(sim):
    first = RawSession.handshake(sim)                  # granted, not yet on the hand-off port
    assert first["ErrorID"] == 0
    with socket.create_connection(("127.0.0.1", sim.port), timeout=2.0, source_address=("127.0.0.2", 0)) as s:
        s.sendall(rmi.encode_packet(rmi.connect_packet()))
        assert json.loads(s.recv(4096))["ErrorID"] == rmi.RMIT_ALREADY_CONNECTED
    with socket.create_connection(("127.0.0.1", first["PortNumber"]), timeout=2.0,
                                  source_address=("127.0.0.2", 0)) as intruder:
        assert intruder.recv(4096) == b""              # refused: the grant is not its
    assert not sim.connected
    with socket.create_connection(("127.0.0.1", first["PortNumber"]), timeout=2.0) as rightful:
        rightful.sendall(rmi.encode_packet(rmi.get_status_packet()))
        assert json.loads(rightful.recv(4096).split(b"\r\n")[0])["ErrorID"] == 0
        assert sim.sessions_opened == 1


def joint_move(seq: int, joints, relative=False, speed=50, speed_type="Percent") -> dict:
    return {"Instruction": "FRC_JointRelativeJRep" if relative else "FRC_JointMotionJRep", "SequenceID": seq,
            "JointAngle": {**{f"J{i + 1}": float(v) for i, v in enumerate(joints)}, "J7": 0.0, "J8": 0.0, "J9": 0.0},
            "SpeedType": speed_type, "Speed": speed, "TermType": "FINE", "TermValue": 0}


@pytest.mark.slow
def test_joint_motion_and_reading_the_joints(sim, ready_session):
    before = ready_session.request(rmi.read_joint_angles_packet())
    assert before["ErrorID"] == 0 and before["Group"] == 1 and set(before["JointAngle"]) == {f"J{i}" for i in range(1, 10)}
    home = [0.0, 10.0, -10.0, 0.0, -80.0, 0.0]
    sim.speed_scale = 0.1
    start = time.monotonic()
    ready_session.send(joint_move(1, home, speed=50))           # largest travel / (50 % of 180 deg/s)
    assert ready_session.recv() == {"Instruction": "FRC_JointMotionJRep", "ErrorID": 0, "SequenceID": 1}
    travel = max(abs(a - b) for a, b in zip(home, [before["JointAngle"][f"J{i}"] for i in range(1, 7)]))
    assert time.monotonic() - start >= 0.95 * travel / 90.0 * 0.1
    after = ready_session.request(rmi.read_joint_angles_packet())["JointAngle"]
    assert [after[f"J{i}"] for i in range(1, 7)] == pytest.approx(home, abs=1e-3)
    # The Cartesian position is the arm's forward kinematics, and back.
    position = Position.from_packet(ready_session.request(rmi.read_cartesian_position_packet())["Position"])
    flange = sim.arm.forward(home)
    assert (position.x, position.y, position.z) == pytest.approx(tuple(flange[:3, 3]), abs=1e-3)
    ready_session.send(joint_move(2, [15.0, 0, 0, 0, 0, 0], relative=True))
    assert ready_session.recv()["ErrorID"] == 0
    assert sim.joint_angles[0] == pytest.approx(15.0) and sim.joint_angles[1:] == pytest.approx(tuple(home[1:]))
    ready_session.send(move(3, z=300.0))                        # a linear move from there; joints follow
    assert ready_session.recv()["ErrorID"] == 0
    flange = sim.arm.forward(sim.joint_angles)
    assert tuple(flange[:3, 3]) == pytest.approx((500.0, 0.0, 300.0), abs=1e-3)
    assert ready_session.request(joint_move(4, home, speed=101))["ErrorID"] == rmi.RMIT_INVALID_SPEED_VALUE
    assert ready_session.request(joint_move(4, home, speed_type="mmSec"))["ErrorID"] == rmi.RMIT_INVALID_SPEED_TYPE


def test_linear_relative_motion(sim, ready_session):
    offset = dict(move(1, x=0.0, y=50.0, z=-100.0), Instruction="FRC_LinearRelative")
    offset["Position"] = dict(offset["Position"], W=0.0)
    ready_session.send(offset)
    assert ready_session.recv() == {"Instruction": "FRC_LinearRelative", "ErrorID": 0, "SequenceID": 1}
    assert sim.tool_position == Position(500.0, 50.0, 300.0, 180.0, 0.0, 0.0)


def test_digital_inputs_are_read_and_waited_for(sim, ready_session):
    assert ready_session.request(rmi.read_din_packet(3)) == {"Command": "FRC_ReadDIN", "ErrorID": 0,
                                                     "PortNumber": 3, "PortValue": "OFF"}
    sim.digital_inputs[3] = True
    assert ready_session.request(rmi.read_din_packet(3))["PortValue"] == "ON"
    ready_session.send({"Instruction": "FRC_WaitDIN", "SequenceID": 1, "PortNumber": 4, "PortValue": "ON"})
    assert ready_session.nothing_within(0.2)                    # the program waits for the input...
    sim.digital_inputs[4] = True
    assert ready_session.recv() == {"Instruction": "FRC_WaitDIN", "ErrorID": 0, "SequenceID": 1}   # ...then goes on


def test_user_and_tool_frames(sim, ready_session):
    assert ready_session.request(rmi.get_uframe_utool_packet()) == {
        "Command": "FRC_GetUFrameUTool", "ErrorID": 0, "Group": 1, "UFrameNumber": 0, "UToolNumber": 1}
    shifted = {"X": 100.0, "Y": 0.0, "Z": 0.0, "W": 0.0, "P": 0.0, "R": 90.0}
    assert ready_session.request({"Command": "FRC_WriteUFrameData", "FrameNumber": 2, "Frame": shifted,
                                  "Group": 1})["ErrorID"] == 0
    assert ready_session.request({"Command": "FRC_ReadUFrameData", "FrameNumber": 2, "Group": 1})["Frame"] == shifted
    assert ready_session.request(rmi.set_uframe_utool_packet(2, 1))["ErrorID"] == 0
    here = Position.from_packet(ready_session.request(rmi.read_cartesian_position_packet())["Position"])
    assert (here.x, here.y, here.z, here.r) == pytest.approx((0.0, -400.0, 400.0, -90.0), abs=1e-6)
    tool = {"X": 0.0, "Y": 0.0, "Z": 100.0, "W": 0.0, "P": 0.0, "R": 0.0}     # TCP 100 mm out of the flange
    assert ready_session.request({"Command": "FRC_WriteUToolData", "ToolNumber": 2, "Frame": tool,
                                  "Group": 1})["ErrorID"] == 0
    ready_session.send({"Instruction": "FRC_SetUTool", "SequenceID": 1, "ToolNumber": 2})
    assert ready_session.recv() == {"Instruction": "FRC_SetUTool", "ErrorID": 0, "SequenceID": 1}
    assert ready_session.request(rmi.get_uframe_utool_packet())["UToolNumber"] == 2
    assert sim.tool_position.z == pytest.approx(300.0)      # tool down: the TCP is 100 mm below the flange
    ready_session.send({"Instruction": "FRC_SetUFrame", "SequenceID": 2, "FrameNumber": 0})
    assert ready_session.recv()["ErrorID"] == 0
    ready_session.send({"Instruction": "FRC_SetUTool", "SequenceID": 3, "ToolNumber": 1})
    assert ready_session.recv()["ErrorID"] == 0
    # A move names its frames in its Configuration: X = 0 in user frame 2 is world X = 100.
    ready_session.send(dict(move(4, x=0.0, y=-400.0, z=300.0), Configuration=dict(CONFIG, UFrameNumber=2),
                    Position={"X": 0.0, "Y": -400.0, "Z": 300.0, "W": 180.0, "P": 0.0, "R": -90.0}))
    assert ready_session.recv()["ErrorID"] == 0
    assert (sim.tool_position.x, sim.tool_position.y, sim.tool_position.z) == pytest.approx((500.0, 0.0, 300.0), abs=1e-6)


def test_a_cnt_move_waits_for_the_next_instruction(sim, ready_session):
    ready_session.send(dict(move(1, z=350.0), TermType="CNT", TermValue=50))
    assert ready_session.nothing_within(0.2) and sim.tool_position.z == pytest.approx(400.0)     # never started alone
    ready_session.send(move(2, z=300.0))
    assert ready_session.recv()["SequenceID"] == 1 and ready_session.recv()["SequenceID"] == 2
    assert sim.tool_position.z == pytest.approx(300.0)

"""The simulated controller answers like the RMI manual says; driven here over raw sockets."""
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
from grasp_scorer_ros.fanuc.sim_controller import PROGRAM_PAUSED, SimulatedController

REPO = Path(__file__).resolve().parents[1]
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
def ready(session):
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


def test_servo_off_and_pendant_enabled_refuse_motion(sim, ready):
    sim.servo_ready = False
    assert ready.request(move(1))["ErrorID"] == rmi.RMIT_SERVO_OFF
    sim.servo_ready, sim.teach_pendant_enabled = True, True
    assert ready.request(move(1))["ErrorID"] == rmi.RMIT_TP_ENABLED
    assert ready.request(rmi.get_status_packet())["TPMode"] == 1
    sim.teach_pendant_enabled = False
    assert ready.request(move(1))["ErrorID"] == 0     # refused IDs are not consumed


def test_acknowledgement_comes_after_the_move(sim, ready):
    sim.speed_scale = 0.2                 # 100 mm at 100 mm/s: 1 s real, 0.2 s here
    start = time.monotonic()
    ready.send(move(1, z=300.0, speed=100))
    assert sim.wait_until(lambda: sim.tool_position.z < 400.0)      # on its way...
    assert ready.nothing_within(0.01)                               # ...and not acknowledged yet
    assert ready.recv()["ErrorID"] == 0
    assert time.monotonic() - start >= 0.18
    assert sim.tool_position.z == pytest.approx(300.0)
    position = ready.request(rmi.read_cartesian_position_packet())
    assert position["Position"]["Z"] == pytest.approx(300.0)
    assert position["Configuration"]["UToolNumber"] == 1


def test_override_slows_the_move(sim, ready):
    sim.speed_scale = 0.02
    assert ready.request(rmi.set_override_packet(10))["ErrorID"] == 0
    assert ready.request(rmi.set_override_packet(0))["ErrorID"] == rmi.RMIT_INVALID_OVERRIDE
    start = time.monotonic()
    ready.send(move(1, z=300.0, speed=100))       # 1 s at 100 %, 10 s at 10 %: 0.2 s here
    assert ready.recv()["ErrorID"] == 0
    assert time.monotonic() - start >= 0.18


def test_ninth_unacknowledged_instruction_is_refused(sim, ready):
    sim.speed_scale = 10.0                # nothing finishes during the test
    for seq in range(1, 9):
        ready.send(move(seq, z=300.0 - seq))
    ready.send(move(9))
    assert ready.recv() == {"Instruction": "FRC_LinearMotion", "ErrorID": rmi.RMIT_BUFFER_FULL, "SequenceID": 9}
    assert sim.unacknowledged == 8 and sim.max_unacknowledged == 8


def test_sequence_gap_holds_until_reset(sim, ready):
    assert ready.request(move(2))["ErrorID"] == rmi.RMIT_INVALID_SEQUENCE_ID
    assert ready.request(move(1))["ErrorID"] == rmi.RMIT_HOLD
    assert ready.request(move(2))["ErrorID"] == rmi.RMIT_HOLD
    assert ready.request(rmi.reset_packet())["ErrorID"] == 0
    assert ready.request(rmi.get_status_packet())["NextSequenceID"] == 1
    assert ready.request(move(1))["ErrorID"] == 0


def test_abort_drops_queued_instructions_without_replies(sim, ready):
    sim.speed_scale = 0.5                 # 100 mm: 0.5 s
    for seq in range(1, 4):
        ready.send(move(seq, z=400.0 - 100 * seq))
    assert sim.wait_until(lambda: sim.unacknowledged == 3 and sim.tool_position.z < 400.0)
    assert ready.request(rmi.abort_packet()) == {"Command": "FRC_Abort", "ErrorID": 0}
    stopped_at = sim.tool_position.z
    assert 300.0 < stopped_at < 400.0     # stopped part-way through the first move
    assert ready.nothing_within(0.3)
    assert sim.unacknowledged == 0 and sim.tool_position.z == stopped_at
    status = ready.request(rmi.get_status_packet())
    assert status["RMIMotionStatus"] == 0 and status["ProgramStatus"] == 2
    assert ready.request(move(4))["ErrorID"] == rmi.RMIT_NOT_RUNNING
    assert ready.request(rmi.abort_packet())["ErrorID"] == rmi.RMIT_NOT_RUNNING


def test_unreachable_target_is_refused_and_pauses(sim, ready):
    sim.floor_z_mm = -100.0
    ready.send(move(1, x=3000.0))
    assert ready.recv() == {"Instruction": "FRC_LinearMotion", "ErrorID": rmi.RMIT_INVALID_DESTINATION,
                            "SequenceID": 1}
    assert sim.program_status == PROGRAM_PAUSED
    ready.send(move(2, z=-200.0))                  # queued while paused
    assert ready.nothing_within(0.1)
    assert ready.request(rmi.continue_packet())["ErrorID"] == 0
    assert ready.recv()["ErrorID"] == rmi.RMIT_INVALID_DESTINATION      # below the floor
    assert sim.tool_position.z == pytest.approx(400.0)                   # never moved


def test_invalid_speed_and_term_are_refused(sim, ready):
    bad_speed_type = dict(move(1), SpeedType="furlongs")
    assert ready.request(bad_speed_type)["ErrorID"] == rmi.RMIT_INVALID_SPEED_TYPE
    assert ready.request(dict(move(1), Speed=0))["ErrorID"] == rmi.RMIT_INVALID_SPEED_VALUE
    assert ready.request(dict(move(1), TermType="CNT", TermValue=0))["ErrorID"] == rmi.RMIT_INVALID_TERM_VALUE
    assert ready.request({"Instruction": "FRC_Teleport", "SequenceID": 1})["ErrorID"] == rmi.RMIT_INVALID_INSTRUCTION
    assert ready.request({"Command": "FRC_MakeCoffee"})["ErrorID"] == rmi.RMIT_INVALID_COMMAND


def test_frames_and_digital_outputs(sim, ready):
    assert ready.request(rmi.set_uframe_utool_packet(2, 3))["ErrorID"] == 0
    assert ready.request(rmi.set_uframe_utool_packet(0, 11))["ErrorID"] == rmi.RMIT_INVALID_UTOOL
    config = ready.request(rmi.read_cartesian_position_packet())["Configuration"]
    assert (config["UFrameNumber"], config["UToolNumber"]) == (2, 3)
    assert ready.request(rmi.write_dout_packet(5, True))["ErrorID"] == 0
    assert ready.request(rmi.write_dout_packet(0, True))["ErrorID"] == rmi.RMIT_INVALID_PORT_NUMBER
    assert sim.digital_outputs == {5: True}
    event = sim.dout_events[-1]
    assert (event.port, event.on, event.arm_moving) == (5, True, False)


def test_stop_answering_reads_but_never_replies(sim, ready):
    sim.stop_answering = True
    ready.send(rmi.get_status_packet())
    assert ready.nothing_within(0.2)
    assert sim.received("Command")[-1] == {"Command": "FRC_GetStatus"}


def test_drop_connection_closes_the_session(sim, ready):
    sim.drop_connection()
    with pytest.raises((ConnectionError, OSError)):
        ready.recv(timeout=1.0)
    assert not sim.connected and not sim.rmi_running
    RawSession(sim).close()       # a new client may connect


def test_system_fault_stops_the_arm_until_reset(sim, ready):
    sim.speed_scale = 1.0
    ready.send(move(1, z=0.0, speed=10))
    assert sim.wait_until(lambda: sim.unacknowledged == 1)
    sim.raise_fault()
    assert ready.recv() == {"Communication": "FRC_SystemFault", "SequenceID": 1}
    assert ready.nothing_within(0.1)          # the interrupted move is never acknowledged
    assert ready.request(move(2))["ErrorID"] == rmi.RMIT_NOT_RUNNING
    assert ready.request(rmi.initialize_packet())["ErrorID"] == rmi.RMIT_INVALID_CONTROLLER_STATE
    assert ready.request(rmi.reset_packet())["ErrorID"] == 0
    assert ready.request(rmi.initialize_packet())["ErrorID"] == 0


def test_terminate_then_close(sim, ready):
    sim.send_terminate()
    assert ready.recv() == {"Communication": "FRC_Terminate"}
    with pytest.raises((ConnectionError, OSError)):
        ready.recv(timeout=1.0)


def test_disconnect(sim, ready):
    assert ready.request(rmi.disconnect_packet()) == {"Communication": "FRC_Disconnect", "ErrorID": 0}
    assert sim.wait_until(lambda: not sim.connected)
    assert not sim.rmi_running


def test_command_line_entry_point():
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "grasp_scorer_ros.fanuc.sim_controller", "--host", "127.0.0.1",
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

"""The RMI client (fanuc/rmi_client.py), against the simulated controller over real sockets (the packets
alone: test_rmi_protocol.py)."""
import socket
import threading
import time

import pytest

from grasp_scorer_ros.fanuc import rmi_protocol as rmi
from grasp_scorer_ros.fanuc.rmi_client import (RMIAborted, RMIClient, RMIConnectionLost, RMIError, RMIFault,
                                               RMINotReady, RMITerminated, RMITimeout)
from grasp_scorer_ros.fanuc.rmi_protocol import Configuration, Position

DOWN = dict(w=180.0, p=0.0, r=0.0)


def target(z: float, x: float = 500.0, y: float = 0.0) -> Position:
    return Position(x, y, z, **DOWN)


class EventLog:
    def __init__(self):
        self.events: list[tuple[str, dict]] = []
        self.seen = threading.Event()

    def __call__(self, event: str, packet: dict) -> None:
        self.events.append((event, packet))
        self.seen.set()


@pytest.fixture
def events():
    return EventLog()


@pytest.fixture
def connected_client(sim, events):
    c = RMIClient("127.0.0.1", sim.port, timeout=1.0, on_event=events)
    c.connect()
    yield c
    c.close()


@pytest.fixture
def ready_client(connected_client):
    connected_client.initialize()
    return connected_client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- session ------------------------------------------------------------------------------------
def test_connect_then_commands_send_exactly_these_packets(sim, connected_client):
    assert connected_client.controller_port == sim.handoff_port
    status = connected_client.get_status()
    assert status.servo_ready and not status.teach_pendant_enabled and status.ready_for_motion
    connected_client.initialize()
    connected_client.set_uframe_utool(0, 1)
    connected_client.set_override(50)
    connected_client.write_dout(3, True)
    configuration, position = connected_client.read_cartesian_position()
    assert configuration == Configuration(utool_number=1, uframe_number=0)
    assert position == Position(500.0, 0.0, 400.0, 180.0, 0.0, 0.0)
    assert sim.received() == [
        {"Communication": "FRC_Connect"},
        {"Command": "FRC_GetStatus"},
        {"Command": "FRC_Initialize", "GroupMask": 1},
        {"Command": "FRC_SetUFrameUTool", "UFrameNumber": 0, "UToolNumber": 1, "Group": 1},
        {"Command": "FRC_SetOverRide", "Value": 50},
        {"Command": "FRC_WriteDOUT", "PortNumber": 3, "PortValue": "ON"},
        {"Command": "FRC_ReadCartesianPosition", "Group": 1},
    ]
    connected_client.disconnect()
    assert not connected_client.connected
    assert sim.received()[-1] == {"Communication": "FRC_Disconnect"}
    assert sim.wait_until(lambda: not sim.connected)
    connected_client.disconnect()       # idempotent


def test_second_client_is_refused_with_a_readable_error(sim, connected_client):
    other = RMIClient("127.0.0.1", sim.port, timeout=1.0)
    with pytest.raises(RMIError) as info:
        other.connect()
    assert info.value.error_id == rmi.RMIT_ALREADY_CONNECTED and "RMIT-026" in str(info.value)


def test_connect_retries_then_reports(sim):
    c = RMIClient("127.0.0.1", free_port(), timeout=0.5)
    start = time.monotonic()
    with pytest.raises(RMIConnectionLost):
        c.connect(attempts=3, backoff_s=0.05)
    assert time.monotonic() - start >= 0.15 - 0.01     # two back-offs: 0.05 + 0.1
    assert "cannot connect" in c.last_error


# -- instructions -------------------------------------------------------------------------------
def test_sequence_ids_are_consecutive_and_restart_after_initialize(sim, ready_client):
    configuration, _ = ready_client.read_cartesian_position()
    handles = [ready_client.linear_motion(target(390 - i), configuration, 200) for i in range(3)]
    assert [h.sequence_id for h in handles] == [1, 2, 3]
    assert [ready_client.wait(h)["SequenceID"] for h in handles] == [1, 2, 3]
    assert ready_client.last_acknowledged_sequence_id == 3
    wait = ready_client.wait_time(0.01)
    assert wait.sequence_id == 4 and ready_client.wait(wait)["ErrorID"] == 0
    ready_client.abort()
    ready_client.initialize()
    assert ready_client.wait(ready_client.linear_motion(target(380), configuration, 200)).get("SequenceID") == 1
    sent = [p["SequenceID"] for p in sim.received("Instruction")]
    assert sent == [1, 2, 3, 4, 1]


@pytest.mark.slow
def test_never_more_than_eight_in_flight(sim, ready_client):
    sim.speed_scale = 10.0  # each 1 mm move lasts 0.1 s: the client fills all 8 slots even on a busy CPU
    configuration, _ = ready_client.read_cartesian_position()
    handles = [ready_client.linear_motion(target(399 - i), configuration, 100) for i in range(12)]
    for h in handles:
        ready_client.wait(h)
    assert sim.max_unacknowledged == 8
    assert all(p["ErrorID"] == 0 for p in sim.sent_packets if "Instruction" in p)


def test_a_ninth_instruction_waits_for_a_slot_with_a_timeout(sim, ready_client):
    sim.speed_scale = 10.0          # moves last far longer than the test
    configuration, _ = ready_client.read_cartesian_position()
    for i in range(8):
        ready_client.linear_motion(target(300 - 100 * i), configuration, 100)
    start = time.monotonic()
    with pytest.raises(RMITimeout, match="no free instruction slot"):
        ready_client.linear_motion(target(300), configuration, 100)
    assert 0.9 <= time.monotonic() - start < 3.0
    assert len(sim.received("Instruction")) == 8


def test_motion_timeout_follows_the_motion(sim, ready_client):
    sim.speed_scale = 10.0
    configuration, _ = ready_client.read_cartesian_position()
    short = ready_client.linear_motion(target(390), configuration, 100)           # 10 mm: 0.1 s
    long = ready_client.linear_motion(target(390, x=-500), configuration, 100)    # 1000 mm: 10 s more
    assert short.timeout_s == pytest.approx(1.0 + 0.1 * 1.5, abs=0.05)
    assert long.timeout_s == pytest.approx(1.0 + 10.1 * 1.5, abs=0.05)
    ready_client.set_override(10)
    slow = ready_client.linear_motion(target(380, x=-500), configuration, 100)    # 10 mm at 10 mm/s
    assert slow.timeout_s == pytest.approx(1.0 + (10.1 + 1.0) * 1.5, abs=0.05)


def test_acknowledgement_waits_for_the_move(sim, ready_client):
    sim.speed_scale = 0.3           # 100 mm at 100 mm/s: 0.3 s
    configuration, _ = ready_client.read_cartesian_position()
    start = time.monotonic()
    handle = ready_client.linear_motion(target(300), configuration, 100)
    assert not handle.done()
    assert ready_client.wait(handle) == {"Instruction": "FRC_LinearMotion", "ErrorID": 0, "SequenceID": 1}
    assert time.monotonic() - start >= 0.28
    assert sim.tool_position == target(300)


def test_refused_instruction_is_readable_and_blocks_motion_until_reset(sim, ready_client):
    configuration, _ = ready_client.read_cartesian_position()
    with pytest.raises(RMIError) as info:
        ready_client.wait(ready_client.linear_motion(target(300, x=5000), configuration, 100))
    assert info.value.error_id == rmi.RMIT_INVALID_DESTINATION
    assert "Invalid destination position" in str(info.value) and "RMIT-036" in ready_client.last_error
    with pytest.raises(RMINotReady):
        ready_client.linear_motion(target(300), configuration, 100)
    ready_client.abort()          # drop what is queued; then recover explicitly
    ready_client.initialize()
    assert ready_client.wait(ready_client.linear_motion(target(300), configuration, 100))["SequenceID"] == 1


def test_reset_after_hold_resynchronises_sequence_ids(sim, ready_client):
    configuration, _ = ready_client.read_cartesian_position()
    ready_client._next_sequence_id = 5       # provoke a gap, as a lost packet would
    with pytest.raises(RMIError) as info:
        ready_client.wait(ready_client.linear_motion(target(300), configuration, 100))
    assert info.value.error_id == rmi.RMIT_INVALID_SEQUENCE_ID
    assert sim.hold
    ready_client.reset()
    assert not sim.hold
    assert ready_client.wait(ready_client.linear_motion(target(300), configuration, 100))["SequenceID"] == 1


@pytest.mark.parametrize("knob, error_id", [
    ("servo_off", rmi.RMIT_SERVO_OFF), ("pendant", rmi.RMIT_TP_ENABLED), ("not_initialized", rmi.RMIT_NOT_RUNNING)])
def test_controller_states_that_refuse_motion(sim, connected_client, knob, error_id):
    if knob != "not_initialized":
        connected_client.initialize()
    sim.servo_ready = knob != "servo_off"
    sim.teach_pendant_enabled = knob == "pendant"
    status = connected_client.get_status()
    assert status.ready_for_motion == (knob == "not_initialized")
    with pytest.raises(RMIError) as info:
        connected_client.wait(connected_client.linear_motion(target(300), Configuration(), 100))
    assert info.value.error_id == error_id


def test_abort_fails_queued_instructions_at_once(sim, ready_client):
    sim.speed_scale = 10.0
    configuration, _ = ready_client.read_cartesian_position()
    handles = [ready_client.linear_motion(target(390 - i), configuration, 100) for i in range(3)]
    ready_client.abort()
    for h in handles:
        assert h.done()
        with pytest.raises(RMIAborted):
            h.result()
    assert ready_client.instructions_in_flight == 0 and sim.unacknowledged == 0


# -- failures -----------------------------------------------------------------------------------
def test_system_fault_fails_waiters_and_blocks_motion_until_initialize(sim, ready_client, events):
    sim.speed_scale = 10.0
    configuration, _ = ready_client.read_cartesian_position()
    handle = ready_client.linear_motion(target(300), configuration, 100)
    sim.wait_until(lambda: sim.unacknowledged == 1)
    sim.raise_fault()
    with pytest.raises(RMIFault, match="FRC_SystemFault during instruction 1"):
        ready_client.wait(handle, timeout=2.0)
    assert events.seen.wait(1.0) and events.events[0] == (
        "system_fault", {"Communication": "FRC_SystemFault", "SequenceID": 1})
    assert ready_client.fault and ready_client.connected
    with pytest.raises(RMIFault):
        ready_client.linear_motion(target(300), configuration, 100)
    assert ready_client.get_status().rmi_motion_status == 0       # commands still work
    ready_client.reset()                                          # clear the alarm, then start again
    ready_client.initialize()
    assert ready_client.fault is None
    sim.speed_scale = 0.01
    assert ready_client.wait(ready_client.linear_motion(target(300), configuration, 100))["ErrorID"] == 0


def test_terminate_ends_the_session(sim, ready_client, events):
    sim.speed_scale = 10.0
    handle = ready_client.linear_motion(target(300), Configuration(), 100)
    sim.send_terminate()
    with pytest.raises(RMITerminated):
        ready_client.wait(handle, timeout=2.0)
    assert events.seen.wait(1.0) and events.events[0][0] == "terminate"
    assert not ready_client.connected and ready_client.terminated
    with pytest.raises(RMITerminated):
        ready_client.get_status()


def test_dropped_connection_is_reported_and_reconnect_works(sim, ready_client, events):
    sim.speed_scale = 10.0
    handle = ready_client.linear_motion(target(300), Configuration(), 100)
    sim.drop_connection()
    with pytest.raises(RMIConnectionLost):
        ready_client.wait(handle, timeout=2.0)
    assert events.seen.wait(1.0) and events.events[0][0] == "connection_lost"
    assert not ready_client.connected
    with pytest.raises(RMIConnectionLost):
        ready_client.get_status()
    ready_client.connect()
    assert ready_client.get_status().rmi_motion_status == 0     # the controller stopped RMI_MOVE


def test_unanswered_motion_times_out_by_its_own_deadline(sim, ready_client):
    configuration, _ = ready_client.read_cartesian_position()
    sim.stop_answering = True
    handle = ready_client.linear_motion(target(390), configuration, 100)     # 10 mm: 0.1 s + 1 s margin
    start = time.monotonic()
    with pytest.raises(RMITimeout, match="not acknowledged"):
        ready_client.wait(handle)
    assert 0.9 <= time.monotonic() - start < 2.0
    assert ready_client.connected and not handle.done()      # a late reply would still match its ID


def test_unanswered_command_times_out_and_closes_the_session(sim, ready_client, events):
    sim.stop_answering = True
    start = time.monotonic()
    with pytest.raises(RMITimeout, match="FRC_GetStatus"):
        ready_client.get_status()
    assert 0.9 <= time.monotonic() - start < 2.0
    # Replies carry no request ID: after a lost one the session cannot be trusted, so it is closed.
    assert not ready_client.connected and events.events[0][0] == "connection_lost"
    sim.stop_answering = False
    assert sim.wait_until(lambda: not sim.connected)
    ready_client.connect()
    assert ready_client.get_status().servo_ready


# -- dry run ------------------------------------------------------------------------------------
def test_dry_run_opens_no_socket_and_acknowledges_locally():
    c = RMIClient("127.0.0.1", free_port(), dry_run=True)
    c.connect()
    c.initialize()
    c.set_uframe_utool(0, 2)
    configuration, _ = c.read_cartesian_position()
    assert configuration.utool_number == 2
    handle = c.linear_motion(target(250), configuration, 100)
    assert handle.done() and c.wait(handle)["ErrorID"] == 0
    assert c.read_cartesian_position()[1] == target(250)
    c.write_dout(1, True)
    c.disconnect()
    kinds = [rmi.packet_kind(p)[1] for p in c.dry_run_controller.packets]
    assert kinds == ["FRC_Connect", "FRC_Initialize", "FRC_SetUFrameUTool", "FRC_ReadCartesianPosition",
                     "FRC_LinearMotion", "FRC_ReadCartesianPosition", "FRC_WriteDOUT", "FRC_Disconnect"]


def test_dry_run_status_follows_the_session_like_a_controller():
    c = RMIClient("127.0.0.1", free_port(), dry_run=True)
    c.connect()
    status = c.get_status()
    assert status.ready_for_motion and status.rmi_motion_status == 0 and status.override == 100
    c.initialize()
    c.set_override(30)
    configuration, _ = c.read_cartesian_position()
    c.wait(c.linear_motion(target(250), configuration, 100))
    c.wait(c.wait_time(0.5))
    status = c.get_status()
    assert (status.rmi_motion_status, status.override, status.next_sequence_id) == (1, 30, 3)
    c.reset()                                    # takes NextSequenceID from the controller
    assert c.wait(c.wait_time(0.1))["SequenceID"] == 3
    c.disconnect()


# -- issue 11 -------------------------------------------------------------------------------------
def test_item3_no_instruction_leaves_after_abort_until_initialize(sim, ready_client):
    configuration, _ = ready_client.read_cartesian_position()
    ready_client.abort()
    with pytest.raises(RMINotReady):
        ready_client.linear_motion(target(300), configuration, 100)
    assert sim.received()[-1] == {"Command": "FRC_Abort"}
    ready_client.initialize()
    assert ready_client.wait(ready_client.linear_motion(target(300), configuration, 100))["SequenceID"] == 1


def test_item3_abort_racing_a_sender_lets_no_instruction_through(sim, ready_client):
    sim.speed_scale = 10.0
    configuration, _ = ready_client.read_cartesian_position()
    go = threading.Event()

    def sender():
        go.wait()
        for i in range(50):
            try:
                ready_client.linear_motion(target(399 - i), configuration, 100)
            except Exception:
                return

    thread = threading.Thread(target=sender)
    thread.start()
    go.set()
    assert sim.wait_until(lambda: sim.received("Instruction"))
    ready_client.abort()
    thread.join(5)
    names = [next(iter(p.values())) for p in sim.received()]
    abort_at = names.index("FRC_Abort")
    assert "FRC_LinearMotion" not in names[abort_at:]

"""Pick planning (pure) and execution against the simulated controller over real sockets.

Covers fanuc/pick_planner.py and fanuc/pick_executor.py (their tests share one configuration and grasp)."""
import dataclasses
import socket
import threading

import numpy as np
import pytest

from grasp_scorer_ros.fanuc import rmi_protocol as rmi
from grasp_scorer_ros.fanuc.pick_executor import PickAborted, PickExecutionError, execute_pick, prepare_controller
from grasp_scorer_ros.fanuc.pick_planner import LinearMove, PickConfig, PickRejected, PickStep, plan_pick
from grasp_scorer_ros.fanuc.rmi_client import RMIClient, RMIConnectionLost, RMIError, RMIFault, RMITimeout
from grasp_scorer_ros.fanuc.rmi_protocol import Position
from grasp_scorer_ros.rotations import quaternion_to_matrix, wpr_to_quaternion
from pick_cell_helpers import PICK_PACKETS
from rotation_helpers import top_down


GRASP = (0.55, 0.10, 0.02)
# Limits and place pose of these tests (tighter than the shipped defaults), fast gripper.
CONFIG = PickConfig(place_position_m=(0.40, -0.30, 0.05), workspace_min_m=(0.20, -0.60, 0.00),
                    workspace_max_m=(0.90, 0.60, 0.60), gripper_max_opening_m=0.085, gripper_settle_s=0.01)


# -- input ---------------------------------------------------------------------------------------
def test_bad_quaternion_is_rejected():
    with pytest.raises(PickRejected) as info:
        plan_pick(GRASP, [0, 0, 0, 0], 0.03, CONFIG)
    assert info.value.limit == "input"


# -- planning -----------------------------------------------------------------------------------
def moves(steps):
    return {s.name: s.move for s in steps if s.move is not None}


def test_plan_of_a_top_down_grasp():
    steps = plan_pick(GRASP, top_down(30), 0.04, CONFIG)
    assert [s.name for s in steps] == ["open-gripper", "approach-above", "descend", "close-gripper", "lift",
                                       "place-above", "place-descend", "release", "retreat"]
    m = moves(steps)

    def xyzwpr(name):
        pos = m[name].position
        return (pos.x, pos.y, pos.z, pos.w, pos.p, pos.r)

    assert xyzwpr("approach-above") == pytest.approx((550, 100, 120, 180, 0, 30))
    assert xyzwpr("descend") == pytest.approx((550, 100, 20, 180, 0, 30))
    assert xyzwpr("lift") == pytest.approx((550, 100, 170, 180, 0, 30))
    assert xyzwpr("place-above") == pytest.approx((400, -300, 150, 180, 0, 0))
    assert xyzwpr("place-descend") == pytest.approx((400, -300, 50, 180, 0, 0))
    assert xyzwpr("retreat") == pytest.approx((400, -300, 150, 180, 0, 0))
    assert [m[n].speed_mm_s for n in m] == [250, 50, 50, 250, 50, 50]
    assert all(mv.term_type == "FINE" for mv in m.values())
    grip = {s.name: s.gripper for s in steps if s.gripper is not None}
    assert (grip["open-gripper"].on, grip["close-gripper"].on, grip["release"].on) == (False, True, False)
    assert grip["close-gripper"].close and grip["close-gripper"].port == 1


def test_tool_offset_moves_the_flange_back_along_tool_z():
    config = PickConfig(tool_offset_m=0.2, apply_tool_offset=True, workspace_max_m=(0.9, 0.6, 0.8))
    m = moves(plan_pick(GRASP, top_down(0), 0.04, config))
    assert m["descend"].position.z == pytest.approx(220.0)
    assert m["approach-above"].position.z == pytest.approx(320.0)
    # Tilted 20 deg about x: the flange is 0.2 m back along the tilted tool axis.
    q = wpr_to_quaternion(160.0, 0.0, 0.0)
    descend = moves(plan_pick(GRASP, q, 0.04, config))["descend"].position
    tool_z = quaternion_to_matrix(q)[:, 2]
    assert (descend.x, descend.y, descend.z) == pytest.approx(tuple((np.array(GRASP) - 0.2 * tool_z) * 1000))
    assert (descend.w, descend.p, descend.r) == pytest.approx((160.0, 0.0, 0.0))


def test_gripper_polarity():
    steps = plan_pick(GRASP, top_down(0), 0.04, PickConfig(gripper_close_on=False, gripper_dout_port=7))
    grip = {s.name: s.gripper for s in steps if s.gripper is not None}
    assert (grip["close-gripper"].on, grip["release"].on, grip["close-gripper"].port) == (False, True, 7)


@pytest.mark.parametrize("grasp, q, width, config, limit, step", [
    ((0.95, 0.0, 0.02), top_down(0), 0.04, CONFIG, "workspace", "approach-above"),
    ((0.55, 0.0, 0.55), top_down(0), 0.04, CONFIG, "workspace", "approach-above"),   # approach above max z
    ((0.55, 0.0, 0.002), top_down(0), 0.04, CONFIG, "table", "descend"),
    ((0.55, 0.0, 0.02), top_down(0), 0.09, CONFIG, "opening", None),
    ((0.55, 0.0, 0.02), wpr_to_quaternion(130, 0, 0), 0.04, CONFIG, "tilt", None),
    ((0.55, 0.0, 0.02), top_down(0), 0.04, PickConfig(speed_mm_s=800), "speed", None),
    ((0.55, 0.0, 0.02), top_down(0), 0.04, PickConfig(place_position_m=(0.4, -0.9, 0.05)), "workspace",
     "place-above"),
    ((0.55, 0.0, 0.02), top_down(0), 0.04, PickConfig(tool_offset_m=0.7, apply_tool_offset=True), "workspace",
     "approach-above"),
    ((0.55, float("nan"), 0.02), top_down(0), 0.04, CONFIG, "input", None),
    ((0.55, 0.0, 0.02), top_down(0), -0.01, CONFIG, "input", None),
])
def test_rejected_grasps_name_the_limit(grasp, q, width, config, limit, step):
    with pytest.raises(PickRejected) as info:
        plan_pick(grasp, q, width, config)
    assert info.value.limit == limit and info.value.step == step
    assert str(info.value)


def test_config_validation_and_from_dict():
    config = PickConfig.from_dict({"place_position_m": [0.3, 0.2, 0.1], "speed_mm_s": 100})
    assert config.place_position_m == (0.3, 0.2, 0.1) and config.speed_mm_s == 100
    with pytest.raises(ValueError, match="unknown"):
        PickConfig.from_dict({"speed": 3})
    with pytest.raises(ValueError):
        PickConfig(workspace_min_m=(1, 0, 0), workspace_max_m=(0.5, 1, 1))
    with pytest.raises(ValueError):
        PickConfig(override_percent=150)


# -- execution ----------------------------------------------------------------------------------
@pytest.fixture
def sim_speed_scale():
    return 0.002


@pytest.fixture
def prepared_client(sim):
    c = RMIClient("127.0.0.1", sim.port, timeout=1.0)
    c.connect()
    prepare_controller(c, CONFIG)
    yield c
    c.close()


class Progress:
    def __init__(self):
        self.steps = []

    def __call__(self, index, count, step):
        self.steps.append((index, count, step.name))


def test_pick_becomes_the_right_packet_sequence(sim, prepared_client):
    progress = Progress()
    execute_pick(prepared_client, plan_pick(GRASP, top_down(30), 0.04, CONFIG), on_step=progress, config=CONFIG)

    sent = [p for p in sim.received() if "Communication" not in p]
    assert [(next(iter(p.values())), p.get("SequenceID", p.get("PortValue"))) for p in sent] == \
        [("FRC_GetStatus", None)] + PICK_PACKETS
    descend = sent[7]
    assert descend == {
        "Instruction": "FRC_LinearMotion", "SequenceID": 2,
        "Configuration": {"UToolNumber": 1, "UFrameNumber": 0, "Front": 1, "Up": 1, "Left": 0, "Flip": 0,
                          "Turn4": 0, "Turn5": 0, "Turn6": 0},
        "Position": {"X": 550.0, "Y": 100.0, "Z": 20.0, "W": 180.0, "P": 0.0, "R": 30.0},
        "SpeedType": "mmSec", "Speed": 50, "TermType": "FINE", "TermValue": 0}
    # The jaws closed at the grasp with the arm at rest, and opened at the place pose.
    close = sim.dout_events[1]
    assert close.on and not close.arm_moving and close.unacknowledged == 0
    assert (close.position.x, close.position.y, close.position.z) == pytest.approx((550, 100, 20))
    release = sim.dout_events[2]
    assert not release.on and not release.arm_moving
    assert (release.position.x, release.position.y, release.position.z) == pytest.approx((400, -300, 50))
    assert sim.tool_position == Position(400.0, -300.0, 150.0, 180.0, 0.0, 0.0)
    assert sim.digital_outputs == {1: False}
    assert progress.steps == [(i, 9, name) for i, name in enumerate(
        ["open-gripper", "approach-above", "descend", "close-gripper", "lift", "place-above",
         "place-descend", "release", "retreat"], start=1)]


def test_unreachable_target_stops_the_pick_and_names_the_step(sim, prepared_client):
    sim.workspace_reach_mm = 650.0          # the grasp is within reach, (400, -550, 150) is not
    config = dataclasses.replace(CONFIG, place_position_m=(0.4, -0.55, 0.05))
    with pytest.raises(PickExecutionError) as info:
        execute_pick(prepared_client, plan_pick(GRASP, top_down(0), 0.04, config), config=config)
    error = info.value
    assert error.step == "place-above" and error.step_index == 6
    assert isinstance(error.__cause__, RMIError) and error.__cause__.error_id == rmi.RMIT_INVALID_DESTINATION
    assert "RMIT-036" in str(error) and "gripper left closed" in str(error)
    assert sim.received("Command")[-1] == {"Command": "FRC_Abort"}
    assert sim.unacknowledged == 0 and not sim.rmi_running
    assert [e.on for e in sim.dout_events] == [False, True]       # never released mid-air


def test_pick_refused_when_the_arm_starts_outside_the_workspace(sim, prepared_client):
    sim.place_arm(Position(1000.0, 0.0, 400.0, 180.0, 0.0, 0.0))
    with pytest.raises(PickExecutionError, match="start.*workspace"):
        execute_pick(prepared_client, plan_pick(GRASP, top_down(0), 0.04, CONFIG), config=CONFIG)
    assert not sim.received("Instruction") and not sim.dout_events


def test_cancel_stops_the_arm(sim, prepared_client):
    sim.speed_scale = 0.05
    progress = Progress()
    cancel = threading.Event()

    def on_step(index, count, step):
        progress(index, count, step)
        if step.name == "descend":
            cancel.set()

    with pytest.raises(PickAborted) as info:
        execute_pick(prepared_client, plan_pick(GRASP, top_down(0), 0.04, CONFIG), on_step=on_step,
                     should_abort=cancel.is_set, config=CONFIG)
    assert info.value.step == "descend"
    assert sim.received("Command")[-1] == {"Command": "FRC_Abort"}
    assert [e.on for e in sim.dout_events] == [False]             # never closed
    assert sim.unacknowledged == 0


def test_fault_during_descend_never_closes_the_gripper(sim, prepared_client):
    sim.speed_scale = 0.05

    def on_step(index, count, step):
        if step.name == "descend":      # the descend is in flight now
            sim.raise_fault()

    with pytest.raises(PickExecutionError) as info:
        execute_pick(prepared_client, plan_pick(GRASP, top_down(0), 0.04, CONFIG), on_step=on_step, config=CONFIG)
    assert info.value.step == "descend" and isinstance(info.value.__cause__, RMIFault)
    assert [e.on for e in sim.dout_events] == [False]
    assert prepared_client.fault is not None


@pytest.mark.slow
def test_controller_that_stops_answering_ends_in_a_closed_session(sim, prepared_client):
    def on_step(index, count, step):
        if step.name == "lift":
            sim.stop_answering = True

    # Fast moves keep the lift's deadline short: 150 mm at 500 mm/s, times 1.5, plus 1 s.
    fast = PickConfig(speed_mm_s=500, approach_speed_mm_s=500, gripper_settle_s=0.01)
    with pytest.raises(PickExecutionError) as info:
        execute_pick(prepared_client, plan_pick(GRASP, top_down(0), 0.04, fast), on_step=on_step, config=fast)
    assert info.value.step == "lift" and isinstance(info.value.__cause__, RMITimeout)
    assert not prepared_client.connected                       # FRC_Abort went unanswered: the link was dropped
    assert sim.wait_until(lambda: not sim.connected and not sim.rmi_running)


def test_dropped_connection_is_reported(sim, prepared_client):
    def on_step(index, count, step):
        if step.name == "approach-above":
            sim.drop_connection()

    with pytest.raises(PickExecutionError) as info:
        execute_pick(prepared_client, plan_pick(GRASP, top_down(0), 0.04, CONFIG), on_step=on_step, config=CONFIG)
    assert isinstance(info.value.__cause__, RMIConnectionLost)
    assert not prepared_client.connected and not sim.rmi_running


def test_prepare_refuses_an_enabled_pendant_and_restarts_a_running_program(sim):
    c = RMIClient("127.0.0.1", sim.port, timeout=1.0)
    c.connect()
    try:
        sim.teach_pendant_enabled = True
        with pytest.raises(PickExecutionError, match="teach pendant"):
            prepare_controller(c, CONFIG)
        sim.teach_pendant_enabled = False
        c.initialize()                               # RMI_MOVE left running by an earlier session
        prepare_controller(c, CONFIG)
        names = [p.get("Command") for p in sim.received("Command")]
        assert names[-5:] == ["FRC_GetStatus", "FRC_Abort", "FRC_Initialize", "FRC_SetUFrameUTool",
                              "FRC_SetOverRide"]
    finally:
        c.close()


def test_dry_run_pick_sends_nothing():
    with socket.socket() as s:          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = RMIClient("127.0.0.1", port, dry_run=True)
    c.connect()
    prepare_controller(c, CONFIG)
    progress = Progress()
    execute_pick(c, plan_pick(GRASP, top_down(0), 0.04, CONFIG), on_step=progress, config=CONFIG)
    names = [rmi.packet_kind(p)[1] for p in c.dry_run_controller.packets]
    assert names.count("FRC_LinearMotion") == 6 and names.count("FRC_WriteDOUT") == 3
    assert len(progress.steps) == 9


def test_plan_with_a_cnt_move_before_the_gripper_is_refused(prepared_client):
    cnt = PickStep("descend", move=LinearMove(Position(550, 0, 20, 180, 0, 0), 50, "CNT", 50))
    closing = plan_pick(GRASP, top_down(0), 0.04, CONFIG)[3]
    with pytest.raises(ValueError, match="FINE"):
        execute_pick(prepared_client, [cnt, closing])


# -- issue 11 ---------------------------------------------------------------------------------------
def test_item5_execute_pick_refuses_a_move_outside_the_limits_before_sending(sim, prepared_client):
    outside = PickStep("approach-above", move=LinearMove(Position(950.0, 0.0, 200.0, 180, 0, 0), 100))
    with pytest.raises(PickExecutionError, match="workspace"):
        execute_pick(prepared_client, [outside], config=CONFIG)
    assert not sim.received("Instruction")


@pytest.mark.parametrize("position, speed, limit", [
    (Position(950.0, 0.0, 200.0, 180, 0, 0), 100, "workspace"),
    (Position(550.0, 0.0, 2.0, 180, 0, 0), 100, "table"),
    (Position(550.0, 0.0, 200.0, 180, 0, 0), 900, "speed"),
    (Position(550.0, 0.0, 200.0, 120, 0, 0), 100, "tilt"),
    (Position(550.0, 0.0, 200.0, float("nan"), 0, 0), 100, "input"),    # a NaN tilt compares False
    (Position(550.0, 0.0, 200.0, 180, 0, float("nan")), 100, "input"),
    (Position(550.0, 0.0, 200.0, 180, float("inf"), 0), 100, "input"),
])
def test_item5_the_client_refuses_out_of_limits_moves_from_any_caller(sim, position, speed, limit):
    c = RMIClient("127.0.0.1", sim.port, timeout=1.0, limits=CONFIG.motion_limits())
    c.connect()
    try:
        c.initialize()
        configuration, _ = c.read_cartesian_position()
        with pytest.raises(PickRejected) as info:
            c.linear_motion(position, configuration, speed)
        assert info.value.limit == limit
        assert not sim.received("Instruction")
    finally:
        c.close()

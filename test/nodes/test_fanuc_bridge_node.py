"""The FANUC bridge node over a real rclpy graph, against the simulated controller over real sockets.

The bridge runs in-process with parameter overrides; a peer node publishes grasps on /grasp/best,
calls the services and the action, and records /fanuc_bridge/status. The simulated controller
records every packet it receives, so the tests check what a real controller would have seen.
Last, the bridge's pick cycle (grasp_source request, fanuc/pick_cycle.py) in the whole chain: camera
frames -> the detection node's grasp/detect -> the bridge -> RMI -> the simulator.
"""
import logging
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from grasp_scorer_ros.fanuc.pick_planner import PickConfig, plan_pick
from grasp_scorer_ros.sim.sim_controller import SimulatedController
from grasp_scorer_ros.rotations import quaternion_to_wpr
from pick_cell_helpers import PICK_PACKETS
from ros_helpers import spin_until
from rotation_helpers import top_down

REPO = Path(__file__).resolve().parents[2]
STEPS = ["open-gripper", "approach-above", "descend", "close-gripper", "lift", "place-above",
         "place-descend", "release", "retreat"]

# Short back-off, fast moves and no idle status polls (so the packet log holds only what the picks
# send). Against a sim at speed_scale 0.02 a pick takes well under a second. The reply timeout stays
# at 2 s and the stall watchdog at 3 s (the stall tests set their own): CI machines are loaded,
# and shorter ones fail picks on a merely slow reply.
FAST = {
    "reply_timeout": 2.0, "stall_timeout": 3.0, "reconnect_backoff_min": 0.1, "reconnect_backoff_max": 0.4,
    "status_poll_period": 0.0, "grasp_height_offset": 0.02, "grasp_source": "topic",   # the operator publishes
    "pick.speed_mm_s": 500.0, "pick.approach_speed_mm_s": 250.0, "pick.gripper_settle_s": 0.01,
    "pick.approach_height_m": 0.10, "pick.lift_height_m": 0.15,
    "pick.place_position_m": [0.40, -0.30, 0.05], "pick.place_approach_height_m": 0.10,
}


def grasp_message(x=0.6, y=0.1, z=0.0, yaw_deg=30.0, width=0.04, frame="base_link"):
    from grasp_scorer_ros.msg import GraspPose
    g = GraspPose()
    g.header.frame_id = frame
    g.pose.position.x, g.pose.position.y, g.pose.position.z = x, y, z
    o = g.pose.orientation
    o.x, o.y, o.z, o.w = top_down(yaw_deg)
    g.opening_width, g.jaw_size, g.score, g.primary_score = width, 0.02, 0.9, 0.8
    return g


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def name(packet):
    return next(iter(packet.values()))


def motion_packets(sim):
    return [p for p in sim.received("Instruction")]


class Graph:
    """The bridge under test plus an operator node that publishes grasps and calls its interfaces."""

    def __init__(self, context, port, **parameters):
        import rclpy
        from rclpy.action import ActionClient
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.parameter import Parameter
        from std_srvs.srv import SetBool, Trigger

        from grasp_scorer_ros.action import PickGrasp
        from grasp_scorer_ros.msg import BridgeStatus, GraspPose
        from grasp_scorer_ros.nodes.fanuc_bridge_node import FanucBridgeNode

        values = {"robot_ip": "127.0.0.1", "rmi_port": port, "armed": True, **FAST, **parameters}
        self.node = FanucBridgeNode(
            context=context, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
        self.peer = rclpy.create_node("operator", context=context)
        self.grasp_pub = self.peer.create_publisher(GraspPose, "/grasp/best", 10)
        self.statuses = []
        self.peer.create_subscription(BridgeStatus, "/fanuc_bridge/status", self.statuses.append, 200)
        self.arm_client = self.peer.create_client(SetBool, "/fanuc_bridge/arm")
        self.abort_client = self.peer.create_client(Trigger, "/fanuc_bridge/abort")
        self.reset_client = self.peer.create_client(Trigger, "/fanuc_bridge/reset")
        self.pick_client = ActionClient(self.peer, PickGrasp, "/fanuc_bridge/pick")
        self.executor = MultiThreadedExecutor(num_threads=4, context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)
        assert spin_until(self.executor, lambda: self.grasp_pub.get_subscription_count() > 0
                          and self.statuses, timeout=10)

    @property
    def status(self):
        return self.statuses[-1]

    def wait_status(self, predicate, timeout=5.0):
        return spin_until(self.executor, lambda: self.statuses and predicate(self.statuses[-1]), timeout)

    def wait(self, condition, timeout=5.0):
        return spin_until(self.executor, condition, timeout, step=0.01)

    def call(self, client, request, timeout=5.0):
        assert client.wait_for_service(timeout_sec=timeout)
        future = client.call_async(request)
        assert spin_until(self.executor, future.done, timeout, step=0.01)
        return future.result()

    def arm(self, on=True):
        from std_srvs.srv import SetBool
        return self.call(self.arm_client, SetBool.Request(data=on))

    def trigger(self, client):
        from std_srvs.srv import Trigger
        return self.call(client, Trigger.Request())

    def send_goal(self, grasp, feedback=None, timeout=5.0):
        from grasp_scorer_ros.action import PickGrasp
        assert self.pick_client.wait_for_server(timeout_sec=timeout)
        future = self.pick_client.send_goal_async(PickGrasp.Goal(grasp=grasp), feedback_callback=feedback)
        assert spin_until(self.executor, future.done, timeout, step=0.01)
        return future.result()

    def close(self):
        self.executor.shutdown()
        self.pick_client.destroy()
        self.node.destroy_node()
        self.peer.destroy_node()


@pytest.fixture
def sim_speed_scale():
    return 0.02


@pytest.fixture
def bridge_graph(ros, sim):
    graphs = []

    def make(port=None, **parameters):
        graphs.append(Graph(ros, sim.port if port is None else port, **parameters))
        return graphs[-1]
    yield make
    for g in graphs:
        g.close()


def wait_connected(g, sim):
    assert g.wait_status(lambda s: s.connected, timeout=5), "the bridge never connected"
    assert sim.wait_until(lambda: sim.connected), "the simulator never took its side of the session"


def first_motion_then(g, sim, action, speed_scale=1.0):
    """Slow the arm down, pick, and run ``action`` as soon as the first move reaches the controller."""
    sim.speed_scale = speed_scale       # at 1.0 the approach move takes about 0.6 s
    g.grasp_pub.publish(grasp_message())
    assert g.wait(lambda: motion_packets(sim), timeout=5)
    return action()


# -- 1 ------------------------------------------------------------------------------------------
def test_grasp_on_topic_becomes_the_right_packet_sequence(bridge_graph, sim):
    g = bridge_graph()
    wait_connected(g, sim)
    g.grasp_pub.publish(grasp_message(0.6, 0.1, 0.0, yaw_deg=30.0, width=0.04))
    assert g.wait_status(lambda s: s.picks_completed == 1 and not s.busy, timeout=10), g.status

    received = sim.received()
    summary = [(name(p), p.get("SequenceID", p.get("PortValue"))) for p in received]
    assert summary[:3] == [
        ("FRC_Connect", None),                       # connect port, then the hand-off
        ("FRC_GetStatus", None),                     # status read on connecting
        ("FRC_GetStatus", None)]                     # the pick's preparation
    # During the pick the watchdog asks FRC_GetStatus too: the pick's own packets, in order.
    assert [s for s in summary[3:] if s[0] != "FRC_GetStatus"] == PICK_PACKETS
    assert sim.sessions_opened == 1 and g.node.client.controller_port == sim.handoff_port
    assert received[4] == {"Command": "FRC_SetUFrameUTool", "UFrameNumber": 0, "UToolNumber": 1, "Group": 1}
    assert received[5] == {"Command": "FRC_SetOverRide", "Value": 100}

    w, p, r = quaternion_to_wpr(top_down(30.0))
    assert abs(w) == pytest.approx(180.0) and p == pytest.approx(0.0, abs=1e-9) and r == pytest.approx(30.0)
    grasp_wpr, place_wpr = (w, p, r), (180.0, 0.0, 0.0)
    expected = [  # X, Y, Z (mm), orientation, speed (mm/s)
        ((600.0, 100.0, 120.0), grasp_wpr, 500),     # approach: 0.1 m above the TCP (grasp z + 0.02)
        ((600.0, 100.0, 20.0), grasp_wpr, 250),      # descend
        ((600.0, 100.0, 170.0), grasp_wpr, 250),     # lift 0.15 m
        ((400.0, -300.0, 150.0), place_wpr, 500),    # above the place pose
        ((400.0, -300.0, 50.0), place_wpr, 250),     # place
        ((400.0, -300.0, 150.0), place_wpr, 250),    # retreat
    ]
    for packet, (xyz, wpr, speed) in zip(motion_packets(sim), expected):
        pos = packet["Position"]
        assert (pos["X"], pos["Y"], pos["Z"]) == pytest.approx(xyz, abs=1e-3)
        assert abs(pos["W"]) == pytest.approx(abs(wpr[0]), abs=1e-4)
        assert (pos["P"], pos["R"]) == pytest.approx(wpr[1:], abs=1e-4)
        assert packet["Speed"] == speed and packet["SpeedType"] == "mmSec" and packet["TermType"] == "FINE"
        assert packet["Configuration"]["UToolNumber"] == 1 and packet["Configuration"]["UFrameNumber"] == 0
    # The jaws closed at the grasp with the arm at rest, and opened at the place pose.
    close = sim.dout_events[1]
    assert close.on and not close.arm_moving and close.unacknowledged == 0
    assert (close.position.x, close.position.y, close.position.z) == pytest.approx((600, 100, 20))
    assert not sim.dout_events[2].on and sim.dout_events[2].position.z == pytest.approx(50)

    s = g.status
    assert (s.picks_completed, s.picks_failed, s.pick_step, s.last_error) == (1, 0, "", "")
    assert s.armed and s.connected and s.servo_ready and not s.teach_pendant_enabled and not s.dry_run
    assert s.last_sequence_id == 6
    seen = [m.pick_step for m in g.statuses]
    assert [step for step in STEPS if step in seen] == STEPS      # every step was reported


# -- 2 ------------------------------------------------------------------------------------------
def test_disarmed_sends_no_motion_until_armed(bridge_graph, sim):
    from rclpy.parameter import Parameter
    g = bridge_graph(armed=False)
    wait_connected(g, sim)
    for _ in range(3):
        g.grasp_pub.publish(grasp_message())
        assert g.wait(lambda: False, timeout=0.1) is False
    assert g.wait(lambda: g.node.grasps_ignored == 3)
    assert {name(p) for p in sim.received()} == {"FRC_Connect", "FRC_GetStatus"}
    assert not g.status.armed and g.status.picks_failed == 0

    # The parameter is the start-up value only: run time arming goes through the service.
    result = g.node.set_parameters([Parameter("armed", value=True)])[0]
    assert not result.successful and "/fanuc_bridge/arm" in result.reason
    response = g.arm(True)
    assert response.success, response.message
    assert g.wait_status(lambda s: s.armed)
    g.grasp_pub.publish(grasp_message())
    assert g.wait_status(lambda s: s.picks_completed == 1 and not s.busy, timeout=10), g.status
    assert len(motion_packets(sim)) == 6

    assert g.arm(False).success
    g.grasp_pub.publish(grasp_message())
    assert g.wait(lambda: g.node.grasps_ignored == 4)
    assert len(motion_packets(sim)) == 6


def test_a_streamed_grasp_from_an_image_taken_before_the_last_pick_ended_is_ignored(bridge_graph, sim):
    g = bridge_graph()
    wait_connected(g, sim)
    before = g.node.get_clock().now().to_msg()
    g.grasp_pub.publish(grasp_message())
    assert g.wait_status(lambda s: s.picks_completed == 1 and not s.busy, timeout=10), g.status
    assert g.wait(lambda: g.node._pick_ended_ns > 0)
    stale = grasp_message(0.5, -0.2)
    stale.header.stamp = before                   # seen before the pick: the part may be gone
    g.grasp_pub.publish(stale)
    assert g.wait(lambda: g.node.stale_grasps == 1)
    assert g.wait(lambda: False, timeout=0.3) is False and g.status.picks_completed == 1
    fresh = grasp_message(0.5, -0.2)
    fresh.header.stamp = g.node.get_clock().now().to_msg()
    g.grasp_pub.publish(fresh)
    assert g.wait_status(lambda s: s.picks_completed == 2 and not s.busy, timeout=10), g.status


# -- 3 ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_grasps_while_busy_are_ignored(bridge_graph, sim):
    g = bridge_graph()
    wait_connected(g, sim)
    sim.speed_scale = 0.6       # about two seconds per pick
    g.grasp_pub.publish(grasp_message(0.6, 0.1))
    assert g.wait_status(lambda s: s.busy)
    g.grasp_pub.publish(grasp_message(0.5, -0.2))
    assert g.wait(lambda: g.node.grasps_ignored == 1)
    goal = g.send_goal(grasp_message(0.5, -0.2))          # the action shares the one pick slot
    assert not goal.accepted
    assert g.wait_status(lambda s: s.picks_completed == 1 and not s.busy, timeout=10), g.status
    motions = motion_packets(sim)
    assert len(motions) == 6
    assert {(m["Position"]["X"], m["Position"]["Y"]) for m in motions} == {(600.0, 100.0), (400.0, -300.0)}
    assert g.status.picks_failed == 0 and g.status.armed


# -- 4 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("grasp, words", [
    (grasp_message(x=1.5), ["workspace", "x = 1.5"]),
    (grasp_message(width=0.2), ["opening", "0.2000"]),
    (grasp_message(frame="camera_color_optical_frame"), ["camera_color_optical_frame", "base_link"]),
])
def test_rejected_grasps_send_nothing_and_are_reported(bridge_graph, sim, grasp, words):
    g = bridge_graph()
    wait_connected(g, sim)
    g.grasp_pub.publish(grasp)
    assert g.wait_status(lambda s: s.picks_failed == 1 and not s.busy), g.status
    assert "rejected" in g.status.last_error and all(w in g.status.last_error for w in words), g.status.last_error
    assert {name(p) for p in sim.received()} == {"FRC_Connect", "FRC_GetStatus"}
    assert g.status.armed, "a rejected grasp moved nothing: the bridge stays armed"
    g.grasp_pub.publish(grasp_message())
    assert g.wait_status(lambda s: s.picks_completed == 1 and not s.busy, timeout=10), g.status


# -- 5 ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_dropped_connection_fails_the_pick_then_reconnects_without_resuming(bridge_graph, sim):
    g = bridge_graph(reconnect_backoff_min=0.3)
    wait_connected(g, sim)
    dropped = first_motion_then(g, sim, lambda: (sim.drop_connection(), time.monotonic())[1])
    assert g.wait_status(lambda s: s.picks_failed == 1 and not s.busy), g.status
    s = g.status
    assert not s.armed and "connection lost" in s.last_error and s.picks_completed == 0
    assert not sim.rmi_running
    # Back-off, then a new session; the pick is not resumed.
    assert g.wait(lambda: sim.sessions_opened == 2, timeout=5)
    assert time.monotonic() - dropped >= 0.3
    assert g.wait_status(lambda s: s.connected, timeout=5)
    sent = len(motion_packets(sim))
    g.grasp_pub.publish(grasp_message())
    assert g.wait(lambda: g.node.grasps_ignored == 1)
    time.sleep(0.3)
    assert len(motion_packets(sim)) == sent and not sim.rmi_running


@pytest.mark.slow
def test_bridge_started_before_the_controller_connects_with_back_off(bridge_graph, ros):
    port = free_port()
    g = bridge_graph(port=port)
    assert g.wait(lambda: False, timeout=0.5) is False          # a few refused attempts
    assert not g.status.connected
    late = SimulatedController(port=port, speed_scale=0.02).start()
    try:
        assert g.wait_status(lambda s: s.connected, timeout=5)
        g.grasp_pub.publish(grasp_message())
        assert g.wait_status(lambda s: s.picks_completed == 1 and not s.busy, timeout=10), g.status
    finally:
        late.stop()


# -- 6 ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_controller_that_stops_answering_ends_in_a_safe_reported_state(bridge_graph, sim):
    g = bridge_graph(stall_timeout=10.0)       # the instruction's own deadline, not the watchdog, finds it
    wait_connected(g, sim)
    first_motion_then(g, sim, lambda: setattr(sim, "stop_answering", True))
    assert g.wait_status(lambda s: s.picks_failed == 1 and not s.busy, timeout=15), g.status
    s = g.status
    assert "not acknowledged" in s.last_error and "timeout" in s.last_error and not s.armed
    assert sim.wait_until(lambda: not sim.connected and not sim.rmi_running)   # session closed: arm stopped
    sent = len(motion_packets(sim))
    assert sent <= 2            # approach and descend go out together; nothing after the gripper step
    sim.stop_answering = False
    assert g.wait_status(lambda s: s.connected, timeout=5)
    assert len(motion_packets(sim)) == sent


# -- 7 ------------------------------------------------------------------------------------------
def test_fault_disarms_and_needs_reset_then_arm(bridge_graph, sim):
    g = bridge_graph()
    wait_connected(g, sim)
    first_motion_then(g, sim, sim.raise_fault)
    assert g.wait_status(lambda s: s.picks_failed == 1 and not s.busy and not s.armed), g.status
    assert "FRC_SystemFault" in g.status.last_error
    sent = len(motion_packets(sim))
    time.sleep(0.3)
    assert len(motion_packets(sim)) == sent <= 2, "nothing resumes after a fault"
    assert [e.on for e in sim.dout_events] == [False]           # the jaws never closed

    refused = g.arm(True)
    assert not refused.success and "/fanuc_bridge/reset" in refused.message
    reset = g.trigger(g.reset_client)
    assert reset.success, reset.message
    assert {"Command": "FRC_Reset"} in sim.received("Command")
    assert g.wait_status(lambda s: s.last_error == "" and not s.armed)
    assert g.arm(True).success
    sim.speed_scale = 0.02
    g.grasp_pub.publish(grasp_message())
    assert g.wait_status(lambda s: s.picks_completed == 1 and not s.busy, timeout=10), g.status


# -- 8 ------------------------------------------------------------------------------------------
def test_abort_stops_the_pick_at_once_and_disarms(bridge_graph, sim):
    g = bridge_graph()
    wait_connected(g, sim)
    assert g.abort_client.wait_for_service(timeout_sec=5)

    def abort():
        return time.monotonic(), g.trigger(g.abort_client)
    # A slow approach (about 6 s): "at once" means the abort cut it short, whatever the machine's load.
    called, response = first_motion_then(g, sim, abort, speed_scale=10.0)
    assert response.success, response.message
    abort_times = [i for i, p in enumerate(sim.received()) if p == {"Command": "FRC_Abort"}]
    assert abort_times, "FRC_Abort never reached the controller"
    first_move = motion_packets(sim)[0]["SequenceID"]
    assert not [p for p in sim.sent_packets if p.get("SequenceID") == first_move
                and "Instruction" in p], "the approach ran to its end: the abort did not stop it"
    assert not sim.rmi_running
    assert g.wait_status(lambda s: s.picks_failed == 1 and not s.busy and not s.armed), g.status
    assert "aborted" in g.status.last_error
    sent = len(motion_packets(sim))
    time.sleep(0.3)
    assert len(motion_packets(sim)) == sent <= 2 and [e.on for e in sim.dout_events] == [False]

    assert g.arm(True).success           # no fault: an explicit arm is enough
    sim.speed_scale = 0.02
    g.grasp_pub.publish(grasp_message())
    assert g.wait_status(lambda s: s.picks_completed == 1 and not s.busy, timeout=10), g.status
    assert g.status.last_sequence_id == 6        # IDs restarted at 1 with the new FRC_Initialize


# -- 9 ------------------------------------------------------------------------------------------
def test_action_reports_each_step_and_rejects_goals_while_disarmed(bridge_graph, sim):
    g = bridge_graph()
    wait_connected(g, sim)
    feedback = []
    goal = g.send_goal(grasp_message(), feedback=lambda m: feedback.append(m.feedback))
    assert goal.accepted
    result_future = goal.get_result_async()
    assert g.wait(lambda: result_future.done() and len(feedback) == len(STEPS), timeout=10), feedback
    result = result_future.result().result
    assert result.success, result.message
    assert [(f.step, f.step_index, f.step_count) for f in feedback] == [
        (step, i, len(STEPS)) for i, step in enumerate(STEPS, start=1)]
    assert g.wait_status(lambda s: s.picks_completed == 1)

    # A grasp the planner refuses: accepted, then a failed result that says why.
    goal = g.send_goal(grasp_message(width=0.5))
    result_future = goal.get_result_async()
    assert g.wait(result_future.done)
    assert not result_future.result().result.success and "opening" in result_future.result().result.message

    assert g.arm(False).success
    goal = g.send_goal(grasp_message())
    assert not goal.accepted
    assert len(motion_packets(sim)) == 6


# -- 10 -----------------------------------------------------------------------------------------
def test_dry_run_opens_no_connection_and_logs_the_packets(bridge_graph, sim, caplog):
    caplog.set_level(logging.INFO, logger="grasp_scorer_ros.fanuc")
    g = bridge_graph(dry_run=True)
    assert g.wait_status(lambda s: s.connected and s.dry_run)
    g.grasp_pub.publish(grasp_message())
    assert g.wait_status(lambda s: s.picks_completed == 1 and not s.busy, timeout=10), g.status
    time.sleep(0.2)
    assert sim.received() == [] and sim.sessions_opened == 0
    logged = [r.getMessage() for r in caplog.records if "dry-run, not sent" in r.getMessage()]
    assert sum("FRC_LinearMotion" in m for m in logged) == 6
    assert any('"FRC_WriteDOUT","PortNumber":1,"PortValue":"ON"' in m for m in logged)
    names = [name(p) for p in g.node.client.dry_run_controller.packets]
    assert names.count("FRC_LinearMotion") == 6 and names[0] == "FRC_Connect"


# -- 11 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("knob, value, words, field", [
    ("teach_pendant_enabled", True, "teach pendant", "teach_pendant_enabled"),
    ("servo_ready", False, "servo", "servo_ready"),
])
def test_controller_not_ready_is_a_clear_error_without_motion(bridge_graph, sim, knob, value, words, field):
    g = bridge_graph()
    wait_connected(g, sim)
    setattr(sim, knob, value)
    g.grasp_pub.publish(grasp_message())
    assert g.wait_status(lambda s: s.picks_failed == 1 and not s.busy), g.status
    s = g.status
    assert words in s.last_error and not s.armed
    assert g.wait_status(lambda s: getattr(s, field) == value)     # the status read after the pick
    assert not motion_packets(sim) and {"Command": "FRC_Initialize", "GroupMask": 1} not in sim.received()


# -- configuration and the simulated controller node -----------------------------------------------
def test_config_file_declares_every_parameter_and_covers_the_demo_table(ros):
    from rclpy.parameter import Parameter
    from grasp_scorer_ros.nodes.fanuc_bridge_node import FanucBridgeNode, all_parameters

    path = REPO / "config" / "fanuc_bridge.yaml"
    values = yaml.safe_load(path.read_text())["/**"]["ros__parameters"]
    flat = {k: v for k, v in values.items() if k != "pick"}
    flat.update({f"pick.{k}": v for k, v in values["pick"].items()})
    declared = all_parameters()
    assert set(flat) <= set(declared)
    assert set(declared) - set(flat) == {"robot_ip", "rmi_port", "armed", "dry_run"}  # set by the launch file
    for key, value in flat.items():
        assert type(value) is type(declared[key][0]) and value == declared[key][0], key

    node = FanucBridgeNode(context=ros, cli_args=["--ros-args", "--params-file", str(path)],
                           parameter_overrides=[Parameter("dry_run", value=True)])
    try:
        assert node.config == PickConfig.from_dict(
            {k: v for k, v in values["pick"].items()} | {"place_position_m": tuple(values["pick"]["place_position_m"])})
        config, offset = node.config, node.params["grasp_height_offset"]
    finally:
        node.destroy_node()
    # The demo: grasps on the table z = 0, x 0.3..0.9, y -0.35..0.35, up to 0.09 m wide, any yaw.
    for x in (0.3, 0.6, 0.9):
        for y in (-0.35, 0.0, 0.35):
            for yaw in (-90.0, 0.0, 45.0, 90.0):
                plan_pick((x, y, 0.0 + offset), top_down(yaw), 0.09, config)


def test_cancelled_goal_stops_the_arm_and_disarms(bridge_graph, sim):
    g = bridge_graph()
    wait_connected(g, sim)
    sim.speed_scale = 1.0
    goal = g.send_goal(grasp_message())
    assert goal.accepted and g.wait(lambda: motion_packets(sim))
    cancel = goal.cancel_goal_async()
    result_future = goal.get_result_async()
    assert g.wait(lambda: cancel.done() and result_future.done())
    from action_msgs.msg import GoalStatus
    assert result_future.result().status == GoalStatus.STATUS_CANCELED
    assert "aborted" in result_future.result().result.message
    assert {"Command": "FRC_Abort"} in sim.received("Command") and not sim.rmi_running
    assert g.wait_status(lambda s: not s.armed and s.picks_failed == 1 and not s.busy)


# -- issue 11: no motion without a new, explicit arm --------------------------------------------------
def test_item1_a_controller_restart_clears_arming(bridge_graph, ros):
    port = free_port()
    first = SimulatedController(port=port, speed_scale=0.02).start()
    g = bridge_graph(port=port)
    try:
        assert g.wait_status(lambda s: s.connected and s.armed, timeout=5), g.status
        first.stop()                                   # killed while idle...
        assert g.wait_status(lambda s: not s.connected, timeout=5), g.status
    finally:
        first.stop()
    second = SimulatedController(port=port, speed_scale=0.02).start()     # ...and restarted
    try:
        assert g.wait_status(lambda s: s.connected, timeout=5), g.status
        assert not g.status.armed, "arming must not carry over a reconnect"
        g.grasp_pub.publish(grasp_message())
        assert g.wait(lambda: g.node.grasps_ignored == 1)
        assert not second.received("Instruction")
    finally:
        second.stop()


def test_item2_disarm_stops_the_pick_in_progress(bridge_graph, sim):
    g = bridge_graph()
    wait_connected(g, sim)
    response = first_motion_then(g, sim, lambda: g.arm(False))
    assert response.success and "stopped" in response.message, response.message
    assert {"Command": "FRC_Abort"} in sim.received("Command") and not sim.rmi_running
    assert g.wait_status(lambda s: s.picks_failed == 1 and not s.busy and not s.armed), g.status
    sent = len(motion_packets(sim))
    time.sleep(0.3)
    assert len(motion_packets(sim)) == sent <= 2 and [e.on for e in sim.dout_events] == [False]


@pytest.mark.slow
def test_item4_a_stalled_controller_is_reported_within_about_a_second(bridge_graph, sim):
    g = bridge_graph(reply_timeout=3.0, motion_timeout_factor=1.5, stall_timeout=1.0)   # the shipped timeouts
    wait_connected(g, sim)
    stalled = first_motion_then(g, sim, lambda: (setattr(sim, "stop_answering", True), time.monotonic())[1])
    assert g.wait_status(lambda s: s.picks_failed == 1 and not s.busy, timeout=10), g.status
    # The move's own deadline is at least 3 s + 1.5 x its duration: under 3 s, the watchdog found it.
    assert time.monotonic() - stalled < 3.0, f"stall reported after {time.monotonic() - stalled:.1f} s"
    assert "stopped answering" in g.status.last_error and not g.status.armed, g.status


@pytest.mark.slow
def test_item6_gripper_state_is_published_and_the_next_pick_unloads_first(bridge_graph, sim):
    g = bridge_graph()
    wait_connected(g, sim)
    sim.speed_scale = 1.0
    g.grasp_pub.publish(grasp_message())
    assert g.wait(lambda: any(e.on for e in sim.dout_events), timeout=10)   # the jaws closed at the grasp
    sim.raise_fault()                                                   # and the lift never ends
    assert g.wait_status(lambda s: s.picks_failed == 1 and not s.busy), g.status
    assert g.status.gripper == "closed"
    stopped = sim.tool_position
    assert g.trigger(g.reset_client).success and g.arm(True).success
    sim.speed_scale = 0.02
    before = len(motion_packets(sim))
    g.grasp_pub.publish(grasp_message(0.5, -0.1))
    assert g.wait_status(lambda s: s.picks_completed == 1 and not s.busy, timeout=15), g.status
    assert g.status.gripper == "open"
    first = motion_packets(sim)[before]["Position"]
    assert (first["X"], first["Y"]) == pytest.approx((stopped.x, stopped.y), abs=1e-3)   # straight up
    assert first["Z"] > stopped.z
    opened = next(e for e in sim.dout_events[2:] if not e.on)       # first opening after the fault
    assert (opened.position.x, opened.position.y, opened.position.z) == pytest.approx((400, -300, 50))


def test_item7_pick_defaults_have_one_source(ros):
    import dataclasses
    from grasp_scorer_ros.nodes.fanuc_bridge_node import PICK_PARAMETERS

    defaults = {f.name: f.default for f in dataclasses.fields(PickConfig)}
    declared = {k: tuple(v) if isinstance(v, list) else v for k, (v, _) in PICK_PARAMETERS.items()}
    assert declared == defaults
    values = yaml.safe_load((REPO / "config" / "fanuc_bridge.yaml").read_text())["/**"]["ros__parameters"]["pick"]
    assert {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()} == defaults


# -- the whole chain over ROS: camera frames -> the detection node's grasp/detect -> the bridge ----------
@pytest.fixture
def chain(ros, sim, tmp_path, calibration_file):
    """Detection node (tiny model), bridge in request mode, a camera peer publishing frames stamped now."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo, Image
    from grasp_scorer_ros.msg import BridgeStatus
    from grasp_scorer_ros.network.checkpoint import save_checkpoint
    from grasp_scorer_ros.nodes.detection_node import GraspDetectionNode
    from grasp_scorer_ros.nodes.fanuc_bridge_node import FanucBridgeNode
    from overhead_scene import camera_info, image_message, scene
    from tiny_model import tiny_model

    checkpoint = tmp_path / "tiny.pt"
    save_checkpoint(str(checkpoint), tiny_model(seed=3))
    detector = GraspDetectionNode(context=ros, parameter_overrides=[
        Parameter("checkpoint", value=str(checkpoint)), Parameter("calibration_file", value=str(calibration_file)),
        Parameter("score_threshold", value=0.0),
        # The camera peer is reliable. With "auto" the node swaps its image subscription for one that
        # follows the publisher, and destroying the old one while this test's multi-threaded executor
        # builds a wait set on another thread raises rclpy's InvalidHandle now and then (the node's own
        # executor is single-threaded; test_detection_node.py tests the swap).
        Parameter("image_reliability", value="reliable")])
    values = {**FAST, "grasp_source": "request", "robot_ip": "127.0.0.1", "rmi_port": sim.port, "armed": True,
              "base_frame": "robot_base", "request_timeout": 3.0, "retry_delay": 0.05,
              "pick.gripper_max_opening_m": 0.5}
    bridge = FanucBridgeNode(context=ros, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
    camera = rclpy.create_node("camera", context=ros)
    image_pub = camera.create_publisher(Image, "image", 10)
    info_pub = camera.create_publisher(CameraInfo, "camera_info", 10)
    statuses = []
    camera.create_subscription(BridgeStatus, "/fanuc_bridge/status", statuses.append, 100)
    executor = MultiThreadedExecutor(num_threads=6, context=ros)
    for node in (detector, bridge, camera):
        executor.add_node(node)
    published = []      # stamps (ns) and the cell's busy flag when each frame went out

    def publish():
        now = camera.get_clock().now()
        message = image_message(scene(len(published) % 5), stamp_sec=0)
        message.header.stamp = now.to_msg()
        info = camera_info()
        info.header.stamp = message.header.stamp
        info_pub.publish(info)
        image_pub.publish(message)
        published.append((now.nanoseconds, bridge.cell.status().busy))
    camera.create_timer(0.1, publish)
    try:
        yield {"executor": executor, "bridge": bridge, "detector": detector, "published": published,
               "statuses": statuses}
    finally:
        executor.shutdown()
        bridge.destroy_node()
        detector.destroy_node()
        camera.destroy_node()


@pytest.mark.slow
def test_the_bridge_picks_only_from_frames_taken_after_its_previous_pick(chain, sim):
    bridge, executor = chain["bridge"], chain["executor"]
    assert spin_until(executor, lambda: len(bridge.cycle.history) >= 3 and bridge.cycle.history[2][2] is not None,
                      timeout=60), f"history {bridge.cycle.history}, status {chain['statuses'][-1:]}"
    history = bridge.cycle.history
    stamps = np.array([stamp for stamp, _ in chain["published"]])
    for (_, _, ended), (not_before, frame, _) in zip(history, history[1:]):
        assert frame >= not_before >= ended
        assert frame in stamps          # the stamp of a frame the camera really sent
    # Frames were sent while the arm was busy, and none of them was picked from.
    busy_frames = {stamp for stamp, busy in chain["published"] if busy}
    assert busy_frames and not busy_frames & {frame for _, frame, _ in history}
    status = bridge.cell.status()
    assert status.picks_completed + status.picks_failed >= 3

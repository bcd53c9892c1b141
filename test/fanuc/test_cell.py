"""The pick cell's safety rules, without ROS, against the simulated controller over real sockets.

Every rule of :mod:`grasp_scorer_ros.fanuc.cell` has its test here: arming and what clears it
(a reconnect, a fault, a failed pick, a disarm), disarm and abort mid-pick, fault and reset, the
stall watchdog, the limits, the gripper's state and the unload before the next pick, and a bounded
close. The simulated controller records every packet, so the tests check what a real controller
would have seen. The cells come from the ``make_cell`` and ``verified_cell`` fixtures (fanuc/conftest.py).
"""
import threading
import time

import pytest

from grasp_scorer_ros.fanuc.pick_planner import PickRejected
from grasp_scorer_ros.fanuc.rmi_protocol import Configuration, Position
from grasp_scorer_ros.sim.sim_controller import SimulatedController
from pick_cell_helpers import connected, request, wait

PLACE_MM = (400.0, -300.0, 50.0)


@pytest.fixture
def sim_speed_scale():
    return 0.02


def name(packet):
    return next(iter(packet.values()))


def motions(sim):
    return sim.received("Instruction")


def pick(cell, **grasp):
    job = cell.submit(request(**grasp))
    assert not isinstance(job, str), job
    assert job.done.wait(10), "the pick never ended"
    return job


def first_motion_then(cell, sim, action, speed_scale=1.0):
    """Slow the arm down, start a pick, run ``action`` once the first move reached the controller."""
    sim.speed_scale = speed_scale
    job = cell.submit(request())
    assert not isinstance(job, str), job
    assert wait(lambda: motions(sim))
    return job, action()


# -- arming -----------------------------------------------------------------------------------------
def test_an_armed_cell_picks_and_reports(make_cell, sim):
    cell = connected(make_cell(), sim)
    job = pick(cell)
    assert job.success, job.message
    s = cell.status()
    assert (s.picks_completed, s.picks_failed, s.busy, s.armed, s.gripper, s.last_error) == (1, 0, False, True, "open", "")
    assert [name(p) for p in motions(sim)] == ["FRC_LinearMotion"] * 6
    steps = []
    while not job.progress.empty():
        steps.append(job.progress.get_nowait())
    assert [n for _, _, n in steps] == ["open-gripper", "approach-above", "descend", "close-gripper", "lift",
                                       "place-above", "place-descend", "release", "retreat"]


def test_nothing_moves_until_armed_and_arming_needs_a_session(make_cell, sim):
    cell = make_cell(armed=False)
    assert "disarmed" in cell.submit(request()) and cell.grasps_ignored == 1
    connected(cell, sim)
    assert "disarmed" in cell.submit(request())
    assert not motions(sim) and {name(p) for p in sim.received()} <= {"FRC_Connect", "FRC_GetStatus"}
    assert cell.arm(True).success
    assert pick(cell).success

    sim.drop_connection()
    assert wait(lambda: not cell.status().connected)
    refused = cell.arm(True)              # no session: nothing to arm
    assert not refused.success and "not connected" in refused.message


def test_a_reconnect_clears_arming_even_the_start_up_one(make_cell, sim):
    cell = connected(make_cell(armed=True), sim)
    assert cell.status().armed
    sim.drop_connection()                 # a controller restart or a cut cable, while idle
    assert wait(lambda: "connection lost" in cell.status().last_error and cell.status().connected), cell.status()
    assert wait(lambda: sim.sessions_opened == 2 and sim.connected)
    assert not cell.status().armed, cell.status()
    assert "disarmed" in cell.submit(request())
    assert not motions(sim)
    assert cell.arm(True).success and pick(cell).success


def test_arming_belongs_to_one_session(make_cell, sim):
    cell = connected(make_cell(), sim)
    assert cell.status().armed
    cell.client.close()          # however a session ends, and before anyone is told of it
    assert not cell.status().armed and "disarmed" in cell.submit(request())
    assert wait(lambda: sim.sessions_opened == 2 and cell.status().connected)
    assert not cell.status().armed


def test_arming_does_not_pass_to_a_session_the_worker_has_not_noticed(make_cell, sim):
    """A new session opened before the worker saw the old one end (it looks at the client at most
    every second) must not be armed: arming is tied to the session's number, not to "some session
    was armed"."""
    cell = connected(make_cell(), sim)
    assert cell.status().armed
    with cell._lock:                # the worker cannot look in between
        cell.client.close()
        # the controller frees the session on its own thread; a connect before that is refused (RMIT-026)
        assert wait(lambda: not sim.connected)
        cell.client.connect(attempts=1)
        assert cell.client.connected and cell._session_up, "to the worker, nothing happened"
        assert not cell.status().armed, cell.status()
        assert "disarmed" in cell.submit(request())
    assert wait(lambda: sim.sessions_opened == 2)
    assert not motions(sim)


def test_disarm_stops_the_pick_in_progress(make_cell, sim):
    cell = connected(make_cell(), sim)
    job, outcome = first_motion_then(cell, sim, lambda: cell.arm(False))
    assert outcome.success and "stopped" in outcome.message
    assert job.done.wait(5) and not job.success and "aborted" in job.message
    assert {"Command": "FRC_Abort"} in sim.received("Command") and not sim.rmi_running
    sent = len(motions(sim))
    time.sleep(0.3)
    assert len(motions(sim)) == sent <= 2 and [e.on for e in sim.dout_events] == [False]
    assert not cell.status().armed and not cell.status().busy


def test_abort_stops_at_once_and_no_motion_follows_it(make_cell, sim):
    cell = connected(make_cell(), sim)
    # A slow approach (about 6 s): "at once" means the abort cut it short, whatever the machine's load.
    job, outcome = first_motion_then(cell, sim, cell.abort, speed_scale=10.0)
    assert outcome.success, outcome
    first_move = motions(sim)[0]["SequenceID"]
    assert not [p for p in sim.sent_packets if p.get("SequenceID") == first_move
                and "Instruction" in p], "the approach ran to its end: the abort did not stop it"
    assert job.done.wait(5) and not job.success
    names = [name(p) for p in sim.received()]
    assert "FRC_LinearMotion" not in names[names.index("FRC_Abort"):]
    assert not cell.status().armed
    sim.speed_scale = 0.02
    assert cell.arm(True).success and pick(cell).success    # no fault: arming again is enough


def test_a_failed_pick_disarms_a_rejected_grasp_does_not(make_cell, sim):
    cell = connected(make_cell(), sim)
    for bad, words in ((request(x=1.5), "workspace"), (request(width=0.2), "opening"),
                       (request(frame="camera"), "frame 'camera'")):
        job = cell.submit(bad)
        assert job.done.wait(5) and not job.success and words in job.message and "nothing sent" in job.message
        assert cell.status().armed
    assert not motions(sim)
    sim.workspace_reach_mm = 500.0        # the controller refuses the approach (RMIT-036)
    job = pick(cell)
    assert not job.success and "RMIT-036" in job.message and "disarmed" in job.message
    assert not cell.status().armed and cell.status().picks_failed == 4


# -- faults -----------------------------------------------------------------------------------------
def test_a_fault_disarms_and_arming_waits_for_reset(make_cell, sim):
    cell = connected(make_cell(), sim)
    job, _ = first_motion_then(cell, sim, sim.raise_fault)
    assert job.done.wait(5) and not job.success and "FRC_SystemFault" in job.message
    assert not cell.status().armed
    refused = cell.arm(True)
    assert not refused.success and "reset()" in refused.message
    assert "faulted" in cell.refusal()
    assert cell.reset().success and {"Command": "FRC_Reset"} in sim.received("Command")
    assert not cell.status().armed and cell.status().last_error == ""
    assert cell.arm(True).success
    sim.speed_scale = 0.02
    assert pick(cell).success


# -- a controller that stops answering ------------------------------------------------------------------
@pytest.mark.slow
def test_a_stall_during_a_pick_is_found_within_about_a_second(make_cell, sim):
    cell = connected(make_cell(reply_timeout=3.0, stall_timeout=1.0), sim)
    job, stalled = first_motion_then(cell, sim, lambda: (setattr(sim, "stop_answering", True), time.monotonic())[1])
    assert job.done.wait(5)
    # The move's own deadline is at least the 3 s reply timeout: under 3 s, the watchdog found it.
    assert time.monotonic() - stalled < 3.0
    assert not job.success and "stopped answering" in job.message
    s = cell.status()
    assert not s.connected and not s.armed and not s.busy and "stopped answering" in s.last_error
    assert sim.wait_until(lambda: not sim.connected and not sim.rmi_running)   # the closed session stops it
    sim.stop_answering = False
    assert wait(lambda: cell.status().connected)
    assert not cell.status().armed


def test_a_stall_while_idle_closes_the_session_and_disarms(make_cell, sim):
    cell = connected(make_cell(status_poll_period=0.1, stall_timeout=0.5), sim)
    sim.stop_answering = True
    assert wait(lambda: not cell.status().connected, timeout=3)
    assert not cell.status().armed
    assert wait(lambda: "stopped answering" in cell.status().last_error), cell.status()


# -- limits -----------------------------------------------------------------------------------------
def test_no_caller_can_send_a_move_outside_the_limits(make_cell, sim):
    cell = connected(make_cell(), sim)
    client = cell.client
    client.initialize()
    configuration, _ = client.read_cartesian_position()
    for position, speed in ((Position(1050, 0, 300, 180, 0, 0), 100), (Position(600, 0, 300, 180, 0, 0), 600),
                            (Position(600, 0, 2, 180, 0, 0), 100), (Position(600, 0, 300, 120, 0, 0), 100)):
        with pytest.raises(PickRejected):
            client.linear_motion(position, configuration, speed)
    with pytest.raises(PickRejected, match="UFrame/UTool"):
        client.linear_motion(Position(600, 0, 300, 180, 0, 0), Configuration(utool_number=2), 100)
    assert not motions(sim)


# -- the gripper ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_jaws_are_tracked_and_a_held_part_is_delivered_first(make_cell, sim):
    cell = connected(make_cell(), sim)
    assert cell.status().gripper == "unknown"
    sim.speed_scale = 1.0
    job = cell.submit(request())
    assert wait(lambda: any(e.on for e in sim.dout_events), timeout=10)   # closed on the part...
    sim.raise_fault()                                                   # ...which it still holds
    assert job.done.wait(5) and not job.success and "gripper left closed" in job.message
    assert cell.status().gripper == "closed"
    stopped = sim.tool_position

    assert cell.reset().success and cell.arm(True).success
    sim.speed_scale = 0.02
    before, events = len(motions(sim)), len(sim.dout_events)
    job = pick(cell, x=0.5, y=-0.1)
    assert job.success, job.message
    new = motions(sim)[before:]
    up = new[0]["Position"]
    assert (up["X"], up["Y"], up["Z"]) == pytest.approx((stopped.x, stopped.y, 150.0), abs=1e-3)  # straight up
    first_open = next(e for e in sim.dout_events[events:] if not e.on)
    assert (first_open.position.x, first_open.position.y, first_open.position.z) == pytest.approx(PLACE_MM)
    assert len(new) == 10 and cell.status().gripper == "open"


# -- closing ----------------------------------------------------------------------------------------
def test_close_mid_pick_stops_the_arm_within_its_bound(make_cell, sim):
    cell = connected(make_cell(), sim)
    first_motion_then(cell, sim, lambda: None)
    start = time.monotonic()
    cell.close()
    assert time.monotonic() - start < 1.5
    assert sim.wait_until(lambda: not sim.connected and not sim.rmi_running)
    assert not [t for t in cell._threads if t.is_alive()]


def test_close_is_bounded_with_a_silent_controller(make_cell, sim):
    cell = connected(make_cell(reply_timeout=3.0), sim)
    sim.stop_answering = True
    start = time.monotonic()
    cell.close()
    assert time.monotonic() - start < 1.6


def test_close_while_connecting_to_nobody(make_cell):
    with SimulatedController() as other:     # a free port nobody serves after this block
        port = other.port
    cell = make_cell(port=port)
    time.sleep(0.2)
    start = time.monotonic()
    cell.close()
    assert time.monotonic() - start < 1.6


def test_requests_from_many_threads_keep_one_pick_at_a_time(make_cell, sim):
    cell = connected(make_cell(), sim)
    sim.speed_scale = 0.2
    results = []
    threads = [threading.Thread(target=lambda: results.append(cell.submit(request()))) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    jobs = [r for r in results if not isinstance(r, str)]
    assert len(jobs) == 1 and cell.grasps_ignored == 4
    assert jobs[0].done.wait(10) and jobs[0].success


# -- verified picks (a part-present input) ----------------------------------------------------------
def visited_place(sim, since=0):
    return any((m["Position"]["X"], m["Position"]["Y"]) == pytest.approx(PLACE_MM[:2], abs=1e-3)
               for m in motions(sim)[since:])


def test_a_verified_pick_that_holds_nothing_opens_moves_up_and_never_visits_the_place(verified_cell, sim):
    cell = verified_cell()
    sim.miss_next(1)
    job = pick(cell)
    assert not job.success and job.outcome == "missed at close", job.message
    assert "part-present input read empty after the jaws closed" in job.message
    assert not visited_place(sim)
    reads = [p for p in sim.received("Command") if name(p) == "FRC_ReadDIN"]
    assert len(reads) > 1 and {p["PortNumber"] for p in reads} == {3}   # polled for part_present_wait_s
    last = motions(sim)[-1]["Position"]
    grasp_z = motions(sim)[1]["Position"]["Z"]                        # the descend's target
    assert last["Z"] == pytest.approx(grasp_z + 100.0, abs=1e-3)      # straight up by the approach height
    assert sim.dout_events[-1].on is False and cell.status().gripper == "open"
    s = cell.status()
    assert (s.armed, s.picks_verified, s.last_outcome, s.picks_missed, s.consecutive_misses, s.picks_failed) == \
        (True, True, "missed at close", 1, 1, 0)
    # the next pick holds its part: picked, verified twice, and the count of misses in a row starts again
    before, read_before = len(motions(sim)), len(sim.received("Command"))
    job = pick(cell)
    assert job.success and job.outcome == "picked" and visited_place(sim, before), job.message
    reads = [p for p in sim.received("Command")[read_before:] if name(p) == "FRC_ReadDIN"]
    assert len(reads) == 2                                            # holding at once after the close, and after the lift
    assert cell.status().consecutive_misses == 0 and cell.status().picks_completed == 1
    steps = []
    while not job.progress.empty():
        steps.append(job.progress.get_nowait()[2])
    assert steps[3:7] == ["close-gripper", "check-held", "lift", "check-still-held"]


def test_a_part_lost_in_the_lift_is_a_drop_and_misses_in_a_row_disarm(verified_cell, sim):
    cell = verified_cell(max_consecutive_misses=2)
    sim.drop_next(1)
    job = pick(cell)
    assert job.outcome == "dropped in lift" and not visited_place(sim), job.message
    assert cell.status().armed and cell.status().picks_dropped == 1
    sim.miss_next(1)
    job = pick(cell)
    assert job.outcome == "missed at close"
    s = cell.status()
    assert not s.armed and s.consecutive_misses == 2
    assert "2 misses in a row" in job.message and "a gripper that never holds is a fault" in s.last_error
    assert isinstance(cell.submit(request()), str)                    # nothing more until armed again
    assert cell.arm(True).success and pick(cell).success


def test_unverified_picks_say_so(make_cell, sim):
    cell = connected(make_cell(), sim)
    job = pick(cell)
    assert job.success and job.outcome == "picked" and job.message == "picked and placed (unverified)"
    assert not cell.status().picks_verified and cell.status().last_outcome == "picked"
    assert not [p for p in sim.received("Command") if name(p) == "FRC_ReadDIN"]
    job = cell.submit(request(frame="camera"))
    assert job.done.wait(5) and job.outcome == "refused" and cell.status().picks_refused == 1

"""The bridge's pick cycle: every pick from a frame taken after the previous pick ended.

The cycle alone around a real PickCell (``make_cell``, ``verified_cell``: fanuc/conftest.py) and the
simulated controller, with the detector's answer written by the test. The whole chain over a real rclpy
graph (camera frames -> the detection node's grasp/detect -> the bridge, grasp_source request -> RMI ->
the simulator) is in test/nodes/test_fanuc_bridge_node.py."""
import logging
import threading
import time

import pytest

from pick_cell_helpers import connected, request, wait

S = 1_000_000_000


@pytest.fixture
def sim_speed_scale():
    return 0.02


class Detector:
    """Answers the cycle's requests as grasp/detect does: a frame taken at or after the time asked."""

    def __init__(self, cell, failures=0, empty=0):
        self.cell, self.failures, self.empty = cell, failures, empty
        self.calls = []             # (not_before, the cell busy during the call)

    def __call__(self, not_before_ns, timeout):
        from grasp_scorer_ros.fanuc.pick_cycle import Fetched, FetchError
        self.calls.append((not_before_ns, self.cell.status().busy))
        if self.failures:
            self.failures -= 1
            raise FetchError("no frame was processed within 5 s (is the camera publishing?)")
        if self.empty:
            self.empty -= 1
            return Fetched([], not_before_ns + 1000, "no grasp reaches score_threshold 0.5 (best 0.31)")
        return Fetched([request(), request(x=0.5)], not_before_ns + 1000, "2 grasp(s)")


def clock():
    return time.time_ns()


def run_cycle(cell, detector, until, timeout=20.0, **config):
    from grasp_scorer_ros.fanuc.pick_cycle import CycleConfig, PickCycle
    cycle = PickCycle(cell, detector, clock, CycleConfig(**{"retry_delay": 0.02, **config})).start()
    try:
        assert wait(lambda: until(cycle), timeout), f"history {cycle.history}, calls {len(detector.calls)}"
    finally:
        cycle.stop()
    return cycle


def test_each_pick_asks_for_a_frame_taken_after_the_previous_pick_ended(sim, make_cell):
    cell = connected(make_cell(), sim)
    detector = Detector(cell)
    cycle = run_cycle(cell, detector, lambda c: len(c.history) >= 3 and c.history[2][2] is not None,
                      settle_time=0.05)
    assert cell.status().picks_completed >= 3
    for (_, _, ended), (not_before, frame, _) in zip(cycle.history, cycle.history[1:]):
        assert not_before >= ended + 50_000_000      # settle_time after the end of the previous pick
        assert frame >= not_before
    assert not any(busy for _, busy in detector.calls), "a request was made while a pick ran"
    # Only the best grasp of each answer is picked: x 0.6 m, never the second one's 0.5 m.
    moves = [m for m in sim.received("Instruction") if m.get("Instruction") == "FRC_LinearMotion"]
    assert moves and not any(abs(m["Position"]["X"] - 500.0) < 1e-6 for m in moves)


def test_failed_requests_and_empty_frames_are_retried_and_logged_once(sim, make_cell, caplog):
    cell = connected(make_cell(), sim)
    detector = Detector(cell, failures=3, empty=2)
    with caplog.at_level(logging.INFO, logger="grasp_scorer_ros.fanuc.pick_cycle"):
        cycle = run_cycle(cell, detector, lambda c: c.history and c.history[0][2] is not None)
    assert cycle.requests_failed == 3 and cycle.empty_frames == 2 and len(detector.calls) >= 6
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no frame was processed within 5 s" in warnings[0]
    empties = [r.getMessage() for r in caplog.records if "nothing to pick" in r.getMessage()]
    assert len(empties) == 1 and "best 0.31" in empties[0]
    assert cell.status().picks_completed == 1


def test_a_disarmed_cell_asks_for_nothing(sim, make_cell):
    from grasp_scorer_ros.fanuc.pick_cycle import CycleConfig, PickCycle
    cell = connected(make_cell(armed=False), sim)
    detector = Detector(cell)
    cycle = PickCycle(cell, detector, clock, CycleConfig()).start()
    try:
        time.sleep(0.5)
        assert detector.calls == []
        assert cell.arm(True).success
        assert wait(lambda: cycle.history and cycle.history[0][2] is not None, 10)
    finally:
        cycle.stop()


@pytest.mark.slow
def test_after_a_miss_the_cycle_asks_for_a_fresh_frame_and_too_many_misses_disarm(sim, verified_cell):
    cell = verified_cell(max_consecutive_misses=3)
    sim.miss_next(1)
    detector = Detector(cell)
    cycle = run_cycle(cell, detector, lambda c: len(c.history) >= 2 and c.history[1][2] is not None)
    (_, _, missed_at), (asked_after, frame, _) = cycle.history[:2]
    assert asked_after >= missed_at and frame >= asked_after     # the retry's frame was taken after the miss
    assert cell.status().picks_missed == 1 and cell.status().picks_completed >= 1 and cell.status().armed
    # a gripper that never holds: three misses in a row, then the cell disarms and the cycle stops asking
    from grasp_scorer_ros.fanuc.pick_cycle import CycleConfig, PickCycle
    sim.miss_next(10)
    detector = Detector(cell)
    cycle = PickCycle(cell, detector, clock, CycleConfig(retry_delay=0.02)).start()
    try:
        assert wait(lambda: not cell.status().armed, 20)
        assert cell.status().consecutive_misses == 3 and cell.status().picks_missed == 4
        assert "3 misses in a row" in cell.status().last_error
        time.sleep(0.2)
        calls = len(detector.calls)
        time.sleep(0.5)                 # still running, but a disarmed cell is asked for nothing
        assert len(detector.calls) == calls == 3
    finally:
        cycle.stop()


def test_bad_cycle_settings_are_refused():
    from grasp_scorer_ros.fanuc.pick_cycle import CycleConfig
    with pytest.raises(ValueError, match="request_timeout"):
        CycleConfig(request_timeout=0.0)
    with pytest.raises(ValueError, match="settle_time"):
        CycleConfig(settle_time=-1.0)

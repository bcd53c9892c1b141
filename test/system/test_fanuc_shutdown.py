"""Ctrl-C in a terminal: the simulated controller and the bridge, run as their own processes, stop
within 2 s, exit 0 and print no traceback, even mid-pick and even when SIGINT comes twice (the
terminal signals the whole process group, and ``ros2 launch`` forwards one more to each child)."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ros_helpers import spin_until
from rotation_helpers import top_down

REPO = Path(__file__).resolve().parents[2]
STOP_WITHIN_S = 2.0


class Process:
    """``python -m module args`` in process group ``group`` (0: a new one), its output collected."""

    def __init__(self, module, *args, group=0):
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, cwd=REPO, process_group=group)
        self.lines = []
        self._readers = [threading.Thread(target=self._read, args=(stream,), daemon=True)
                         for stream in (self.proc.stdout, self.proc.stderr)]
        for reader in self._readers:
            reader.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append(line)

    def wait_for(self, words, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((line for line in self.lines if words in line), None)
            if found is not None:
                return found
            assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.output()}"
            time.sleep(0.02)
        raise AssertionError(f"no {words!r} within {timeout} s:\n{self.output()}")

    def output(self):
        for reader in self._readers:
            reader.join(1.0)
        return "".join(self.lines)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def ctrl_c(group, *processes, times=2):
    """SIGINT the process group ``times`` times, 50 ms apart; each process's exit time."""
    start = time.monotonic()
    for i in range(times):
        os.killpg(group, signal.SIGINT)
        time.sleep(0.05)
    stopped = []
    for p in processes:
        try:
            p.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        stopped.append(time.monotonic() - start)
    return stopped


def assert_clean(process, seconds):
    output = process.output()
    assert process.proc.returncode == 0, f"exit code {process.proc.returncode}:\n{output}"
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert seconds <= STOP_WITHIN_S, f"stopped after {seconds:.2f} s:\n{output}"


def start_sim(speed_scale="1.0"):
    sim = Process("grasp_scorer_ros.sim.sim_controller", "--port", "0", "--handoff-port", "0",
                  "--speed-scale", speed_scale)
    line = sim.wait_for("connect port")
    return sim, int(line.split("connect port ")[1].split(",")[0])


def test_ctrl_c_stops_the_simulator_cleanly_with_a_session_moving():
    from grasp_scorer_ros.fanuc.rmi_client import RMIClient
    from grasp_scorer_ros.fanuc.rmi_protocol import Configuration, Position

    sim, port = start_sim()
    client = RMIClient("127.0.0.1", port, timeout=2.0)
    try:
        client.connect()
        client.initialize()
        client.linear_motion(Position(500.0, 0.0, 100.0, 180.0, 0.0, 0.0), Configuration(), 10)   # 30 s
        time.sleep(0.2)
        (seconds,) = ctrl_c(sim.proc.pid, sim)
        assert_clean(sim, seconds)
    finally:
        client.close()
        sim.kill()


def test_ctrl_c_stops_the_bridge_mid_pick_cleanly(ros):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from grasp_scorer_ros.msg import GraspPose

    sim, port = start_sim()
    bridge = Process("grasp_scorer_ros.nodes.fanuc_bridge_node", "--ros-args", "-p", "robot_ip:=127.0.0.1",
                     "-p", f"rmi_port:={port}", "-p", "armed:=true", "-p", "grasp_source:=topic",
                     group=sim.proc.pid)
    node = rclpy.create_node("ctrl_c_operator", context=ros)
    executor = SingleThreadedExecutor(context=ros)
    executor.add_node(node)
    try:
        bridge.wait_for("connected to the controller")
        publisher = node.create_publisher(GraspPose, "/grasp/best", 10)
        assert spin_until(executor, lambda: publisher.get_subscription_count() > 0, timeout=20)
        grasp = GraspPose()
        grasp.header.frame_id = "base_link"
        grasp.pose.position.x, grasp.pose.position.y = 0.6, 0.1
        o = grasp.pose.orientation
        o.x, o.y, o.z, o.w = top_down(0.0)
        grasp.opening_width = 0.04
        publisher.publish(grasp)
        bridge.wait_for("approach-above", timeout=20)       # the arm is moving
        sim_seconds, bridge_seconds = ctrl_c(sim.proc.pid, sim, bridge)
        assert_clean(bridge, bridge_seconds)
        assert_clean(sim, sim_seconds)
        # One Ctrl-C stops both, as ros2 launch does: the simulator waits for the bridge to end its
        # session, so the pick ends as a logged shutdown, never as an error.
        output = bridge.output()
        assert "[ERROR]" not in output, output
        assert "pick aborted" in output and "the cell is shutting down" in output, output
        assert "connection lost" not in output, output
    finally:
        executor.shutdown()
        node.destroy_node()
        bridge.kill()
        sim.kill()


@pytest.mark.parametrize("times", [1, 2])
def test_ctrl_c_stops_the_simulator_node_cleanly(ros, times):
    sim = Process("grasp_scorer_ros.nodes.sim_controller_node", "--ros-args", "-p", "port:=0")
    try:
        sim.wait_for("simulated FANUC controller on")
        (seconds,) = ctrl_c(sim.proc.pid, sim, times=times)
        assert_clean(sim, seconds)
    finally:
        sim.kill()

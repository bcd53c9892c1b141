"""run_node, every node's main(): Ctrl-C and `ros2 launch` shutting down stop a node cleanly.

A terminal's Ctrl-C sends SIGINT to every process of the group, and `ros2 launch` forwards another
one: the second lands while the node is cleaning up. Neither may leave a traceback or an error
about an invalid context, and the exit code is 0, within 2 s.
"""
import os
import select
import signal
import subprocess
import sys
import time


from tiny_model import tiny_model

STOP_WITHIN_S = 2.0

BUSY_NODE = '''
import sys, threading, time
from rclpy.node import Node
from std_msgs.msg import String
from grasp_scorer_ros.nodes.runner import run_node

class Busy(Node):
    """Publishes from a timer and from its own thread until destroy_node(), which is slow."""
    def __init__(self):
        super().__init__("busy_node")
        self.pub = self.create_publisher(String, "chatter", 10)
        self.running = True
        self.thread = threading.Thread(target=self.work)  # not a daemon: must be joined
        self.thread.start()
        self.create_timer(0.02, lambda: self.pub.publish(String(data="timer")))
        print("READY", flush=True)

    def work(self):
        while self.running:
            self.pub.publish(String(data="thread"))
            self.get_logger().debug("published")
            time.sleep(0.005)

    def destroy_node(self):
        time.sleep(0.5)           # a slow clean-up: the second SIGINT arrives in here
        self.get_logger().info("cleaned up")
        self.running = False
        self.thread.join()
        super().destroy_node()

sys.exit(run_node(Busy))
'''


def start(command, ready_text, timeout=120.0):
    """Start ``command`` in its own process group; return it once ``ready_text`` was printed."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    output = b""
    deadline = time.monotonic() + timeout
    while ready_text.encode() not in output:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"never ready: {output.decode(errors='replace')[-3000:]}")
        if select.select([process.stdout], [], [], 0.5)[0]:
            output += os.read(process.stdout.fileno(), 65536)
    return process, output


def read_until(process, output, texts, timeout=60.0):
    """Keep reading ``process``'s output until one of ``texts`` is in it; the output so far."""
    deadline = time.monotonic() + timeout
    while not any(t.encode() in output for t in texts):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"none of {texts} in: {output.decode(errors='replace')[-3000:]}")
        if select.select([process.stdout], [], [], 0.5)[0]:
            output += os.read(process.stdout.fileno(), 65536)
    return output


def interrupt_like_a_terminal(process, output, second_after=0.2):
    """SIGINT to the process group, another one shortly after; (exit code, seconds, output)."""
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    time.sleep(second_after)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
    try:
        rest, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        rest, _ = process.communicate()
    return process.returncode, time.monotonic() - started, (output + rest).decode(errors="replace")


def assert_clean(code, seconds, text):
    assert code == 0, text[-3000:]
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-3000:]
    assert "context is invalid" not in text and "Failed to publish" not in text, text[-3000:]
    assert seconds < STOP_WITHIN_S, f"took {seconds:.1f} s to stop"


def test_a_second_sigint_during_the_clean_up_is_ignored(ros, tmp_path):
    script = tmp_path / "busy_node.py"
    script.write_text(BUSY_NODE)
    process, output = start([sys.executable, str(script)], "READY")
    time.sleep(0.3)
    code, seconds, text = interrupt_like_a_terminal(process, output)
    assert_clean(code, seconds, text)
    assert "SIGINT: shutting down" in text and "cleaned up" in text


def test_sigterm_stops_a_node_cleanly_too(ros, tmp_path):
    script = tmp_path / "busy_node.py"
    script.write_text(BUSY_NODE)
    process, output = start([sys.executable, str(script)], "READY")
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=30)
    text = (output + rest).decode(errors="replace")
    assert_clean(process.returncode, time.monotonic() - started, text)
    assert "SIGTERM: shutting down" in text


def test_detection_node_stops_cleanly_while_serving_frames(ros, tmp_path):
    from grasp_scorer_ros import bundled
    from grasp_scorer_ros.network.checkpoint import save_checkpoint
    checkpoint = tmp_path / "tiny.pt"
    save_checkpoint(str(checkpoint), tiny_model(seed=1))
    replay = subprocess.Popen(
        [sys.executable, "-m", "grasp_scorer_ros.nodes.camera_replay_node", "--ros-args", "-p", "rate:=10.0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        process, output = start(
            [sys.executable, "-m", "grasp_scorer_ros.nodes.detection_node", "--ros-args",
             "-p", f"checkpoint:={checkpoint}", "-p", f"calibration_file:={bundled.demo_calibration_path()}"],
            "ready:")
        # frames flow once the image subscription is reliable (a best-effort one loses the replay's
        # large frames without the launch's Fast DDS profile); on a loaded machine that takes seconds
        output = read_until(process, output, ("image subscription on /image: reliable", "auto: reliable now"),
                            timeout=60.0)
        time.sleep(2.0)  # frames flowing, the worker busy
        code, seconds, text = interrupt_like_a_terminal(process, output)
    finally:
        replay_code, replay_seconds, replay_text = interrupt_like_a_terminal(replay, b"", second_after=0.1)
    assert_clean(code, seconds, text)
    received = int(text.split("at exit: frames received ")[1].split(",")[0])
    assert received > 0, text
    assert_clean(replay_code, replay_seconds, replay_text)
    assert "frames published" in replay_text


def test_a_node_that_cannot_start_says_so_in_one_line(ros, tmp_path):
    result = subprocess.run([sys.executable, "-m", "grasp_scorer_ros.nodes.camera_replay_node",
                             "--ros-args", "-p", "rate:=-1.0"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["CameraReplayNode: cannot start: rate must be positive, got -1.0"]

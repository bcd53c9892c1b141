"""The demo, as `make demo` runs it: what `ros2 launch ... replay:=true armed:=true` starts."""
import subprocess
import sys
import time


def run_demo(ros, tmp_path, *args, timeout=300):
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "grasp_scorer_ros.app.demo", "--out", str(tmp_path / "out"),
                             *args], capture_output=True, text=True, timeout=timeout)
    return result, time.monotonic() - started


def test_every_replayed_frame_gets_a_pose_and_every_node_stops_cleanly(ros, tmp_path):
    result, _ = run_demo(ros, tmp_path, "--frames", "4", "--timeout", "180")
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "4 camera frames replayed" in out
    assert "frames processed (candidate list received): 4/4" in out
    assert "frames with a gripper pose: 4/4" in out
    assert "process exit codes: {'grasp_detection': 0, 'fanuc_sim_controller': 0, 'fanuc_bridge': 0, " \
           "'camera_replay': 0}" in out
    assert len(list((tmp_path / "out" / "annotated").glob("*.png"))) == 4
    logs = {path.stem: path.read_text() for path in (tmp_path / "out" / "logs").glob("*.log")}
    assert "no camera intrinsics" not in logs["grasp_detection"]
    for name, text in logs.items():
        assert "Traceback" not in text and "context is invalid" not in text, (name, text[-2000:])


def test_a_detector_that_cannot_start_ends_the_demo_with_its_line(ros, tmp_path):
    result, seconds = run_demo(ros, tmp_path, "--checkpoint", "/nope.pt")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last == ("demo ended because grasp_detection exited with code 2: "
                    "GraspDetectionNode: cannot start: checkpoint not found: /nope.pt"), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert seconds < 120

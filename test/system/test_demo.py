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


def test_scenes_are_recognised_by_content_whatever_frame_the_demo_heard_first(tmp_path):
    """The demo may hear the camera late: frame order must not decide which scene a grasp is on."""
    from types import SimpleNamespace

    import cv2
    import numpy as np

    from grasp_scorer_ros.app.demo import image_digest, scene_report

    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"scene_{i:02d}.png"), rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
        (tmp_path / f"scene_{i:02d}_grasps.txt").write_text(f"{10 + 10 * i};20;0;12;4\n")
    rgb = {i: cv2.cvtColor(cv2.imread(str(tmp_path / f"scene_{i:02d}.png")), cv2.COLOR_BGR2RGB) for i in range(3)}

    def candidates(x):
        grasp = SimpleNamespace(center_x=x, center_y=20.0, opening_width=12.0, jaw_size=4.0, angle=0.0)
        return SimpleNamespace(candidates=[SimpleNamespace(opening_width=0.05, score=0.9, image_grasp=grasp)])

    # Heard from scene 1 on (scene 0's frame was missed); each best grasp is on its own scene's object.
    frames = [(1, 0), (2, 0)]
    monitor = SimpleNamespace(first_frames=lambda count: frames[:count],
                              frame_digests={(1, 0): image_digest(rgb[1]), (2, 0): image_digest(rgb[2])},
                              candidates={(1, 0): candidates(20.0), (2, 0): candidates(30.0)})
    lines = scene_report(monitor, 2, tmp_path)
    assert lines[0].endswith("correct by the rectangle metric: 2/3"), lines
    assert "scene_00: not among the 2 frames" in lines[1]
    assert "scene_01" in lines[2] and "on an object" in lines[2]
    assert "scene_02" in lines[3] and "on an object" in lines[3]

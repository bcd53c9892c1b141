"""``ros2 launch grasp_scorer_ros detect.launch.py`` itself (the launch file's node list and arguments, which
app/bringup.py builds, are tested in test/app/test_bringup.py)."""
import shutil
import subprocess

import pytest


@pytest.mark.ros        # ros2 launch starts the nodes: no fixture says so here
@pytest.mark.skipif(shutil.which("ros2") is None, reason="the ros2 CLI (ros2 launch) is not installed here")
def test_ros2_launch_ends_with_the_detectors_line_when_it_cannot_start(tmp_path):
    """Only where ros2launch is installed (a ROS workspace; built from source for local checks)."""
    result = subprocess.run(["ros2", "launch", "grasp_scorer_ros", "detect.launch.py", "checkpoint:=/nope.pt",
                             "replay:=true"], capture_output=True, text=True, timeout=180, cwd=tmp_path)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert lines[-1].endswith("grasp_detection exited with code 2: "
                              "GraspDetectionNode: cannot start: checkpoint not found: /nope.pt"), lines[-8:]
    assert "Traceback" not in result.stdout + result.stderr

"""Fixtures shared by the node tests (the detection node's, and the bridge's chain with the detector)."""
import pytest
import yaml

from overhead_scene import CAMERA


@pytest.fixture
def calibration_file(tmp_path):
    """The calibration of the overhead scene's camera (helpers/overhead_scene.py), as a YAML file."""
    doc = {
        "base_frame": "robot_base",
        "camera_frame": "camera_optical",
        "camera_pose": {"translation": [0.5, 0.1, CAMERA["height"]],
                        "quaternion_xyzw": [0.7071068, -0.7071068, 0.0, 0.0]},
        "work_surface": {"height": 0.0},
    }
    path = tmp_path / "calibration.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path

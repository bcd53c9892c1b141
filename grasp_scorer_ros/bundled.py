"""What ships inside the package: the default checkpoint and the demo scenes with their camera.

Found next to this file, so the same paths work from the checkout, from a pip install and from a
colcon install (both install the whole package directory).
"""
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_CHECKPOINT = PACKAGE_DIR / "weights" / "default.pt"
DEFAULT_INT8_GRAPH = PACKAGE_DIR / "weights" / "default_int8.onnx"
DEMO_SCENES_DIR = PACKAGE_DIR / "data" / "demo_scenes"


def default_checkpoint_path() -> Path:
    """The model trained by ``make train-default`` (command and seed in its metadata and docs/training.md)."""
    return DEFAULT_CHECKPOINT


def default_int8_graph_path() -> Path:
    """The default checkpoint's FE + PGP, int8, for the ONNX engines (``onnx_model: int8``); made by
    ``grasp-scorer-export --int8``; its paired check against float32 is in ``default_int8.json``
    (docs/speed.md: held-out objects +0.0, held-out look -1.3 points, p = 0.12)."""
    return DEFAULT_INT8_GRAPH


def demo_scenes_dir() -> Path:
    """Synthetic overhead scenes (PNG) for the camera replay node and the demo."""
    return DEMO_SCENES_DIR


def demo_camera_path() -> Path:
    """Intrinsics of the virtual camera that 'took' the demo scenes (camera_info_manager YAML)."""
    return DEMO_SCENES_DIR / "camera.yaml"


def demo_calibration_path() -> Path:
    """Pose of that virtual camera over the table (calibration YAML, see config/calibration.yaml)."""
    return DEMO_SCENES_DIR / "calibration.yaml"

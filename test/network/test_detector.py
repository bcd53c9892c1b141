"""The inference wrapper: letterbox in, grasps in the original image's pixels out."""
import numpy as np
import pytest
import torch

from grasp_scorer_ros import bundled
from grasp_scorer_ros.datasets.jacquard import read_jacquard_grasps
from grasp_scorer_ros.datasets.sample import load_rgb
from grasp_scorer_ros.network.checkpoint import load_checkpoint, save_checkpoint
from grasp_scorer_ros.network.detector import GraspDetector
from grasp_scorer_ros.network.image_transform import (invert_affine, letterbox_matrix,
                                                      transform_grasps, warp_image)
from grasp_scorer_ros.network.metric import is_grasp_correct
from tiny_model import calibrate_batch_norm, tiny_model

RGB = np.random.default_rng(0).integers(0, 256, (48, 96, 3), dtype=np.uint8)  # wider than tall


@pytest.fixture(scope="module")
def model():
    return calibrate_batch_norm(tiny_model(seed=11), torch.rand(2, 3, 64, 64))


def test_detections_are_in_original_image_pixels(model):
    detector = GraspDetector.from_model(model)
    detections = detector.detect(RGB)
    assert len(detections) == 4 * 4 * 6
    assert np.all(np.diff(detections.scores) <= 0)
    assert set(detections.timings_ms) >= {"fe", "pgp", "scorer"}

    matrix = letterbox_matrix(48, 96, 64)
    image = torch.from_numpy(warp_image(RGB, matrix, 64)).permute(2, 0, 1)[None].float() / 255
    reference = model.predict(image)[0]
    np.testing.assert_allclose(detections.scores, reference["scores"].numpy(), atol=1e-6)
    np.testing.assert_allclose(detections.primary_scores, reference["primary_scores"].numpy(), atol=1e-6)
    expected = transform_grasps(reference["grasps"].numpy(), invert_affine(matrix))
    np.testing.assert_allclose(detections.grasps, expected, atol=1e-3)
    # The network input is 64 pixels for 96 image pixels: sizes grow by 1.5.
    np.testing.assert_allclose(detections.grasps[:, 2], reference["grasps"][:, 2].numpy() * 1.5, rtol=1e-5)
    assert len(detector.detect(RGB, top_k=3)) == 3


def test_detector_from_checkpoint_in_bfloat16(model, tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(str(path), model)
    float32 = GraspDetector(str(path)).detect(RGB)
    bf16 = GraspDetector(str(path), dtype="bfloat16", channels_last=True).detect(RGB)
    assert np.isfinite(bf16.grasps).all()
    np.testing.assert_allclose(bf16.scores, float32.scores, atol=0.05)


def test_bad_input_is_refused(model):
    detector = GraspDetector.from_model(model)
    for bad in (RGB[..., 0], RGB.astype(np.float32), RGB[..., :2]):
        with pytest.raises(ValueError):
            detector.detect(bad)
    with pytest.raises(ValueError):
        GraspDetector.from_model(model, dtype="float16")


def test_the_bundled_checkpoint_finds_a_correct_grasp_on_every_demo_scene():
    """The shipped model, rebuilt from its own configuration, puts its best grasp on an object in
    each bundled scene (the demo's promise), held-out look included."""
    path = str(bundled.default_checkpoint_path())
    payload = load_checkpoint(path)
    assert payload["config"]["backbone"] == "efficientnet_lite0" and payload["state_dict_dtype"] == "float16"
    assert payload["config"]["score_calibration"] is not None   # its final score is calibrated
    detector = GraspDetector(path)
    scenes = sorted(bundled.demo_scenes_dir().glob("scene_*.png"))
    assert len(scenes) == 8
    for scene in scenes:
        detections = detector.detect(load_rgb(scene), top_k=5)
        assert len(detections) == 5 and np.all(np.diff(detections.scores) <= 0)
        truth = read_jacquard_grasps(scene.with_name(f"{scene.stem}_grasps.txt"))
        assert is_grasp_correct(detections.grasps[0], truth, 30.0, 0.25), scene.name

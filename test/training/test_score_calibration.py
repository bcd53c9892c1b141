"""Platt scaling of the final score: the fit, the reliability figures, and the calibrated checkpoint
(same ranking, scores that mean a probability)."""
import json

import numpy as np
import pytest
import torch

from grasp_scorer_ros.network.checkpoint import load_model, save_checkpoint
from grasp_scorer_ros.network.detector import GraspDetector
from grasp_scorer_ros.training import score_calibration as calibration
from tiny_model import calibrate_batch_norm, tiny_model


def test_the_fit_recovers_a_known_miscalibration_and_lowers_the_error():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.05, 0.99, 20000)                  # the real probability of each top grasp
    correct = rng.random(20000) < truth
    reported = calibration.platt(truth, 0.5, -0.8)          # an underconfident score
    a, b = calibration.fit_platt(reported, correct)
    assert a == pytest.approx(2.0, rel=0.05) and b == pytest.approx(1.6, rel=0.08)
    before = calibration.reliability(reported, correct)["ece"]
    after = calibration.reliability(calibration.platt(reported, a, b), correct)["ece"]
    assert before > 0.15 and after < 0.02
    # every score right: still a finite, increasing map
    a, b = calibration.fit_platt(np.array([0.6, 0.7, 0.8]), np.array([True, True, True]))
    assert np.isfinite([a, b]).all() and a > 0


def test_the_reliability_table_bins_scores_against_the_share_correct():
    table = calibration.reliability(np.array([0.05, 0.15, 0.95, 0.95]), np.array([0, 1, 1, 0]))
    assert [b["count"] for b in table["bins"]] == [1, 1, 2]
    assert table["ece"] == pytest.approx(0.25 * 0.05 + 0.25 * 0.85 + 0.5 * 0.45)


@pytest.mark.slow
def test_the_command_writes_a_calibrated_checkpoint_with_the_same_ranking(synthetic_set, tmp_path, capsys):
    model = calibrate_batch_norm(tiny_model(seed=4, final_ranking="product"), torch.rand(4, 3, 64, 64))
    source = tmp_path / "model.pt"
    save_checkpoint(str(source), model)
    out = tmp_path / "calibrated.pt"
    assert calibration.main(["--checkpoint", str(source), "--look", f"val={synthetic_set}", "--out", str(out),
                             "--precision", "float32"]) == 0
    report = json.loads(out.with_suffix(".score_calibration.json").read_text())
    a, b = report["score_calibration"]
    assert report["looks"]["val"]["images"] == 24 and out.with_suffix(".score_calibration.png").is_file()
    assert load_model(str(out)).config.score_calibration == (a, b)
    assert "ECE" in capsys.readouterr().out
    rgb = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    raw = GraspDetector(str(source)).detect(rgb, top_k=10)
    fitted = GraspDetector(str(out)).detect(rgb, top_k=10)
    np.testing.assert_array_equal(raw.anchor_index, fitted.anchor_index)       # the ranking is untouched
    np.testing.assert_allclose(fitted.scores, calibration.platt(raw.scores, a, b), rtol=1e-4, atol=1e-5)
    # a scorer weight chosen on the validation looks ships with the calibration fitted for it
    leaning = tmp_path / "leaning.pt"
    assert calibration.main(["--checkpoint", str(source), "--look", f"val={synthetic_set}", "--out", str(leaning),
                             "--precision", "float32", "--scorer-weight", "0.1"]) == 0
    assert load_model(str(leaning)).config.scorer_weight == 0.1
    assert json.loads(leaning.with_suffix(".score_calibration.json").read_text())["scorer_weight"] == 0.1
    assert calibration.main(["--checkpoint", str(source), "--look", f"val={synthetic_set}", "--out", str(leaning),
                             "--scorer-weight", "1.5"]) == 2

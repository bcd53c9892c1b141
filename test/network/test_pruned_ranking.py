"""The scorer run only where it can change the answer: the same grasps and scores as scoring all."""
import cv2
import numpy as np
import pytest
import torch

from grasp_scorer_ros import bundled
from grasp_scorer_ros.network.detector import GraspDetector
from grasp_scorer_ros.network.model import final_scores
from grasp_scorer_ros.network.pruned_ranking import prunable, top_grasps
from tiny_model import calibrate_batch_norm, tiny_config, tiny_model


def test_score_selected_equals_the_dense_scorer_on_any_cells():
    model = calibrate_batch_norm(tiny_model(seed=3, input_size=96), torch.rand(2, 3, 96, 96))
    with torch.no_grad():
        out = model(torch.rand(2, 3, 96, 96))
        features, deltas = out["features"], out["deltas"]                   # 6x6 cells, k = 6
        dense = model.scorer.dense(features, deltas)                         # (2, 6, 6, 6, 2)
        # border and inner cells, both images, one cell several times with different anchors
        batch = torch.tensor([0, 0, 0, 1, 1, 1, 0, 1])
        rows = torch.tensor([0, 5, 2, 0, 3, 3, 2, 5])
        cols = torch.tensor([0, 5, 3, 5, 1, 1, 3, 0])
        anchor = torch.tensor([0, 5, 1, 2, 4, 0, 3, 5])
        selected = model.scorer.score_selected(features, deltas, batch, rows, cols, anchor)
        literal = model.scorer.score_anchors(features, deltas, batch, rows, cols, anchor)
    assert torch.allclose(selected, dense[batch, rows, cols, anchor], atol=1e-5)
    assert torch.allclose(selected, literal, atol=1e-5)


def _reference(primary, scorer, config, k):
    final, order = final_scores(primary, scorer, config)
    return order[:k], final[order[:k]]


@pytest.mark.parametrize("weight", [0.5, 0.25, 0.9])
@pytest.mark.parametrize("k", [1, 5])
def test_top_grasps_are_those_of_every_grasp_scored(weight, k):
    config = tiny_config(final_ranking="product", scorer_weight=weight)
    generator = torch.Generator().manual_seed(int(weight * 100) + k)
    for trial in range(30):
        count = 2400
        primary = torch.rand(count, generator=generator) ** 4        # few high primary scores
        scorer = torch.rand(count, generator=generator)
        if trial % 3 == 0:  # adversarial: the scorer likes the grasps the primary score ranks low
            scorer = 1.0 - primary + 0.01 * torch.rand(count, generator=generator)
        calls = []
        top = top_grasps(primary, lambda index: (calls.append(len(index)), scorer[index])[1], config, k)
        order, final = _reference(primary, scorer, config, k)
        assert torch.equal(top.order, order)
        assert torch.allclose(top.final, final)
        assert torch.equal(top.scorer, scorer[order])
        assert top.scored == sum(calls) <= count


def test_the_scorer_skips_most_grasps_when_the_primary_score_is_confident_and_none_when_it_cannot():
    config = tiny_config(final_ranking="product", scorer_weight=0.5)
    primary = torch.full((2400,), 0.01)
    primary[:10] = 0.95
    top = top_grasps(primary, lambda index: torch.full((len(index),), 0.5), config, 5)
    assert top.scored == 64                     # 0.95^0.5 * 0.5^0.5 = 0.69 > 0.01^0.5: done at once
    flat = torch.linspace(0.5, 0.49, 2400)      # no bound can help: every final score is in reach
    top = top_grasps(flat, lambda index: torch.full((len(index),), 0.1), config, 1)
    assert top.scored == 2400


def test_top_t_scores_the_t_best_primary_grasps_only():
    config = tiny_config(final_ranking="top_t", num_scored_grasps=8)
    primary, scorer = torch.rand(200), torch.rand(200)
    seen = []
    top = top_grasps(primary, lambda index: (seen.append(index), scorer[index])[1], config, 12)
    order, final = _reference(primary, scorer, config, 12)
    assert torch.equal(top.order, order) and torch.allclose(top.final, final)
    assert top.scored == 8 and set(seen[0].tolist()) == set(torch.topk(primary, 8).indices.tolist())


def test_rankings_without_a_bound_are_refused():
    assert not prunable(tiny_config(final_ranking="all"))
    assert not prunable(tiny_config(final_ranking="product", scorer_weight=1.0))
    with pytest.raises(ValueError, match="every grasp"):
        top_grasps(torch.rand(10), lambda index: torch.rand(len(index)), tiny_config(final_ranking="all"), 1)


@pytest.mark.slow
def test_the_bundled_detector_gives_the_same_grasps_with_and_without_pruning():
    detector = GraspDetector(str(bundled.default_checkpoint_path()))
    assert prunable(detector.config)
    for path in sorted(bundled.demo_scenes_dir().glob("*.png")):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        detector.scorer_pruning = True
        pruned = detector.detect(rgb, top_k=5)
        detector.scorer_pruning = False
        dense = detector.detect(rgb, top_k=5)
        assert pruned.scored < dense.scored == 2400
        assert np.array_equal(pruned.anchor_index, dense.anchor_index), path.name
        np.testing.assert_allclose(pruned.scores, dense.scores, atol=1e-5)
        np.testing.assert_allclose(pruned.scorer_scores, dense.scorer_scores, atol=1e-5)
        np.testing.assert_allclose(pruned.grasps, dense.grasps, atol=1e-3)
    # without top_k, every grasp is scored (evaluation, the look study)
    assert detector.detect(rgb).scored == 2400
    detector.scorer_pruning = True
    assert detector.detect(rgb).scored == 2400


def test_a_baseline_detector_has_no_scorer_to_prune():
    model = calibrate_batch_norm(tiny_model(seed=5, variant="baseline"), torch.rand(2, 3, 64, 64))
    result = GraspDetector.from_model(model).detect(np.zeros((64, 64, 3), np.uint8), top_k=3)
    assert len(result) == 3 and result.scorer_scores is None and result.scored == 0
    assert np.all(result.scores == result.primary_scores)

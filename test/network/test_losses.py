"""Training targets, losses, gradient routing and the three variants."""
import pytest
import torch

from grasp_scorer_ros.network import box_coder
from grasp_scorer_ros.network.anchors import grid_anchors
from grasp_scorer_ros.network.losses import (angle_matching, binary_auc, binary_entropy, compute_losses,
                                             jaccard_labels, sample_primary_targets, select_scored_anchors)
from tiny_model import tiny_model

ANCHORS = grid_anchors(20, 20, 16, 91.0, 26.0, 6)  # angles -75 -45 -15 15 45 75


def test_angle_matching_on_hand_made_ground_truth():
    gt = torch.tensor([
        [100.0, 50.0, 80.0, 20.0, 20.0],    # cell (3, 6); 5 degrees from the 15 anchor
        [100.0, 50.0, 60.0, 20.0, 45.0],    # same cell, exactly the 45 anchor
        [319.0, 319.0, 80.0, 20.0, 89.0],   # last cell; 14 degrees from 75
        [400.0, 50.0, 80.0, 20.0, 0.0],     # centre outside the image: ignored
    ])
    matched = angle_matching(gt, ANCHORS, 16, 15.0)
    positives = torch.nonzero(matched >= 0).tolist()
    assert positives == [[3, 6, 3], [3, 6, 4], [19, 19, 5]]
    assert matched[3, 6, 3] == 0 and matched[3, 6, 4] == 1 and matched[19, 19, 5] == 2
    # At 20 degrees, 89 also matches the -75 anchor through the 90/-90 seam (16 degrees away).
    wide = angle_matching(gt[2:3], ANCHORS, 16, 20.0)
    assert torch.nonzero(wide >= 0).tolist() == [[19, 19, 0], [19, 19, 5]]
    assert (angle_matching(torch.zeros(0, 5), ANCHORS, 16, 15.0) < 0).all()


def test_angle_matching_prefers_the_closest_angle():
    gt = torch.tensor([[40.0, 40.0, 80.0, 20.0, 27.0], [41.0, 42.0, 80.0, 20.0, 17.0]])
    matched = angle_matching(gt, ANCHORS, 16, 15.0)
    assert matched[2, 2, 3] == 1  # 17 is 2 degrees from the 15 anchor, 27 is 12
    assert (matched >= 0).sum() == 1


def test_positive_and_negative_sampling():
    matched = torch.full((50,), -1)
    matched[[3, 7]] = 0
    probability = torch.linspace(0, 1, 50)
    index, labels = sample_primary_targets(matched, probability, 3)
    assert labels.tolist() == [1, 1, 0, 0, 0, 0, 0, 0]
    assert index[:2].tolist() == [3, 7]
    assert sorted(index[2:].tolist()) == [44, 45, 46, 47, 48, 49]  # the hardest negatives
    index, labels = sample_primary_targets(torch.full((50,), -1), probability, 3)
    assert labels.tolist() == [0, 0, 0]  # no ground truth: negatives only


def test_jaccard_labels():
    gt = torch.tensor([[100.0, 100.0, 60.0, 20.0, 30.0]])
    grasps = torch.tensor([[100.0, 100.0, 60.0, 20.0, 30.0],   # identical
                           [100.0, 100.0, 60.0, 20.0, 50.0],   # 20 degrees off
                           [104.0, 100.0, 60.0, 20.0, 40.0],   # 10 degrees off, large overlap
                           [300.0, 100.0, 60.0, 20.0, 30.0]])  # far away
    assert jaccard_labels(grasps, gt, 15.0, 0.25).tolist() == [1, 0, 1, 0]
    assert jaccard_labels(grasps, torch.zeros(0, 5), 15.0, 0.25).tolist() == [0, 0, 0, 0]


def _batch(model):
    torch.manual_seed(1)
    images = torch.rand(2, 3, 64, 64)
    targets = [torch.tensor([[30.0, 34.0, 24.0, 10.0, 12.0], [20.0, 20.0, 20.0, 8.0, -50.0]]),
               torch.zeros(0, 5)]
    return images, targets


def test_loss_dict_and_regression_targets():
    model = tiny_model()
    images, targets = _batch(model)
    outputs = model(images)
    losses = compute_losses(outputs, targets, model.config, model.scorer)
    assert set(losses) == {"intermediate", "regression_l1", "regression_scorer", "scorer", "total",
                           "scorer_auc", "label_rate", "label_entropy", "direction"}
    assert all(v.dim() == 0 for v in losses.values())
    assert all(torch.isfinite(losses[k]) for k in ("intermediate", "regression_l1", "regression_scorer",
                                                    "scorer", "total", "label_rate", "label_entropy"))
    assert losses["label_entropy"] == pytest.approx(binary_entropy(float(losses["label_rate"])))
    assert -1.0 <= float(losses["direction"]) <= 1.0
    parts = sum(losses[k] for k in ("intermediate", "regression_l1", "regression_scorer", "scorer"))
    torch.testing.assert_close(losses["total"], parts)
    # regression_l1 = alpha x smooth L1 on the two positives against the inverse Eq. 2.
    matched = angle_matching(targets[0], outputs["anchors"], 16, 15.0)
    cells = torch.nonzero(matched >= 0)
    assert len(cells) == 2
    expected = 0
    for i, j, a in cells.tolist():
        target = box_coder.encode(targets[0][matched[i, j, a]], outputs["anchors"][i, j, a], 6)
        expected = expected + torch.nn.functional.smooth_l1_loss(
            outputs["deltas"][0, i, j, a], target, reduction="sum")
    torch.testing.assert_close(losses["regression_l1"], 2.0 * expected / 2)


def test_missing_targets_raise():
    model = tiny_model()
    images, targets = _batch(model)
    outputs = model(images)
    for bad in (None, targets[:1], [targets[0], None], [targets[0], torch.zeros(3, 4)]):
        with pytest.raises(ValueError):
            compute_losses(outputs, bad, model.config, model.scorer)


def _grad_norms(module):
    return [0.0 if p.grad is None else p.grad.abs().sum().item() for p in module.parameters()]


@pytest.mark.parametrize("variant", ["full", "no_selection"])
def test_gradient_routing(variant):
    model = tiny_model(variant=variant)
    images, targets = _batch(model)
    losses = compute_losses(model(images), targets, model.config, model.scorer)

    model.zero_grad(set_to_none=True)
    losses["scorer"].backward(retain_graph=True)
    assert sum(_grad_norms(model.pgp)) == 0.0                 # never the PGP
    assert sum(_grad_norms(model.scorer)) > 0.0
    assert sum(_grad_norms(model.feature_extractor)) > 0.0

    model.zero_grad(set_to_none=True)
    losses["regression_scorer"].backward(retain_graph=True)
    assert sum(_grad_norms(model.scorer)) == 0.0              # never the scorer
    assert sum(_grad_norms(model.pgp.regression)) > 0.0
    assert sum(_grad_norms(model.feature_extractor)) > 0.0

    # ... and reaches the FE only through the PGP's deltas, not through the scorer's view of the
    # neighbourhood: d/d(features) equals the chain through the deltas alone.
    outputs = model(images)
    losses = compute_losses(outputs, targets, model.config, model.scorer)
    direct = torch.autograd.grad(losses["regression_scorer"], outputs["features"], retain_graph=True)[0]
    through_deltas = torch.autograd.grad(losses["regression_scorer"], outputs["deltas"], retain_graph=True)[0]
    chained = torch.autograd.grad(outputs["deltas"], outputs["features"], through_deltas, retain_graph=True)[0]
    assert direct.abs().sum() > 0
    assert torch.allclose(direct, chained, atol=1e-6)

    model.zero_grad(set_to_none=True)
    (losses["intermediate"] + losses["regression_l1"]).backward()
    assert sum(_grad_norms(model.scorer)) == 0.0
    assert sum(_grad_norms(model.pgp)) > 0.0


def test_selection_uses_primary_or_final_score():
    model = tiny_model(variant="full")
    images, targets = _batch(model)
    outputs = model(images)
    primary = torch.softmax(outputs["primary_logits"], -1)[..., 1].reshape(2, -1)
    selected = select_scored_anchors(outputs, model.config, model.scorer)
    assert selected.shape == (2, 8)
    assert torch.equal(selected.sort().values, primary.topk(8).indices.sort().values)
    config = model.config.__class__(**{**model.config.to_dict(), "variant": "no_selection"})
    final = torch.softmax(model.scorer.dense(outputs["features"], outputs["deltas"]), -1)[..., 1]
    selected = select_scored_anchors(outputs, config, model.scorer)
    assert torch.equal(selected.sort().values, final.reshape(2, -1).topk(8).indices.sort().values)


@pytest.mark.parametrize("variant", ["baseline", "full", "no_selection"])
def test_each_variant_runs_a_training_step(variant):
    model = tiny_model(variant=variant)
    images, targets = _batch(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
    before = [p.detach().clone() for p in model.pgp.parameters()]
    losses = compute_losses(model(images), targets, model.config, model.scorer)
    optimizer.zero_grad()
    losses["total"].backward()
    optimizer.step()
    assert torch.isfinite(losses["total"])
    assert any(not torch.equal(b, p) for b, p in zip(before, model.pgp.parameters()))
    if variant == "baseline":
        assert losses["scorer"].item() == 0.0 and losses["regression_scorer"].item() == 0.0
    else:
        assert losses["scorer"].item() > 0.0 and losses["regression_scorer"].item() > 0.0


def test_a_few_steps_on_one_image_reduce_the_loss():
    model = tiny_model(seed=5)
    images, targets = _batch(model)
    images, targets = images[:1], targets[:1]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    history = []
    for _ in range(10):
        losses = compute_losses(model(images), targets, model.config, model.scorer)
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
        history.append(losses["total"].item())
    assert sum(history[-3:]) / 3 < 0.7 * history[0], history


def test_random_negatives_and_the_veto_of_good_grasps():
    matched = torch.full((50,), -1)
    matched[[3, 7]] = 0
    probability = torch.linspace(0, 1, 50)
    torch.manual_seed(0)
    index, labels = sample_primary_targets(matched, probability, 3, sampling="random")
    negatives = index[labels == 0]
    assert len(negatives) == 6 and not set(negatives.tolist()) & {3, 7}
    torch.manual_seed(1)
    again, _ = sample_primary_targets(matched, probability, 3, sampling="random")
    assert set(again[2:].tolist()) != set(negatives.tolist())  # drawn, not the hardest
    # A veto removes good grasps from the negatives; the next candidates take their place.
    vetoed = {48, 49}
    index, labels = sample_primary_targets(matched, probability, 3,
                                           is_good=lambda i: torch.tensor([int(j) in vetoed for j in i]))
    assert sorted(index[2:].tolist()) == [42, 43, 44, 45, 46, 47]
    with pytest.raises(ValueError, match="hardest"):
        sample_primary_targets(matched, probability, 3, sampling="sometimes")


def test_clean_negatives_never_include_a_good_grasp():
    """An anchor whose own box passes the rectangle metric but is not an angle-matched positive
    (the ground truth's centre is in the next cell) is a negative for the paper's targets and
    never one with clean targets."""
    model = tiny_model()
    torch.manual_seed(1)
    images = torch.rand(1, 3, 64, 64)
    anchors = model.anchors(4, 4)
    gt = torch.tensor([[24.5, 16.5, 24.0, 10.0, 75.0]])          # centre in cell (1, 1), near (0, 1)
    outputs = model(images)
    # Make every anchor look like a grasp to the primary score, so hardest mining would pick any.
    good_anchor = anchors[0, 1, 5]                                  # (24, 8) at 75 deg: 8.5 px along the axis
    assert is_good_box(good_anchor, gt)
    flat = 1 * 6 + 5
    from grasp_scorer_ros.network.losses import good_grasp_test
    for clean in (False, True):
        config = model.config.__class__(**{**model.config.to_dict(), "clean_negatives": clean,
                                           "negative_ratio": 40})
        matched = angle_matching(gt, anchors, 16, 15.0).reshape(-1)
        probability = torch.full((96,), 0.5)
        probability[flat] = 0.99
        is_good = good_grasp_test(anchors.reshape(-1, 5), outputs["deltas"][0].reshape(-1, 5).detach(),
                                   gt, config) if clean else None
        index, labels = sample_primary_targets(matched, probability, config.negative_ratio, "hardest", is_good)
        negatives = set(index[labels == 0].tolist())
        assert (flat in negatives) == (not clean)
        if clean:
            good = is_good(torch.tensor(sorted(negatives)))
            assert not good.any()


def is_good_box(box, gt):
    from grasp_scorer_ros.network.metric import match_grasps
    return bool(match_grasps(box[None].numpy(), gt.numpy(), 30.0, 0.25)[0])


def test_scorer_term_weight_and_jitter():
    model = tiny_model()
    images, targets = _batch(model)
    outputs = model(images)
    torch.manual_seed(0)
    full = compute_losses(outputs, targets, model.config, model.scorer, scorer_term_weight=1.0)
    torch.manual_seed(0)
    off = compute_losses(outputs, targets, model.config, model.scorer, scorer_term_weight=0.0)
    torch.testing.assert_close(full["total"] - off["total"], full["regression_scorer"])
    jittered = model.config.__class__(**{**model.config.to_dict(), "scorer_jitter": 3})
    torch.manual_seed(0)
    with_jitter = compute_losses(outputs, targets, jittered, model.scorer)
    assert torch.isfinite(with_jitter["scorer"]) and with_jitter["scorer"] != full["scorer"]
    # The jitter feeds only the scorer's own loss: the regression terms are unchanged.
    torch.testing.assert_close(with_jitter["regression_scorer"], full["regression_scorer"])
    torch.testing.assert_close(with_jitter["regression_l1"], full["regression_l1"])


def test_binary_auc_and_entropy():
    scores = torch.tensor([0.1, 0.4, 0.35, 0.8])
    labels = torch.tensor([0, 0, 1, 1])
    assert binary_auc(scores, labels) == pytest.approx(0.75)
    assert binary_auc(scores, 1 - labels) == pytest.approx(0.25)
    assert binary_auc(torch.tensor([0.5, 0.5]), torch.tensor([0, 1])) == pytest.approx(0.5)
    assert binary_auc(scores, torch.ones(4)) != binary_auc(scores, torch.ones(4))  # NaN: one class
    assert binary_entropy(0.5) == pytest.approx(0.6931, abs=1e-4) and binary_entropy(0.0) == 0.0

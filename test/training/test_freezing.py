"""Fine-tuning a pretrained FE: what --freeze-stages and --fe-batch-norm leave untrained stays as it
was, computes what the eval-mode network computes, and checkpoints load into the plain network."""
from __future__ import annotations

import pytest
import torch

from grasp_scorer_ros.network.checkpoint import load_checkpoint, load_model, save_checkpoint
from grasp_scorer_ros.training import train
from grasp_scorer_ros.training.freezing import FrozenBatchNorm, freeze_feature_extractor
from tiny_training import args_for
from tiny_model import calibrate_batch_norm, tiny_model


def lite_model():
    from grasp_scorer_ros.network.model import GraspScorerNet
    from tiny_model import tiny_config
    torch.manual_seed(0)
    return GraspScorerNet(tiny_config(backbone="efficientnet_lite0"), pretrained=False, warn_random_init=False)


@pytest.mark.parametrize("make", [lambda: tiny_model(seed=2), pytest.param(lite_model, marks=pytest.mark.slow)],
                         ids=["resnet18", "efficientnet_lite0"])
def test_frozen_stages_get_no_gradient_and_frozen_norms_keep_their_statistics(make):
    images = torch.rand(2, 3, 64, 64)
    model = calibrate_batch_norm(make(), images)
    with torch.no_grad():
        reference = model(images)["features"]       # eval mode: the loaded statistics
    trunk = model.feature_extractor.trunk
    stem_and_first = list(trunk)[:model.feature_extractor.stage_ends[1]]
    later = list(trunk)[model.feature_extractor.stage_ends[1]:]
    expected = sum(p.numel() for m in stem_and_first for p in m.parameters())
    info = freeze_feature_extractor(model, 1, "frozen")
    assert info["frozen_parameters"] == expected
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in trunk.modules())
    assert all(p.requires_grad for m in later for p in m.parameters())
    model.train()                                   # train mode: frozen norms still use the stored statistics
    features = model(images)["features"]
    torch.testing.assert_close(features, reference, atol=1e-4, rtol=1e-4)
    features.square().mean().backward()
    frozen = [p for m in list(trunk)[:model.feature_extractor.stage_ends[1]] for p in m.parameters()]
    assert frozen and all(p.grad is None for p in frozen)
    assert all(p.grad is not None for m in later for p in m.parameters() if p.dim() > 1)
    running = [m.running_mean.clone() for m in trunk.modules() if isinstance(m, FrozenBatchNorm)]
    model(torch.rand(2, 3, 64, 64) * 3)
    assert all(torch.equal(a, m.running_mean) for a, m in
               zip(running, [m for m in trunk.modules() if isinstance(m, FrozenBatchNorm)]))


def test_a_frozen_models_checkpoint_loads_into_the_plain_network(tmp_path):
    images = torch.rand(2, 3, 64, 64)
    model = calibrate_batch_norm(lite_model(), images)
    freeze_feature_extractor(model, 2, "frozen")
    model.eval()
    save_checkpoint(str(tmp_path / "frozen.pt"), model)
    plain = load_model(str(tmp_path / "frozen.pt"))
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    with torch.no_grad():
        torch.testing.assert_close(plain(images)["deltas"], model(images)["deltas"], atol=1e-4, rtol=1e-4)


def test_out_of_range_stages_are_refused():
    with pytest.raises(ValueError, match="freeze-stages"):
        freeze_feature_extractor(tiny_model(), 4)   # a ResNet trunk: the stem and 3 stages
    with pytest.raises(ValueError, match="batch_norm"):
        freeze_feature_extractor(tiny_model(), 0, "sometimes")


@pytest.mark.slow
def test_training_with_frozen_stages_leaves_them_as_loaded_and_resumes_exactly(synthetic_set, tmp_path):
    extra = ["--freeze-stages", "2", "--fe-batch-norm", "frozen"]
    assert train.main(args_for(synthetic_set, tmp_path / "straight", 4, *extra)) == 0
    assert train.main(args_for(synthetic_set, tmp_path / "split", 2, *extra)) == 0
    assert train.main(args_for(synthetic_set, tmp_path / "split", 4, *extra, "--resume",
                               str(tmp_path / "split" / "last.pt"))) == 0
    start = load_checkpoint(str(tmp_path / "split" / "last.pt"))   # iteration 4 of the resumed run
    a = load_checkpoint(str(tmp_path / "straight" / "final.pt"))["state_dict"]
    for name, tensor in start["state_dict"].items():
        assert torch.equal(tensor, a[name]), name
    # the stem and layer1..layer2 (trunk.0 - trunk.5) trained not at all: as initialised (seed 0)
    torch.manual_seed(0)
    first = load_checkpoint(str(tmp_path / "split" / "final.pt"))
    assert first["iteration"] == 4
    initial = tiny_model(seed=0).state_dict()   # args_for's model: resnet18 at 64 px, torch seed 0
    # the anchor sizes differ from tiny_model's, but the trunk does not depend on them
    for name, tensor in a.items():
        if name.startswith("feature_extractor.trunk.") and int(name.split(".")[2]) < 6 and \
                tensor.is_floating_point():
            assert torch.equal(tensor, initial[name].float()), name
    assert not torch.equal(a["feature_extractor.trunk.6.0.conv1.weight"],
                           initial["feature_extractor.trunk.6.0.conv1.weight"])

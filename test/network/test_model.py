"""FE, PGP, scorer and the whole network: shapes, layer sizes, dense == per-grasp, inference.

Covers network/model.py and network/scorer.py (one file: every test runs with no download allowed)."""
import os

import pytest
import torch
import torchvision

from grasp_scorer_ros.network import box_coder
from grasp_scorer_ros.network.model import (RESNETS, GraspScorerNet, ModelConfig,
                                            build_resnet_trunk, imagenet_weight_candidates)
from grasp_scorer_ros.network.scorer import (Scorer, delta_slot_vectors, gather_neighbourhoods,
                                             score_all_per_grasp)
from tiny_model import calibrate_batch_norm, tiny_config, tiny_model


@pytest.fixture(autouse=True)
def _no_download(monkeypatch, tmp_path):
    """An empty torch hub cache, and any download attempt fails the test."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def refuse(*args, **kwargs):
        raise AssertionError("the model tried to download weights")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def test_config_round_trip_and_validation():
    config = ModelConfig(backbone="resnet34", scorer_hidden=128, variant="no_selection")
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown"):
        ModelConfig.from_dict({**config.to_dict(), "frobnicate": 1})
    for bad in (dict(backbone="vgg16"), dict(variant="other"), dict(input_size=300),
                dict(anchor_width=0.0)):
        with pytest.raises(ValueError):
            ModelConfig(**bad)


def test_resnet50_feature_map_is_20x20x1024_at_320():
    model = GraspScorerNet(ModelConfig(), pretrained=False, warn_random_init=False).eval()
    with torch.no_grad():
        features = model.feature_extractor(torch.rand(1, 3, 320, 320))
    assert features.shape == (1, 1024, 20, 20)


@pytest.mark.parametrize("backbone", ["resnet18", "resnet34", pytest.param("resnet101", marks=pytest.mark.slow)])
def test_selectable_backbones(backbone):
    trunk = build_resnet_trunk(backbone, pretrained=False, warn_random_init=False).eval()
    with torch.no_grad():
        features = trunk(torch.rand(1, 3, 64, 64))
    assert features.shape == (1, RESNETS[backbone][2], 4, 4)


def test_missing_imagenet_weights_is_a_clear_error_not_a_download():
    with pytest.raises(FileNotFoundError) as error:
        build_resnet_trunk("resnet18", pretrained=True)
    assert "resnet18-f37072fd.pth" in str(error.value)
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        build_resnet_trunk("resnet18", pretrained_weights="/nowhere.pth")


@pytest.mark.slow
def test_imagenet_weights_are_loaded_from_a_file_or_the_cache(tmp_path):
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(reference.state_dict(), path)
    trunk = build_resnet_trunk("resnet18", pretrained_weights=str(path))
    torch.testing.assert_close(trunk[4][0].conv1.weight, reference.layer1[0].conv1.weight)
    cached = imagenet_weight_candidates("resnet18")[0]
    os.makedirs(os.path.dirname(cached))
    torch.save(reference.state_dict(), cached)
    trunk = build_resnet_trunk("resnet18", pretrained=True)
    torch.testing.assert_close(trunk[6][1].conv2.weight, reference.layer3[1].conv2.weight)
    # A state dict of another architecture is refused, naming the file.
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match="r18.pth"):
        build_resnet_trunk("resnet18", pretrained_weights=str(path))


def test_scorer_layer_sizes_are_the_papers():
    scorer = Scorer(in_channels=1024, num_orientations=6, hidden=512)
    conv = scorer.neighbourhood_conv
    assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (1024, 1024, (1, 1))
    assert (scorer.delta_fc.in_features, scorer.delta_fc.out_features) == (30, 512)
    assert scorer.image_vector_size == 9216
    assert (scorer.hidden_fc.in_features, scorer.hidden_fc.out_features) == (9728, 512)
    assert (scorer.score_fc.in_features, scorer.score_fc.out_features) == (512, 2)
    assert scorer.negative_slope == 0.1
    logits = scorer(torch.randn(3, 1024, 3, 3), torch.randn(3, 30))
    assert logits.shape == (3, 2)
    # The hidden width is a configuration value.
    model = tiny_model(scorer_hidden=24)
    assert model.scorer.hidden_fc.out_features == 24 and model.scorer.score_fc.in_features == 24
    assert tiny_model(variant="baseline").scorer is None


def test_scorer_inputs_neighbourhood_and_one_slot_vector():
    features = torch.arange(2 * 1 * 3 * 4, dtype=torch.float32).reshape(2, 1, 3, 4) + 1
    patches = gather_neighbourhoods(features, torch.tensor([1, 0]), torch.tensor([1, 0]),
                                    torch.tensor([1, 3]))
    torch.testing.assert_close(patches[0, 0], features[1, 0, 0:3, 0:3])
    # The corner cell sees zero padding outside the map.
    expected = torch.zeros(3, 3)
    expected[1:, :2] = features[0, 0, 0:2, 2:4]
    torch.testing.assert_close(patches[1, 0], expected)
    deltas = torch.tensor([[1.0, 2, 3, 4, 5], [6.0, 7, 8, 9, 10]])
    vectors = delta_slot_vectors(deltas, torch.tensor([2, 0]), 3)
    assert vectors.shape == (2, 15)
    torch.testing.assert_close(vectors[0, 10:15], deltas[0])
    assert vectors[0, :10].abs().sum() == 0 and vectors[1, 5:].abs().sum() == 0


def test_dense_scorer_equals_per_grasp_scorer():
    torch.manual_seed(0)
    scorer = Scorer(in_channels=16, num_orientations=6, conv_channels=32, delta_width=16, hidden=12)
    features = torch.randn(2, 16, 5, 4)
    deltas = torch.randn(2, 5, 4, 6, 5)
    with torch.no_grad():
        dense = scorer.dense(features, deltas)
        per_grasp = score_all_per_grasp(scorer, features, deltas, chunk_size=50)
    assert dense.shape == (2, 5, 4, 6, 2)
    torch.testing.assert_close(dense, per_grasp, atol=1e-5, rtol=1e-5)
    # Every grasp of the map is scored differently (the comparison is not trivially true).
    assert dense[..., 1].flatten().unique().numel() > 200


def test_anchor_indicator_shows_the_anchor_even_with_zero_deltas():
    torch.manual_seed(0)
    deltas = torch.zeros(2, 5)
    paper = delta_slot_vectors(deltas, torch.tensor([2, 0]), 3)
    assert torch.equal(paper[0], paper[1])                     # the paper's input: anchors look alike
    shown = delta_slot_vectors(deltas, torch.tensor([2, 0]), 3, anchor_indicator=True)
    assert shown.shape == (2, 18) and shown[0, 17] == 1 and shown[1, 5] == 1 and shown.sum() == 2
    scorer = Scorer(in_channels=16, num_orientations=6, conv_channels=32, delta_width=16, hidden=12,
                    anchor_indicator=True)
    assert scorer.delta_fc.in_features == 36
    features = torch.randn(2, 16, 5, 4)
    deltas = torch.randn(2, 5, 4, 6, 5)
    deltas[0, 0, 0] = 0.0                                       # one cell's six anchors: zero deltas
    with torch.no_grad():
        dense = scorer.dense(features, deltas)
        per_grasp = score_all_per_grasp(scorer, features, deltas, chunk_size=50)
    torch.testing.assert_close(dense, per_grasp, atol=1e-5, rtol=1e-5)
    assert dense[0, 0, 0, :, 1].unique().numel() == 6           # ... scored apart


def test_final_scores_rankings():
    from grasp_scorer_ros.network.model import final_scores
    primary = torch.tensor([0.9, 0.8, 0.7, 0.1, 0.05])
    scorer = torch.tensor([0.2, 0.6, 0.5, 0.99, 0.3])
    config = tiny_config(num_scored_grasps=3)
    final, order = final_scores(primary, scorer, config)
    assert torch.equal(final, scorer) and order.tolist() == [3, 1, 2, 4, 0]       # the paper
    top_t = tiny_config(num_scored_grasps=3, final_ranking="top_t")
    final, order = final_scores(primary, scorer, top_t)
    assert final.tolist() == pytest.approx([0.2, 0.6, 0.5, 0.0, 0.0])
    assert order.tolist() == [1, 2, 0, 3, 4]   # the T best primary, by scorer; then by primary
    product = tiny_config(final_ranking="product")
    final, order = final_scores(primary, scorer, product)
    torch.testing.assert_close(final, torch.sqrt(primary * scorer))   # the geometric mean: a probability's scale
    assert order.tolist() == [1, 2, 0, 3, 4]
    assert torch.equal(order, torch.argsort(primary * scorer, descending=True, stable=True))   # the product's order
    final, order = final_scores(primary, None, config)
    assert torch.equal(final, primary) and order.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="final_ranking"):
        tiny_config(final_ranking="best")


def test_network_outputs_and_prediction():
    model = tiny_model()
    images = torch.rand(2, 3, 64, 64)
    calibrate_batch_norm(model, images)
    outputs = model(images)
    assert outputs["features"].shape == (2, 256, 4, 4)
    assert outputs["deltas"].shape == (2, 4, 4, 6, 5)
    assert outputs["primary_logits"].shape == (2, 4, 4, 6, 2)
    with torch.no_grad():
        dense = model.scorer.dense(outputs["features"], outputs["deltas"])
        per_grasp = score_all_per_grasp(model.scorer, outputs["features"], outputs["deltas"])
    torch.testing.assert_close(dense, per_grasp, atol=1e-5, rtol=1e-4)

    predictions = model.predict(images)
    assert len(predictions) == 2
    first = predictions[0]
    assert first["grasps"].shape == (96, 5)
    assert torch.all(first["scores"][:-1] >= first["scores"][1:])
    expected_final = torch.softmax(dense[0], -1)[..., 1].flatten()
    torch.testing.assert_close(first["scores"], expected_final.sort(descending=True).values)
    decoded = box_coder.decode(outputs["deltas"][0], outputs["anchors"], 6).reshape(-1, 5)
    best = torch.argmax(expected_final)
    torch.testing.assert_close(first["grasps"][0], decoded[best])
    primary = torch.softmax(outputs["primary_logits"][0], -1)[..., 1].flatten()
    torch.testing.assert_close(first["primary_scores"][0], primary[best])
    torch.testing.assert_close(first["scorer_scores"], first["scores"])
    assert model.predict(images, top_k=5)[1]["grasps"].shape == (5, 5)


def test_baseline_final_score_is_primary_score():
    model = tiny_model(variant="baseline")
    images = torch.rand(1, 3, 64, 64)
    calibrate_batch_norm(model, images)
    prediction = model.predict(images)[0]
    torch.testing.assert_close(prediction["scores"], prediction["primary_scores"])


def test_bad_input_is_refused():
    model = tiny_model().eval()
    with pytest.raises(ValueError):
        model(torch.rand(1, 1, 64, 64))
    with pytest.raises(ValueError):
        model(torch.rand(1, 3, 60, 64))


def test_bfloat16_inference_autocast_and_cast_model():
    model = tiny_model(seed=3)
    images = torch.rand(1, 3, 64, 64)
    calibrate_batch_norm(model, images)
    reference = model.predict(images)[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = model.predict(images)[0]
    model = model.to(torch.bfloat16).to(memory_format=torch.channels_last)
    cast = model.predict(images)[0]
    for result in (autocast, cast):
        assert result["grasps"].dtype == torch.float32 and torch.isfinite(result["grasps"]).all()
        assert torch.all(result["scores"][:-1] >= result["scores"][1:])
        # bf16 keeps ~3 significant digits: the sorted score distribution stays close.
        torch.testing.assert_close(result["scores"], reference["scores"], atol=0.05, rtol=0)

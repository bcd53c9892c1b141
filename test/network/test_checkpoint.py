"""Checkpoints carry the configuration; loading rebuilds the exact model; bad files give clear errors."""
import argparse
import os

import pytest
import torch

from grasp_scorer_ros.network.checkpoint import load_checkpoint, load_model, save_checkpoint
from tiny_model import calibrate_batch_norm, tiny_model

IMAGES = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def trained(tmp_path):
    model = calibrate_batch_norm(tiny_model(seed=7, scorer_hidden=12, variant="no_selection"), IMAGES)
    path = tmp_path / "run" / "model.pt"
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    save_checkpoint(str(path), model, extra={"iteration": 42, "optimizer": optimizer.state_dict(),
                                              "args": argparse.Namespace(lr=0.1, batch_size=10)})
    return model, path


def test_round_trip_rebuilds_an_identical_model(trained):
    model, path = trained
    assert os.listdir(path.parent) == ["model.pt"]  # no temporary file left behind
    loaded = load_model(str(path))
    assert loaded.config == model.config and loaded.config.scorer_hidden == 12
    assert not loaded.training
    expected, got = model.predict(IMAGES)[0], loaded.predict(IMAGES)[0]
    for key in ("grasps", "scores", "primary_scores"):
        assert torch.equal(expected[key], got[key])
    payload = load_checkpoint(str(path))
    assert payload["iteration"] == 42 and payload["args"] == {"lr": 0.1, "batch_size": 10}
    assert payload["optimizer"]["param_groups"][0]["lr"] == 0.1


def test_half_precision_storage_loads_as_float32(trained, tmp_path):
    model, path = trained
    half_path = tmp_path / "half.pt"
    save_checkpoint(str(half_path), model, half=True)
    assert os.path.getsize(half_path) < 0.6 * os.path.getsize(path)
    loaded = load_model(str(half_path))
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    torch.testing.assert_close(loaded.predict(IMAGES)[0]["scores"], model.predict(IMAGES)[0]["scores"],
                               atol=2e-2, rtol=0)


def test_missing_file(tmp_path):
    path = tmp_path / "absent.pt"
    with pytest.raises(FileNotFoundError, match="absent.pt"):
        load_model(str(path))


def test_corrupt_and_foreign_files(trained, tmp_path):
    _, path = trained
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(2000))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: os.path.getsize(path) // 2])
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {"weight": torch.zeros(3)}}, foreign)
    for bad in (garbage, truncated, foreign):
        with pytest.raises(ValueError, match="not a grasp_scorer_ros checkpoint / corrupt") as error:
            load_model(str(bad))
        assert bad.name in str(error.value)


def _tampered(path, tmp_path, change):
    payload = torch.load(path, weights_only=True)
    change(payload)
    out = tmp_path / "tampered.pt"
    torch.save(payload, out)
    return str(out)


def test_configuration_mismatches_are_named(trained, tmp_path):
    _, path = trained

    def wider_scorer(p):
        p["config"]["scorer_hidden"] = 16
    with pytest.raises(ValueError, match="shape mismatch.*hidden_fc"):
        load_model(_tampered(path, tmp_path, wider_scorer))

    def baseline(p):
        p["config"]["variant"] = "baseline"
    with pytest.raises(ValueError, match="unexpected keys.*scorer"):
        load_model(_tampered(path, tmp_path, baseline))

    def lost_key(p):
        del p["state_dict"]["pgp.regression.weight"]
    with pytest.raises(ValueError, match="missing keys.*pgp.regression.weight"):
        load_model(_tampered(path, tmp_path, lost_key))

    def unknown_option(p):
        p["config"]["mystery"] = 3
    with pytest.raises(ValueError, match="mystery"):
        load_model(_tampered(path, tmp_path, unknown_option))

    def bad_backbone(p):
        p["config"]["backbone"] = "vgg"
    with pytest.raises(ValueError, match="backbone"):
        load_model(_tampered(path, tmp_path, bad_backbone))


def test_reserved_extra_keys_are_refused(trained, tmp_path):
    model, _ = trained
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(str(tmp_path / "x.pt"), model, extra={"config": {}})

"""The training and evaluation scripts end to end, on a small synthetic set written to disk."""
import csv
import json

import pytest
import torch

from grasp_scorer_ros.training import evaluate, train
from grasp_scorer_ros.network.checkpoint import load_checkpoint, load_model
from grasp_scorer_ros.synthetic import write_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    write_dataset(root, count=24, seed=3, object_sets=6, write_masks=False, progress=False)
    return root


def args_for(dataset, out, iterations, *extra):
    return ["--dataset", "jacquard", "--data-root", str(dataset), "--backbone", "resnet18",
            "--input-size", "64", "--scorer-hidden", "8", "--batch-size", "2", "--T", "8",
            "--pretrained", "none", "--workers", "0", "--iterations", str(iterations),
            "--checkpoint-every", "2", "--eval-every", "0", "--eval-limit", "4", "--lr", "0.001",
            "--out", str(out), *extra]


def test_training_writes_log_curves_checkpoints_and_resumes_exactly(dataset, tmp_path):
    assert train.main(args_for(dataset, tmp_path / "straight", 4)) == 0
    straight = tmp_path / "straight"
    for name in ("last.pt", "final.pt", "log.csv", "training_curves.png"):
        assert (straight / name).is_file(), name
    rows = list(csv.DictReader((straight / "log.csv").open()))
    assert [int(r["iteration"]) for r in rows if r["kind"] == "train"] == [1, 2, 3, 4]
    assert all(float(r["total"]) > 0 for r in rows if r["kind"] == "train")
    assert [r["kind"] for r in rows].count("eval") == 1

    # Interrupted after iteration 2 (its last.pt), then resumed: same weights as the straight run.
    assert train.main(args_for(dataset, tmp_path / "split", 2)) == 0
    assert load_checkpoint(str(tmp_path / "split" / "last.pt"))["iteration"] == 2
    assert train.main(args_for(dataset, tmp_path / "split", 4, "--resume",
                               str(tmp_path / "split" / "last.pt"))) == 0
    a = load_checkpoint(str(straight / "final.pt"))
    b = load_checkpoint(str(tmp_path / "split" / "final.pt"))
    assert a["iteration"] == b["iteration"] == 4
    for name, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][name]), name
    # The configuration, the anchor (mean training box) and the command travel with the model.
    config = a["config"]
    assert config["backbone"] == "resnet18" and config["input_size"] == 64
    assert 0 < config["anchor_height"] < config["anchor_width"] < 64
    assert "--iterations 4" in a["command"]


def test_half_precision_export_loads_as_the_same_model(dataset, tmp_path):
    half = tmp_path / "model_half.pt"
    assert train.main(args_for(dataset, tmp_path / "run", 2, "--export-half", str(half))) == 0
    full = load_model(str(tmp_path / "run" / "final.pt"))
    small = load_model(str(half))
    assert small.config == full.config
    assert half.stat().st_size < 0.6 * (tmp_path / "run" / "final.pt").stat().st_size / 2 + 1e6
    for (name, x), y in zip(full.state_dict().items(), small.state_dict().values()):
        if x.is_floating_point():
            assert torch.allclose(x, y, atol=1e-2, rtol=1e-2), name


def test_evaluation_prints_a_table_and_writes_json_and_pictures(dataset, tmp_path, capsys):
    assert train.main(args_for(dataset, tmp_path / "run", 2)) == 0
    out = tmp_path / "eval"
    code = evaluate.main(["--dataset", "jacquard", "--data-root", str(dataset), "--checkpoints",
                          str(tmp_path / "run" / "final.pt"), "--folds", "5", "--out", str(out),
                          "--draw", "2", "--device", "cpu"])
    assert code == 0
    table = capsys.readouterr().out
    assert "primary score" in table and "final score" in table and "mean" in table
    assert "McNemar" in table and "all folds pooled" in table
    results = json.loads((out / "results.json").read_text())
    model = results["models"][0]
    assert model["fold"] == 0 and model["images"] > 0 and 0.0 <= results["final_mean"] <= 1.0
    assert set(model["correct"]) == {"primary", "scorer_all", "scorer_top_t", "product"}
    assert all(len(v) == model["images"] for v in model["correct"].values())
    assert model["accuracy_intervals"]["primary"][0] <= model["primary_accuracy"]
    comparison = model["comparisons"][0]
    assert comparison["first"] == "final score" and comparison["second"] == "primary score"
    assert comparison["only_first"] + comparison["only_second"] <= model["images"]
    assert len(list((out / "fold0").glob("eval_*.png"))) == 2


def test_evaluation_compares_models_on_the_same_images(dataset, tmp_path, capsys):
    assert train.main(args_for(dataset, tmp_path / "full", 2)) == 0
    assert train.main(args_for(dataset, tmp_path / "baseline", 2, "--variant", "baseline")) == 0
    out = tmp_path / "eval"
    checkpoints = [str(tmp_path / "full" / "final.pt"), str(tmp_path / "baseline" / "final.pt")]
    assert evaluate.main(["--dataset", "jacquard", "--data-root", str(dataset), "--checkpoints", *checkpoints,
                          "--split", "all", "--limit", "10", "--out", str(out)]) == 0
    report = capsys.readouterr().out
    assert "models on the same images" in report and "baseline - full" in report
    results = json.loads((out / "results.json").read_text())
    full, baseline = results["models"]
    assert full["images"] == baseline["images"] == 10
    assert set(baseline["correct"]) == {"primary"} and baseline["final_ranking"] == "primary"
    between = results["between_models"][0]
    assert between["images"] == 10
    expected = sum(b and not f for b, f in zip(baseline["correct"]["primary"],
                                              full["correct"][full["final_ranking"]]))
    assert between["only_first"] == expected


def test_bad_inputs_give_clear_messages(dataset, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert train.main(args_for(empty, tmp_path / "run", 2)) == 2
    assert str(empty) in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    assert evaluate.main(["--dataset", "jacquard", "--data-root", str(dataset),
                          "--checkpoints", str(corrupt), "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert str(corrupt) in err and "corrupt" in err
    assert train.main(args_for(dataset, tmp_path / "run", 2, "--resume", str(tmp_path / "missing.pt"))) == 2
    assert "missing.pt" in capsys.readouterr().err

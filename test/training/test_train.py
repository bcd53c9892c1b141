"""The training and evaluation scripts end to end (training/train.py, evaluate.py, scorer_diagnostics.py), on
a small synthetic set written to disk (``synthetic_set``, test/conftest.py)."""
import csv
import json
from pathlib import Path

import pytest
import torch

from grasp_scorer_ros.training import evaluate, train
from grasp_scorer_ros.network.checkpoint import load_checkpoint, load_model
from grasp_scorer_ros.network.model import ModelConfig
from grasp_scorer_ros.synthetic import write_dataset
from tiny_training import args_for


@pytest.mark.slow
def test_training_writes_log_curves_checkpoints_and_resumes_exactly(synthetic_set, tmp_path):
    assert train.main(args_for(synthetic_set, tmp_path / "straight", 4)) == 0
    straight = tmp_path / "straight"
    for name in ("last.pt", "final.pt", "log.csv", "training_curves.png"):
        assert (straight / name).is_file(), name
    rows = list(csv.DictReader((straight / "log.csv").open()))
    assert [int(r["iteration"]) for r in rows if r["kind"] == "train"] == [1, 2, 3, 4]
    assert all(float(r["total"]) > 0 for r in rows if r["kind"] == "train")
    assert [r["kind"] for r in rows].count("eval") == 1

    # Interrupted after iteration 2 (its last.pt), then resumed: same weights as the straight run.
    assert train.main(args_for(synthetic_set, tmp_path / "split", 2)) == 0
    assert load_checkpoint(str(tmp_path / "split" / "last.pt"))["iteration"] == 2
    assert train.main(args_for(synthetic_set, tmp_path / "split", 4, "--resume",
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


@pytest.mark.slow
def test_half_precision_export_loads_as_the_same_model(synthetic_set, tmp_path):
    half = tmp_path / "model_half.pt"
    assert train.main(args_for(synthetic_set, tmp_path / "run", 2, "--export-half", str(half))) == 0
    full = load_model(str(tmp_path / "run" / "final.pt"))
    small = load_model(str(half))
    assert small.config == full.config
    assert half.stat().st_size < 0.6 * (tmp_path / "run" / "final.pt").stat().st_size / 2 + 1e6
    for (name, x), y in zip(full.state_dict().items(), small.state_dict().values()):
        if x.is_floating_point():
            assert torch.allclose(x, y, atol=1e-2, rtol=1e-2), name


@pytest.mark.slow
def test_evaluation_prints_a_table_and_writes_json_and_pictures(synthetic_set, tmp_path, capsys):
    assert train.main(args_for(synthetic_set, tmp_path / "run", 2)) == 0
    out = tmp_path / "eval"
    code = evaluate.main(["--dataset", "jacquard", "--data-root", str(synthetic_set), "--checkpoints",
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


@pytest.mark.slow
def test_evaluation_compares_models_on_the_same_images(synthetic_set, tmp_path, capsys):
    assert train.main(args_for(synthetic_set, tmp_path / "full", 2)) == 0
    assert train.main(args_for(synthetic_set, tmp_path / "baseline", 2, "--variant", "baseline")) == 0
    out = tmp_path / "eval"
    checkpoints = [str(tmp_path / "full" / "final.pt"), str(tmp_path / "baseline" / "final.pt")]
    assert evaluate.main(["--dataset", "jacquard", "--data-root", str(synthetic_set), "--checkpoints", *checkpoints,
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


def test_models_are_named_by_run_and_by_file_within_one_run():
    runs = [Path("runs/full/it1000.pt"), Path("runs/full/final.pt"), Path("runs/baseline/final.pt")]
    assert [evaluate.model_name(c, runs) for c in runs] == ["full/it1000", "full/final", "baseline"]


def test_bad_inputs_give_clear_messages(synthetic_set, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert train.main(args_for(empty, tmp_path / "run", 2)) == 2
    assert str(empty) in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    assert evaluate.main(["--dataset", "jacquard", "--data-root", str(synthetic_set),
                          "--checkpoints", str(corrupt), "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert str(corrupt) in err and "corrupt" in err
    assert train.main(args_for(synthetic_set, tmp_path / "run", 2, "--resume", str(tmp_path / "missing.pt"))) == 2
    assert "missing.pt" in capsys.readouterr().err


def test_scorer_term_schedules():
    from types import SimpleNamespace
    args = SimpleNamespace(scorer_term="paper", scorer_term_start=100, scorer_term_ramp=50,
                           gate_auc=(0.7, 0.9), gate_direction=(0.0, 0.2))
    weight = train.scorer_term_weight
    assert weight(args, 1, 0.5, -1.0) == 1.0                       # the paper: always on
    args.scorer_term = "off"
    assert weight(args, 5000, 0.99, 1.0) == 0.0
    args.scorer_term = "warmup"
    assert [weight(args, i, 0.5) for i in (100, 125, 150, 400)] == [0.0, 0.5, 1.0, 1.0]
    args.scorer_term = "gate"                                       # on the scorer's AUC
    assert weight(args, 1, 0.6) == 0.0 and weight(args, 1, 0.8) == pytest.approx(0.5)
    assert weight(args, 1, 0.95) == 1.0
    args.scorer_term = "direction-gate"                             # on the pull towards ground truth
    assert weight(args, 1, 0.99, -0.3) == 0.0 and weight(args, 1, 0.5, 0.1) == pytest.approx(0.5)


@pytest.mark.slow
def test_departure_flags_reach_the_checkpoint_and_the_log(synthetic_set, tmp_path):
    flags = ["--scorer-grasp-input", "anchor-indicator", "--scorer-jitter", "1", "--scorer-labels", "iou",
             "--negatives", "random", "--clean-negatives", "on", "--scorer-term", "direction-gate",
             "--final-ranking", "product", "--photometric", "on", "--direction-every", "1"]
    assert train.main(args_for(synthetic_set, tmp_path / "run", 2, *flags)) == 0
    config = load_checkpoint(str(tmp_path / "run" / "final.pt"))["config"]
    assert config["scorer_anchor_indicator"] and config["scorer_jitter"] == 1
    assert config["scorer_labels"] == "iou" and config["negative_sampling"] == "random"
    assert config["clean_negatives"] and config["final_ranking"] == "product"
    rows = [r for r in csv.DictReader((tmp_path / "run" / "log.csv").open()) if r["kind"] == "train"]
    for name in ("scorer_auc", "label_rate", "label_entropy", "direction", "scorer_term_weight"):
        assert all(r[name] != "" for r in rows), name
    assert all(-1.0 <= float(r["direction"]) <= 1.0 for r in rows)
    # The paper's literal behaviour stays selectable in one flag: every departure off.
    assert train.main(args_for(synthetic_set, tmp_path / "literal", 2, "--recipe", "paper")) == 0
    config = load_checkpoint(str(tmp_path / "literal" / "final.pt"))["config"]
    defaults = ModelConfig()
    for name in ("scorer_anchor_indicator", "scorer_jitter", "scorer_labels", "clean_negatives", "final_ranking"):
        assert config[name] == getattr(defaults, name), name


def test_recipes_fill_only_the_flags_left_unset():
    measured = train.apply_recipe(train.get_args_parser().parse_args(
        ["--dataset", "jacquard", "--data-root", "x"]))
    assert (measured.scorer_grasp_input, measured.scorer_labels, measured.scorer_jitter) == (
        "anchor-indicator", "iou", 2)
    assert (measured.scorer_term, measured.final_ranking, measured.photometric) == (
        "direction-gate", "product", "on")
    paper = train.apply_recipe(train.get_args_parser().parse_args(
        ["--dataset", "jacquard", "--data-root", "x", "--recipe", "paper", "--photometric", "on"]))
    assert (paper.scorer_term, paper.clean_negatives, paper.scorer_jitter) == ("paper", "off", 0)
    assert paper.negatives == "random"                               # the paper's text; mining is Zhou's code
    assert paper.photometric == "on"                                 # the explicit flag wins


@pytest.mark.slow
def test_scorer_diagnostics_command(synthetic_set, tmp_path, capsys):
    from grasp_scorer_ros.training import scorer_diagnostics
    assert train.main(args_for(synthetic_set, tmp_path / "run", 2)) == 0
    capsys.readouterr()
    assert scorer_diagnostics.main(["--checkpoint", str(tmp_path / "run" / "final.pt"), "--dataset", "jacquard",
                                    "--data-root", str(synthetic_set), "--images", "3", "--steps", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 3
    for name in ("scorer_auc_within_image", "metric_correct_before", "metric_correct_after", "label_entropy"):
        assert name in report
    assert 0.0 <= report["one_step_better"] + report["one_step_worse"] <= 1.0


@pytest.mark.slow
def test_a_second_training_source_fills_its_share_of_every_batch_and_is_never_evaluated(synthetic_set, tmp_path, caplog,
                                                                                       capsys):
    from grasp_scorer_ros.datasets import load_jacquard
    from grasp_scorer_ros.datasets.torch_dataset import GraspTorchDataset
    samples = load_jacquard(synthetic_set)
    both = GraspTorchDataset(samples, train=True, size=64)
    mixed = train.IterationBatches(both, 10, 0, 400, extra=6, extra_share=0.3)
    import numpy as np
    drawn = np.concatenate([mixed.indices(i, np.random.default_rng([0, i])) for i in range(400)])
    assert abs(np.mean(drawn >= len(samples) - 6) - 0.3) < 0.03
    # Without a second source the draw is the one every earlier run made (resumes stay exact).
    plain = train.IterationBatches(both, 10, 0, 400)
    assert np.array_equal(plain.indices(7, np.random.default_rng([0, 7])),
                          np.random.default_rng([0, 7]).integers(len(samples), size=10))

    extra = tmp_path / "extra"
    write_dataset(extra, count=5, seed=11, object_sets=5, write_masks=False, progress=False)
    with caplog.at_level("INFO", logger="grasp_scorer_ros.train"):
        assert train.main(args_for(synthetic_set, tmp_path / "run", 2, "--extra-train-root", str(extra),
                                   "--extra-share", "0.5")) == 0
    assert "5 more training images" in caplog.text
    assert load_checkpoint(str(tmp_path / "run" / "final.pt"))["iteration"] == 2
    assert train.main(args_for(synthetic_set, tmp_path / "bad", 1, "--extra-train-root", str(extra),
                               "--extra-share", "1.5")) == 2
    assert "--extra-share must be in (0, 1)" in capsys.readouterr().err

"""grasp-scorer-crossval end to end on a small synthetic set: K folds and the baseline trained (tiny
runs, in subprocesses as the command runs them), each held-out fold evaluated, Table I written; a
partly finished cross-validation continued, not restarted; a continuation with other options refused."""
import json
import logging
import os
import shutil
import subprocess

import numpy as np
import pytest
import torch

from grasp_scorer_ros.network.checkpoint import load_checkpoint
from grasp_scorer_ros.synthetic import write_dataset
from grasp_scorer_ros.training import cross_validation, evaluate, train

FOLDS = 3
# The tiny, fast model of test_train.py; one thread per training process (two slow shared cores).
TRAINING = ["--backbone", "resnet18", "--input-size", "64", "--scorer-hidden", "8", "--scorer-channels", "16",
            "--batch-size", "2", "--T", "8", "--pretrained", "none", "--workers", "0", "--iterations", "4",
            "--checkpoint-every", "2", "--eval-every", "0", "--eval-limit", "4", "--threads", "1"]


def with_option(argv, option, value):
    """``argv`` with ``option``'s value replaced."""
    at = argv.index(option)
    return [*argv[:at + 1], value, *argv[at + 2:]]


def crossval_argv(dataset, out, *training):
    return ["--dataset", "jacquard", "--data-root", str(dataset), "--folds", str(FOLDS), "--out", str(out),
            "--with-baseline", "--", *(training or TRAINING)]


@pytest.fixture(scope="module")
def crossval_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    write_dataset(root, count=18, seed=3, object_sets=6, write_masks=False, progress=False)
    return root


@pytest.fixture(scope="module")
def finished(crossval_set, tmp_path_factory):
    """A cross-validation run from start to end."""
    out = tmp_path_factory.mktemp("crossval") / "cv"
    assert cross_validation.main(crossval_argv(crossval_set, out)) == 0
    return out


def snapshot(out):
    """Every file under ``out`` with its modification time."""
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def fold_evaluation(out, variant, fold):
    return json.loads((out / variant / f"fold{fold}" / "evaluation" / "results.json").read_text())["models"][0]


@pytest.mark.slow
def test_the_table_has_a_row_per_fold_and_the_mean_and_std_of_the_fold_evaluations(finished, capsys):
    table = json.loads((finished / "table.json").read_text())
    text = (finished / "table.txt").read_text()
    assert table["complete"] and table["folds"] == FOLDS and table["iterations"] == 4
    assert [row["fold"] for row in table["rows"]] == list(range(FOLDS))
    model = [fold_evaluation(finished, "full", k) for k in range(FOLDS)]
    baseline = [fold_evaluation(finished, "baseline", k) for k in range(FOLDS)]
    assert [m["fold"] for m in model] == list(range(FOLDS))        # each on its own held-out fold
    assert sum(m["images"] for m in model) == 18                    # the folds cover the set once
    for name, values in (("primary", [m["primary_accuracy"] for m in model]),
                         ("final", [m["final_accuracy"] for m in model]),
                         ("baseline", [b["final_accuracy"] for b in baseline])):
        assert table["mean"][name] == pytest.approx(np.mean(values))
        assert table["std"][name] == pytest.approx(np.std(values))
        assert f"{100 * np.mean(values):.2f} +- {100 * np.std(values):.2f}" in text
    for row, m, b in zip(table["rows"], model, baseline):
        assert (row["images"], row["final_accuracy"], row["baseline_accuracy"]) == (
            m["images"], m["final_accuracy"], b["final_accuracy"])
        assert b["final_ranking"] == "primary" and set(b["correct"]) == {"primary"}   # no scorer
    # The paired comparisons: each fold's own (final vs primary ...) and the model against the baseline.
    for k, m in enumerate(model):
        comparisons = table["comparisons"]["per_fold"][str(k)]
        assert comparisons[:-1] == m["comparisons"]
        against = comparisons[-1]
        mine, theirs = np.array(m["correct"][m["final_ranking"]]), np.array(baseline[k]["correct"]["primary"])
        assert (against["second"], against["images"]) == ("baseline", m["images"])
        assert (against["only_first"], against["only_second"]) == (int(np.sum(mine > theirs)),
                                                                   int(np.sum(theirs > mine)))
    pooled = table["comparisons"]["pooled"]
    assert pooled[0]["first"] == "final score" and pooled[0]["images"] == 18
    assert "all 3 folds pooled (18 images" in text and "McNemar" in text
    assert text.count("\nfold ") == FOLDS
    assert (finished / "accuracies.png").stat().st_size > 0
    # Every fold's run is grasp-scorer-train's own output, its console kept.
    for variant in ("full", "baseline"):
        for k in range(FOLDS):
            run = finished / variant / f"fold{k}"
            checkpoint = load_checkpoint(str(run / "final.pt"))
            assert checkpoint["iteration"] == 4 and checkpoint["config"]["variant"] == variant
            assert checkpoint["args"]["fold"] == k
            assert "done:" in (run / "train.log").read_text()


@pytest.mark.slow
def test_a_partly_finished_cross_validation_continues_where_it_stopped(finished, crossval_set, tmp_path, caplog):
    out = tmp_path / "cv"
    shutil.copytree(finished, out)
    # full fold 1 stopped after iteration 2 (a real 2-iteration run's last.pt, same options) ...
    scratch = tmp_path / "scratch"
    args = cross_validation.parse(crossval_argv(crossval_set, out))[0]
    argv = [*cross_validation.shared_argv(args), "--fold", "1", "--out", str(scratch), *TRAINING]
    assert train.main(with_option(argv, "--iterations", "2")) == 0
    assert load_checkpoint(str(scratch / "last.pt"))["iteration"] == 2
    (out / "full" / "fold1" / "final.pt").unlink()
    for name in ("last.pt", "log.csv"):
        shutil.copy(scratch / name, out / "full" / "fold1" / name)
    # ... baseline fold 2 never started, and full fold 0 trained but its evaluation lost.
    shutil.rmtree(out / "baseline" / "fold2")
    (out / "full" / "fold0" / "evaluation" / "results.json").unlink()
    for name in ("table.txt", "table.json"):
        (out / name).unlink()
    before = snapshot(out)

    caplog.set_level(logging.INFO, logger="grasp_scorer_ros.crossval")
    assert cross_validation.main(crossval_argv(crossval_set, out)) == 0
    messages = [r.getMessage() for r in caplog.records if r.name == "grasp_scorer_ros.crossval"]
    assert [m.split(":")[0] for m in messages if ": training" in m] == ["full fold 1", "baseline fold 2"]
    assert [m.split(":")[0] for m in messages if ": evaluating" in m] == ["full fold 0", "full fold 1",
                                                                        "baseline fold 2"]
    assert "full fold 1: resuming from last.pt (iteration 2)" in messages
    after = snapshot(out)
    untouched = {"full/fold0/final.pt", "full/fold2/final.pt", "baseline/fold0/final.pt",
                 "baseline/fold1/final.pt", "full/fold2/evaluation/results.json",
                 "baseline/fold1/evaluation/results.json", "full/fold2/train.log"}
    assert all(after[name] == before[name] for name in untouched)
    for name in ("full/fold1/final.pt", "full/fold0/evaluation/results.json", "baseline/fold2/final.pt"):
        assert name in after and after[name] != before.get(name)
    # The resumed fold is the uninterrupted one, weight for weight, and so is the table.
    a = load_checkpoint(str(finished / "full" / "fold1" / "final.pt"))["state_dict"]
    b = load_checkpoint(str(out / "full" / "fold1" / "final.pt"))["state_dict"]
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert (out / "table.json").read_text() == (finished / "table.json").read_text()
    assert (out / "table.txt").read_text() == (finished / "table.txt").read_text()


@pytest.mark.slow
def test_a_continuation_with_other_options_is_refused_naming_them(finished, crossval_set, capsys):
    before = snapshot(finished)
    argv = crossval_argv(crossval_set, finished, *with_option(TRAINING, "--iterations", "8"), "--lr", "0.01")
    argv[argv.index("--folds"):argv.index("--folds")] = ["--split-seed", "1"]
    assert cross_validation.main(argv) == 2
    err = capsys.readouterr().err
    differing = sorted(line.strip() for line in err.splitlines() if line.startswith("  --"))
    assert differing == ["--iterations: 4 -> 8", "--lr: 0.001 -> 0.01", "--split-seed: 0 -> 1"], err
    assert "started as: grasp-scorer-crossval --dataset jacquard" in err
    assert snapshot(finished) == before
    # How a run is carried out may change: more threads is the same cross-validation (nothing to do).
    assert cross_validation.main(crossval_argv(crossval_set, finished, *with_option(TRAINING, "--threads", "2"))) == 0
    assert all(snapshot(finished)[name] == before[name] for name in before if name.endswith(".pt"))


def test_options_the_cross_validation_owns_are_refused_as_training_options(crossval_set, tmp_path, capsys):
    for extra, expected in ((["--fold", "1"], "--fold (set for each fold)"),
                            (["--resume", "x/last.pt"], "--resume"),
                            (["--split-seed", "2"], "--split-seed (a cross-validation option")):
        with pytest.raises(SystemExit) as exit_:
            cross_validation.parse(crossval_argv(crossval_set, tmp_path / "cv", *TRAINING, *extra))
        assert exit_.value.code == 2 and expected in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cross_validation.parse(crossval_argv(crossval_set, tmp_path / "cv", *TRAINING, "--variant", "baseline"))
    assert "the model is --variant baseline" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cross_validation.parse(crossval_argv(crossval_set, tmp_path / "cv", *TRAINING, "--iterations", "many"))
    assert "--iterations" in capsys.readouterr().err
    # Training options may come before or after "--", in grasp-scorer-train's own spelling.
    args, passed, training = cross_validation.parse(["--dataset", "jacquard", "--data-root", str(crossval_set),
                                                     "--iterations", "7", "--out", str(tmp_path), "--", "--lr=0.5"])
    assert passed == ["--iterations", "7", "--lr=0.5"] and training.iterations == 7 and training.lr == 0.5
    assert args.folds == 5 and not tmp_path.joinpath("crossval.json").exists()


def test_the_table_is_assembled_from_the_fold_evaluations_that_exist(crossval_set, tmp_path):
    """Table I from planted per-fold evaluations (random correctness vectors), two of three folds."""
    args, _, training = cross_validation.parse(crossval_argv(crossval_set, tmp_path, *TRAINING))
    runs = [cross_validation.Run(tmp_path, variant, k) for variant in ("full", "baseline") for k in range(FOLDS)]
    rng = np.random.default_rng(0)
    planted = {}
    for run in runs:
        if run.fold == 1:
            continue  # not evaluated yet
        images = 20 + run.fold
        rankings = ("primary",) if run.variant == "baseline" else ("primary", "scorer_all", "product")
        correct = {name: rng.random(images) < 0.6 for name in rankings}
        result = {"images": images, "correct": correct, "final_ranking": rankings[-1], "fold": run.fold,
                  **{f"{name}_accuracy": float(v.mean()) for name, v in correct.items()}}
        result["final_accuracy"] = result[f"{rankings[-1]}_accuracy"]
        result["comparisons"] = evaluate.within_model_comparisons(result)
        planted[run.variant, run.fold] = result
        run.final.parent.mkdir(parents=True)
        run.final.write_bytes(b"")
        run.results.parent.mkdir()
        run.results.write_text(json.dumps({"models": [evaluate._serialisable(result)]}))
    text, table = cross_validation.assemble_table(args, runs, training)
    assert not table["complete"] and "2 of 3 folds evaluated" in text
    assert [row["fold"] for row in table["rows"]] == [0, 2]
    final = [planted["full", k]["final_accuracy"] for k in (0, 2)]
    baseline = [planted["baseline", k]["final_accuracy"] for k in (0, 2)]
    assert table["mean"]["final"] == pytest.approx(np.mean(final)) and table["std"]["final"] == pytest.approx(np.std(final))
    assert table["mean"]["baseline"] == pytest.approx(np.mean(baseline))
    assert f"{100 * final[0]:.2f}%" in text and f"{100 * baseline[1]:.2f}%" in text
    pooled_against = table["comparisons"]["pooled"][-1]
    mine = np.concatenate([planted["full", k]["correct"]["product"] for k in (0, 2)])
    theirs = np.concatenate([planted["baseline", k]["correct"]["primary"] for k in (0, 2)])
    assert pooled_against["images"] == len(mine) and pooled_against["difference"] == pytest.approx(
        mine.mean() - theirs.mean())
    assert pooled_against["only_first"] == int(np.sum(mine & ~theirs))
    # A final.pt newer than its evaluation (a fold trained again) is not counted until evaluated again.
    stale = runs[0]
    os.utime(stale.final, ns=(stale.results.stat().st_mtime_ns + 10**9,) * 2)
    _, table = cross_validation.assemble_table(args, runs, training)
    assert [row["fold"] for row in table["rows"]] == [2]


@pytest.mark.slow
def test_parallel_folds_train_at_once_each_on_its_own_devices(crossval_set, tmp_path, monkeypatch, caplog):
    """--parallel-folds with two stand-in device groups (the training itself on the CPU): both folds
    train at the same time, each process given its own CUDA_VISIBLE_DEVICES and its own train.log."""
    monkeypatch.setattr(cross_validation, "device_groups", lambda parallel, nproc, device: [["0"], ["1"]])
    out = tmp_path / "cv"
    argv = ["--dataset", "jacquard", "--data-root", str(crossval_set), "--folds", "2", "--out", str(out),
            "--parallel-folds", "--", *with_option(TRAINING, "--iterations", "2"), "--device", "cpu"]
    caplog.set_level(logging.INFO, logger="grasp_scorer_ros.crossval")
    assert cross_validation.main(argv) == 0
    messages = [r.getMessage() for r in caplog.records if r.name == "grasp_scorer_ros.crossval"]
    started = [i for i, m in enumerate(messages) if ": training" in m]
    evaluated = [i for i, m in enumerate(messages) if ": evaluating" in m]
    assert len(started) == len(evaluated) == 2 and max(started) < min(evaluated)
    for k in range(2):
        log = (out / "full" / f"fold{k}" / "train.log").read_text()
        assert f"$ CUDA_VISIBLE_DEVICES={k} " in log and "done:" in log
    assert [row["fold"] for row in json.loads((out / "table.json").read_text())["rows"]] == [0, 1]


def test_device_groups_follow_the_visible_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert cross_validation.device_groups(True, 2, "auto") == [["0", "1"], ["2", "3"]]
    assert cross_validation.device_groups(True, 3, "cuda") == [["0", "1", "2"]]
    assert cross_validation.device_groups(False, 1, "auto") == [None]      # one after another
    assert cross_validation.device_groups(True, 1, "cpu") == [None]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5,6")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert cross_validation.device_groups(True, 1, "auto") == [["3"], ["5"], ["6"]]
    with pytest.raises(ValueError, match="needs 4 CUDA devices, 3 found"):
        cross_validation.device_groups(True, 4, "auto")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert cross_validation.device_groups(True, 1, "auto") == [None]


@pytest.mark.slow
def test_a_fold_on_several_processes_is_launched_by_torch_distributed_run():
    command = cross_validation.training_command(["--help"], 2)
    assert command[1:4] == ["-m", "torch.distributed.run", "--standalone"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("usage:") == 2          # both processes ran grasp-scorer-train
    assert cross_validation.training_command(["--help"], 1)[1:3] == ["-m", "grasp_scorer_ros.training.train"]

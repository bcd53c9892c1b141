"""The look study: its rankings, stability test and statistics, and the command on real files."""
from __future__ import annotations

import json

import numpy as np
import pytest

from grasp_scorer_ros import bundled
from grasp_scorer_ros.synthetic import SceneConfig, write_dataset
from grasp_scorer_ros.training import evaluate, look_study


def test_every_ranking_s_top_grasp_is_found_on_the_pareto_front():
    rng = np.random.default_rng(0)
    for _ in range(50):
        p, s = rng.random(300), rng.random(300)
        choices = look_study.rule_choices(p, s, look_study.RULES)
        for name, rule in look_study.RULES.items():
            assert choices[name] == int(np.argmax(rule(p, s))), name
        top = np.argsort(-p)[:look_study.TOP_T]
        assert choices["scorer, top T"] == int(top[np.argmax(s[top])])
    front = look_study.pareto_front(np.array([0.9, 0.8, 0.7, 0.95]), np.array([0.1, 0.5, 0.4, 0.05]))
    assert sorted(front.tolist()) == [0, 1, 3]          # 2 is beaten by 1 on both scores


def test_the_stability_test_and_the_changed_images():
    g = np.array([100.0, 50.0, 40.0, 12.0, 30.0])
    assert look_study.same_grasp(g, g + [1.5, -1.0, 3.0, 1.0, 4.0])
    assert not look_study.same_grasp(g, g + [2.5, 0, 0, 0, 0])
    assert not look_study.same_grasp(g, g + [0, 0, 0, 0, 6.0])
    assert not look_study.same_grasp(g, g + [0, 0, 5.0, 0, 0])
    assert look_study.same_grasp(np.array([0, 0, 40, 12, 89.0]), np.array([0, 0, 40, 12, -89.0]))  # 180 deg symmetry
    rgb = np.full((8, 8, 3), 100, np.uint8)
    assert look_study.perturb(rgb, "darker").max() == 80 and look_study.perturb(rgb, "brighter").max() == 120
    rgb[4, 4] = 255
    assert look_study.perturb(rgb, "blur")[4, 4, 0] < 200


def test_auc_and_reliability():
    assert look_study.auc(np.array([0.9, 0.8, 0.2, 0.1]), np.array([1, 1, 0, 0])) == 1.0
    assert look_study.auc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([1, 1, 0, 0])) == 0.0
    assert look_study.auc(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5
    scores = np.array([0.95] * 10 + [0.55] * 10)
    correct = np.array([True] * 10 + [True] * 5 + [False] * 5)
    table = look_study.reliability(scores, correct)
    assert [round(b["share_correct"], 2) for b in table["bins"]] == [0.5, 1.0]
    assert table["ece"] == pytest.approx(0.5 * 0.05 + 0.5 * 0.05)


@pytest.mark.slow
def test_the_command_agrees_with_the_evaluation_on_the_same_images(tmp_path, capsys):
    root = tmp_path / "look"
    write_dataset(root, count=6, seed=4242, config=SceneConfig(look="heldout"), write_masks=False, progress=False)
    out = tmp_path / "study"
    results = look_study.run(look_study.get_args_parser().parse_args(
        ["--look", f"heldout={root}", "--out", str(out), "--precision", "float32", "--threads", "1"]), quiet=True)
    result = results[0]
    assert result["images"] == 6 and result["shipped"] in result["rankings"]
    for name in ("primary", "scorer", "scorer, top T", look_study.weight_name(0.1)):
        row = result["rankings"][name]
        assert 0 <= row["stable_share"] <= row["equivalent_share"] + 1e-9 <= 1 + 1e-9
        assert len(row["correct"]) == 6
    assert (out / "reliability.png").stat().st_size > 10_000 and (out / "report.txt").is_file()
    assert json.loads((out / "study.json").read_text())[0]["look"] == "heldout"
    # The same images through grasp-scorer-evaluate (float32, the network's own batch path).
    assert evaluate.main(["--dataset", "jacquard", "--data-root", str(root), "--split", "all",
                          "--checkpoints", str(bundled.default_checkpoint_path()), "--out", str(tmp_path / "e")]) == 0
    model = json.loads((tmp_path / "e" / "results.json").read_text())["models"][0]
    assert [bool(c) for c in model["correct"]["primary"]] == result["rankings"]["primary"]["correct"]
    assert [bool(c) for c in model["correct"]["scorer_all"]] == result["rankings"]["scorer"]["correct"]
    # The outputs are kept: a second run re-analyses them without the network.
    again = look_study.run(look_study.get_args_parser().parse_args(
        ["--look", f"heldout={root}", "--out", str(out), "--reuse", "--weights", "0.3"]), quiet=True)[0]
    assert again["rankings"]["primary"]["correct"] == result["rankings"]["primary"]["correct"]
    assert look_study.weight_name(0.3) in again["rankings"]


def test_two_studies_are_compared_image_by_image_on_the_looks_they_share(tmp_path, capsys):
    import json
    from grasp_scorer_ros.training import look_study

    def study(path, objects, look):
        path.write_text(json.dumps([
            {"look": "objects", "images": len(objects), "shipped": "final, calibrated",
             "rankings": {"final, calibrated": {"correct": objects}, "primary": {"correct": [True] * len(objects)}}},
            {"look": "heldout", "images": len(look), "shipped": None, "rankings": {"primary": {"correct": look}}}]))
        return path
    a = study(tmp_path / "a.json", [True] * 10, [True, True, False])
    b = study(tmp_path / "b.json", [True] * 6 + [False] * 4, [True, False])
    assert look_study.main(["--compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "objects (10): A 100.0%, B 60.0%; A - B: +40.0 points" in out and "only by B: 0" in out
    assert "heldout: not the same images (3 vs 2)" in out

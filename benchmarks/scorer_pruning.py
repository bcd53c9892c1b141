"""The scorer on the grasps that can still win, against the scorer on all of them: same answers, less time.

    python benchmarks/scorer_pruning.py --look objects=runs/look_train:fold0 --look look=runs/look_test

For every image of every look, the detector as the node runs it (``precision`` auto, the launch
file's ``num_candidates`` as ``top_k``) ranks the grasps twice, with the scorer on every grasp
(dense form) and with :mod:`grasp_scorer_ros.network.pruned_ranking`. Prints the share of images
whose top-1 and whole top-k are the same, the top-1 accuracy of both (rectangle metric, paired),
how many grasps the scorer ran on, and the scorer's time both ways (median of pairs). Writes
``benchmark_output/scorer_pruning.json``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import yaml

from grasp_scorer_ros import bundled
from grasp_scorer_ros.datasets.sample import load_rgb
from grasp_scorer_ros.network.detector import GraspDetector
from grasp_scorer_ros.network.metric import is_grasp_correct
from grasp_scorer_ros.network.precision import resolve_precision
from grasp_scorer_ros.training.export import check_samples
from grasp_scorer_ros.training.paired_statistics import compare_paired

ROOT = Path(__file__).resolve().parent.parent


def launch_candidates() -> int:
    values = yaml.safe_load((ROOT / "config" / "detection.yaml").read_text())["/**"]["ros__parameters"]
    return int(values["num_candidates"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--look", action="append", required=True, metavar="NAME=DIR[:foldK]")
    p.add_argument("--checkpoint", default=str(bundled.default_checkpoint_path()))
    p.add_argument("--limit", type=int, default=0, help="a seeded sample of N images per look (0: all)")
    p.add_argument("--out", type=Path, default=Path("benchmark_output"))
    args = p.parse_args(argv)
    dtype, why = resolve_precision("auto", "cpu")
    k = launch_candidates()
    detector = GraspDetector(args.checkpoint, dtype=dtype, channels_last=dtype == "bfloat16")
    print(f"{args.checkpoint}: {dtype} ({why}), top_k {k} (the launch file's num_candidates)")
    results = {"precision": dtype, "top_k": k, "looks": {}}
    for spec in args.look:
        name, samples = check_samples(spec, args.limit)
        same_top1 = same_topk = 0
        correct_pruned, correct_dense, scored, ratios, pruned_ms, dense_ms = [], [], [], [], [], []
        for sample in samples:
            if len(sample.grasps) == 0:
                continue
            rgb = load_rgb(sample.image_path)
            detector.scorer_pruning = True
            pruned = detector.detect(rgb, top_k=k)
            detector.scorer_pruning = False
            dense = detector.detect(rgb, top_k=k)
            same_top1 += int(pruned.anchor_index[0] == dense.anchor_index[0])
            same_topk += int(np.array_equal(pruned.anchor_index, dense.anchor_index))
            truth = np.asarray(sample.grasps, np.float64)
            correct_pruned.append(bool(is_grasp_correct(pruned.grasps[0], truth, 30.0, 0.25)))
            correct_dense.append(bool(is_grasp_correct(dense.grasps[0], truth, 30.0, 0.25)))
            scored.append(pruned.scored)
            pruned_ms.append(pruned.timings_ms["scorer"])
            dense_ms.append(dense.timings_ms["scorer"])
            ratios.append(dense.timings_ms["scorer"] / pruned.timings_ms["scorer"])
        n = len(scored)
        comparison = compare_paired(np.array(correct_pruned), np.array(correct_dense), "pruned", "all grasps")
        figures = {"images": n, "same_top1": same_top1 / n, "same_topk": same_topk / n,
                   "pruned_accuracy": float(np.mean(correct_pruned)), "dense_accuracy": float(np.mean(correct_dense)),
                   "comparison": comparison.summary(),
                   "scored_median": float(np.median(scored)), "scored_p90": float(np.percentile(scored, 90)),
                   "scored_max": int(np.max(scored)), "scored_all": int(dense.scored),
                   "scorer_pruned_ms": statistics.median(pruned_ms), "scorer_dense_ms": statistics.median(dense_ms),
                   "scorer_speedup": statistics.median(ratios)}
        results["looks"][name] = figures
        print(f"{name} ({n} images): same top-1 {100 * figures['same_top1']:.1f}%, same top-{k} "
              f"{100 * figures['same_topk']:.1f}%")
        print(f"  {comparison.summary()}")
        print(f"  grasps scored: median {figures['scored_median']:.0f}, p90 {figures['scored_p90']:.0f}, "
              f"max {figures['scored_max']} of {figures['scored_all']}")
        print(f"  scorer time: {figures['scorer_pruned_ms']:.1f} ms against {figures['scorer_dense_ms']:.1f} ms "
              f"({figures['scorer_speedup']:.1f}x, median of pairs)")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scorer_pruning.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out / 'scorer_pruning.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

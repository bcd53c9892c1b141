"""A final score that means a probability: Platt scaling of the top grasp's score, fitted after training.

The scorer's probability is trained against graded targets (IoU 25% -> 0, 75% -> 1), so it measures
a grasp's quality, not the chance that it passes the metric: the final score of the top grasp
averaged 0.65-0.74 where 87-96% of those grasps were right (docs/paper_claims.md, unfamiliar looks). A threshold
on it then silences good scenes. This fits ``sigmoid(a * logit(final) + b)`` to whether each
image's top grasp (as the node ranks it, in the node's precision) passes the rectangle metric, on
validation looks, and stores ``(a, b)`` in a copy of the checkpoint (``ModelConfig.score_calibration``).
The map is strictly increasing, so the ranking is untouched; only the reported score, and so what
``score_threshold`` means, changes.

    python -m grasp_scorer_ros.training.score_calibration --checkpoint runs/m/final.pt \\
        --look heldout_val=runs/look_val --look cell_val=runs/cell_val --out runs/m/calibrated.pt

Prints the fit and the top-1 expected calibration error before and after on each look, writes
``<out>.score_calibration.json`` and a reliability diagram ``<out>.score_calibration.png``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from grasp_scorer_ros.network.checkpoint import load_checkpoint, save_checkpoint
from grasp_scorer_ros.network.metric import match_grasps
from grasp_scorer_ros.network.model import ModelConfig

BINS = 10
EPS = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), EPS, 1 - EPS)
    return np.log(p / (1 - p))


def platt(scores: np.ndarray, a: float, b: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(a * logit(scores) + b)))


def fit_platt(scores: np.ndarray, correct: np.ndarray, iterations: int = 100) -> tuple[float, float]:
    """``(a, b)`` minimising the log loss of ``sigmoid(a * logit(score) + b)`` against ``correct``
    (Newton's method on the two parameters, Platt's smoothed targets so that a perfectly separable
    set still has a finite answer). ``a`` is kept positive: the map must keep the ranking."""
    x = logit(scores)
    y = np.asarray(correct, np.float64)
    positives, negatives = y.sum(), len(y) - y.sum()
    # Platt (1999): targets (N+ + 1) / (N+ + 2) and 1 / (N- + 2) instead of 1 and 0
    target = np.where(y > 0.5, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    a, b = 1.0, 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(a * x + b)))
        gradient = np.array([np.sum((p - target) * x), np.sum(p - target)])
        w = p * (1 - p)
        hessian = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-10:
            break
    return max(float(a), 1e-3), float(b)


def reliability(scores: np.ndarray, correct: np.ndarray, bins: int = BINS) -> dict:
    """Binned score against the share correct, and the expected calibration error (top-1)."""
    scores, correct = np.asarray(scores, np.float64), np.asarray(correct, np.float64)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(scores, edges) - 1, 0, bins - 1)
    table, ece = [], 0.0
    for k in range(bins):
        inside = which == k
        if inside.any():
            mean, share = float(scores[inside].mean()), float(correct[inside].mean())
            table.append({"bin": [float(edges[k]), float(edges[k + 1])], "count": int(inside.sum()),
                          "mean_score": mean, "share_correct": share})
            ece += inside.mean() * abs(mean - share)
    return {"bins": table, "ece": float(ece)}


def top_grasps(detector, samples, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Each image's top grasp as the node ranks it: its uncalibrated final score, and whether it
    passes the rectangle metric (30 deg, IoU 25%)."""
    from grasp_scorer_ros.datasets.sample import load_rgb
    config = detector.model.config
    identity = dataclasses.replace(config, score_calibration=(1.0, 0.0))
    detector.model.config = identity          # the raw final score (the order is the same)
    try:
        scores, correct = [], []
        for sample in (progress(samples) if progress else samples):
            detections = detector.detect(load_rgb(sample.image_path), top_k=1)
            scores.append(float(detections.scores[0]))
            correct.append(bool(match_grasps(detections.grasps[:1].astype(np.float64),
                                             np.asarray(sample.grasps, np.float64))[0]))
    finally:
        detector.model.config = config
    return np.array(scores), np.array(correct)


def plot(looks: dict, calibration: tuple[float, float], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(looks), figsize=(3.8 * len(looks), 3.8), squeeze=False)
    for ax, (name, (scores, correct)) in zip(axes[0], looks.items()):
        ax.plot([0, 1], [0, 1], color="0.7", lw=1)
        for label, values in (("before", scores), ("after", platt(scores, *calibration))):
            table = reliability(values, correct)
            ax.plot([b["mean_score"] for b in table["bins"]], [b["share_correct"] for b in table["bins"]],
                    marker="o", ms=3, label=f"{label} (ECE {table['ece']:.3f})")
        ax.set_title(f"{name} ({len(scores)} images): top-1 final score", fontsize=9)
        ax.set_xlabel("score of the top grasp")
        ax.set_ylabel("share correct")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grasp_scorer_ros.training.score_calibration",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="the trained model")
    parser.add_argument("--look", action="append", required=True, metavar="NAME=DIR[:foldK]",
                        help="a validation set (Jacquard format) to fit on; repeatable (the fit pools them)")
    parser.add_argument("--out", type=Path, required=True, help="the calibrated checkpoint to write")
    parser.add_argument("--half", action="store_true", help="write it in half precision (for shipping)")
    parser.add_argument("--scorer-weight", type=float, default=None,
                        help="the final score's w (primary^(1-w) x scorer^w) to ship, chosen on the same validation "
                             "looks (the look study's rankings); the fit is made with it (default: the checkpoint's)")
    parser.add_argument("--limit", type=int, default=0, help="at most N images per look (a seeded sample)")
    parser.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=0)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    from tqdm import tqdm
    from grasp_scorer_ros.network.detector import GraspDetector
    from grasp_scorer_ros.network.precision import resolve_precision
    from grasp_scorer_ros.datasets.named_sets import load_named_set
    args = get_args_parser().parse_args(argv)
    try:
        payload = load_checkpoint(args.checkpoint)
        config = ModelConfig.from_dict(payload["config"])
    except (FileNotFoundError, ValueError) as error:
        print(f"score_calibration: {error}", file=sys.stderr)
        return 2
    if args.scorer_weight is not None and not 0.0 <= args.scorer_weight <= 1.0:
        print(f"score_calibration: --scorer-weight must be in [0, 1], got {args.scorer_weight}", file=sys.stderr)
        return 2
    dtype, why = resolve_precision(args.precision)
    detector = GraspDetector(args.checkpoint, num_threads=args.threads or None, dtype=dtype,
                             channels_last=dtype == "bfloat16", scorer_weight=args.scorer_weight)
    print(f"model {args.checkpoint}, {dtype} ({why})", flush=True)
    looks = {}
    for spec in args.look:
        name, _, samples = load_named_set(spec, args.limit)
        looks[name] = top_grasps(detector, samples, lambda it: tqdm(it, desc=name, unit="image", mininterval=5))
    scores = np.concatenate([s for s, _ in looks.values()])
    correct = np.concatenate([c for _, c in looks.values()])
    a, b = fit_platt(scores, correct)
    report = {"checkpoint": args.checkpoint, "precision": dtype, "score_calibration": [a, b],
              "scorer_weight": detector.config.scorer_weight, "looks": {}}
    print(f"Platt scaling of the top-1 final score: a = {a:.4f}, b = {b:.4f} ({len(scores)} images)")
    for name, (s, c) in looks.items():
        before, after = reliability(s, c), reliability(platt(s, a, b), c)
        report["looks"][name] = {"images": len(s), "top1_accuracy": float(c.mean()), "ece_before": before["ece"],
                                 "ece_after": after["ece"], "mean_score_before": float(s.mean()),
                                 "mean_score_after": float(platt(s, a, b).mean())}
        print(f"  {name}: top-1 {100 * c.mean():.1f}%, mean score {s.mean():.3f} -> {platt(s, a, b).mean():.3f}, "
              f"ECE {before['ece']:.3f} -> {after['ece']:.3f}")
    calibrated = dataclasses.replace(config, score_calibration=(a, b), scorer_weight=detector.config.scorer_weight)
    from grasp_scorer_ros.network.checkpoint import load_model
    model = load_model(args.checkpoint)
    extra = {k: v for k, v in payload.items() if k not in ("format", "version", "config", "state_dict",
                                                              "state_dict_dtype", "optimizer", "grad_scaler")}
    extra["calibration"] = report
    save_checkpoint(str(args.out), model, calibrated, extra, half=args.half)
    args.out.with_suffix(".score_calibration.json").write_text(json.dumps(report, indent=1))
    plot(looks, (a, b), args.out.with_suffix(".score_calibration.png"))
    print(f"wrote {args.out} (score_calibration {a:.4f}, {b:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

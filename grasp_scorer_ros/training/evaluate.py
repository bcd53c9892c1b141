"""Evaluation: top-1 accuracy with the rectangle metric, by the primary score and by the scorer.

Usage (one checkpoint per fold, as the training script writes them)::

    grasp-scorer-evaluate --dataset jacquard --data-root /data/jacquard \
        --checkpoints runs/fold0/last.pt runs/fold1/last.pt ... --split object --out eval/

Each checkpoint i is evaluated on the test part of fold i (same --split/--folds/--split-seed as
training). Prints a table like the paper's Table I (per fold, mean +- std), writes ``results.json``
and, with ``--draw N``, N images with predicted (green: scorer's best, blue: primary's best) and
ground-truth (grey) rectangles.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from grasp_scorer_ros.datasets import load_dataset
from grasp_scorer_ros.datasets.splits import kfold_splits
from grasp_scorer_ros.network.checkpoint import load_model
from grasp_scorer_ros.training.engine import evaluate_model

logger = logging.getLogger("grasp_scorer_ros.evaluate")


def format_table(rows: list[dict], variant: str, backbone: str) -> str:
    """Per-fold and mean +- std accuracies, as in the paper's Table I."""
    lines = [f"{'fold':>6} {'images':>7} {'primary score':>14} {'scorer':>9}"]
    for row in rows:
        lines.append(f"{row['fold']:>6} {row['images']:>7} {100 * row['primary_accuracy']:>13.2f}% "
                     f"{100 * row['scorer_accuracy']:>8.2f}%")
    primary = np.array([r["primary_accuracy"] for r in rows]) * 100
    scorer = np.array([r["scorer_accuracy"] for r in rows]) * 100
    lines.append(f"{'mean':>6} {sum(r['images'] for r in rows):>7} "
                 f"{primary.mean():>7.2f} +- {primary.std():.2f} {scorer.mean():>6.2f} +- {scorer.std():.2f}")
    header = f"Top-1 accuracy ({backbone}, {variant}; rectangle metric)"
    if variant == "baseline":
        header += " - baseline has no scorer: both columns use the primary score"
    return header + "\n" + "\n".join(lines)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=["cornell", "jacquard"], required=True)
    p.add_argument("--data-root", required=True, type=Path)
    p.add_argument("--checkpoints", nargs="+", required=True, type=Path,
                   help="one checkpoint per fold, in fold order (fold i = i-th checkpoint)")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--first-fold", type=int, default=0, help="fold of the first checkpoint")
    p.add_argument("--split", choices=["image", "object"], default="object")
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--angle-threshold", type=float, default=30.0)
    p.add_argument("--iou-threshold", type=float, default=0.25)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--draw", type=int, default=0, help="draw this many images per fold")
    p.add_argument("--out", type=Path, default=Path("eval"))
    return p


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = get_args_parser().parse_args(argv)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    try:
        samples = load_dataset(args.dataset, args.data_root)
        splits = kfold_splits(samples, folds=args.folds, by=args.split, seed=args.split_seed)
        rows, config = [], None
        for offset, checkpoint in enumerate(args.checkpoints):
            fold = args.first_fold + offset
            if fold >= args.folds:
                raise ValueError(f"{len(args.checkpoints)} checkpoints from fold {args.first_fold} "
                                 f"exceed --folds {args.folds}")
            model = load_model(str(checkpoint), map_location=device)
            config = model.config
            _, test_idx = splits[fold]
            result = evaluate_model(model, [samples[i] for i in test_idx], device, args.batch_size,
                                    args.angle_threshold, args.iou_threshold, args.draw,
                                    args.out / f"fold{fold}")
            rows.append({"fold": fold, "checkpoint": str(checkpoint), **result})
            logger.info("fold %d: %s", fold, result)
    except (FileNotFoundError, ValueError) as error:
        print(f"grasp-scorer-evaluate: {error}", file=sys.stderr)
        return 2
    table = format_table(rows, config.variant, config.backbone)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"dataset": args.dataset, "split": args.split, "variant": config.variant,
               "backbone": config.backbone, "angle_threshold": args.angle_threshold,
               "iou_threshold": args.iou_threshold, "folds": rows,
               "primary_mean": float(np.mean([r["primary_accuracy"] for r in rows])),
               "primary_std": float(np.std([r["primary_accuracy"] for r in rows])),
               "scorer_mean": float(np.mean([r["scorer_accuracy"] for r in rows])),
               "scorer_std": float(np.std([r["scorer_accuracy"] for r in rows]))}
    (args.out / "results.json").write_text(json.dumps(summary, indent=2))
    (args.out / "table.txt").write_text(table + "\n")
    print(f"wrote {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Evaluation: top-1 accuracy with the rectangle metric, and paired comparisons that can tell.

Cross-validation (one checkpoint per fold, as the training script writes them)::

    grasp-scorer-evaluate --dataset jacquard --data-root /data/jacquard \
        --checkpoints runs/fold0/final.pt runs/fold1/final.pt ... --split object --out eval/

Each checkpoint i is evaluated on the test part of fold ``--first-fold + i`` (same
--split/--folds/--split-seed as training): a table like the paper's Table I (per fold, mean +- std).

Several models on the same images (``--fold F``, or ``--split all`` for a dataset none of them was
trained on, such as a held-out look)::

    grasp-scorer-evaluate --dataset jacquard --data-root runs/synth --fold 0 \
        --checkpoints runs/full/final.pt runs/baseline/final.pt --out eval/

Every accuracy comes with its 95% Wilson interval. Paired comparisons on the same images: each
model's final score against its own primary score (and, with a scorer, the paper's ranking of all
grasps against the re-ranking of the T best primary ones), and in same-image mode each model
against the first one, by final score: the difference with its 95% paired-bootstrap interval, the
images only one side gets right, and McNemar's exact p-value. ``--limit N`` evaluates a seeded
random sample of N images that covers every object instead of the whole test set. Writes
``results.json`` and ``table.txt``; ``--draw N`` draws N images per model (grey: ground truth,
blue: best by primary score, green: best by final score).
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
from grasp_scorer_ros.datasets.splits import kfold_splits, sample_covering_objects
from grasp_scorer_ros.network.checkpoint import load_model
from grasp_scorer_ros.network.engines import ENGINES, make_engine
from grasp_scorer_ros.training.evaluation import RANKING_NAMES, evaluate_model
from grasp_scorer_ros.training.paired_statistics import PairedComparison, compare_paired, wilson_interval

logger = logging.getLogger("grasp_scorer_ros.evaluate")


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _interval(correct: np.ndarray) -> str:
    low, high = wilson_interval(int(correct.sum()), len(correct))
    return f"[{100 * low:.1f}, {100 * high:.1f}]"


def within_model_comparisons(result: dict) -> list:
    """Paired comparisons inside one evaluated model: final vs primary score, the paper's claim
    (its scorer over all grasps vs the primary score) when the final score is another, and the
    scorer's rankings against each other (models with a scorer only)."""
    correct, final = result["correct"], result["final_ranking"]
    comparisons = []
    if final != "primary":
        comparisons.append(compare_paired(correct[final], correct["primary"], "final score", "primary score"))
        if final != "scorer_all" and "scorer_all" in correct:
            comparisons.append(compare_paired(correct["scorer_all"], correct["primary"],
                                              RANKING_NAMES["scorer_all"], "primary score"))
        for other in correct:
            if other not in ("primary", final):
                comparisons.append(compare_paired(correct[final], correct[other], RANKING_NAMES[final],
                                                  RANKING_NAMES[other]))
    return comparisons


def describe_model(name: str, result: dict) -> list[str]:
    """Lines of the report for one evaluated model."""
    lines = [f"{name} ({result['images']} images, final score = {RANKING_NAMES[result['final_ranking']]})"]
    for ranking, correct in result["correct"].items():
        lines.append(f"  {RANKING_NAMES[ranking]:<40} {_percent(correct.mean()):>7} {_interval(correct)}")
    lines += [f"  {c.summary()}" for c in result["comparisons"]]
    return lines


def format_fold_table(rows: list[dict], variant: str, backbone: str, baseline: dict | None = None) -> str:
    """Per-fold and mean +- std accuracies, as in the paper's Table I.

    ``baseline``: fold -> the baseline variant's result on the same fold (grasp-scorer-crossval
    --with-baseline), shown as a first column, as the paper's; folds it lacks show "-".
    """
    width = 14  # of the baseline column
    lines = [f"{'fold':>6} {'images':>7} " + (f"{'baseline':>{width}} " if baseline is not None else "")
             + f"{'primary score':>14} {'final score':>12}"]
    for row in rows:
        cell = ""
        if baseline is not None:
            other = baseline.get(row["fold"])
            cell = (f"{100 * other['final_accuracy']:>{width - 1}.2f}% " if other is not None
                    else f"{'-':>{width}} ")
        lines.append(f"{row['fold']:>6} {row['images']:>7} {cell}{100 * row['primary_accuracy']:>13.2f}% "
                     f"{100 * row['final_accuracy']:>11.2f}%")
    primary = np.array([r["primary_accuracy"] for r in rows]) * 100
    final = np.array([r["final_accuracy"] for r in rows]) * 100
    cell = ""
    if baseline is not None:
        values = np.array([r["final_accuracy"] for r in baseline.values()]) * 100
        cell = f"{values.mean():>{width - 8}.2f} +- {values.std():.2f} " if len(values) else f"{'-':>{width}} "
    lines.append(f"{'mean':>6} {sum(r['images'] for r in rows):>7} {cell}"
                 f"{primary.mean():>7.2f} +- {primary.std():.2f} {final.mean():>6.2f} +- {final.std():.2f}")
    header = f"Top-1 accuracy ({backbone}, {variant}; rectangle metric)"
    if variant == "baseline":
        header += " - baseline has no scorer: both columns use the primary score"
    return header + "\n" + "\n".join(lines)


def pool_folds(results: list[dict]) -> dict:
    """The folds' results as one evaluation of all their images (their correctness vectors joined),
    with its within-model comparisons."""
    pooled = {k: np.concatenate([r["correct"][k] for r in results]) for k in results[0]["correct"]}
    result = {"images": len(pooled["primary"]), "correct": pooled, "final_ranking": results[0]["final_ranking"]}
    result["comparisons"] = within_model_comparisons(result)
    return result


def model_name(checkpoint: Path, checkpoints) -> str:
    """The run's folder name, or folder/file when several checkpoints share a folder."""
    shared = sum(Path(other).parent == checkpoint.parent for other in checkpoints) > 1
    return f"{checkpoint.parent.name}/{checkpoint.stem}" if shared else checkpoint.parent.name or str(checkpoint)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="grasp-scorer-evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=["cornell", "jacquard"], required=True)
    p.add_argument("--data-root", required=True, type=Path)
    p.add_argument("--checkpoints", nargs="+", required=True, type=Path,
                   help="one checkpoint per fold in fold order; with --fold or --split all, models "
                        "compared on the same images")
    p.add_argument("--fold", type=int, default=None,
                   help="evaluate every checkpoint on this fold's test images and compare them")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--first-fold", type=int, default=0, help="fold of the first checkpoint")
    p.add_argument("--split", choices=["image", "object", "all"], default="object",
                   help="all: every image of --data-root (a dataset no model was trained on)")
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=0,
                   help="evaluate a seeded random sample of N images covering every object (0: all)")
    p.add_argument("--limit-seed", type=int, default=0)
    p.add_argument("--angle-threshold", type=float, default=30.0)
    p.add_argument("--iou-threshold", type=float, default=0.25)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    p.add_argument("--engine", choices=ENGINES, default="torch",
                   help="where the FE + PGP run (the scorer runs in torch, float32): torch, or an ONNX "
                        "runtime on --onnx-model (default: the checkpoint's float32 export)")
    p.add_argument("--onnx-model", type=Path, default=None,
                   help="graph for --engine onnxruntime/openvino (grasp-scorer-export; one checkpoint only)")
    p.add_argument("--draw", type=int, default=0, help="draw this many images per model")
    p.add_argument("--out", type=Path, default=Path("eval"))
    return p


def _limit(samples, indices, args):
    if args.limit:
        chosen = sample_covering_objects([samples[i] for i in indices], args.limit, args.limit_seed)
        indices = np.asarray(indices)[chosen]
    return [samples[i] for i in indices]


def _serialisable(result: dict) -> dict:
    out = {k: v for k, v in result.items() if k not in ("correct", "comparisons")}
    out["correct"] = {name: values.astype(int).tolist() for name, values in result["correct"].items()}
    out["accuracy_intervals"] = {name: wilson_interval(int(values.sum()), len(values))
                                 for name, values in result["correct"].items()}
    out["comparisons"] = [c.to_dict() for c in result["comparisons"]]
    return out


def load_result(model: dict) -> dict:
    """One model's entry of results.json back as the result it was written from (the inverse of
    the serialisation: correctness vectors as bool arrays, comparisons as :class:`PairedComparison`)."""
    result = dict(model)
    result["correct"] = {name: np.array(values, dtype=bool) for name, values in model["correct"].items()}
    result["comparisons"] = [PairedComparison(**{**c, "difference_interval": tuple(c["difference_interval"])})
                             for c in model["comparisons"]]
    return result


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = get_args_parser().parse_args(argv)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    same_images = args.fold is not None or args.split == "all"
    try:
        samples = load_dataset(args.dataset, args.data_root)
        splits = None if args.split == "all" else kfold_splits(samples, folds=args.folds, by=args.split,
                                                               seed=args.split_seed)
        results = []
        for offset, checkpoint in enumerate(args.checkpoints):
            if args.split == "all":
                fold, indices = None, np.arange(len(samples))
            else:
                fold = args.fold if args.fold is not None else args.first_fold + offset
                if not 0 <= fold < args.folds:
                    raise ValueError(f"fold {fold} is outside 0..{args.folds - 1} "
                                     f"({len(args.checkpoints)} checkpoints from fold {args.first_fold})")
                indices = splits[fold][1]
            model = load_model(str(checkpoint), map_location=device)
            engine = None
            if args.engine != "torch":
                if args.onnx_model and len(args.checkpoints) > 1:
                    raise ValueError("--onnx-model belongs to one checkpoint; give one, or let each be exported")
                engine = make_engine(args.engine, model, str(checkpoint),
                                     str(args.onnx_model) if args.onnx_model else None,
                                     threads=args.threads or None, device=device)
                logger.info("%s: FE + PGP in %s", checkpoint, engine.description)
            name = f"fold {fold}" if not same_images else model_name(checkpoint, args.checkpoints)
            result = evaluate_model(model, _limit(samples, indices, args), device, args.batch_size,
                                    args.angle_threshold, args.iou_threshold, args.draw,
                                    args.out / (f"fold{fold}" if not same_images else f"model{offset}"),
                                    head=engine)
            result.update(name=name, fold=fold, checkpoint=str(checkpoint), variant=model.config.variant,
                          engine=engine.description if engine is not None else "torch float32",
                          backbone=model.config.backbone)
            result["comparisons"] = within_model_comparisons(result)
            results.append(result)
            logger.info("%s: primary %.4f, final %.4f (%d images)", name, result["primary_accuracy"],
                        result["final_accuracy"], result["images"])
    except (FileNotFoundError, ValueError, ImportError) as error:
        print(f"grasp-scorer-evaluate: {error}", file=sys.stderr)
        return 2

    lines = []
    for result in results:
        lines += describe_model(result["name"], result) + [""]
    between = []
    if same_images and len(results) > 1:
        first = results[0]
        lines.append(f"models on the same images, by final score, against {first['name']}:")
        for other in results[1:]:
            comparison = compare_paired(other["correct"][other["final_ranking"]],
                                        first["correct"][first["final_ranking"]], other["name"], first["name"])
            between.append(comparison)
            lines.append(f"  {comparison.summary()}")
    elif not same_images:
        lines.append(format_fold_table(results, results[0]["variant"], results[0]["backbone"]))
        lines += [""] + describe_model("all folds pooled", pool_folds(results))
    report = "\n".join(lines).rstrip()
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"dataset": args.dataset, "data_root": str(args.data_root), "split": args.split,
               "fold": args.fold, "limit": args.limit, "limit_seed": args.limit_seed,
               "angle_threshold": args.angle_threshold, "iou_threshold": args.iou_threshold,
               "models": [_serialisable(r) for r in results],
               "between_models": [c.to_dict() for c in between]}
    if not same_images:
        summary.update({"primary_mean": float(np.mean([r["primary_accuracy"] for r in results])),
                        "primary_std": float(np.std([r["primary_accuracy"] for r in results])),
                        "final_mean": float(np.mean([r["final_accuracy"] for r in results])),
                        "final_std": float(np.std([r["final_accuracy"] for r in results]))})
    (args.out / "results.json").write_text(json.dumps(summary, indent=2))
    (args.out / "table.txt").write_text(report + "\n")
    print(f"wrote {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

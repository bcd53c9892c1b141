"""What the scorer knows, measured on held-out images (shared/notes/learning-diagnostics.md).

For each image, the T anchors with the highest primary score (the training selection) are decoded
and labelled by Jaccard matching (the scorer's training labels). Reported:

* competence: the AUC of the scorer's p and of the primary score over those T grasps, and the
  scorer's cross-entropy against the label entropy H(r) (a scorer that learned nothing sits at H(r));
* direction: the scorer term of Eq. 5 moves the deltas along the gradient of log p_s. Holding the
  FE, the neighbourhoods and the scorer fixed, ``steps`` ascent steps of ``step_size`` are taken on
  the T deltas and the share of metric-correct grasps (evaluation metric) is measured before and
  after; one step also counts grasps whose IoU with the best-matching ground truth rose or fell.
  A term that helps moves grasps towards the ground truth.

    python -m grasp_scorer_ros.training.scorer_diagnostics --checkpoint runs/full/final.pt \
        --dataset jacquard --data-root runs/synth --images 100
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

from grasp_scorer_ros.datasets import load_dataset
from grasp_scorer_ros.datasets.splits import kfold_splits
from grasp_scorer_ros.datasets.torch_dataset import GraspTorchDataset
from grasp_scorer_ros.network import box_coder
from grasp_scorer_ros.network.checkpoint import load_model
from grasp_scorer_ros.network.losses import binary_auc, binary_entropy
from grasp_scorer_ros.network.metric import best_iou, match_grasps
from grasp_scorer_ros.network.model import GRASP
from grasp_scorer_ros.network.scorer import gather_neighbourhoods


def diagnose_image(model, image: torch.Tensor, ground_truths: np.ndarray, steps: int = 50,
                   step_size: float = 0.1) -> dict:
    """Competence and ascent-direction figures for one image (see the module docstring)."""
    config = model.config
    k = config.num_orientations
    with torch.no_grad():
        outputs = model(image[None])
    features = outputs["features"].float()
    deltas = outputs["deltas"].float().reshape(-1, 5)
    anchors = outputs["anchors"].float().reshape(-1, 5)
    primary = torch.softmax(outputs["primary_logits"].float(), -1)[..., GRASP].reshape(-1)
    _, _, h, w = features.shape
    t = min(config.num_scored_grasps, len(primary))
    flat = torch.topk(primary, t).indices
    rows, cols, anchor_index = flat // (w * k), (flat // k) % w, flat % k
    neighbourhoods = gather_neighbourhoods(features, torch.zeros_like(flat), rows, cols)
    scorer = model.scorer.float()
    frozen = {name: p.detach() for name, p in scorer.named_parameters()}

    def log_p(d):
        logits = functional_call(scorer, frozen, (neighbourhoods, scorer.slot_vectors(d, anchor_index)))
        return torch.log_softmax(logits, -1)[:, GRASP]

    def correct(d, angle, iou):
        grasps = box_coder.decode(d, anchors[flat], k).detach().numpy()
        return match_grasps(grasps, ground_truths, angle, iou), grasps

    start = deltas[flat].clone()
    labels, grasps0 = correct(start, config.scorer_angle_threshold, config.scorer_iou_threshold)
    with torch.no_grad():
        p0 = log_p(start).exp()
    labels_t = torch.from_numpy(labels.astype(np.int64))
    ce = float(F.binary_cross_entropy(p0.clamp(1e-6, 1 - 1e-6), labels_t.float()))
    metric0, _ = correct(start, 30.0, 0.25)

    d = start.clone().requires_grad_(True)
    one_step = None
    for step in range(steps):
        grad, = torch.autograd.grad(log_p(d).sum(), d)
        with torch.no_grad():
            d += step_size * grad
        if step == 0:
            _, grasps1 = correct(d.detach(), 30.0, 0.25)
            before, after = best_iou(grasps0, ground_truths, 30.0), best_iou(grasps1, ground_truths, 30.0)
            one_step = (int(np.sum(after > before + 1e-9)), int(np.sum(after < before - 1e-9)))
    with torch.no_grad():
        p1 = log_p(d).exp()
    metric1, _ = correct(d.detach(), 30.0, 0.25)
    return {"labels": labels, "scorer_p": p0.numpy(), "primary_p": primary[flat].numpy(), "ce": ce,
            "metric_before": float(metric0.mean()), "metric_after": float(metric1.mean()),
            "p_before": float(p0.mean()), "p_after": float(p1.mean()),
            "one_step_better": one_step[0], "one_step_worse": one_step[1], "t": t}


def diagnose(model, samples, images: int = 100, steps: int = 50, step_size: float = 0.1) -> dict:
    """Averages of :func:`diagnose_image` over the first ``images`` samples that have grasps."""
    model.eval()
    dataset = GraspTorchDataset(samples, train=False, size=model.config.input_size)
    rows = []
    for i in range(len(dataset)):
        if len(rows) == images:
            break
        image, gts = dataset[i]
        if len(gts):
            rows.append(diagnose_image(model, image, gts.numpy(), steps, step_size))
    if not rows:
        raise ValueError("no image with ground truth to diagnose")
    labels = np.concatenate([r["labels"] for r in rows])
    scorer_p = np.concatenate([r["scorer_p"] for r in rows])
    primary_p = np.concatenate([r["primary_p"] for r in rows])
    rate = float(labels.mean())
    t_labels = torch.from_numpy(labels.astype(np.int64))
    per_image_auc = [binary_auc(torch.from_numpy(r["scorer_p"]), torch.from_numpy(r["labels"].astype(np.int64)))
                     for r in rows]
    per_image_primary_auc = [binary_auc(torch.from_numpy(r["primary_p"]),
                                        torch.from_numpy(r["labels"].astype(np.int64))) for r in rows]
    better = sum(r["one_step_better"] for r in rows)
    worse = sum(r["one_step_worse"] for r in rows)
    total = sum(r["t"] for r in rows)
    return {
        "images": len(rows), "label_rate": rate, "label_entropy": binary_entropy(rate),
        "scorer_cross_entropy": float(np.mean([r["ce"] for r in rows])),
        "scorer_auc_pooled": binary_auc(torch.from_numpy(scorer_p), t_labels),
        "primary_auc_pooled": binary_auc(torch.from_numpy(primary_p), t_labels),
        "scorer_auc_within_image": float(np.nanmean(per_image_auc)),
        "primary_auc_within_image": float(np.nanmean(per_image_primary_auc)),
        "ascent_steps": steps, "ascent_step_size": step_size,
        "scorer_p_before": float(np.mean([r["p_before"] for r in rows])),
        "scorer_p_after": float(np.mean([r["p_after"] for r in rows])),
        "metric_correct_before": float(np.mean([r["metric_before"] for r in rows])),
        "metric_correct_after": float(np.mean([r["metric_after"] for r in rows])),
        "one_step_better": better / total, "one_step_worse": worse / total,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", choices=["cornell", "jacquard"], required=True)
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--split", choices=["image", "object", "all"], default="object")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--images", type=int, default=100)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--step-size", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model = load_model(args.checkpoint)
        if model.scorer is None:
            raise ValueError(f"{args.checkpoint} is a baseline model: it has no scorer to diagnose")
        samples = load_dataset(args.dataset, args.data_root)
        if args.split != "all":
            _, test = kfold_splits(samples, folds=args.folds, by=args.split, seed=args.split_seed)[args.fold]
            samples = [samples[i] for i in test]
        result = diagnose(model, samples, args.images, args.steps, args.step_size)
    except (FileNotFoundError, ValueError) as error:
        print(f"scorer_diagnostics: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

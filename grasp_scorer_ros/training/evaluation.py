"""What the training and evaluation programs share (as torchvision's references/detection/engine.py).

:func:`evaluate_model`: top-1 accuracy with the rectangle metric, by the primary score and by the
scorer; ``grasp-scorer-train`` runs it on the held-out fold during training, ``grasp-scorer-evaluate``
on each fold's checkpoint.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from grasp_scorer_ros.datasets.torch_dataset import GraspTorchDataset, collate_grasps
from grasp_scorer_ros.network.metric import is_grasp_correct
from grasp_scorer_ros.network.model import weighted_product
from grasp_scorer_ros.visualize import draw_grasps


RANKINGS = ("primary", "scorer_all", "scorer_top_t", "product")
RANKING_NAMES = {"primary": "primary score", "scorer_all": "scorer, all grasps (paper)",
                 "scorer_top_t": "scorer, re-ranking the T best primary",
                 "product": "primary x scorer"}


def best_grasps(prediction: dict, num_scored_grasps: int, scorer_weight: float = 0.5) -> dict:
    """The top-1 grasp ``(5,)`` of one image under each ranking of :data:`RANKINGS` (only
    ``primary`` when the prediction has no scorer scores), from :meth:`GraspScorerNet.predict`'s
    per-image dict (sorted by final score)."""
    grasps, primary = prediction["grasps"], prediction["primary_scores"]
    best = {"primary": grasps[int(torch.argmax(primary))]}
    if "scorer_scores" in prediction:
        scorer = prediction["scorer_scores"]
        best["scorer_all"] = grasps[int(torch.argmax(scorer))]
        t = min(num_scored_grasps, len(primary))
        candidates = torch.topk(primary, t).indices
        best["scorer_top_t"] = grasps[int(candidates[torch.argmax(scorer[candidates])])]
        best["product"] = grasps[int(torch.argmax(weighted_product(primary, scorer, scorer_weight)))]
    return {name: g.cpu().numpy() for name, g in best.items()}


@torch.no_grad()
def evaluate_model(model, samples, device="cpu", batch_size=8, angle_threshold=30.0,
                   iou_threshold=0.25, draw=0, draw_dir: Path | None = None, progress=True,
                   workers: int = 0, head=None) -> dict:
    """Top-1 accuracy of ``model`` on ``samples`` (letterboxed to the model's input size).

    Returns ``{"images", "correct", "<ranking>_accuracy", "final_accuracy", "final_ranking"}``:
    ``correct`` maps each ranking of :data:`RANKINGS` the model has to a bool vector, one entry per
    image with ground truth (in ``samples`` order), for paired comparisons; ``final`` is the ranking
    the model's :attr:`ModelConfig.final_ranking` uses (the primary score for a baseline).
    ``primary_accuracy`` and ``scorer_accuracy`` (the final score) keep their old meaning.
    ``head``: the FE + PGP of another runtime (see :meth:`GraspScorerNet.predict`).
    """
    model.eval()
    dataset = GraspTorchDataset(samples, train=False, size=model.config.input_size)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         num_workers=workers, collate_fn=collate_grasps)
    correct: dict = {}
    drawn = 0
    final = final_ranking(model.config) if model.scorer is not None else "primary"
    for images, targets in tqdm(loader, desc="evaluating", disable=not progress, leave=False):
        predictions = model.predict(images.to(device), head=head)
        for image, target, prediction in zip(images, targets, predictions):
            gts = target.numpy()
            if len(gts) == 0:
                continue  # nothing to be right about: images without grasps are not scored
            best = best_grasps(prediction, model.config.num_scored_grasps, model.config.scorer_weight)
            for name, grasp in best.items():
                correct.setdefault(name, []).append(
                    bool(is_grasp_correct(grasp, gts, angle_threshold, iou_threshold)))
            if draw_dir is not None and drawn < draw:
                rgb = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                canvas = draw_grasps(rgb, gts, color=(160, 160, 160), jaw_color=None, centre=False)
                canvas = draw_grasps(canvas, best["primary"][None], color=(40, 90, 255), thickness=2)
                canvas = draw_grasps(canvas, best[final][None], color=(0, 220, 0), thickness=2)
                draw_dir.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(draw_dir / f"eval_{drawn:03d}.png"), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
                drawn += 1
    if not correct:
        raise ValueError("no evaluation image has a ground-truth grasp")
    correct = {name: np.array(values, dtype=bool) for name, values in correct.items()}
    result = {"images": int(len(correct["primary"])), "correct": correct, "final_ranking": final,
              **{f"{name}_accuracy": float(values.mean()) for name, values in correct.items()}}
    result["final_accuracy"] = result[f"{final}_accuracy"]
    result["scorer_accuracy"] = result["final_accuracy"]
    return result


def final_ranking(config) -> str:
    """The ranking name of :data:`RANKINGS` that a model with a scorer uses for its final score."""
    return {"all": "scorer_all", "top_t": "scorer_top_t", "product": "product"}[config.final_ranking]

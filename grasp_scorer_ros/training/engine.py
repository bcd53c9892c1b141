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
from grasp_scorer_ros.visualize import draw_grasps


@torch.no_grad()
def evaluate_model(model, samples, device="cpu", batch_size=8, angle_threshold=30.0,
                   iou_threshold=0.25, draw=0, draw_dir: Path | None = None, progress=True,
                   workers: int = 0) -> dict:
    """Top-1 accuracy of ``model`` on ``samples`` (letterboxed to the model's input size).

    Returns ``{"images", "primary_accuracy", "scorer_accuracy"}``; the scorer accuracy is the
    primary one for a baseline model (it has no scorer).
    """
    model.eval()
    dataset = GraspTorchDataset(samples, train=False, size=model.config.input_size)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         num_workers=workers, collate_fn=collate_grasps)
    correct_primary = correct_scorer = total = 0
    drawn = 0
    for images, targets in tqdm(loader, desc="evaluating", disable=not progress, leave=False):
        predictions = model.predict(images.to(device))
        for image, target, prediction in zip(images, targets, predictions):
            gts = target.numpy()
            if len(gts) == 0:
                continue  # nothing to be right about: images without grasps are not scored
            best_scorer = prediction["grasps"][0].cpu().numpy()
            best_primary = prediction["grasps"][int(torch.argmax(prediction["primary_scores"]))].cpu().numpy()
            correct_scorer += bool(is_grasp_correct(best_scorer, gts, angle_threshold, iou_threshold))
            correct_primary += bool(is_grasp_correct(best_primary, gts, angle_threshold, iou_threshold))
            total += 1
            if draw_dir is not None and drawn < draw:
                rgb = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                canvas = draw_grasps(rgb, gts, color=(160, 160, 160), jaw_color=None, centre=False)
                canvas = draw_grasps(canvas, best_primary[None], color=(40, 90, 255), thickness=2)
                canvas = draw_grasps(canvas, best_scorer[None], color=(0, 220, 0), thickness=2)
                draw_dir.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(draw_dir / f"eval_{drawn:03d}.png"), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
                drawn += 1
    if total == 0:
        raise ValueError("no evaluation image has a ground-truth grasp")
    return {"images": total, "primary_accuracy": correct_primary / total,
            "scorer_accuracy": correct_scorer / total}

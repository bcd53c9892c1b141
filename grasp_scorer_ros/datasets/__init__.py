"""Grasp datasets in their native formats, k-fold splits, the paper's augmentation and a
photometric one.

Everything here needs numpy and OpenCV only; the PyTorch dataset lives in
:mod:`grasp_scorer_ros.datasets.torch_dataset` so that importing this package does not load torch.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

# The augment() function is not re-exported: it would hide the module of the same name.
from grasp_scorer_ros.datasets.augment import (PhotometricAugmentation, evaluation_matrix, letterbox, photometric_augment,
                      random_augmentation_matrix)
from grasp_scorer_ros.datasets.cornell import load_cornell
from grasp_scorer_ros.datasets.jacquard import load_jacquard
from grasp_scorer_ros.datasets.sample import GraspSample, ImageReadError, LoadReport, load_rgb
from grasp_scorer_ros.datasets.splits import fold_assignment, kfold_splits

DATASET_KINDS = ("cornell", "jacquard")


def load_dataset(kind: str, root, report: Optional[LoadReport] = None) -> List[GraspSample]:
    """Load a dataset by name: ``kind`` is ``"cornell"`` or ``"jacquard"`` (the synthetic scenes are
    written in the Jacquard format)."""
    loaders = {"cornell": load_cornell, "jacquard": load_jacquard}
    if kind not in loaders:
        raise ValueError(f"unknown dataset kind {kind!r}; choose one of {', '.join(DATASET_KINDS)}")
    return loaders[kind](Path(root), report=report)


__all__ = [
    "DATASET_KINDS", "GraspSample", "ImageReadError", "LoadReport", "PhotometricAugmentation",
    "evaluation_matrix", "fold_assignment", "kfold_splits", "letterbox", "load_cornell", "load_dataset",
    "load_jacquard", "load_rgb", "photometric_augment", "random_augmentation_matrix",
]

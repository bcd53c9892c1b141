"""An image set named on the command line: ``NAME=DIR[:foldK]`` (the look study's, the export's
checks', the score calibration's convention).

``DIR`` is a Jacquard-format folder; ``:foldK`` keeps only object-wise fold ``K``'s images (the
objects held out of training on that fold); ``limit`` keeps a seeded sample of that many.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from grasp_scorer_ros.datasets.jacquard import load_jacquard
from grasp_scorer_ros.datasets.splits import fold_assignment


def load_named_set(spec: str, limit: int = 0):
    """``(name, root, samples)`` of ``NAME=DIR[:foldK]``."""
    name, _, where = spec.partition("=")
    if not name or not where:
        raise ValueError(f"an image set is NAME=DIR[:foldK], got {spec!r}")
    root, _, fold = where.partition(":")
    samples = load_jacquard(root)
    if fold:
        k = int(fold.removeprefix("fold"))
        samples = [s for s, f in zip(samples, fold_assignment(samples, by="object")) if f == k]
    if limit and len(samples) > limit:
        keep = np.sort(np.random.default_rng(0).choice(len(samples), limit, replace=False))
        samples = [samples[i] for i in keep]
    return name, Path(root), samples

"""K-fold cross-validation splits, image-wise or object-wise (the paper's 5-fold protocol).

Image-wise: images are shuffled and dealt into folds. Object-wise: whole objects are dealt into
folds, so all images of one object are on the same side of every split ("images containing one
object are either all in the training dataset or all in the testing one"). Both depend only on the
samples' order, their object ids and the seed.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

from grasp_scorer_ros.datasets.sample import GraspSample

Split = Tuple[np.ndarray, np.ndarray]  # (train indices, test indices), sorted int64


def fold_assignment(samples: Sequence[GraspSample], folds: int = 5, by: str = "image",
                    seed: int = 0) -> np.ndarray:
    """Test fold ``(N,)`` of each sample.

    ``by="object"`` deals objects, largest first in a seeded random order among equals, each to
    the fold that has the fewest images so far, which keeps fold sizes close even when objects
    have different numbers of images.
    """
    if by not in ("image", "object"):
        raise ValueError(f"by must be 'image' or 'object', got {by!r}")
    if folds < 2:
        raise ValueError(f"k-fold cross validation needs at least 2 folds, got {folds}")
    n = len(samples)
    rng = np.random.default_rng(seed)
    if by == "image":
        if n < folds:
            raise ValueError(f"{n} images cannot fill {folds} folds")
        fold = np.empty(n, dtype=np.int64)
        fold[rng.permutation(n)] = np.arange(n) % folds
        return fold

    object_ids = np.array([s.object_id for s in samples], dtype=object)
    objects, inverse, counts = np.unique(object_ids.astype(str), return_inverse=True, return_counts=True)
    if len(objects) < folds:
        raise ValueError(f"{len(objects)} distinct objects cannot fill {folds} object-wise folds")
    order = rng.permutation(len(objects))
    order = order[np.argsort(-counts[order], kind="stable")]  # big objects first, ties shuffled
    fold_sizes = np.zeros(folds, dtype=np.int64)
    object_fold = np.empty(len(objects), dtype=np.int64)
    for obj in order:
        target = int(np.argmin(fold_sizes))
        object_fold[obj] = target
        fold_sizes[target] += counts[obj]
    return object_fold[inverse]


def kfold_splits(samples: Sequence[GraspSample], folds: int = 5, by: str = "image",
                 seed: int = 0) -> List[Split]:
    """``folds`` pairs ``(train_indices, test_indices)`` into ``samples``; every sample is in exactly
    one test set. ``by`` is ``"image"`` or ``"object"`` (see :func:`fold_assignment`)."""
    fold = fold_assignment(samples, folds=folds, by=by, seed=seed)
    index = np.arange(len(samples), dtype=np.int64)
    return [(index[fold != k], index[fold == k]) for k in range(folds)]


def sample_covering_objects(samples: Sequence[GraspSample], count: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``count`` samples (all if fewer) drawn at random so that every object is
    covered: one image of each object in a seeded random order, then a second of each, and so on.
    A cheaper test set that still shows every object (the first N in path order would not)."""
    if count >= len(samples):
        return np.arange(len(samples), dtype=np.int64)
    rng = np.random.default_rng(seed)
    object_ids = np.array([str(s.object_id) for s in samples])
    objects = rng.permutation(np.unique(object_ids))
    queues = {obj: list(rng.permutation(np.nonzero(object_ids == obj)[0])) for obj in objects}
    chosen: List[int] = []
    while len(chosen) < count:
        for obj in objects:
            if queues[obj] and len(chosen) < count:
                chosen.append(int(queues[obj].pop()))
    return np.sort(np.array(chosen, dtype=np.int64))

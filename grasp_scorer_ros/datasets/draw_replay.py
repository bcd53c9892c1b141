"""The random draws of a training item, made without decoding its image.

An iteration's batch draws every image's augmentation from one generator, one image after the
other (the training script seeds it from (seed, iteration)). A torch.distributed rank that trains on
images ``start..stop`` of that batch must leave the generator where the images before ``start``
left it. :func:`replay_item_draws` does that at the cost of a few matrix products: the draws of the
geometric augmentation depend only on the image's size and its grasps (the retries when every grasp
left the image), those of the photometric one on nothing, so neither needs the pixels. The size
comes from the PNG header (a 24-byte read), or from a full decode for other formats (once per file).

The one case it cannot see: an image that fails to decode is replaced by the next sample inside
the rank that decodes it (``GraspTorchDataset._read``); the other ranks replay the original sample.
"""
from __future__ import annotations

import struct
from functools import lru_cache
from typing import Tuple

import numpy as np

from grasp_scorer_ros.datasets.augment import photometric_augment, random_augmentation_matrix
from grasp_scorer_ros.datasets.sample import load_rgb
from grasp_scorer_ros.datasets.torch_dataset import AUGMENTATION_TRIES  # the retries of item()
from grasp_scorer_ros.network.image_transform import points_inside, transform_grasps

_PNG = b"\x89PNG\r\n\x1a\n"

_PIXEL = np.zeros((1, 1, 3), np.uint8)


@lru_cache(maxsize=None)
def image_size(path: str) -> Tuple[int, int]:
    """``(height, width)`` of an image file as :func:`load_rgb` would decode it."""
    with open(path, "rb") as f:
        head = f.read(24)
    if head.startswith(_PNG) and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return int(height), int(width)
    return tuple(load_rgb(path).shape[:2])


def replay_item_draws(dataset, index: int, rng: np.random.Generator) -> None:
    """Advance ``rng`` exactly as ``dataset.item(index, rng)`` would (a training
    :class:`~grasp_scorer_ros.datasets.torch_dataset.GraspTorchDataset` or a subclass that has
    ``source_size(index)``), without reading the image's pixels."""
    if not dataset.train:
        return
    sizer = getattr(dataset, "source_size", None)
    height, width = sizer(index) if sizer else image_size(str(dataset.samples[index].image_path))
    grasps = dataset.samples[index].grasps
    options = dataset.augmentation_options
    for _ in range(AUGMENTATION_TRIES):
        matrix = random_augmentation_matrix(height, width, rng, size=dataset.size, **options)
        moved = transform_grasps(grasps, matrix)
        if points_inside(moved[:, :2], dataset.size).any() or not len(grasps):
            break
    if dataset.photometric is not None:
        photometric_augment(_PIXEL, rng, dataset.photometric)  # a fixed number of draws, any image

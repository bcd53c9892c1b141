"""Training images resized once to the network's input scale, kept on disk (``--cache DIR``).

Decoding a 1024x1024 Jacquard PNG costs far more than the augmentation that follows, and the
augmentation only keeps ``size / 1024`` of its resolution. So each image is decoded once, resized
(area interpolation) until its longer side is the input size, and stored as ``.npy`` (uint8, loaded
without decoding) with its source size. The augmentation then draws the same matrix as from the
source (the source's height and width are kept) and warps the small image through the resize's
inverse, so the geometry, grasps and draws are exactly those of an uncached run; only the pixels
differ, by the extra resampling (and the aliasing the area resize removes).

An entry is named by the source's absolute path, size in bytes, modification time and the input
size: an image changed on disk or another ``--input-size`` makes a new entry, never a stale read.
Grasps are not cached: they come from the annotation files, which load fast and may be edited.
"""
from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from grasp_scorer_ros.datasets.augment import photometric_augment, random_augmentation_matrix
from grasp_scorer_ros.datasets.sample import GraspSample, ImageReadError, load_rgb
from grasp_scorer_ros.datasets.torch_dataset import AUGMENTATION_TRIES, GraspTorchDataset
from grasp_scorer_ros.network.image_transform import (compose_affine, letterbox_matrix, points_inside,
                                                      transform_grasps, warp_image)

logger = logging.getLogger(__name__)


def entry_path(cache_dir: Path, image_path: Path, size: int) -> Path:
    """The cache file of one source image at one input size (see the module for what names it)."""
    source = Path(image_path).resolve()
    stat = source.stat()
    key = hashlib.sha1(f"{source}|{stat.st_size}|{stat.st_mtime_ns}|{size}".encode()).hexdigest()[:20]
    return Path(cache_dir) / f"{source.stem}-{key}.npy"


def cached_to_source(height: int, width: int, small_height: int, small_width: int) -> np.ndarray:
    """The ``(2, 3)`` matrix from a resized image's pixels back to its source's (pixel centres, as
    cv2.resize maps them)."""
    sx, sy = width / small_width, height / small_height
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])


def _prepare_one(image_path: Path, size: int, cache_dir: Path) -> Optional[str]:
    path = entry_path(cache_dir, image_path, size)
    if path.exists():
        return None
    try:
        image = load_rgb(image_path)
    except ImageReadError as error:
        return str(error)   # left out: the dataset decodes (and replaces) it as without a cache
    height, width = image.shape[:2]
    scale = size / max(height, width)
    small = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA)
    # The source's [height, width] follow the array (8 bytes), read back by load_entry.
    tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
    with tmp.open("wb") as f:
        np.save(f, small)
        f.write(np.array([height, width], dtype="<u4").tobytes())
    tmp.replace(path)       # atomic: a killed preparation never leaves a half-written entry
    return None


def load_entry(path: Path) -> Tuple[np.ndarray, Tuple[int, int]]:
    """The resized image and its source's ``(height, width)``."""
    with Path(path).open("rb") as f:
        small = np.load(f)
        height, width = np.frombuffer(f.read(8), dtype="<u4")
    return small, (int(height), int(width))


def prepare_cache(samples: Sequence[GraspSample], size: int, cache_dir, workers: int = 1,
                  progress: bool = False) -> int:
    """Write the missing entries of ``samples`` at input ``size``; returns how many were missing.
    Decoding and resizing release the GIL, so ``workers`` threads decode in parallel."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = sorted({Path(s.image_path) for s in samples})
    missing = [p for p in paths if not entry_path(cache_dir, p, size).exists()]
    if not missing:
        return 0
    logger.info("preparing the image cache %s: %d of %d images at %d px", cache_dir, len(missing), len(paths), size)
    from tqdm import tqdm
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for problem in tqdm(pool.map(lambda p: _prepare_one(p, size, cache_dir), missing), total=len(missing),
                            desc="caching", disable=not progress, leave=False):
            if problem:
                logger.warning("%s; not cached", problem)
    return len(missing)


class CachedGraspDataset(GraspTorchDataset):
    """:class:`GraspTorchDataset` reading :func:`prepare_cache`'s entries (training items: same
    draws and geometry as the source; an image without an entry is decoded from its source)."""

    cache_dir: Path = Path(".")

    @classmethod
    def for_cache(cls, cache_dir) -> type:
        """This class bound to ``cache_dir`` (the training script builds datasets from a type)."""
        return type(cls.__name__, (cls,), {"cache_dir": Path(cache_dir)})

    def _entry(self, index: int) -> Optional[Path]:
        path = entry_path(self.cache_dir, self.samples[index].image_path, self.size)
        return path if path.exists() else None

    def source_size(self, index: int) -> Tuple[int, int]:
        """The source image's ``(height, width)`` (for :func:`~grasp_scorer_ros.datasets.draw_replay.replay_item_draws`)."""
        entry = self._entry(index)
        if entry is None:
            return tuple(load_rgb(self.samples[index].image_path).shape[:2])
        with entry.open("rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, _ = read_header(f)   # uint8: one byte per element
            f.seek(f.tell() + int(np.prod(shape)))
            height, width = np.frombuffer(f.read(8), dtype="<u4")
        return int(height), int(width)

    def item(self, index: int, rng: Optional[np.random.Generator]):
        entry = self._entry(int(index))
        if entry is None:
            return super().item(index, rng)
        small, (height, width) = load_entry(entry)
        grasps = self.samples[int(index)].grasps
        if self.train:
            for _ in range(AUGMENTATION_TRIES):   # the draws of augment() on the source image
                matrix = random_augmentation_matrix(height, width, rng, size=self.size, **self.augmentation_options)
                out_grasps = transform_grasps(grasps, matrix)
                out_grasps = out_grasps[points_inside(out_grasps[:, :2], self.size)]
                if len(out_grasps) or not len(grasps):
                    break
        else:
            matrix = letterbox_matrix(height, width, self.size)
            out_grasps = transform_grasps(grasps, matrix)
            out_grasps = out_grasps[points_inside(out_grasps[:, :2], self.size)]
        image_matrix = compose_affine(matrix, cached_to_source(height, width, *small.shape[:2]))
        out_image = warp_image(small, image_matrix, self.size, border_value=self.border_value)
        if self.train and self.photometric is not None:
            out_image = photometric_augment(out_image, rng, self.photometric)
        tensor = torch.from_numpy(np.ascontiguousarray(out_image.transpose(2, 0, 1))).float().div_(255.0)
        return tensor, torch.from_numpy(out_grasps.astype(np.float32)).reshape(-1, 5)

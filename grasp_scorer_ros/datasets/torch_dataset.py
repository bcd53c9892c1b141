"""PyTorch dataset over :class:`~grasp_scorer_ros.datasets.sample.GraspSample` lists.

Training items are augmented online (:func:`~grasp_scorer_ros.datasets.augment.augment`, and,
as an option, :func:`~grasp_scorer_ros.datasets.augment.photometric_augment` after it), test
items are only letterboxed. Images are decoded here, one at a time; one that fails to decode is
logged (naming the file, once) and replaced by the next decodable sample, so a single corrupt
file among 54k does not stop a training run.

Random numbers: each process (the main one or a DataLoader worker) draws from its own
``numpy.random.Generator`` seeded from ``seed`` and, in a worker, the worker's torch seed, which
PyTorch makes different for every worker and every epoch (and reproducible once torch is seeded).
So workers never repeat each other's augmentations and epochs differ.
"""
from __future__ import annotations

import logging
from typing import List, Optional, Sequence, Set, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from grasp_scorer_ros.datasets.augment import PhotometricAugmentation, augment, letterbox, photometric_augment
from grasp_scorer_ros.datasets.sample import GraspSample, ImageReadError, load_rgb

logger = logging.getLogger(__name__)

# Retries of an augmentation that pushed every grasp out of the image.
AUGMENTATION_TRIES = 10


class GraspTorchDataset(Dataset):
    """``dataset[i] -> (image, grasps)``: image float32 ``(3, size, size)`` RGB in ``[0, 1]``,
    grasps float32 ``(N, 5)`` ``[x, y, w, h, theta]`` in network-input pixels.

    ``train=True`` applies the random augmentation (and retries it a few times if it lost every
    grasp); ``train=False`` only letterboxes. ``border_value`` fills the padding (0 to 255).
    ``photometric`` (training items only, off by default): ``True`` for the default ranges of
    :class:`~grasp_scorer_ros.datasets.augment.PhotometricAugmentation`, or such an object;
    applied after the geometric augmentation, drawing from the same generator after it, so the
    grasps of an item are the same with and without it.
    """

    def __init__(self, samples: Sequence[GraspSample], train: bool, size: int = 320, seed: int = 0,
                 border_value: int = 0, photometric: Union[bool, PhotometricAugmentation, None] = None,
                 **augmentation_options):
        if len(samples) == 0:
            raise ValueError("GraspTorchDataset needs at least one sample")
        self.samples = list(samples)
        self.train = train
        self.size = size
        self.seed = seed
        self.border_value = border_value
        self.augmentation_options = augmentation_options
        if photometric is True:
            photometric = PhotometricAugmentation()
        elif photometric is False:
            photometric = None
        if photometric is not None and not isinstance(photometric, PhotometricAugmentation):
            raise TypeError(f"photometric must be a bool or a PhotometricAugmentation, got {photometric!r}")
        self.photometric: Optional[PhotometricAugmentation] = photometric
        self._rng: Optional[np.random.Generator] = None
        self._rng_key: Optional[int] = None
        self._unreadable: Set[int] = set()

    def __len__(self) -> int:
        return len(self.samples)

    def _generator(self) -> np.random.Generator:
        worker = get_worker_info()
        key = -1 if worker is None else worker.seed
        if self._rng is None or self._rng_key != key:
            entropy = [self.seed] if worker is None else [self.seed, worker.seed]
            self._rng = np.random.default_rng(entropy)
            self._rng_key = key
        return self._rng

    def _read(self, index: int) -> Tuple[int, np.ndarray]:
        """The image of ``index``, or of the next decodable sample if it cannot be decoded."""
        for offset in range(len(self.samples)):
            candidate = (index + offset) % len(self.samples)
            if candidate in self._unreadable:
                continue
            try:
                return candidate, load_rgb(self.samples[candidate].image_path)
            except ImageReadError as error:
                self._unreadable.add(candidate)
                logger.warning("%s; using the next sample instead", error)
        raise ImageReadError(f"none of the {len(self.samples)} images of this dataset can be decoded")

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.item(index, self._generator() if self.train else None)

    def item(self, index: int, rng: Optional[np.random.Generator]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Sample ``index`` augmented with ``rng`` (training; ignored for evaluation).

        The training script draws ``rng`` from (seed, iteration) so that a resumed run repeats
        the exact augmentations of an uninterrupted one.
        """
        index, image = self._read(int(index))
        grasps = self.samples[index].grasps
        if self.train:
            for _ in range(AUGMENTATION_TRIES):
                out_image, out_grasps = augment(image, grasps, rng, size=self.size,
                                                border_value=self.border_value, **self.augmentation_options)
                if len(out_grasps) or not len(grasps):
                    break
            if self.photometric is not None:
                out_image = photometric_augment(out_image, rng, self.photometric)
        else:
            out_image, out_grasps = letterbox(image, grasps, size=self.size, border_value=self.border_value)
        tensor = torch.from_numpy(np.ascontiguousarray(out_image.transpose(2, 0, 1))).float().div_(255.0)
        return tensor, torch.from_numpy(out_grasps.astype(np.float32)).reshape(-1, 5)


def collate_grasps(batch: Sequence[Tuple[torch.Tensor, torch.Tensor]]) -> Tuple[torch.Tensor, List[torch.Tensor]]:
    """DataLoader ``collate_fn``: images stacked to ``(B, 3, S, S)``, grasps kept as a list of
    ``(N_i, 5)`` tensors since images hold different numbers of grasps."""
    images, grasps = zip(*batch)
    return torch.stack(images, dim=0), list(grasps)

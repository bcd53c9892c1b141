"""The prepared cache of training images (datasets/prepared_cache.py): the same draws and grasps as the
plain dataset, remade for a new input size."""
import numpy as np
import torch

from grasp_scorer_ros.datasets import load_dataset
from grasp_scorer_ros.datasets.prepared_cache import CachedGraspDataset, prepare_cache
from grasp_scorer_ros.datasets.torch_dataset import GraspTorchDataset


def test_the_prepared_cache_keeps_the_draws_and_the_grasps_and_is_remade_for_a_new_size(synthetic_set, tmp_path):
    samples = load_dataset("jacquard", synthetic_set)[:6]
    assert prepare_cache(samples, 64, tmp_path / "cache") == 6
    assert prepare_cache(samples, 64, tmp_path / "cache") == 0           # reused
    assert prepare_cache(samples, 96, tmp_path / "cache") == 6           # another input size
    plain = GraspTorchDataset(samples, train=True, size=64, seed=1, photometric=True)
    cached = CachedGraspDataset.for_cache(tmp_path / "cache")(samples, train=True, size=64, seed=1, photometric=True)
    for i in range(6):
        rng_a, rng_b = np.random.default_rng([1, i]), np.random.default_rng([1, i])
        (image_a, grasps_a), (image_b, grasps_b) = plain.item(i, rng_a), cached.item(i, rng_b)
        assert torch.allclose(grasps_a, grasps_b, atol=1e-4)     # same draws, same geometry
        assert rng_a.random() == rng_b.random()                  # and the generator left in the same place
        assert (image_a - image_b).abs().mean() < 0.05           # the pixels, resampled twice, stay close
        assert cached.source_size(i) == tuple(plain._read(i)[1].shape[:2])

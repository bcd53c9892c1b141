"""Training on several processes without starting them (training/distributed.py): each rank's part of the
global batch, and a run without torchrun's variables. The 2-process runs under torch.distributed.run are
in test/system/test_distributed_training.py."""
import pytest
import torch

from grasp_scorer_ros.datasets import load_dataset
from grasp_scorer_ros.datasets.torch_dataset import GraspTorchDataset
from grasp_scorer_ros.training import train
from grasp_scorer_ros.training.distributed import batch_part, init_distributed_mode


def test_a_rank_draws_its_part_of_the_batch_exactly_as_the_whole_batch_does(synthetic_set):
    samples = load_dataset("jacquard", synthetic_set)
    data = GraspTorchDataset(samples, train=True, size=64, seed=5, photometric=True)
    whole = train.IterationBatches(data, 5, seed=5, iterations=20, extra=6, extra_share=0.4)
    parts = [train.IterationBatches(data, 5, seed=5, iterations=20, extra=6, extra_share=0.4,
                                    part=batch_part(5, rank, 3)) for rank in range(3)]
    for iteration in (0, 7, 19):
        images, grasps = whole[iteration]
        pieces = [part[iteration] for part in parts]
        assert torch.equal(images, torch.cat([p[0] for p in pieces]))
        joined = [g for p in pieces for g in p[1]]
        assert len(joined) == len(grasps) and all(torch.equal(a, b) for a, b in zip(grasps, joined))


def test_batch_parts_cover_the_global_batch_once_and_refuse_too_small_a_batch():
    for batch, world in ((10, 1), (10, 3), (10, 4), (7, 7)):
        parts = [batch_part(batch, rank, world) for rank in range(world)]
        assert parts[0][0] == 0 and parts[-1][1] == batch
        assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
        sizes = [stop - start for start, stop in parts]
        assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError, match="--nproc_per_node"):
        batch_part(2, 0, 4)


def test_without_torchrun_variables_the_run_is_one_plain_process():
    context = init_distributed_mode("cpu", environ={})
    assert not context.enabled and context.is_main and context.world_size == 1

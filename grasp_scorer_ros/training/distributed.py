"""Multi-process training on PyTorch's own engine (torch.distributed), as torchvision's
``references/detection/utils.py`` sets it up.

``torchrun`` (``python -m torch.distributed.run``) starts one process per device and tells each its
place through the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); :func:`init_distributed_mode`
reads them and joins the process group: NCCL when the process has a CUDA device (``cuda:LOCAL_RANK``),
gloo on the CPU. Without those variables the run is a plain single process and nothing here acts.

Each iteration's global batch (``--batch-size``) is cut into contiguous parts, one per rank
(:func:`batch_part`); a batch that does not divide evenly is split unevenly but exactly (the losses
are re-weighted by each rank's share, :mod:`grasp_scorer_ros.training.global_losses`), so a run's
data and its gradients do not depend on the number of processes.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

# Rank 0 evaluates the held-out fold while the others wait at a barrier: give it time.
PROCESS_GROUP_TIMEOUT = datetime.timedelta(minutes=60)


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: ``rank`` of ``world_size`` processes, on ``device``."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None   # None: no process group (a plain single-process run)

    @property
    def enabled(self) -> bool:
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, logs, curves and evaluations."""
        return self.rank == 0


def launched_by_torchrun(environ=None) -> bool:
    environ = os.environ if environ is None else environ
    return "RANK" in environ and "WORLD_SIZE" in environ


def init_distributed_mode(device: str = "auto", environ=None) -> DistributedContext:
    """The process group of a ``torchrun`` launch, joined; a single-process context otherwise.

    ``device``: ``auto`` (CUDA when there is one), ``cpu`` or ``cuda``. Under torchrun each process
    takes ``cuda:LOCAL_RANK``, so ``--nproc_per_node`` must not exceed the GPUs of a machine.
    """
    environ = os.environ if environ is None else environ
    if not launched_by_torchrun(environ):
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        return DistributedContext(device=torch.device(device))
    rank, world_size = int(environ["RANK"]), int(environ["WORLD_SIZE"])
    local_rank = int(environ.get("LOCAL_RANK", 0))
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    if use_cuda:
        if not torch.cuda.is_available():
            raise ValueError("--device cuda under torchrun, but this machine has no CUDA device")
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"local rank {local_rank} has no GPU: this machine has {torch.cuda.device_count()}; "
                             f"lower --nproc_per_node")
        torch.cuda.set_device(local_rank)
        where, backend = torch.device("cuda", local_rank), "nccl"
    else:
        where, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world_size,
                            timeout=PROCESS_GROUP_TIMEOUT)
    return DistributedContext(rank, world_size, local_rank, where, backend)


def batch_part(batch_size: int, rank: int, world_size: int) -> tuple[int, int]:
    """``(start, stop)``: the images of each iteration's global batch that ``rank`` trains on.

    Contiguous parts as even as they can be (sizes differ by one at most); every image of the
    global batch belongs to exactly one rank."""
    if batch_size < world_size:
        raise ValueError(f"--batch-size {batch_size} (the global batch) is smaller than the {world_size} "
                         f"processes: each needs at least one image; raise --batch-size to {world_size} "
                         f"or more, or start fewer processes (--nproc_per_node)")
    return rank * batch_size // world_size, (rank + 1) * batch_size // world_size


def all_reduce_sum(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Sum of ``values`` (float64 for exact counts) over the ranks; ``values`` itself alone."""
    if not context.enabled:
        return values
    # gloo reduces CPU tensors, NCCL device ones
    reduced = values.detach().to(context.device if context.backend == "nccl" else "cpu", torch.float64,
                                 copy=True)
    dist.all_reduce(reduced)
    return reduced.cpu()


def broadcast_object(value, context: DistributedContext):
    """Rank 0's ``value`` on every rank (for what only rank 0 computes, such as the anchor size)."""
    if not context.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(context: DistributedContext) -> None:
    if context.enabled:
        if context.backend == "nccl":
            dist.barrier(device_ids=[context.local_rank])
        else:
            dist.barrier()


def destroy(context: DistributedContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()

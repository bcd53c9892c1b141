"""Images per second of the training loader alone, on 1024x1024 Jacquard-format PNGs.

What grasp-scorer-train's DataLoader delivers (IterationBatches: decode, augmentation, photometric
augmentation, collation), with 0, 1 and 2 worker processes, from the PNGs and from the prepared
cache (``--cache DIR``: images resized once to the input size). No network runs: this is the rate
the loader can feed a GPU at.

    python benchmarks/loader_throughput.py                      # writes 64 synthetic 1024 px scenes
    python benchmarks/loader_throughput.py --data-root /data/jacquard --workers 0 4 8
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from grasp_scorer_ros.datasets import load_dataset
from grasp_scorer_ros.datasets.prepared_cache import CachedGraspDataset, prepare_cache
from grasp_scorer_ros.datasets.torch_dataset import GraspTorchDataset
from grasp_scorer_ros.synthetic import write_dataset
from grasp_scorer_ros.synthetic.scene import SceneConfig
from grasp_scorer_ros.training.train import IterationBatches


def loader_rate(dataset, batch_size: int, iterations: int, workers: int) -> float:
    """Images per second over ``iterations`` batches, after the first (worker start-up) one."""
    batches = IterationBatches(dataset, batch_size, seed=0, iterations=iterations + 1)
    loader = torch.utils.data.DataLoader(batches, batch_size=None, sampler=range(iterations + 1),
                                         num_workers=workers, prefetch_factor=2 if workers else None)
    stream = iter(loader)
    next(stream)
    started = time.perf_counter()
    for _ in stream:
        pass
    return batch_size * iterations / (time.perf_counter() - started)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=None,
                   help="Jacquard-format folder (default: write --count synthetic scenes of --image-size px)")
    p.add_argument("--count", type=int, default=64)
    p.add_argument("--image-size", type=int, default=1024)
    p.add_argument("--input-size", type=int, default=320)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--cache", type=Path, default=None, help="cache folder (default: a temporary one)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        root = args.data_root
        if root is None:
            root = Path(scratch) / "scenes"
            tic = time.perf_counter()
            write_dataset(root, count=args.count, seed=0, config=SceneConfig(size=args.image_size), write_masks=False,
                          progress=None)
            print(f"wrote {args.count} scenes of {args.image_size} px in {time.perf_counter() - tic:.1f} s")
        samples = load_dataset("jacquard", root)
        cache = args.cache or Path(scratch) / "cache"
        tic = time.perf_counter()
        prepare_cache(samples, args.input_size, cache, workers=max(args.workers))
        prepare_s = time.perf_counter() - tic
        print(f"{len(samples)} images; cache prepared in {prepare_s:.1f} s "
              f"({len(samples) / prepare_s:.1f} images/s, {max(args.workers)} threads)")
        sources = {"PNG": GraspTorchDataset, "cache": CachedGraspDataset.for_cache(cache)}
        print(f"loader, batch {args.batch_size}, input {args.input_size} px, photometric on, "
              f"{args.iterations} batches:")
        for name, kind in sources.items():
            dataset = kind(samples, train=True, size=args.input_size, seed=0, photometric=True)
            for workers in args.workers:
                rate = loader_rate(dataset, args.batch_size, args.iterations, workers)
                print(f"  {name:5s} workers {workers}: {rate:7.1f} images/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

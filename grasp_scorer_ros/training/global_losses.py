"""Per-rank losses whose DistributedDataParallel average is the loss of the whole global batch.

DDP averages gradients over the ranks. :func:`~grasp_scorer_ros.network.losses.compute_losses`
takes means over per-batch counts that differ between ranks: Eq. 3 over each image's positives and
mined negatives, the smooth L1 term over the positives. The plain average of per-rank means is not
the mean over the global batch (a rank with few positives would weigh as much as one with many).
So each term of rank ``r`` is multiplied by ``world_size * n_r / n``, ``n_r`` the rank's count for
that term and ``n`` the sum over the ranks: the DDP average of the gradients is then exactly the
gradient of the single-process loss on the global batch. The scorer terms are means over T grasps
per image, so their count is the rank's number of images.

The counts are those of ``compute_losses`` (:func:`loss_counts` repeats its target selection:
angle matching, then the negatives of :func:`sample_primary_targets`; when clean negatives vet the
pool, that selection is replayed from the random state the losses started from, so it is the same).

Diagnostics that are not means of per-item terms (the scorer's AUC, the direction of the Eq. 5 term)
are averaged over the ranks weighted by their images: close to, but not exactly, the value of one
process on the whole batch; under ``--scorer-term gate`` / ``direction-gate`` they feed the weight of
the scorer term, the only place where the number of processes can change a run (slightly).
"""
from __future__ import annotations

from typing import Dict, Sequence

import torch

from grasp_scorer_ros.network.losses import (angle_matching, binary_entropy, good_grasp_test,
                                             sample_primary_targets)
from grasp_scorer_ros.network.model import FEATURE_STRIDE, GRASP, ModelConfig
from grasp_scorer_ros.training.distributed import DistributedContext, all_reduce_sum

# Terms whose count is the rank's number of images (T grasps each).
PER_IMAGE_TERMS = ("regression_scorer", "scorer")
LOSS_TERMS = ("intermediate", "regression_l1", "regression_scorer", "scorer")


def rng_state(device: torch.device):
    """The random state ``compute_losses`` starts from (CPU, and the CUDA device's)."""
    return torch.get_rng_state(), (torch.cuda.get_rng_state(device) if device.type == "cuda" else None)


def loss_counts(outputs: Dict[str, torch.Tensor], targets: Sequence[torch.Tensor], config: ModelConfig,
                state=None) -> Dict[str, int]:
    """How many items each loss term of ``compute_losses`` averages over, for this batch.

    ``state``: :func:`rng_state` taken before ``compute_losses`` (needed with clean negatives and
    random negatives, whose draws are replayed here without touching the current random state).
    """
    anchors = outputs["anchors"].float()
    flat_anchors = anchors.reshape(-1, 5)
    b = outputs["deltas"].shape[0]
    flat_deltas = outputs["deltas"].detach().float().reshape(b, -1, 5)
    probability = torch.softmax(outputs["primary_logits"].detach().float().reshape(b, -1, 2), -1)[..., GRASP]
    ground_truths = [t.to(device=anchors.device, dtype=torch.float32).reshape(-1, 5) for t in targets]
    num_anchors = flat_anchors.shape[0]
    ce, positives_total = 0, 0
    devices = [anchors.device] if anchors.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        if config.clean_negatives and state is not None:
            torch.set_rng_state(state[0])
            if state[1] is not None:
                torch.cuda.set_rng_state(state[1], anchors.device)
        for i in range(b):
            matched = angle_matching(ground_truths[i], anchors, FEATURE_STRIDE,
                                     config.positive_angle_threshold).reshape(-1)
            positives = int((matched >= 0).sum())
            positives_total += positives
            if config.clean_negatives:   # the vetting decides how many negatives remain
                is_good = good_grasp_test(flat_anchors, flat_deltas[i], ground_truths[i], config)
                index, _ = sample_primary_targets(matched, probability[i], config.negative_ratio,
                                                  config.negative_sampling, is_good)
                ce += len(index)
            else:
                ce += positives + min(config.negative_ratio * max(positives, 1), num_anchors - positives)
    counts = {"intermediate": ce, "regression_l1": positives_total}
    counts.update({name: b for name in PER_IMAGE_TERMS})
    return counts


def global_total(losses: Dict[str, torch.Tensor], counts: Dict[str, int], scorer_term_weight: float,
                 context: DistributedContext) -> tuple[torch.Tensor, Dict[str, float]]:
    """The loss this rank back-propagates (each term weighted by its share, see the module) and
    the factors used, by term. Single process: ``losses["total"]`` itself, untouched."""
    if not context.enabled:
        return losses["total"], {name: 1.0 for name in LOSS_TERMS}
    local = torch.tensor([float(counts[name]) for name in LOSS_TERMS], dtype=torch.float64)
    total_counts = all_reduce_sum(local, context)
    factors = {name: (context.world_size * float(local[i]) / float(total_counts[i]) if total_counts[i] > 0 else 0.0)
               for i, name in enumerate(LOSS_TERMS)}
    total = (factors["intermediate"] * losses["intermediate"] + factors["regression_l1"] * losses["regression_l1"]
             + scorer_term_weight * factors["regression_scorer"] * losses["regression_scorer"]
             + factors["scorer"] * losses["scorer"])
    return total, factors


def global_values(losses: Dict[str, torch.Tensor], factors: Dict[str, float], total: torch.Tensor,
                  images: int, context: DistributedContext,
                  competence_names: Sequence[str]) -> Dict[str, float]:
    """What to log: the loss terms of the global batch (the single-process values, to float
    rounding) and the competence diagnostics averaged over the ranks by their images."""
    names = [name for name in LOSS_TERMS if name in losses]
    if not context.enabled:
        values = {name: float(losses[name].detach()) for name in names}
        values["total"] = float(total.detach())
        values.update({k: float(losses[k]) for k in competence_names if k in losses})
        return values
    row = [factors[name] * float(losses[name].detach()) / context.world_size for name in names]
    row.append(float(total.detach()) / context.world_size)
    present = [k for k in competence_names if k in losses and k != "label_entropy"]
    for k in present:
        value = float(losses[k])
        finite = value == value  # AUC is NaN on a rank whose T grasps are all of one class
        row += [images * value if finite else 0.0, images if finite else 0.0]
    reduced = all_reduce_sum(torch.tensor(row, dtype=torch.float64), context).tolist()
    values = dict(zip(names, reduced))
    values["total"] = reduced[len(names)]
    for j, k in enumerate(present):
        weighted, weight = reduced[len(names) + 1 + 2 * j: len(names) + 3 + 2 * j]
        values[k] = weighted / weight if weight > 0 else float("nan")
    if "label_rate" in values:
        values["label_entropy"] = binary_entropy(values["label_rate"])
    return values


def loss_seed(seed: int, iteration: int, rank: int) -> int:
    """The torch seed of an iteration's random draws inside the losses (random negatives, scorer
    jitter, dropout). Rank 0 keeps the single-process seed; other ranks draw their own."""
    key = (seed, iteration) if rank == 0 else (seed, iteration, rank)
    return hash(key) & 0xFFFF_FFFF


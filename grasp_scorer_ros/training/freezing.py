"""What of a pretrained feature extractor training leaves as it is (``--freeze-stages``, ``--fe-batch-norm``).

An ImageNet-pretrained trunk already computes edges and textures in its first stages; on two CPU
cores their backward pass (depthwise convolutions at high resolution, for EfficientNet-Lite) is
most of an iteration's time. Freezing them, and keeping the ImageNet BatchNorm statistics instead
of re-estimating them from batches of 10 (torchvision detection's FrozenBatchNorm2d), is the
usual fine-tuning of detectors (Detectron2 freezes the stem and the first stage by default).

Frozen BatchNorm computes what an eval-mode BatchNorm computes and keeps the same state-dict keys
(but ``num_batches_tracked``, which BatchNorm fills in when it loads), so checkpoints load into the
plain network, which the detector and the exports run.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from grasp_scorer_ros.network.model import GraspScorerNet

BATCH_NORM_MODES = ("train", "frozen")


class FrozenBatchNorm(FrozenBatchNorm2d):
    """torchvision's FrozenBatchNorm2d with BatchNorm2d's ``num_batches_tracked`` kept, so that a
    checkpoint's keys are the plain network's."""

    def __init__(self, num_features: int, eps: float):
        super().__init__(num_features, eps=eps)
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def _load_from_state_dict(self, *args, **kwargs):
        nn.Module._load_from_state_dict(self, *args, **kwargs)  # the parent drops num_batches_tracked


def _frozen_copy(batch_norm: nn.BatchNorm2d) -> FrozenBatchNorm:
    frozen = FrozenBatchNorm(batch_norm.num_features, eps=batch_norm.eps)
    for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        getattr(frozen, name).copy_(getattr(batch_norm, name).detach())
    return frozen.to(batch_norm.weight.device)


def _freeze_batch_norms(module: nn.Module) -> int:
    """Replace every BatchNorm2d under ``module`` by its frozen copy; how many were replaced."""
    count = 0
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, _frozen_copy(child))
            count += 1
        else:
            count += _freeze_batch_norms(child)
    return count


def freeze_feature_extractor(model: GraspScorerNet, stages: int, batch_norm: str = "train") -> dict:
    """Freeze the trunk's stem and its first ``stages`` stages (no gradient, BatchNorm frozen), and
    with ``batch_norm="frozen"`` every BatchNorm of the trunk. Call before building the optimizer
    and after loading a checkpoint. Returns what it did, for the log."""
    if batch_norm not in BATCH_NORM_MODES:
        raise ValueError(f"batch_norm must be one of {BATCH_NORM_MODES}, got {batch_norm!r}")
    extractor = model.feature_extractor
    ends = extractor.stage_ends
    if not 0 <= stages < len(ends):
        raise ValueError(f"--freeze-stages must be in [0, {len(ends) - 1}] for {model.config.backbone} "
                         f"(the stem and {len(ends) - 1} stages), got {stages}")
    frozen_modules = list(extractor.trunk)[:ends[stages]] if stages else []
    frozen_parameters = 0
    for module in frozen_modules:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
            frozen_parameters += parameter.numel()
    frozen_norms = 0
    for module in (list(extractor.trunk) if batch_norm == "frozen" else frozen_modules):
        if isinstance(module, nn.BatchNorm2d):
            index = list(extractor.trunk).index(module)
            extractor.trunk[index] = _frozen_copy(module)
            frozen_norms += 1
        else:
            frozen_norms += _freeze_batch_norms(module)
    return {"frozen_parameters": frozen_parameters, "frozen_batch_norms": frozen_norms,
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)}

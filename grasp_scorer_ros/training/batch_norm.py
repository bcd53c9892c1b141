"""BatchNorm of the feature extractor under torch.distributed: statistics over the global batch.

A single process trains the ResNet's BatchNorm in train mode on the whole batch (the paper's 10
images): ``model.train()`` and nothing frozen, so that is what every run before multi-process
training did. A DDP rank sees only its part of the batch (5 images on 2 GPUs, 1 or 2 on 8), so
per-rank statistics would differ from the single-process ones and get noisier as the ranks grow.
Hence ``--sync-bn on`` (the default under torchrun): each BatchNorm normalises with the mean and
variance of the global batch, all ranks together, so a DDP run computes what one process would on
the same batch (the equivalence test asserts it). ``--sync-bn off`` keeps per-rank statistics
(no per-layer all-reduce; the choice of torchvision's classification reference without --sync-bn).
Freezing them (torchvision detection's FrozenBatchNorm2d) would change single-process training as
well, so it is not what a DDP run does by default.

On CUDA this is :class:`torch.nn.SyncBatchNorm`. torch's SyncBatchNorm refuses CPU tensors, so on
gloo :class:`GlobalBatchNorm2d` computes the same statistics with a differentiable all-reduce.
State dicts keep BatchNorm2d's keys either way: checkpoints load into the plain model.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


class _AllReduceSum(torch.autograd.Function):
    """Sum over the ranks; its gradient is the sum of the ranks' gradients (each rank's loss
    depends on every rank's inputs through the shared statistics)."""

    @staticmethod
    def forward(ctx, tensor):
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of every rank's batch together (CPU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        channels = x.shape[1]
        wide = x.double()  # sums of squares over the global batch: float64 keeps them exact enough
        local = torch.cat([wide.sum(dim=(0, 2, 3)), (wide * wide).sum(dim=(0, 2, 3)),
                           wide.new_tensor([x.numel() / channels])])
        total = _AllReduceSum.apply(local)
        count = total[-1]
        mean = total[:channels] / count
        var = total[channels:2 * channels] / count - mean * mean
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                unbiased = var * count / max(float(count) - 1.0, 1.0)
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.to(self.running_mean.dtype))
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased.to(self.running_var.dtype))
        scale = torch.rsqrt(var + self.eps)
        shift = -mean * scale
        if self.affine:
            scale = scale * self.weight.double()
            shift = shift * self.weight.double() + self.bias.double()
        view = (1, channels, 1, 1)
        return x * scale.to(x.dtype).view(view) + shift.to(x.dtype).view(view)


def _convert_cpu(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, GlobalBatchNorm2d):
        new = GlobalBatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                                module.track_running_stats)
        if module.affine:
            new.weight, new.bias = module.weight, module.bias   # the same parameters
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        setattr(module, name, _convert_cpu(child))
    return module


def synchronise_batch_norm(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` with every BatchNorm2d computing global-batch statistics (see the module)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return _convert_cpu(model)

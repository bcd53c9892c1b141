"""The network's FE + PGP as an ONNX graph, for the runtimes deployments use (ONNX Runtime, OpenVINO).

The graph takes ``images`` ``(B, 3, S, S)``, RGB in [0, 1] (the ImageNet normalisation is inside,
as in :class:`~grasp_scorer_ros.network.model.FeatureExtractor`), and gives ``features``,
``deltas`` and ``primary_logits`` in the layouts of :mod:`grasp_scorer_ros.network.model`. The
scorer stays in torch: it runs on the few grasps that can still win
(:mod:`~grasp_scorer_ros.network.pruned_ranking`), where a graph runtime has nothing to gain.

The file records what it was made from (``metadata_props``): the model configuration, the
checkpoint's SHA-256 and the precision (``float32`` or ``int8``), so that an engine can refuse a
graph of another checkpoint. Needs the optional packages ``onnx`` and ``onnxscript`` (torch's
exporter); ``pip install grasp_scorer_ros[onnx]``.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from grasp_scorer_ros.network.model import GraspScorerNet, ModelConfig

INPUT_NAME = "images"
OUTPUT_NAMES = ("features", "deltas", "primary_logits")
OPSET = 18


class PrimaryHead(nn.Module):
    """FE + PGP of a :class:`GraspScorerNet`: ``images`` -> ``(features, deltas, primary_logits)``."""

    def __init__(self, model: GraspScorerNet):
        super().__init__()
        self.feature_extractor = model.feature_extractor
        self.pgp = model.pgp

    def forward(self, images: torch.Tensor):
        features = self.feature_extractor(images)
        deltas, primary_logits = self.pgp(features)
        return features, deltas, primary_logits


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_onnx(model: GraspScorerNet, path, checkpoint_sha256: str = "", batch: int = 1) -> Path:
    """Write ``model``'s FE + PGP to ``path`` (float32, one file, dynamic batch), atomically."""
    try:
        import onnx
    except ImportError as error:
        raise ImportError("ONNX export needs the optional packages onnx and onnxscript "
                          "(pip install 'grasp_scorer_ros[onnx]')") from error
    head = PrimaryHead(model).float().eval()
    size = model.config.input_size
    example = torch.rand(batch, 3, size, size)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        program = torch.onnx.export(head, (example,), dynamo=True, opset_version=OPSET,
                                    input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                                    dynamic_shapes={"images": {0: torch.export.Dim("batch", min=1, max=256)}},
                                    verbose=False)
        graph = program.model_proto
        write_metadata(graph, model.config, checkpoint_sha256, "float32")
        onnx.save_model(graph, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def write_metadata(graph, config: ModelConfig, checkpoint_sha256: str, precision: str) -> None:
    """Set the graph's ``grasp_scorer_ros.*`` metadata (replacing earlier values)."""
    values = {"grasp_scorer_ros.config": json.dumps(config.to_dict()),
              "grasp_scorer_ros.checkpoint_sha256": checkpoint_sha256,
              "grasp_scorer_ros.precision": precision}
    kept = [p for p in graph.metadata_props if p.key not in values]
    del graph.metadata_props[:]
    graph.metadata_props.extend(kept)
    for key, value in values.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value


def read_metadata(path) -> dict:
    """``{"config": ModelConfig, "checkpoint_sha256": str, "precision": str}`` of an exported graph.

    Raises ``FileNotFoundError`` or ``ValueError`` (not ONNX, or not exported by this package)."""
    import onnx
    if not os.path.isfile(path):
        raise FileNotFoundError(f"ONNX model not found: {path}")
    try:
        graph = onnx.load_model(str(path), load_external_data=False)
    except Exception as error:  # protobuf's DecodeError and friends
        raise ValueError(f"not an ONNX model / corrupt: {path} ({error})") from error
    props = {p.key: p.value for p in graph.metadata_props}
    if "grasp_scorer_ros.config" not in props:
        raise ValueError(f"{path} was not exported by grasp-scorer-export (no grasp_scorer_ros metadata)")
    values = json.loads(props["grasp_scorer_ros.config"])
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}  # JSON has no tuples
    return {"config": ModelConfig.from_dict(values),
            "checkpoint_sha256": props.get("grasp_scorer_ros.checkpoint_sha256", ""),
            "precision": props.get("grasp_scorer_ros.precision", "float32")}


@torch.no_grad()
def output_errors(model: GraspScorerNet, run, images: torch.Tensor) -> dict:
    """Largest absolute difference, per output, between torch float32 and ``run(images) ->
    (features, deltas, primary_logits)``, and that over the output's largest magnitude."""
    reference = PrimaryHead(model).float().eval()(images.float())
    errors = {}
    for name, ref, got in zip(OUTPUT_NAMES, reference, run(images)):
        diff = float((got.float() - ref).abs().max())
        errors[name] = {"max_abs": diff, "relative": diff / max(float(ref.abs().max()), 1e-12)}
    return errors


def default_export_path(checkpoint_sha256: str, cache_dir: Optional[str] = None) -> Path:
    """Where a checkpoint's float32 export is cached: ``~/.cache/grasp_scorer_ros/onnx/<sha>.onnx``
    (``$XDG_CACHE_HOME`` honoured), named by the checkpoint's content (:func:`file_sha256`)."""
    base = Path(cache_dir or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "grasp_scorer_ros" / "onnx" / f"{checkpoint_sha256[:16]}.onnx"


def as_numpy_input(images: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(images.detach().float().cpu().numpy())

"""Where the FE + PGP run: torch, ONNX Runtime or OpenVINO. The scorer always runs in torch.

Every engine is a callable ``images (B, 3, S, S) float in [0, 1] -> (features, deltas,
primary_logits)`` (torch tensors, :mod:`~grasp_scorer_ros.network.model`'s layouts) with a
``description`` that says what runs and in which precision. ONNX Runtime and OpenVINO are optional
(``pip install 'grasp_scorer_ros[onnxruntime]'`` / ``[openvino]``) and run the graph that
:mod:`~grasp_scorer_ros.network.onnx_export` writes: the float32 export of the checkpoint (made
and cached on first use when none is given), or an int8 one from ``grasp-scorer-export --int8``.

    engine = make_engine("openvino", model, checkpoint_path="default.pt", precision="bfloat16")
    features, deltas, primary_logits = engine(images)

``"auto"`` times every engine installed here on the network's input and takes the fastest
(:func:`choose_engine`); the choice and every time measured are in its description.
"""
from __future__ import annotations

import importlib.util
import logging
import statistics
import time
from pathlib import Path
from typing import Optional

import torch

from grasp_scorer_ros import bundled
from grasp_scorer_ros.network.model import GraspScorerNet, ModelConfig
from grasp_scorer_ros.network.onnx_export import (INPUT_NAME, as_numpy_input, default_export_path,
                                                  export_onnx, file_sha256, read_metadata)

LOG = logging.getLogger(__name__)
ENGINES = ("torch", "onnxruntime", "openvino")
CHOICES = ENGINES + ("auto",)
INT8 = "int8"   # onnx_model: the bundled checkpoint's int8 graph
_PACKAGES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}
# configuration fields that change what the graph computes (the others act on the scores only)
_GRAPH_FIELDS = ("backbone", "num_orientations", "input_size", "pgp_kernel_size")


def installed(engine: str) -> bool:
    """Whether ``engine``'s runtime can be imported here (torch always can)."""
    return engine == "torch" or importlib.util.find_spec(_PACKAGES[engine]) is not None


class TorchEngine:
    """The model's own FE + PGP, in the model's dtype and memory format."""

    name = "torch"

    def __init__(self, model: GraspScorerNet):
        self.model = model
        dtype = next(model.parameters()).dtype
        self.precision = {torch.float32: "float32", torch.bfloat16: "bfloat16"}.get(dtype, str(dtype))
        self.description = f"torch {self.precision}"

    def __call__(self, images: torch.Tensor):
        features = self.model.feature_extractor(self.model.prepare_input(images))
        deltas, primary_logits = self.model.pgp(features)
        return features, deltas, primary_logits


class OnnxRuntimeEngine:
    """An exported graph in ONNX Runtime, on the CPU (the CUDA or TensorRT provider for ``cuda``)."""

    name = "onnxruntime"

    def __init__(self, path, threads: Optional[int] = None, device: str = "cpu"):
        import onnxruntime
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        available = onnxruntime.get_available_providers()
        providers = ["CPUExecutionProvider"]
        if str(device).startswith("cuda"):
            providers = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
            if not providers:
                raise ValueError(f"device {device}: this onnxruntime has no CUDA provider ({', '.join(available)})")
        self.session = onnxruntime.InferenceSession(str(path), options, providers=providers)
        self.precision = read_metadata(path)["precision"]
        self.device = torch.device(device)
        self.description = (f"onnxruntime {onnxruntime.__version__} {self.precision} "
                            f"({self.session.get_providers()[0]}) running {path}")

    def __call__(self, images: torch.Tensor):
        outputs = self.session.run(None, {INPUT_NAME: as_numpy_input(images)})
        return tuple(torch.from_numpy(o).to(self.device) for o in outputs)


class OpenVinoEngine:
    """An exported graph in OpenVINO on the CPU; ``precision`` ``"bfloat16"`` lets it compute the
    float layers in bfloat16 (the int8 layers of a quantized graph stay int8)."""

    name = "openvino"

    def __init__(self, path, precision: str = "float32", threads: Optional[int] = None):
        import openvino
        graph_precision = read_metadata(path)["precision"]
        settings = {"PERFORMANCE_HINT": "LATENCY",
                    "INFERENCE_PRECISION_HINT": "bf16" if precision == "bfloat16" else "f32"}
        if threads:
            settings["INFERENCE_NUM_THREADS"] = int(threads)
        core = openvino.Core()
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", settings)
        self.request = self.compiled.create_infer_request()
        self.precision = graph_precision if graph_precision == "int8" else precision
        rest = f" (other layers {precision})" if graph_precision == "int8" else ""
        self.description = f"openvino {openvino.__version__} {self.precision}{rest} running {path}"

    def __call__(self, images: torch.Tensor):
        outputs = self.request.infer({0: as_numpy_input(images)})
        return tuple(torch.from_numpy(outputs[o].copy()) for o in self.compiled.outputs)


def graph_for(model: GraspScorerNet, checkpoint_path: Optional[str], onnx_model: Optional[str]) -> Path:
    """The ONNX graph to run for ``model``: ``onnx_model`` (a path, or ``"int8"``: the bundled
    checkpoint's shipped int8 graph), checked against the checkpoint, or the checkpoint's cached
    float32 export, made now if missing."""
    sha = file_sha256(checkpoint_path) if checkpoint_path else ""
    if onnx_model == INT8:
        path = bundled.default_int8_graph_path()
        if sha and sha != file_sha256(bundled.default_checkpoint_path()):
            raise ValueError(f"onnx_model {INT8!r} is the bundled checkpoint's int8 graph; for {checkpoint_path} "
                             f"make one with grasp-scorer-export --int8 and give its path")
    elif onnx_model:
        path = Path(onnx_model)
    elif checkpoint_path:
        path = default_export_path(sha)
        if not path.is_file():
            LOG.info("exporting %s to %s (once per checkpoint)", checkpoint_path, path)
            export_onnx(model, path, sha)
    else:
        raise ValueError("an ONNX engine needs onnx_model or a checkpoint to export")
    metadata = read_metadata(path)
    if sha and metadata["checkpoint_sha256"] and metadata["checkpoint_sha256"] != sha:
        raise ValueError(f"{path} was exported from another checkpoint than {checkpoint_path} "
                         f"(sha256 {metadata['checkpoint_sha256'][:12]} vs {sha[:12]}): export it again")
    check_config(metadata["config"], model.config, path)
    return path


def check_config(graph: ModelConfig, model: ModelConfig, path) -> None:
    different = [f for f in _GRAPH_FIELDS if getattr(graph, f) != getattr(model, f)]
    if different:
        raise ValueError(f"{path} does not match the model: {', '.join(different)} differ")


def make_engine(name: str, model: GraspScorerNet, checkpoint_path: Optional[str] = None,
                onnx_model: Optional[str] = None, precision: str = "float32", threads: Optional[int] = None,
                device: str = "cpu"):
    """The engine ``name`` of :data:`ENGINES` for ``model`` (see the module docstring)."""
    if name not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(CHOICES)}, got {name!r}")
    if name == "torch":
        return TorchEngine(model)
    if not installed(name):
        raise ImportError(f"engine {name} needs the package {_PACKAGES[name]}, which is not installed here "
                          f"(pip install 'grasp_scorer_ros[{name}]')")
    if name == "openvino" and str(device) != "cpu":
        raise ValueError(f"engine openvino runs on the CPU only, not on {device}")
    path = graph_for(model, checkpoint_path, onnx_model)
    if name == "onnxruntime":
        return OnnxRuntimeEngine(path, threads, device)
    return OpenVinoEngine(path, precision, threads)


def time_engine(engine, size: int, repeats: int = 7) -> float:
    """Median seconds of one call on a ``(1, 3, size, size)`` input, after two warm-up calls."""
    images = torch.rand(1, 3, size, size)
    with torch.no_grad():
        for _ in range(2):
            engine(images)
        times = []
        for _ in range(repeats):
            tic = time.perf_counter()
            engine(images)
            times.append(time.perf_counter() - tic)
    return statistics.median(times)


def choose_engine(model: GraspScorerNet, checkpoint_path: Optional[str] = None, onnx_model: Optional[str] = None,
                  precision: str = "float32", threads: Optional[int] = None, device: str = "cpu",
                  repeats: int = 7):
    """``"auto"``: every engine installed here (and able to run on ``device``), timed one after
    another on the network's input; the fastest, whose description lists every time."""
    candidates = [name for name in ENGINES if installed(name) and (name != "openvino" or str(device) == "cpu")]
    timed = []
    for name in candidates:
        try:
            engine = make_engine(name, model, checkpoint_path, onnx_model, precision, threads, device)
        except (ImportError, ValueError, RuntimeError) as error:
            LOG.warning("engine auto: %s cannot run here: %s", name, error)
            continue
        timed.append((time_engine(engine, model.config.input_size, repeats), name, engine))
    seconds, name, engine = min(timed, key=lambda entry: entry[0])
    others = ", ".join(f"{n} {1000 * s:.1f} ms" for s, n, _ in sorted(timed, key=lambda entry: entry[0]))
    engine.description = f"{engine.description} (auto: fastest FE+PGP here: {others})"
    return engine

"""int8 FE + PGP: static quantization of an exported graph, calibrated on images like the camera's.

ONNX Runtime's ``quantize_static`` in QDQ form (int8 weights per output channel, uint8 activations
with ranges from the calibration images, min-max), which both ONNX Runtime and OpenVINO run with
int8 kernels. The calibration images go through the detector's own letterbox, so the ranges are
those the node meets. The scorer is not quantized (it stays in torch). Whether an int8 graph is
good enough is measured, not assumed: ``grasp-scorer-export --int8 --check ...`` compares its
top-1 accuracy with float32's on the same images.

The weights are 7-bit (``reduce_range``: int8 values in [-64, 64]). On a CPU without VNNI (AVX2, and
AVX-512 without VNNI) both runtimes multiply uint8 activations by int8 weights with VPMADDUBSW, which
sums two products into a signed 16-bit lane and saturates past 32,767; 2 x 255 x 64 = 32,640 never
does. With 8-bit weights the same graph's outputs were twice as far from float32 on AVX2 as with
VNNI (relative error 0.20-0.22 against 0.09-0.10, test/network/test_engines.py); with 7-bit weights
the arithmetic is exact on every x86 CPU, so the error is the graph's own, the same everywhere.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np

from grasp_scorer_ros.network.image_transform import network_input
from grasp_scorer_ros.network.onnx_export import INPUT_NAME, read_metadata, write_metadata


def stem_convolution(graph) -> str:
    """The name of the first convolution, the one that sees the image: it stays in float. Some of its
    channels carry BatchNorm-folded biases so large against their weights that the int32 bias made
    ONNX Runtime coarsen those channels' weight scale (by up to 283x in the bundled
    EfficientNet-Lite0 stem); kept in float, the bundled int8 graph's largest output difference to
    float32 fell from 0.30 to 0.24 of the output's magnitude."""
    for node in graph.graph.node:
        if node.op_type == "Conv":
            return node.name
    raise ValueError("the graph has no convolution")


def quantize_int8(float_model, out, calibration_rgb: Iterable[np.ndarray], reduce_range: bool = True) -> Path:
    """Write the int8 version of the float32 graph ``float_model`` to ``out``; ``calibration_rgb``:
    ``HxWx3`` uint8 RGB images (a few dozen are enough for min-max ranges)."""
    try:
        import onnx
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                              QuantType, quantize_static)
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as error:
        raise ImportError("int8 quantization needs onnx and onnxruntime "
                          "(pip install 'grasp_scorer_ros[onnxruntime]')") from error
    metadata = read_metadata(float_model)
    if metadata["precision"] != "float32":
        raise ValueError(f"{float_model} is {metadata['precision']}, quantize the float32 export")
    size = metadata["config"].input_size
    inputs = [network_input(rgb, size)[0] for rgb in calibration_rgb]
    if not inputs:
        raise ValueError("int8 quantization needs at least one calibration image")

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._inputs = iter(inputs)

        def get_next(self):
            x = next(self._inputs, None)
            return None if x is None else {INPUT_NAME: x}

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as work:
        prepared, quantized = os.path.join(work, "prepared.onnx"), os.path.join(work, "int8.onnx")
        quant_pre_process(str(float_model), prepared)   # shape inference and folding, as ORT advises
        quantize_static(prepared, quantized, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, reduce_range=reduce_range,
                        nodes_to_exclude=[stem_convolution(onnx.load_model(prepared))])
        graph = onnx.load_model(quantized)
        write_metadata(graph, metadata["config"], metadata["checkpoint_sha256"], "int8")
        onnx.save_model(graph, quantized)
        os.chmod(quantized, 0o644)
        os.replace(quantized, out)
    return out

"""ONNX export and the runtimes: the same outputs and grasps as torch, refusals that say why.

Covers network/engines.py, network/onnx_export.py, network/quantization.py and the export command
(training/export.py)."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from grasp_scorer_ros import bundled
from grasp_scorer_ros.network import engines
from grasp_scorer_ros.network.checkpoint import save_checkpoint
from grasp_scorer_ros.network.detector import GraspDetector
from grasp_scorer_ros.network.onnx_export import export_onnx, file_sha256, output_errors, read_metadata
from grasp_scorer_ros.network.quantization import quantize_int8
from grasp_scorer_ros.synthetic import SceneConfig, write_dataset
from grasp_scorer_ros.training import export
from tiny_model import calibrate_batch_norm, tiny_model

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")
RUNTIMES = ("onnxruntime", "openvino")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny model, its checkpoint and its float32 export."""
    directory = tmp_path_factory.mktemp("tiny")
    model = calibrate_batch_norm(tiny_model(seed=21, input_size=96), torch.rand(4, 3, 96, 96))
    checkpoint = directory / "tiny.pt"
    save_checkpoint(str(checkpoint), model)
    graph = export_onnx(model, directory / "tiny.onnx", file_sha256(checkpoint))
    return model, checkpoint, graph


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_export_records_its_origin_and_reproduces_torch_in_both_runtimes(tiny):
    model, checkpoint, graph = tiny
    metadata = read_metadata(graph)
    assert metadata["precision"] == "float32" and metadata["checkpoint_sha256"] == file_sha256(checkpoint)
    assert metadata["config"] == model.config
    images = torch.rand(3, 3, 96, 96)                    # a batch: the batch axis is dynamic
    for engine in (engines.OnnxRuntimeEngine(graph), engines.OpenVinoEngine(graph, "float32")):
        errors = output_errors(model, engine, images)
        assert set(errors) == {"features", "deltas", "primary_logits"}
        assert all(e["relative"] < 1e-4 for e in errors.values()), (engine.name, errors)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_detector_on_a_runtime_ranks_the_grasps_as_torch_does(tiny, runtime):
    model, checkpoint, graph = tiny
    rgb = np.random.default_rng(1).integers(0, 256, (72, 120, 3), dtype=np.uint8)
    reference = GraspDetector(str(checkpoint)).detect(rgb, top_k=10)
    detector = GraspDetector(str(checkpoint), engine=runtime, onnx_model=str(graph))
    assert detector.engine.name == runtime and str(graph) in detector.engine.description
    result = detector.detect(rgb, top_k=10)
    assert np.array_equal(result.anchor_index, reference.anchor_index)
    np.testing.assert_allclose(result.scores, reference.scores, atol=1e-4)
    np.testing.assert_allclose(result.grasps, reference.grasps, atol=1e-2)


@pytest.mark.slow
def test_the_bundled_checkpoint_is_exported_once_and_finds_the_same_best_grasps(cache):
    torch_detector = GraspDetector(str(bundled.default_checkpoint_path()))
    detector = GraspDetector(str(bundled.default_checkpoint_path()), engine="onnxruntime")
    cached = list((cache / "grasp_scorer_ros" / "onnx").glob("*.onnx"))
    assert len(cached) == 1 and str(cached[0]) in detector.engine.description
    stamp = cached[0].stat().st_mtime_ns
    GraspDetector(str(bundled.default_checkpoint_path()), engine="openvino")    # reuses the export
    assert cached[0].stat().st_mtime_ns == stamp
    for path in sorted(bundled.demo_scenes_dir().glob("*.png")):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        assert detector.detect(rgb, top_k=1).anchor_index[0] == torch_detector.detect(rgb, top_k=1).anchor_index[0]


@pytest.mark.slow
def test_a_graph_of_another_checkpoint_or_shape_is_refused(tiny, tmp_path):
    model, checkpoint, graph = tiny
    other = tmp_path / "other.pt"
    save_checkpoint(str(other), tiny_model(seed=22, input_size=96))
    with pytest.raises(ValueError, match="another checkpoint"):
        GraspDetector(str(other), engine="onnxruntime", onnx_model=str(graph))
    wider = tmp_path / "wider.pt"
    save_checkpoint(str(wider), tiny_model(seed=22, input_size=128))
    unsigned = export_onnx(model, tmp_path / "unsigned.onnx")            # no checkpoint recorded
    with pytest.raises(ValueError, match="input_size"):
        GraspDetector(str(wider), engine="openvino", onnx_model=str(unsigned))


@pytest.mark.slow
def test_bad_graph_files_and_missing_runtimes_are_refused_with_a_reason(tiny, tmp_path, monkeypatch):
    _, checkpoint, _ = tiny
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x00not a graph" * 50)
    with pytest.raises(ValueError, match="not an ONNX model"):
        GraspDetector(str(checkpoint), engine="onnxruntime", onnx_model=str(corrupt))
    with pytest.raises(FileNotFoundError, match="ONNX model not found"):
        GraspDetector(str(checkpoint), engine="openvino", onnx_model=str(tmp_path / "absent.onnx"))
    with pytest.raises(ValueError, match="engine must be one of"):
        GraspDetector(str(checkpoint), engine="tensorflow")
    with pytest.raises(ValueError, match="CPU only"):
        engines.make_engine("openvino", tiny[0], str(checkpoint), device="cuda")
    real_installed = engines.installed
    monkeypatch.setattr(engines, "installed", lambda name: name == "torch" or (name != "openvino" and real_installed(name)))
    with pytest.raises(ImportError, match=r"pip install 'grasp_scorer_ros\[openvino\]'"):
        GraspDetector(str(checkpoint), engine="openvino")


@pytest.mark.slow
def test_auto_times_every_installed_engine_and_says_so(tiny):
    model, checkpoint, graph = tiny
    detector = GraspDetector(str(checkpoint), engine="auto", onnx_model=str(graph))
    description = detector.engine.description
    assert "auto: fastest FE+PGP here" in description
    for name in engines.ENGINES:
        assert f"{name} " in description.split("auto:")[1]
    assert detector.engine.name in engines.ENGINES


@pytest.mark.slow
def test_int8_quantization_keeps_the_outputs_close_and_marks_the_graph(tiny, tmp_path):
    model, checkpoint, graph = tiny
    rng = np.random.default_rng(3)
    calibration = [rng.integers(0, 256, (96, 96, 3), dtype=np.uint8) for _ in range(8)]
    int8 = quantize_int8(graph, tmp_path / "int8.onnx", calibration)
    metadata = read_metadata(int8)
    assert metadata["precision"] == "int8" and metadata["checkpoint_sha256"] == file_sha256(checkpoint)
    images = torch.from_numpy(np.stack([c.transpose(2, 0, 1) for c in calibration[:2]]).astype(np.float32) / 255)
    errors = output_errors(model, engines.OnnxRuntimeEngine(int8), images)
    # The weights are 7-bit (below), so the int8 arithmetic is exact on every x86 CPU and these errors are
    # the same on all of them: 0.129 / 0.144 / 0.149 (with the stem quantized too), on AVX-512 VNNI and
    # under AVX2-only emulation alike (quantization.py). 8-bit weights gave 0.09-0.10 with VNNI but
    # 0.20-0.22 on AVX2 (saturation).
    assert all(0 < e["relative"] < 0.2 for e in errors.values()), errors      # quantized, yet close
    low, high = int8_weight_range(int8)
    assert -64 <= low and high <= 64 and max(-low, high) == 64      # 7-bit, the range used
    assert stem_weight_type(int8) == "float" and stem_weight_type(graph) == "float"   # the stem stays float

    with pytest.raises(ValueError, match="quantize the float32 export"):
        quantize_int8(int8, tmp_path / "again.onnx", calibration)


def stem_weight_type(path) -> str:
    """Whether the first convolution's weight is a float initializer or comes out of a DequantizeLinear."""
    import onnx
    graph = onnx.load_model(str(path)).graph
    stem = next(n for n in graph.node if n.op_type == "Conv")
    producers = {out: n for n in graph.node for out in n.output}
    producer = producers.get(stem.input[1])
    return "float" if producer is None else producer.op_type


def int8_weight_range(path) -> tuple[int, int]:
    """The smallest and largest int8 weight that a DequantizeLinear of the graph reads from an initializer."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load_model(str(path)).graph
    initializers = {i.name: i for i in graph.initializer}
    values = [numpy_helper.to_array(initializers[n.input[0]]) for n in graph.node
              if n.op_type == "DequantizeLinear" and n.input[0] in initializers
              and initializers[n.input[0]].data_type == onnx.TensorProto.INT8]
    assert values, "no int8 weights found"
    return int(min(v.min() for v in values)), int(max(v.max() for v in values))


def test_int8_weights_are_7_bit_so_no_cpu_saturates():
    """u8 x s8 products summed in pairs, as AVX2 and AVX-512 without VNNI compute them (VPMADDUBSW, into
    a signed 16-bit lane), stay within int16 only when |weight| <= 64: 2 x 255 x 64 = 32,640. So the
    shipped graph and every graph quantize_int8 writes keep their weights in [-64, 64] (reduce_range)."""
    low, high = int8_weight_range(bundled.default_int8_graph_path())
    assert -64 <= low and high <= 64 and max(-low, high) > 32     # 7-bit, and the range is used
    assert 2 * 255 * max(-low, high) <= 32767


@pytest.mark.slow
def test_the_export_command_checks_int8_on_images_and_refuses_what_is_worse(tiny, tmp_path, capsys):
    _, checkpoint, _ = tiny
    root = tmp_path / "look"
    write_dataset(root, count=4, seed=4242, config=SceneConfig(look="heldout", size=128), write_masks=False,
                  progress=False)
    out = tmp_path / "model_int8.onnx"
    common = ["--checkpoint", str(checkpoint), "--out", str(out), "--int8", "--calibration-images", "4",
              "--check", f"look={root}", "--precision", "float32", "--no-progress"]
    assert export.main(common) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["accepted"] and read_metadata(out)["precision"] == "int8"
    assert report["checks"]["look"]["images"] == 4
    assert report["float32_errors"]["deltas"]["relative"] < 1e-4
    # a bar no model can pass: the graph is removed and the command fails
    assert export.main(common + ["--require-within", "-101"]) == 1
    assert not out.exists() and not json.loads(out.with_suffix(".json").read_text())["accepted"]
    assert "refused" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_shipped_int8_graph_finds_a_correct_grasp_on_every_demo_scene(runtime):
    from grasp_scorer_ros.datasets.jacquard import read_jacquard_grasps
    from grasp_scorer_ros.datasets.sample import load_rgb
    from grasp_scorer_ros.network.metric import is_grasp_correct
    assert read_metadata(bundled.default_int8_graph_path())["precision"] == "int8"
    detector = GraspDetector(str(bundled.default_checkpoint_path()), engine=runtime, onnx_model="int8")
    assert detector.engine.precision == "int8"
    for scene in sorted(bundled.demo_scenes_dir().glob("scene_*.png")):
        truth = read_jacquard_grasps(scene.with_name(f"{scene.stem}_grasps.txt"))
        assert is_grasp_correct(detector.detect(load_rgb(scene), top_k=1).grasps[0], truth, 30.0, 0.25), scene.name


def test_the_shipped_int8_graph_belongs_to_the_bundled_checkpoint_only(tiny):
    _, checkpoint, _ = tiny
    with pytest.raises(ValueError, match="grasp-scorer-export --int8"):
        GraspDetector(str(checkpoint), engine="openvino", onnx_model="int8")


@pytest.mark.slow
def test_the_evaluation_on_a_runtime_agrees_with_torch_image_by_image(tiny, tmp_path):
    from grasp_scorer_ros.training import evaluate
    _, checkpoint, graph = tiny
    root = tmp_path / "set"
    write_dataset(root, count=5, seed=3, config=SceneConfig(size=128), write_masks=False, progress=False)
    correct = {}
    for engine in ("torch", "onnxruntime"):
        out = tmp_path / engine
        extra = [] if engine == "torch" else ["--engine", engine, "--onnx-model", str(graph)]
        assert evaluate.main(["--dataset", "jacquard", "--data-root", str(root), "--checkpoints", str(checkpoint),
                              "--split", "all", "--out", str(out), *extra]) == 0
        model = json.loads((out / "results.json").read_text())["models"][0]
        assert model["engine"].startswith(engine)
        correct[engine] = model["correct"]
    assert correct["torch"] == correct["onnxruntime"]

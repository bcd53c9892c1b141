"""Speed and memory of the grasp detector on this machine, as figures (not a test).

    make benchmark                                   # everything: python benchmarks/benchmark.py
    python benchmarks/benchmark.py --only node       # only the system's frame rate and latency
    python benchmarks/benchmark.py --quick           # fewer repeats, 15 s per node run

Sections (``--only`` takes one or more of them; default: all), for a 320x320 network input:
  model      FE, PGP and scorer time, the scorer over all 20x20x6 grasps both grasp by grasp and in
             the package's dense form, and the total: for the paper's ResNet-50 configuration
             (random weights: time does not depend on them) and for the bundled model;
  precision  which precision ``precision: auto`` chooses here and why, and the bundled model's
             detect() in float32 and in bfloat16 as the detection node runs them, the paper model
             in both, and the share of frames whose best grasp is unchanged in bfloat16;
  engines    the bundled model's detect() on every engine installed here (torch, ONNX Runtime,
             OpenVINO; float32, bfloat16, the shipped int8 graph) against torch with the scorer on
             every grasp (before); the paper configuration's FE + PGP per engine and its scorer on
             all grasps and on as many as the bundled model needed; with --grconvnet-repo,
             GR-ConvNet against the bundled model at 224x224;
  node       the system as ``ros2 launch grasp_scorer_ros detect.launch.py replay:=true
             replay_rate:=R`` starts it (app/bringup.py: the same nodes, parameters and environment):
             frames published by the replay, received and processed by the detection node, the
             latency from the frame's stamp to its /grasp/candidates, against the model's own
             detect() time, and the node's memory; at the launch default of 2 Hz, at 10 Hz and at
             30 Hz, and with a best-effort camera with and without the package's Fast DDS profile
             (the model's own time: the detection node's detect() median, in the same run);
  training   training iterations per second on the CPU.
Every figure is a median over repeats; ratios are taken pair by pair within this run, so the noise
of a shared machine mostly cancels. Results also go to benchmark_output/benchmark.json (with
``--only``, to benchmark_output/benchmark_<sections>.json).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from grasp_scorer_ros import bundled
from grasp_scorer_ros.app.bringup import node_specs, options_from_launch_arguments
from grasp_scorer_ros.network.checkpoint import load_model
from grasp_scorer_ros.network.detector import GraspDetector
from grasp_scorer_ros.network.model import GraspScorerNet, ModelConfig
from grasp_scorer_ros.network.precision import native_bfloat16, resolve_precision
from grasp_scorer_ros.network.scorer import score_all_per_grasp

ROOT = Path(__file__).resolve().parent.parent
RESULTS: dict = {}
RESULTS_DIR = Path("benchmark_output")
SECTIONS = ("model", "precision", "engines", "node", "training")
PAUSE_S = 0.25   # between the detector's timed calls, as between a camera's frames


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def demo_scene() -> np.ndarray:
    """The first bundled demo scene, RGB (480x480)."""
    from grasp_scorer_ros.datasets.sample import load_rgb
    return load_rgb(sorted(bundled.demo_scenes_dir().glob("*.png"))[0])


def timed(fn, repeats: int, warmup: int = 1, pause: float = 0.0) -> list[float]:
    """Seconds per call of ``fn``. ``pause``: seconds of sleep before each timed call, like the
    frames of a camera (on a shared machine a process that computes without pause is throttled to
    its share; one that computes in bursts, like the detection node, is not)."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        time.sleep(pause)
        tic = time.perf_counter()
        fn()
        out.append(time.perf_counter() - tic)
    return out


def ms(seconds) -> str:
    return f"{1000 * statistics.median(seconds):8.1f} ms"


def report(name: str, value: str) -> None:
    print(f"  {name:<58} {value}", flush=True)


# -- 1 and 2: the model's parts -----------------------------------------------------------------
@torch.no_grad()
def model_parts(label: str, model: GraspScorerNet, repeats: int, per_grasp_repeats: int) -> dict:
    model = model.eval()
    image = torch.rand(1, 3, 320, 320)
    x = model.prepare_input(image)
    features = model.feature_extractor(x)
    deltas, _ = model.pgp(features)
    fe = timed(lambda: model.feature_extractor(x), repeats)
    pgp = timed(lambda: model.pgp(features), repeats)
    figures = {"fe_ms": 1000 * statistics.median(fe), "pgp_ms": 1000 * statistics.median(pgp)}
    print(f"{label} ({model.config.backbone}, scorer hidden {model.config.scorer_hidden}, float32):")
    report("FE (features 20x20)", ms(fe))
    report("PGP", ms(pgp))
    if model.scorer is not None:
        # Paired: grasp by grasp, then dense, on the same features, repeat; ratio per pair.
        dense, per_grasp, ratios = [], [], []
        model.scorer.dense(features, deltas)
        for _ in range(per_grasp_repeats):
            a = timed(lambda: score_all_per_grasp(model.scorer, features, deltas), 1, warmup=0)[0]
            b = timed(lambda: model.scorer.dense(features, deltas), 3, warmup=0)
            per_grasp.append(a)
            dense.append(statistics.median(b))
            ratios.append(a / statistics.median(b))
        same = torch.allclose(score_all_per_grasp(model.scorer, features, deltas).float(),
                              model.scorer.dense(features, deltas).float(), atol=1e-4)
        count = deltas.shape[1] * deltas.shape[2] * deltas.shape[3]
        report(f"scorer, all {count} grasps, grasp by grasp", ms(per_grasp))
        report("scorer, all grasps, dense form (the package's)", ms(dense))
        report("  speed-up dense vs grasp by grasp (median of pairs)", f"{statistics.median(ratios):8.1f} x")
        report("  same scores (allclose)", f"{same!s:>8}")
        figures.update(scorer_per_grasp_ms=1000 * statistics.median(per_grasp),
                       scorer_dense_ms=1000 * statistics.median(dense),
                       dense_speedup=statistics.median(ratios), dense_equal=bool(same),
                       scorer_over_fe=statistics.median(dense) / statistics.median(fe))
        report("  dense scorer time / FE time", f"{figures['scorer_over_fe']:8.2f}")
    total = timed(lambda: model.predict(image), repeats)
    figures["total_ms"] = 1000 * statistics.median(total)
    report("total (predict: FE + PGP + scorer + decoding)", ms(total))
    return figures


@torch.no_grad()
def scorer_width(repeats: int) -> dict:
    """The paper configuration's dense scorer at hidden width 256 against 512, same features, interleaved."""
    scorers = {hidden: GraspScorerNet(ModelConfig(scorer_hidden=hidden), pretrained=False,
                                      warn_random_init=False).eval() for hidden in (512, 256)}
    model = scorers[512]
    features = model.feature_extractor(torch.rand(1, 3, 320, 320))
    deltas, _ = model.pgp(features)
    times = {h: [] for h in scorers}
    for m in scorers.values():
        m.scorer.dense(features, deltas)
    for _ in range(repeats):
        for hidden, m in scorers.items():
            times[hidden].append(timed(lambda m=m: m.scorer.dense(features, deltas), 1, warmup=0)[0])
    ratio = statistics.median([a / b for a, b in zip(times[256], times[512])])
    report("paper configuration: dense scorer, hidden 256 / hidden 512 (median of pairs)", f"{ratio:8.2f}")
    return {"hidden_256_over_512": ratio, "hidden_512_ms": 1000 * statistics.median(times[512]),
            "hidden_256_ms": 1000 * statistics.median(times[256])}


def precision_comparison(repeats: int, frames: int) -> dict:
    """auto's choice, and float32 against bfloat16 where both run (they always do on a CPU)."""
    native, why = native_bfloat16("cpu")
    chosen, reason = resolve_precision("auto", "cpu")
    print(f"precision: auto chooses {chosen} here ({reason})")
    # The bundled model as the detection node runs it (bfloat16: weights cast, channels_last).
    rgb = demo_scene()
    detectors = {dtype: GraspDetector(str(bundled.default_checkpoint_path()), dtype=dtype,
                                      channels_last=dtype == "bfloat16") for dtype in ("float32", "bfloat16")}
    for _ in range(5):   # bfloat16 kernels are prepared over the first calls
        for detector in detectors.values():
            detector.detect(rgb, top_k=5)
    times = {dtype: [] for dtype in detectors}
    ratios = []
    for _ in range(repeats):
        pair = {dtype: timed(lambda d=d: d.detect(rgb, top_k=5), 1, warmup=0, pause=PAUSE_S)[0]
                for dtype, d in detectors.items()}
        for dtype, seconds in pair.items():
            times[dtype].append(seconds)
        ratios.append(pair["float32"] / pair["bfloat16"])
    report(f"bundled model detect() on a 480x480 demo scene, float32 (calls {PAUSE_S} s apart)",
           ms(times["float32"]))
    report(f"bundled model detect() on a 480x480 demo scene, bfloat16 (calls {PAUSE_S} s apart)",
           ms(times["bfloat16"]))
    report("  speed-up bfloat16 vs float32 (median of pairs)", f"{statistics.median(ratios):8.2f} x")

    paper = GraspScorerNet(ModelConfig(), pretrained=False, warn_random_init=False).eval()
    paper_bf16 = GraspScorerNet(ModelConfig(), pretrained=False, warn_random_init=False).eval()
    paper_bf16.load_state_dict(paper.state_dict())
    paper_bf16 = paper_bf16.to(torch.bfloat16).to(memory_format=torch.channels_last)
    image = torch.rand(1, 3, 320, 320)
    paper_fp32_times, paper_bf16_times, paper_ratios = [], [], []
    with torch.no_grad():
        for _ in range(3):   # bfloat16 kernels are prepared over the first calls
            paper.predict(image), paper_bf16.predict(image)
        for _ in range(max(2, repeats // 2)):
            a = timed(lambda: paper.predict(image), 1, warmup=0, pause=PAUSE_S)[0]
            b = timed(lambda: paper_bf16.predict(image), 1, warmup=0, pause=PAUSE_S)[0]
            paper_fp32_times.append(a)
            paper_bf16_times.append(b)
            paper_ratios.append(a / b)
    report(f"paper model (resnet50) total, float32 (calls {PAUSE_S} s apart)", ms(paper_fp32_times))
    report(f"paper model (resnet50) total, bfloat16 (calls {PAUSE_S} s apart)", ms(paper_bf16_times))
    report("  speed-up bfloat16 vs float32 (median of pairs)", f"{statistics.median(paper_ratios):8.2f} x")

    # Same best grasp? The bundled (trained) model on synthetic scenes.
    from grasp_scorer_ros.synthetic import SceneConfig, generate_scene, make_object_pool
    config = SceneConfig(size=320)
    pool = make_object_pool(99, 20, config)
    same = 0
    for i in range(frames):
        scene = generate_scene(i, 99, pool, config).image
        a, b = detectors["float32"].detect(scene, top_k=1), detectors["bfloat16"].detect(scene, top_k=1)
        same += bool(np.allclose(a.grasps[0], b.grasps[0], atol=1.0))
    report(f"same best grasp in bfloat16 (bundled model, {frames} synthetic frames)",
           f"{100 * same / frames:7.1f} %")
    return {"native_bf16": native, "native_bf16_reason": why, "auto_chooses": chosen, "auto_reason": reason,
            "bundled_fp32_detect_ms": 1000 * statistics.median(times["float32"]),
            "bundled_bf16_detect_ms": 1000 * statistics.median(times["bfloat16"]),
            "bundled_bf16_speedup": statistics.median(ratios),
            "paper_fp32_total_ms": 1000 * statistics.median(paper_fp32_times),
            "paper_bf16_total_ms": 1000 * statistics.median(paper_bf16_times),
            "paper_bf16_speedup": statistics.median(paper_ratios),
            "same_best_share": same / frames}


# -- engines: where the FE + PGP run, and the scorer on the grasps that can win -------------------
def _interleaved(calls: dict, repeats: int) -> dict:
    """Seconds per call of each of ``calls`` (name -> fn), one round of all at a time, calls
    ``PAUSE_S`` apart (every runtime's threads idle before the next one starts)."""
    for fn in calls.values():
        for _ in range(3):
            fn()
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            times[name].append(timed(fn, 1, warmup=0, pause=PAUSE_S)[0])
    return times


def _graph(model, name: str, int8: bool, size: int, directory: Path) -> Path:
    """``model``'s FE + PGP exported at ``size`` (and quantized on generated scenes if ``int8``)."""
    import dataclasses
    from grasp_scorer_ros.network.onnx_export import export_onnx
    from grasp_scorer_ros.network.quantization import quantize_int8
    from grasp_scorer_ros.training.export import generated_scenes
    model.config = dataclasses.replace(model.config, input_size=size)
    path = export_onnx(model, directory / f"{name}_{size}.onnx")
    if not int8:
        return path
    return quantize_int8(path, directory / f"{name}_{size}_int8.onnx", generated_scenes(32, 4243))


def engine_comparison(repeats: int, grconvnet_repo: Path | None) -> dict:
    """The bundled model's detect() (480x480 demo scene, top 5 as the node asks) on every engine and
    precision installed here, against the way it ran before (torch, scorer on all grasps); the
    paper's configuration's parts; GR-ConvNet at equal input when its checkout is given."""
    from grasp_scorer_ros.network import engines
    bf16, _ = native_bfloat16("cpu")
    directory = RESULTS_DIR / "graphs"
    checkpoint = str(bundled.default_checkpoint_path())
    rgb = demo_scene()
    fast = "bfloat16" if bf16 else "float32"
    settings = {   # name -> GraspDetector keyword arguments
        f"torch {fast}, scorer on all grasps (before)": dict(dtype=fast, scorer_pruning=False),
        "torch float32": dict(dtype="float32"),
        f"torch {fast} (the launch defaults)": dict(dtype=fast)}
    for runtime in ("onnxruntime", "openvino"):
        if not engines.installed(runtime):
            print(f"  ({runtime} is not installed: not measured)")
            continue
        settings[f"{runtime} float32"] = dict(dtype="float32", engine=runtime)
        if runtime == "openvino" and bf16:
            settings["openvino bfloat16"] = dict(dtype="bfloat16", engine=runtime)
        settings[f"{runtime} int8 (shipped graph), scorer {fast}"] = dict(dtype=fast, engine=runtime, onnx_model="int8")
    detectors = {name: GraspDetector(checkpoint, channels_last=kw["dtype"] == "bfloat16", **kw)
                 for name, kw in settings.items()}
    calls = {name: (lambda d=d: d.detect(rgb, top_k=5)) for name, d in detectors.items()}
    times = _interleaved(calls, repeats)
    before = list(settings)[0]
    print(f"bundled model detect() on a 480x480 demo scene, top 5 (calls {PAUSE_S} s apart, interleaved):")
    figures = {"bundled": {}}
    for name, seconds in times.items():
        ratio = statistics.median([a / b for a, b in zip(seconds, times[before])])
        parts = detectors[name].detect(rgb, top_k=5)
        figures["bundled"][name] = {"ms": 1000 * statistics.median(seconds), "over_before": ratio,
                                    "scored": parts.scored, "engine": detectors[name].engine.description}
        report(name, f"{ms(seconds)}  ({ratio:.2f} of before; scorer on {parts.scored} grasps)")

    # The paper's configuration (random weights: the time does not depend on them). Its primary
    # scores are flat untrained, so the scorer's share is timed on as many grasps as the bundled
    # model needed on the demo scene.
    scored = figures["bundled"][f"torch {fast} (the launch defaults)"]["scored"]
    paper = GraspScorerNet(ModelConfig(), pretrained=False, warn_random_init=False).eval()
    paper_fast = GraspScorerNet(ModelConfig(), pretrained=False, warn_random_init=False).eval()
    paper_fast.load_state_dict(paper.state_dict())
    paper_fast = paper_fast.to(torch.bfloat16 if bf16 else torch.float32).to(memory_format=torch.channels_last)
    image = torch.rand(1, 3, 320, 320)
    with torch.no_grad():
        x = paper_fast.prepare_input(image)
        features = paper_fast.feature_extractor(x)
        deltas, logits = paper_fast.pgp(features)
        index = torch.argsort(logits[..., 1].float().reshape(-1), descending=True)[:scored]
        calls = {f"FE + PGP, torch {fast}": lambda: paper_fast.pgp(paper_fast.feature_extractor(x)),
                 f"scorer, all 2400 grasps, torch {fast}": lambda: paper_fast.scorer.dense(features, deltas),
                 f"scorer, {scored} grasps, torch {fast}":
                     lambda: paper_fast.scorer.score_flat(features, deltas, index)}
        paper_engines = {}
        for runtime, int8, precision in (("openvino", False, fast), ("openvino", True, fast)):
            if engines.installed(runtime):
                graph = _graph(paper, "paper", int8, 320, directory)
                paper_engines[f"FE + PGP, {runtime} {'int8' if int8 else precision}"] = engines.OpenVinoEngine(
                    graph, precision)
        calls.update({name: (lambda e=e: e(image)) for name, e in paper_engines.items()})
        paper_times = _interleaved(calls, max(3, repeats // 2))
    print(f"paper configuration (resnet50, random weights), 320x320 (calls {PAUSE_S} s apart, interleaved):")
    figures["paper"] = {"scored": scored}
    for name, seconds in paper_times.items():
        figures["paper"][name] = 1000 * statistics.median(seconds)
        report(name, ms(seconds))

    if grconvnet_repo is not None:
        figures["grconvnet"] = grconvnet_comparison(grconvnet_repo, repeats, fast, directory)
    return figures


def grconvnet_comparison(repo: Path, repeats: int, fast: str, directory: Path) -> dict:
    """GR-ConvNet (its own checkout, imported from there: ``inference.models.grconvnet3``) against the
    bundled model at the same 224x224 RGB input, both as they would run here."""
    import dataclasses
    sys.path.insert(0, str(repo))
    from inference.models.grconvnet3 import GenerativeResnet
    grconvnet = GenerativeResnet(input_channels=3).eval()
    grconvnet_fast = GenerativeResnet(input_channels=3).eval()
    grconvnet_fast.load_state_dict(grconvnet.state_dict())
    grconvnet_fast = grconvnet_fast.to(torch.bfloat16 if fast == "bfloat16" else torch.float32).to(
        memory_format=torch.channels_last)
    x = torch.rand(1, 3, 224, 224)
    x_fast = x.to(next(grconvnet_fast.parameters()).dtype).contiguous(memory_format=torch.channels_last)
    import cv2
    rgb = cv2.resize(demo_scene(), (224, 224), interpolation=cv2.INTER_AREA)

    def ours(**kw):
        model = load_model(str(bundled.default_checkpoint_path()))
        model.config = dataclasses.replace(model.config, input_size=224)
        return GraspDetector.from_model(model, channels_last=kw.get("dtype") == "bfloat16", **kw)
    from grasp_scorer_ros.network import engines
    detectors = {"ours, torch float32": ours(dtype="float32"), f"ours, torch {fast}": ours(dtype=fast)}
    if engines.installed("openvino"):
        graph = _graph(load_model(str(bundled.default_checkpoint_path())), "bundled", True, 224, directory)
        detectors[f"ours, openvino int8, scorer {fast}"] = ours(dtype=fast, engine="openvino", onnx_model=str(graph))
    with torch.no_grad():
        calls = {"GR-ConvNet, torch float32": lambda: grconvnet(x),
                 f"GR-ConvNet, torch {fast}": lambda: grconvnet_fast(x_fast)}
        calls.update({name: (lambda d=d: d.detect(rgb, top_k=5)) for name, d in detectors.items()})
        times = _interleaved(calls, repeats)
    print(f"GR-ConvNet ({repo}, grconvnet3, RGB) against the bundled model, 224x224 input:")
    reference = times["GR-ConvNet, torch float32"]
    out = {}
    for name, seconds in times.items():
        speedup = statistics.median([a / b for a, b in zip(reference, seconds)])
        out[name] = {"ms": 1000 * statistics.median(seconds), "speedup_over_grconvnet_fp32": speedup}
        scored = f"; scorer on {detectors[name].detect(rgb, top_k=5).scored} grasps" if name in detectors else ""
        report(name, f"{ms(seconds)}  ({speedup:.1f}x GR-ConvNet float32's speed{scored})")
    return out


# -- 3: the node -----------------------------------------------------------------------------------
def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def exit_counts(log_text: str, names: dict[str, str]) -> dict[str, int]:
    """Numbers from a node's last ``at exit:`` line, by regular expression (-1 where absent)."""
    import re
    lines = [line for line in log_text.splitlines() if "at exit:" in line]
    line = lines[-1] if lines else ""
    out = {}
    for key, pattern in names.items():
        match = re.search(pattern, line)
        out[key] = int(match.group(1)) if match else -1
    return out


DETECTION_COUNTS = {"received": r"frames received (\d+)", "processed": r"processed (\d+)",
                    "dropped_stale": r"dropped \(stale\) (\d+)", "rejected": r"rejected (\d+)",
                    "inference_ms": r"inference median (\d+) ms",
                    "node_latency_ms": r"latency median (\d+) ms"}   # frame arrival -> /grasp/best published
REPLAY_COUNTS = {"published": r"at exit: (\d+) frames published"}


def system_run(rate_hz: float, duration: float, label: str,
               replay_parameters: dict | None = None, replay_profile: bool = True,
               detection_parameters: dict | None = None) -> dict:
    """The launch file's system (replay:=true replay_rate:=rate_hz, every other argument at its
    default) for ``duration`` seconds after the first result; frame counts and the model's own
    time (the node's detect() median over its last 100 frames) from the nodes' exit lines.

    ``replay_parameters`` and ``replay_profile=False`` (the camera without the package's Fast DDS
    profile, like a driver started elsewhere) are the only departures, for the best-effort rows;
    ``detection_parameters`` (busy_cores.py: the thread settings) the detection node's."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from grasp_scorer_ros.app.bringup import FASTDDS_USER_VARIABLES
    from grasp_scorer_ros.app.demo import start_processes, stop_processes
    from grasp_scorer_ros.msg import GraspCandidates

    options = options_from_launch_arguments(ROOT / "config", {"replay": "true", "replay_rate": f"{rate_hz:g}"})
    specs = node_specs(options)
    log_dir = RESULTS_DIR / "logs" / f"{label.replace(' ', '_')}"
    environment = {k: v for k, v in os.environ.items() if k not in FASTDDS_USER_VARIABLES}
    for spec in specs:
        if spec.name == "grasp_detection":
            spec.parameters.update(detection_parameters or {})
        if spec.name == "camera_replay":
            spec.parameters.update(replay_parameters or {})
            if not replay_profile:
                spec.env = {}
    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("benchmark_monitor", context=context)
    results = []   # (stamp -> received latency s, received time)
    node.create_subscription(
        GraspCandidates, "/grasp/candidates",
        lambda m: results.append((time.time() - (m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec),
                                  time.monotonic())), 100)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    old_environ = dict(os.environ)
    os.environ.clear()
    os.environ.update(environment)   # the nodes start from an environment without Fast DDS settings
    try:
        processes = start_processes(specs, log_dir)
    finally:
        os.environ.clear()
        os.environ.update(old_environ)
    detector = dict((name, p) for name, p in processes)["grasp_detection"]
    deadline = time.monotonic() + 180
    while not results:                       # nodes up, model warm, first frame through
        if any(p.poll() is not None for _, p in processes) or time.monotonic() > deadline:
            stop_processes(processes)
            raise RuntimeError(f"the system did not start: see {log_dir}")
        executor.spin_once(timeout_sec=0.2)
    start = time.monotonic()
    rss = []
    next_rss = start
    while time.monotonic() - start < duration:
        if time.monotonic() >= next_rss:
            rss.append(rss_mib(detector.pid))
            next_rss += 1.0
        executor.spin_once(timeout_sec=0.2)
    # The camera stops first; what it sent last may still arrive, then the rest stops.
    replay = [(n, p) for n, p in processes if n == "camera_replay"]
    codes = stop_processes(replay)
    settle = time.monotonic() + 2.0
    while time.monotonic() < settle:
        executor.spin_once(timeout_sec=0.1)
    codes.update(stop_processes([(n, p) for n, p in processes if n != "camera_replay"]))
    executor.shutdown()
    node.destroy_node()
    context.try_shutdown()

    replay_log = (log_dir / "camera_replay.log").read_text(errors="replace")
    detection_log = (log_dir / "grasp_detection.log").read_text(errors="replace")
    published = exit_counts(replay_log, REPLAY_COUNTS)["published"]
    counts = exit_counts(detection_log, DETECTION_COUNTS)
    window = [latency for latency, received in results if received >= start]
    lat = np.array(window) * 1000 if window else np.array([float("nan")])
    model_ms = float(counts["inference_ms"]) if counts["inference_ms"] >= 0 else float("nan")
    tenth = max(1, len(rss) // 6)
    figures = {"label": label, "rate_hz": rate_hz, "seconds": duration, "published": published,
               **counts,
               "results_in_window": len(window), "exit_codes": codes,
               "replay_parameters": replay_parameters or {}, "replay_profile": replay_profile,
               "model_ms": model_ms, "latency_median_ms": float(np.median(lat)),
               "latency_p10_ms": float(np.percentile(lat, 10)), "latency_p90_ms": float(np.percentile(lat, 90)),
               "latency_max_ms": float(np.max(lat)), "latency_over_model": float(np.median(lat) / model_ms),
               "rss_start_mib": float(np.median(rss[:tenth])) if rss else float("nan"),
               "rss_end_mib": float(np.median(rss[-tenth:])) if rss else float("nan")}
    print(f"system, {label}: camera {rate_hz:g} Hz, {duration:.0f} s after the first result")
    report("frames published by the replay / received / processed by the node",
           f"{published} / {figures['received']} / {figures['processed']} "
           f"(dropped as stale {figures['dropped_stale']})")
    report("latency frame stamp -> /grasp/candidates received, median",
           f"{figures['latency_median_ms']:8.1f} ms")
    report("  spread p10 / p90 / max", f"{figures['latency_p10_ms']:.0f} / {figures['latency_p90_ms']:.0f} / "
           f"{figures['latency_max_ms']:.0f} ms")
    report("model's own time in the node (detect() median, last 100 frames)", f"{model_ms:8.0f} ms")
    report("  median latency / model's own time", f"{figures['latency_over_model']:8.2f}")
    report("inside the node: frame arrival -> /grasp/best published, median",
           f"{figures['node_latency_ms']:8.0f} ms ({figures['node_latency_ms'] / model_ms:.2f} of the model's time)")
    report("detection node memory (RSS) first / last sixth of the run",
           f"{figures['rss_start_mib']:.0f} / {figures['rss_end_mib']:.0f} MiB")
    if any(code != 0 for code in codes.values()):
        report("  exit codes (all should be 0)", str(codes))
    return figures


def node_section(duration: float) -> dict:
    """The launch file's defaults: precision auto, torch's default thread count, image QoS auto."""
    precision, reason = resolve_precision("auto", "cpu")
    print(f"detection node: precision {precision} ({reason}), {torch.get_num_threads()} torch thread(s)")
    figures = {"precision": precision, "threads": torch.get_num_threads()}
    figures["launch_default_2hz"] = system_run(2.0, duration, "launch defaults 2 Hz")
    figures["camera_10hz"] = system_run(10.0, duration, "10 Hz")
    figures["camera_30hz"] = system_run(30.0, duration, "30 Hz")
    best_effort = {"reliability": "best_effort"}
    figures["best_effort_10hz_profile"] = system_run(
        10.0, duration / 2, "best-effort camera with profile 10 Hz", best_effort)
    figures["best_effort_10hz_no_profile"] = system_run(
        10.0, duration / 2, "best-effort camera without profile 10 Hz", best_effort, replay_profile=False)
    return figures


# -- 4: training ---------------------------------------------------------------------------------
def training_speed(backbone: str, iterations: int, batch: int) -> dict:
    from grasp_scorer_ros.network.losses import compute_losses
    config = ModelConfig(backbone=backbone, anchor_width=55.0, anchor_height=16.0)
    model = GraspScorerNet(config, pretrained=False, warn_random_init=False).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
    images = torch.rand(batch, 3, 320, 320)
    targets = [torch.tensor([[160.0, 160.0, 55.0, 16.0, 20.0], [100.0, 220.0, 40.0, 16.0, -60.0]])] * batch

    def step():
        losses = compute_losses(model(images), targets, model.config, model.scorer)
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
    seconds = timed(step, iterations)
    figures = {"backbone": backbone, "batch": batch, "seconds_per_iteration": statistics.median(seconds),
               "iterations_per_second": 1 / statistics.median(seconds)}
    report(f"training, {backbone}, batch {batch}, full model",
           f"{figures['iterations_per_second']:8.3f} it/s ({statistics.median(seconds):.1f} s/it)")
    return figures


def main(argv=None) -> int:
    global RESULTS_DIR
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), metavar="SECTION",
                   help=f"run only these sections ({', '.join(SECTIONS)}); default: all")
    p.add_argument("--quick", action="store_true", help="fewer repeats and 15 s node runs")
    p.add_argument("--duration", type=float, default=60.0,
                   help="seconds of each node run (the best-effort runs take half)")
    p.add_argument("--out", type=Path, default=Path("benchmark_output"))
    p.add_argument("--grconvnet-repo", type=Path, default=None,
                   help="a checkout of github.com/skumra/robotic-grasping: engines then also times "
                        "GR-ConvNet at the bundled model's input (nothing of it is in this package)")
    args = p.parse_args(argv)
    RESULTS_DIR = args.out
    repeats = 3 if args.quick else 10
    duration = 15.0 if args.quick else args.duration
    native, why = native_bfloat16("cpu")
    load = os.getloadavg()
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, native bfloat16: {native} ({why}), torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, load average {load[0]:.1f}")
    RESULTS["machine"] = {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
                          "threads": torch.get_num_threads(), "native_bf16": native, "native_bf16_reason": why,
                          "cpu_capability": torch.backends.cpu.get_cpu_capability(), "load_average_start": load}
    torch.manual_seed(0)
    if "model" in args.only:
        paper = GraspScorerNet(ModelConfig(), pretrained=False, warn_random_init=False)
        RESULTS["paper_fp32"] = model_parts("paper configuration", paper, repeats, 3 if args.quick else 5)
        RESULTS["paper_fp32"]["scorer_width"] = scorer_width(repeats)
        bundled_model = load_model(str(bundled.default_checkpoint_path()))
        RESULTS["bundled_fp32"] = model_parts("bundled model", bundled_model, repeats, 3 if args.quick else 5)
    if "precision" in args.only:
        RESULTS["precision"] = precision_comparison(5 if args.quick else 20, 20 if args.quick else 100)
    if "engines" in args.only:
        RESULTS["engines"] = engine_comparison(5 if args.quick else 20, args.grconvnet_repo)
    if "node" in args.only:
        RESULTS["node"] = node_section(duration)
    if "training" in args.only:
        print("training speed (CPU):")
        RESULTS["training_bundled"] = training_speed("resnet18", 2 if args.quick else 3, 10)
        RESULTS["training_paper"] = training_speed("resnet50", 1 if args.quick else 2, 10)
    RESULTS["machine"]["load_average_end"] = os.getloadavg()

    args.out.mkdir(parents=True, exist_ok=True)
    name = "benchmark.json" if set(args.only) == set(SECTIONS) else f"benchmark_{'_'.join(args.only)}.json"
    (args.out / name).write_text(json.dumps(RESULTS, indent=2))
    print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed and memory of the grasp detector on this machine's CPU, as figures (not a test).

    make benchmark                       # or: python benchmarks/benchmark.py [--quick]

Prints, for a 320x320 network input, in one run:
  1. FE, PGP and scorer time, the scorer over all 20x20x6 grasps both grasp by grasp and in the
     package's dense form, and the total: for the paper's ResNet-50 configuration (random
     weights: time does not depend on them) and for the bundled model;
  2. the same in bfloat16 (weights cast, channels_last), and the share of frames whose best grasp
     is unchanged (bundled model, synthetic scenes);
  3. the detection node's end-to-end latency (image published -> /grasp/best received) against the
     model's own time, with the camera slower than the model and at 30 Hz for --duration seconds,
     and the node's memory over that time;
  4. training iterations per second on the CPU.
Every figure is a median over repeats; ratios are taken pair by pair within this run, so the noise
of a shared machine mostly cancels. Results also go to benchmark_output/benchmark.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from grasp_scorer_ros import bundled
from grasp_scorer_ros.app.bringup import NodeSpec
from grasp_scorer_ros.network.checkpoint import load_model
from grasp_scorer_ros.network.detector import GraspDetector
from grasp_scorer_ros.network.losses import compute_losses
from grasp_scorer_ros.network.model import GraspScorerNet, ModelConfig
from grasp_scorer_ros.network.scorer import score_all_per_grasp

ROOT = Path(__file__).resolve().parent.parent
RESULTS: dict = {}


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16() -> bool:
    flags = cpu_flags()
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def timed(fn, repeats: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
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
        report(f"scorer, all {deltas.shape[1] * deltas.shape[2] * deltas.shape[3]} grasps, grasp by grasp", ms(per_grasp))
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


def bf16_comparison(repeats: int, frames: int) -> dict:
    supported = native_bf16()
    print(f"bfloat16 vs float32 (CPU has native bf16 (AVX-512 BF16/AMX): {supported}):")
    paper = GraspScorerNet(ModelConfig(), pretrained=False, warn_random_init=False).eval()
    fp32_times, bf16_times, ratios = [], [], []
    paper_bf16 = GraspScorerNet(ModelConfig(), pretrained=False, warn_random_init=False).eval()
    paper_bf16.load_state_dict(paper.state_dict())
    paper_bf16 = paper_bf16.to(torch.bfloat16).to(memory_format=torch.channels_last)
    image = torch.rand(1, 3, 320, 320)
    with torch.no_grad():
        paper.predict(image), paper_bf16.predict(image)
        for _ in range(repeats):
            a = timed(lambda: paper.predict(image), 1, warmup=0)[0]
            b = timed(lambda: paper_bf16.predict(image), 1, warmup=0)[0]
            fp32_times.append(a)
            bf16_times.append(b)
            ratios.append(a / b)
    report("paper model (resnet50) total, float32", ms(fp32_times))
    report("paper model (resnet50) total, bfloat16", ms(bf16_times))
    report("  speed-up bfloat16 vs float32 (median of pairs)", f"{statistics.median(ratios):8.2f} x")

    # Same best grasp? The bundled (trained) model on synthetic scenes.
    from grasp_scorer_ros.synthetic import SceneConfig, generate_scene, make_object_pool
    config = SceneConfig(size=320)
    pool = make_object_pool(99, 20, config)
    fp32 = GraspDetector(str(bundled.default_checkpoint_path()))
    bf16 = GraspDetector(str(bundled.default_checkpoint_path()), dtype="bfloat16", channels_last=True)
    same = 0
    for i in range(frames):
        rgb = generate_scene(i, 99, pool, config).image
        a, b = fp32.detect(rgb, top_k=1), bf16.detect(rgb, top_k=1)
        same += bool(np.allclose(a.grasps[0], b.grasps[0], atol=1.0))
    report(f"same best grasp in bfloat16 (bundled model, {frames} synthetic frames)",
           f"{100 * same / frames:7.1f} %")
    return {"native_bf16": supported, "fp32_total_ms": 1000 * statistics.median(fp32_times),
            "bf16_total_ms": 1000 * statistics.median(bf16_times), "bf16_speedup": statistics.median(ratios),
            "same_best_share": same / frames}


# -- 3: the node -----------------------------------------------------------------------------------
def bundled_detect_ms(repeats: int) -> float:
    """The model's own time on a demo scene, the way the node calls it (preprocessing included)."""
    import cv2
    detector = GraspDetector(str(bundled.default_checkpoint_path()))
    path = sorted(bundled.demo_scenes_dir().glob("*.png"))[0]
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    return 1000 * statistics.median(timed(lambda: detector.detect(rgb, top_k=5), repeats))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def node_latency(rate_hz: float, duration: float, model_ms: float, label: str, threads: int) -> dict:
    """Start the detection node as its own process (as the launch file does), publish the demo
    scenes at ``rate_hz`` with the publish time as stamp, time /grasp/best's arrival.

    Images go reliably (like the demo): best-effort 480x480 frames are often lost by Fast DDS."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import CameraInfo, Image

    from grasp_scorer_ros.camera.calibration_file import load_intrinsics_yaml
    from grasp_scorer_ros.camera.image_decoding import rgb_to_image_fields
    from grasp_scorer_ros.msg import GraspPose
    from grasp_scorer_ros.nodes.camera_replay_node import camera_info_message, load_folder

    spec = NodeSpec("detection_node", "grasp_scorer_ros.nodes.detection_node", "grasp_detection",
                    parameter_files=[str(ROOT / "config" / "detection.yaml")],
                    parameters={"calibration_file": str(bundled.demo_calibration_path()),
                                "score_threshold": 0.0, "num_threads": threads,
                                "image_reliability": "reliable"})
    process = subprocess.Popen(spec.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("latency_probe", context=context)
    image_pub = node.create_publisher(Image, "image", 5)
    info_pub = node.create_publisher(CameraInfo, "camera_info", 5)
    latencies, rss = [], []
    node.create_subscription(
        GraspPose, "/grasp/best",
        lambda m: latencies.append(time.time() - (m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec)), 100)
    info = camera_info_message(load_intrinsics_yaml(bundled.demo_camera_path()), "camera")
    frames = [Image(**rgb_to_image_fields(rgb, "rgb8")) for _, rgb in load_folder(bundled.demo_scenes_dir())]
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    deadline = time.monotonic() + 120
    while image_pub.get_subscription_count() == 0 or not latencies:  # node up and model warm
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"detection node did not start: {process.stderr.read().decode()[-2000:]}")
        frames[0].header.stamp = node.get_clock().now().to_msg()
        info_pub.publish(info)
        image_pub.publish(frames[0])
        executor.spin_once(timeout_sec=0.5)
    executor.spin_once(timeout_sec=1.0)  # let the warm-up results in before the count starts
    latencies.clear()
    published = 0
    start = next_frame = next_rss = time.monotonic()
    while time.monotonic() - start < duration:
        now = time.monotonic()
        if now >= next_frame:
            message = frames[published % len(frames)]
            message.header.stamp = node.get_clock().now().to_msg()
            info_pub.publish(info)
            image_pub.publish(message)
            published += 1
            next_frame += 1.0 / rate_hz
        if now >= next_rss:
            rss.append(rss_mib(process.pid))
            next_rss += 1.0
        executor.spin_once(timeout_sec=max(0.0, min(next_frame, next_rss) - time.monotonic()))
    process.send_signal(2)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
    executor.shutdown()
    node.destroy_node()
    context.try_shutdown()
    lat = np.array(latencies) * 1000
    tenth = max(1, len(rss) // 6)
    figures = {"threads": threads, "model_ms": model_ms, "rate_hz": rate_hz, "published": published, "results": len(lat),
               "latency_median_ms": float(np.median(lat)), "latency_p10_ms": float(np.percentile(lat, 10)),
               "latency_p90_ms": float(np.percentile(lat, 90)), "latency_max_ms": float(lat.max()),
               "latency_over_model": float(np.median(lat) / model_ms),
               "rss_start_mib": float(np.median(rss[:tenth])), "rss_end_mib": float(np.median(rss[-tenth:])),
               "rss_max_mib": float(np.max(rss))}
    print(f"detection node ({threads} torch thread{'s' if threads > 1 else ''}), {label}: {published} frames published at {rate_hz:g} Hz over {duration:.0f} s, "
          f"{len(lat)} results")
    report("latency image published -> /grasp/best received, median",
           f"{figures['latency_median_ms']:8.1f} ms")
    report("  spread p10 / p90 / max", f"{figures['latency_p10_ms']:.0f} / {figures['latency_p90_ms']:.0f} / "
           f"{figures['latency_max_ms']:.0f} ms")
    report("  median latency / model's own time (in-process detect)", f"{figures['latency_over_model']:8.2f}")
    report("node memory (RSS) first / last sixth of the run, max",
           f"{figures['rss_start_mib']:.0f} / {figures['rss_end_mib']:.0f} / {figures['rss_max_mib']:.0f} MiB")
    return figures


# -- 4: training ---------------------------------------------------------------------------------
def training_speed(backbone: str, iterations: int, batch: int) -> dict:
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
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer repeats and a 10 s node run")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of 30 Hz camera for the node")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    p.add_argument("--out", type=Path, default=Path("benchmark_output"))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 3 if args.quick else 10
    duration = 10.0 if args.quick else args.duration
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}")
    RESULTS["machine"] = {"cores": os.cpu_count(), "torch": torch.__version__,
                          "threads": torch.get_num_threads(), "native_bf16": native_bf16(),
                          "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    torch.manual_seed(0)
    paper = GraspScorerNet(ModelConfig(), pretrained=False, warn_random_init=False)
    RESULTS["paper_fp32"] = model_parts("paper configuration", paper, repeats, 3 if args.quick else 5)
    bundled_model = load_model(str(bundled.default_checkpoint_path()))
    RESULTS["bundled_fp32"] = model_parts("bundled model", bundled_model, repeats, 3 if args.quick else 5)
    RESULTS["bf16"] = bf16_comparison(3 if args.quick else 5, 20 if args.quick else 100)

    # The node against the model's own time at the same thread count: 2 (the default) and 1.
    for threads in (2, 1):
        torch.set_num_threads(threads)
        model_ms = bundled_detect_ms(repeats)
        RESULTS[f"bundled_detect_ms_{threads}_threads"] = model_ms
        print(f"bundled model, in-process detect() on a 480x480 demo scene, {threads} thread(s): "
              f"{model_ms:.1f} ms (median)")
        slow_rate = min(5.0, 800.0 / model_ms)  # camera slower than the model: no frame waits
        RESULTS[f"node_slow_camera_{threads}_threads"] = node_latency(
            slow_rate, duration / 2, model_ms, "camera slower than the model", threads)
        if threads == 2:
            RESULTS["node_30hz"] = node_latency(30.0, duration, model_ms, "camera at 30 Hz", threads)
    torch.set_num_threads(args.threads or os.cpu_count())

    print("training speed (CPU):")
    RESULTS["training_bundled"] = training_speed("resnet18", 2 if args.quick else 3, 10)
    RESULTS["training_paper"] = training_speed("resnet50", 1 if args.quick else 2, 10)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmark.json").write_text(json.dumps(RESULTS, indent=2))
    print(f"wrote {args.out / 'benchmark.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

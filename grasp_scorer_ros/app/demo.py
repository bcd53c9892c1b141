"""The main job on the bundled default: camera replay -> detection -> /grasp/best -> FANUC bridge.

Starts the nodes of ``detect.launch.py`` (the same specs, grasp_scorer_ros/app/bringup.py) as
separate processes talking over DDS: the camera replay on the bundled synthetic scenes, the
detection node with the bundled checkpoint, the simulated FANUC controller and the bridge, armed.
Watches the graph for a fixed number of frames, then prints a summary and writes the annotated
images.

    grasp-scorer-demo --frames 12 --out demo_output
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from grasp_scorer_ros import bundled
from grasp_scorer_ros.app.bringup import BringupOptions, node_specs

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def find_config_dir() -> Path:
    """config/ of the checkout, else of the installed package (share/grasp_scorer_ros/config)."""
    if (CONFIG_DIR / "detection.yaml").is_file():
        return CONFIG_DIR
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory("grasp_scorer_ros")) / "config"


class Monitor:
    """An rclpy node in this process that records what the system publishes."""

    def __init__(self, context):
        import rclpy
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image

        from grasp_scorer_ros.msg import BridgeStatus, GraspCandidates, GraspPose

        self.node = rclpy.create_node("demo_monitor", context=context)
        self.best: list[tuple[float, GraspPose]] = []
        self.candidates: list[GraspCandidates] = []
        self.debug_images: list = []
        self.status: BridgeStatus | None = None
        self.node.create_subscription(GraspPose, "/grasp/best", self._on_best, 10)
        self.node.create_subscription(GraspCandidates, "/grasp/candidates", self.candidates.append, 10)
        self.node.create_subscription(Image, "/grasp/debug_image", self.debug_images.append,
                                      qos_profile_sensor_data)
        self.node.create_subscription(BridgeStatus, "/fanuc_bridge/status", self._on_status, 10)

    def _on_best(self, message):
        self.best.append((time.time(), message))

    def _on_status(self, message):
        self.status = message


def start_processes(options: BringupOptions, log_dir: Path) -> list[tuple[str, subprocess.Popen]]:
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = []
    for spec in node_specs(options):
        log = open(log_dir / f"{spec.name}.log", "w")
        process = subprocess.Popen(spec.command(), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        processes.append((spec.name, process))
    return processes


def stop_processes(processes, timeout=10.0) -> dict[str, int]:
    for _, process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    codes = {}
    deadline = time.monotonic() + timeout
    for name, process in processes:
        try:
            codes[name] = process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            codes[name] = process.wait()
    return codes


def summarize(monitor: Monitor, frames: int, elapsed: float) -> str:
    lines = [f"demo: {frames} camera frames replayed in {elapsed:.1f} s"]
    lines.append(f"  candidate lists received: {len(monitor.candidates)}")
    lines.append(f"  best grasps on /grasp/best: {len(monitor.best)}")
    if monitor.best:
        scores = np.array([m.score for _, m in monitor.best])
        primary = np.array([m.primary_score for _, m in monitor.best])
        latency = np.array([(t - (m.header.stamp.sec + m.header.stamp.nanosec * 1e-9)) * 1000
                            for t, m in monitor.best])
        lines.append(f"  final score: median {np.median(scores):.3f} (min {scores.min():.3f}, "
                     f"max {scores.max():.3f}); primary score median {np.median(primary):.3f}")
        lines.append(f"  latency image stamp -> /grasp/best received: median {np.median(latency):.0f} ms, "
                     f"max {latency.max():.0f} ms")
        lines.append("  poses (base frame, m; opening width, m):")
        for _, m in monitor.best[:8]:
            p, q = m.pose.position, m.pose.orientation
            lines.append(f"    xyz ({p.x:+.3f}, {p.y:+.3f}, {p.z:+.3f})  quat xyzw ({q.x:+.2f}, {q.y:+.2f}, "
                         f"{q.z:+.2f}, {q.w:+.2f})  opening {m.opening_width:.3f}  score {m.score:.2f}")
    status = monitor.status
    if status is None:
        lines.append("  no status from the FANUC bridge")
    else:
        lines.append(f"  picks executed on the simulated FANUC controller: {status.picks_completed} completed, "
                     f"{status.picks_failed} failed; bridge connected={status.connected} "
                     f"armed={status.armed}, last error: {status.last_error or 'none'}")
    return "\n".join(lines)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=12, help="camera frames to replay")
    p.add_argument("--rate", type=float, default=1.0, help="camera frames per second")
    p.add_argument("--out", type=Path, default=Path("demo_output"))
    p.add_argument("--checkpoint", default="", help="default: the bundled checkpoint")
    p.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
    return p


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    options = BringupOptions(config_dir=find_config_dir(), checkpoint=args.checkpoint, image_reliability="reliable",
                             calibration_file=str(bundled.demo_calibration_path()),
                             replay_folder="", replay_rate=args.rate, robot="sim", armed=True)
    context = rclpy.context.Context()
    rclpy.init(context=context)
    monitor = Monitor(context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(monitor.node)
    processes = start_processes(options, args.out / "logs")
    print(f"demo: started {', '.join(name for name, _ in processes)} (logs in {args.out / 'logs'})")
    started = time.monotonic()
    # The replay node loops over the scenes; the demo counts frames by the candidate lists.
    last_report = 0.0
    try:
        while time.monotonic() - started < args.timeout:
            executor.spin_once(timeout_sec=0.1)
            done_frames = len(monitor.candidates)
            if time.monotonic() - last_report > 5.0:
                last_report = time.monotonic()
                picks = monitor.status.picks_completed if monitor.status else 0
                print(f"demo: {done_frames}/{args.frames} frames processed, {len(monitor.best)} best grasps, "
                      f"{picks} picks completed", flush=True)
            failed = [(n, p.returncode) for n, p in processes if p.poll() is not None]
            if failed:
                print(f"demo: process exited early: {failed} (see {args.out / 'logs'})", file=sys.stderr)
                break
            if done_frames >= args.frames and (monitor.status is None or not monitor.status.busy):
                break
    finally:
        elapsed = time.monotonic() - started
        codes = stop_processes(processes)
    annotated_dir = args.out / "annotated"
    annotated_dir.mkdir(parents=True, exist_ok=True)
    from grasp_scorer_ros.camera.image_decoding import image_msg_to_rgb
    for i, image in enumerate(monitor.debug_images[:args.frames]):
        cv2.imwrite(str(annotated_dir / f"frame_{i:03d}.png"), cv2.cvtColor(image_msg_to_rgb(image), cv2.COLOR_RGB2BGR))
    print(summarize(monitor, len(monitor.candidates), elapsed))
    print(f"  annotated images: {annotated_dir} ({min(len(monitor.debug_images), args.frames)} files)")
    print(f"  process exit codes: {codes}")
    executor.shutdown()
    monitor.node.destroy_node()
    context.try_shutdown()
    ok = len(monitor.candidates) >= args.frames and len(monitor.best) > 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

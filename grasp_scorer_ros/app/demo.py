"""The main job on the bundled default: camera replay -> detection -> /grasp/best -> FANUC bridge.

Starts what ``ros2 launch grasp_scorer_ros detect.launch.py replay:=true armed:=true`` starts, with
the same parameters and environment (grasp_scorer_ros/app/bringup.py, the one source of both), as
separate processes talking over DDS: the camera replay on the bundled synthetic scenes, the
detection node with the bundled checkpoint, the simulated FANUC controller and the bridge, armed.
Watches the graph until the first ``--frames`` camera frames are processed, then prints a summary
and writes the annotated images. The replay node starts last, once the demo hears the detection
node, so that the demo sees every replayed frame (under ``ros2 launch`` the replay, which waits for
its first subscriber, sends its first frame when the detection node is up, too). Like the launch
file, it ends when the detection node ends, with that node's last line as its own last word.

    grasp-scorer-demo --frames 12 --out demo_output
"""
from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from grasp_scorer_ros import bundled
from grasp_scorer_ros.app.bringup import node_specs, options_from_launch_arguments

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
DETECTOR = "grasp_detection"
REPLAY = "camera_replay"


def find_config_dir() -> Path:
    """config/ of the checkout, else of the installed package (share/grasp_scorer_ros/config)."""
    if (CONFIG_DIR / "detection.yaml").is_file():
        return CONFIG_DIR
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory("grasp_scorer_ros")) / "config"


def stamp_key(header) -> tuple[int, int]:
    return header.stamp.sec, header.stamp.nanosec


def image_digest(rgb: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(rgb).tobytes()).hexdigest()


class Monitor:
    """An rclpy node in this process that records what the system publishes."""

    def __init__(self, context, camera_info_topic: str, camera_topic: str):
        import rclpy
        from sensor_msgs.msg import CameraInfo, Image

        from grasp_scorer_ros.msg import BridgeStatus, GraspCandidates, GraspPose

        self.node = rclpy.create_node("demo_monitor", context=context)
        self.frames: list[tuple[int, int]] = []     # stamps of the camera's frames, from its CameraInfo
        self.best: list[tuple[float, GraspPose]] = []
        self.candidates: dict[tuple[int, int], GraspCandidates] = {}
        self.debug_images: dict[tuple[int, int], Image] = {}
        self.frame_digests: dict[tuple[int, int], str] = {}    # which image each frame was
        self.status: BridgeStatus | None = None
        # The replay sends a CameraInfo with every image, with the image's stamp: the frame count,
        # without a second subscriber to the images themselves.
        self.node.create_subscription(CameraInfo, camera_info_topic, self._on_info, 50)
        # The images too, only to tell which bundled scene a frame shows: the demo may hear the
        # camera's first frames late (discovery on a loaded machine), so the order cannot say it.
        # Subscribed once the camera has started: an earlier subscriber could be the replay's
        # "first subscriber" and start it before the detection node is heard, as under the launch
        # file it never is.
        self.camera_topic, self.image_subscription = camera_topic, None
        self.node.create_subscription(GraspPose, "/grasp/best", self._on_best, 10)
        self.candidates_subscription = self.node.create_subscription(
            GraspCandidates, "/grasp/candidates", self._on_candidates, 50)
        self.node.create_subscription(Image, "/grasp/debug_image", self._on_debug, 10)
        self.node.create_subscription(BridgeStatus, "/fanuc_bridge/status", self._on_status, 10)

    def _on_info(self, message):
        if self.image_subscription is None:
            from sensor_msgs.msg import Image
            self.image_subscription = self.node.create_subscription(Image, self.camera_topic, self._on_image, 10)
        if stamp_key(message.header) not in self.frames:
            self.frames.append(stamp_key(message.header))

    def _on_image(self, message):
        from grasp_scorer_ros.camera.image_decoding import image_msg_to_rgb
        try:
            self.frame_digests[stamp_key(message.header)] = image_digest(image_msg_to_rgb(message))
        except ValueError:
            pass        # a malformed frame is the detection node's to report

    def _on_best(self, message):
        self.best.append((time.time(), message))

    def _on_candidates(self, message):
        self.candidates[stamp_key(message.header)] = message

    def _on_debug(self, message):
        self.debug_images[stamp_key(message.header)] = message

    def _on_status(self, message):
        self.status = message

    def first_frames(self, count: int) -> list[tuple[int, int]]:
        return self.frames[:count]

    def processed(self, count: int) -> list[tuple[int, int]]:
        return [f for f in self.first_frames(count) if f in self.candidates]

    def with_pose(self, count: int) -> list[tuple[int, int]]:
        """Frames whose candidates include a gripper pose (a pose-less candidate has no width)."""
        return [f for f in self.processed(count)
                if any(c.opening_width > 0 for c in self.candidates[f].candidates)]


def start_processes(specs, log_dir: Path) -> list[tuple[str, subprocess.Popen]]:
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = []
    for spec in specs:
        log = open(log_dir / f"{spec.name}.log", "w")
        process = subprocess.Popen(spec.command(), stdout=log, stderr=subprocess.STDOUT,
                                   env=spec.environment(), start_new_session=True)
        processes.append((spec.name, process))
    return processes


def stop_processes(processes, timeout=10.0) -> dict[str, int]:
    """SIGINT each process, the last started first (the bridge before its controller), and wait."""
    codes = {}
    for name, process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            codes[name] = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            codes[name] = process.wait()
    return {name: codes[name] for name, _ in processes}


def last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def summarize(monitor: Monitor, frames: int, elapsed: float) -> str:
    replayed = monitor.first_frames(frames)
    lines = [f"demo: {len(replayed)} camera frames replayed in {elapsed:.1f} s"]
    lines.append(f"  frames processed (candidate list received): {len(monitor.processed(frames))}/{len(replayed)}")
    lines.append(f"  frames with a gripper pose: {len(monitor.with_pose(frames))}/{len(replayed)}")
    lines.append(f"  best grasps on /grasp/best (score over the threshold): {len(monitor.best)}")
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
    lines += scene_report(monitor, frames)
    status = monitor.status
    if status is None:
        lines.append("  no status from the FANUC bridge")
    else:
        lines.append(f"  picks executed on the simulated FANUC controller: {status.picks_completed} completed, "
                     f"{status.picks_failed} failed; bridge connected={status.connected} "
                     f"armed={status.armed}, last error: {status.last_error or 'none'}")
    return "\n".join(lines)


def scene_report(monitor: Monitor, frames: int, scenes_dir: Path | None = None) -> list[str]:
    """One line per bundled scene: the best grasp with a pose of the first frame the demo heard
    that shows the scene (recognised by the image's content), and whether that grasp passes the
    rectangle metric against the scene's ground truth (``scene_NN_grasps.txt``): on an object, at
    a workable angle."""
    from grasp_scorer_ros.datasets.jacquard import read_jacquard_grasps
    from grasp_scorer_ros.network.metric import is_grasp_correct

    scenes = sorted((scenes_dir or bundled.demo_scenes_dir()).glob("scene_*.png"))
    lines, correct = [], 0
    for scene in scenes:
        digest = image_digest(cv2.cvtColor(cv2.imread(str(scene), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
        frame = next((f for f in monitor.first_frames(frames) if monitor.frame_digests.get(f) == digest), None)
        if frame is None:
            lines.append(f"    {scene.stem}: not among the {frames} frames the demo heard")
            continue
        candidates = monitor.candidates.get(frame)
        best = next((c for c in candidates.candidates if c.opening_width > 0), None) if candidates else None
        if best is None:
            lines.append(f"    {scene.stem}: no grasp with a pose")
            continue
        g = best.image_grasp
        grasp = np.array([g.center_x, g.center_y, g.opening_width, g.jaw_size, np.degrees(g.angle)])
        truth = read_jacquard_grasps(scene.with_name(f"{scene.stem}_grasps.txt"))
        ok = is_grasp_correct(grasp, truth)
        correct += ok
        lines.append(f"    {scene.stem}: best grasp score {best.score:.2f} at ({g.center_x:.0f}, {g.center_y:.0f}) px, "
                     f"{np.degrees(g.angle):+.0f} deg: {'on an object (rectangle metric)' if ok else 'MISSES the ground truth'}")
    return [f"  bundled scenes whose best grasp is correct by the rectangle metric: {correct}/{len(scenes)}"] + lines


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=12, help="camera frames to process")
    p.add_argument("--out", type=Path, default=Path("demo_output"))
    p.add_argument("--checkpoint", default="", help="launch argument checkpoint:= (default: the bundled checkpoint)")
    p.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
    return p


# What the demo types after `ros2 launch grasp_scorer_ros detect.launch.py`; everything else is the
# launch file's default.
DEMO_LAUNCH_ARGUMENTS = {"replay": "true", "armed": "true"}


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    arguments = {**DEMO_LAUNCH_ARGUMENTS, **({"checkpoint": args.checkpoint} if args.checkpoint else {})}
    options = options_from_launch_arguments(find_config_dir(), arguments)
    specs = node_specs(options)
    context = rclpy.context.Context()
    rclpy.init(context=context)
    monitor = Monitor(context, options.camera_info_topic, options.camera_topic)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(monitor.node)
    log_dir = args.out / "logs"
    print("demo: ros2 launch grasp_scorer_ros detect.launch.py "
          + " ".join(f"{k}:={v}" for k, v in arguments.items()) + " (the same nodes, parameters and environment)")
    started = time.monotonic()
    replay = [spec for spec in specs if spec.name == REPLAY]
    processes = start_processes([spec for spec in specs if spec.name != REPLAY], log_dir)
    # The detection node's candidates reach the demo from its first frame on: then the camera.
    while monitor.candidates_subscription.get_publisher_count() == 0 and time.monotonic() - started < args.timeout:
        executor.spin_once(timeout_sec=0.1)
        if any(p.poll() is not None for _, p in processes):
            break
    processes += start_processes(replay, log_dir)
    print(f"demo: started {', '.join(name for name, _ in processes)} (logs in {log_dir})", flush=True)
    last_report = 0.0
    detector_ended = None
    all_processed = None
    try:
        while time.monotonic() - started < args.timeout:
            executor.spin_once(timeout_sec=0.1)
            done = len(monitor.processed(args.frames))
            if time.monotonic() - last_report > 5.0:
                last_report = time.monotonic()
                picks = monitor.status.picks_completed if monitor.status else 0
                print(f"demo: {done}/{args.frames} frames processed, {len(monitor.best)} best grasps, "
                      f"{picks} picks completed", flush=True)
            ended = {n: p.returncode for n, p in processes if p.poll() is not None}
            if DETECTOR in ended:
                detector_ended = ended[DETECTOR]
                break
            if ended:
                print(f"demo: process exited early: {ended} (see {log_dir})", file=sys.stderr)
                break
            if done >= args.frames:
                # The annotated image of a frame follows its candidates: give the last ones a moment.
                all_processed = all_processed or time.monotonic()
                drawn = all(f in monitor.debug_images for f in monitor.first_frames(args.frames))
                # A pick in progress may finish (the bridge is armed), but not for ever.
                idle = monitor.status is None or not monitor.status.busy
                waited = time.monotonic() - all_processed
                if (idle or waited > 10.0) and (drawn or waited > 3.0):
                    break
    finally:
        elapsed = time.monotonic() - started
        codes = stop_processes(processes)
    if detector_ended is not None:
        # Like the launch file: the detector is required, and its last line is the last word.
        executor.shutdown()
        monitor.node.destroy_node()
        context.try_shutdown()
        print(f"demo: process exit codes: {codes}", file=sys.stderr)
        print(f"demo ended because {DETECTOR} exited with code {detector_ended}: "
              f"{last_line(log_dir / f'{DETECTOR}.log')}", file=sys.stderr)
        return 2
    annotated_dir = args.out / "annotated"
    annotated_dir.mkdir(parents=True, exist_ok=True)
    from grasp_scorer_ros.camera.image_decoding import image_msg_to_rgb
    written = 0
    for i, frame in enumerate(monitor.first_frames(args.frames)):
        image = monitor.debug_images.get(frame)
        if image is not None:
            cv2.imwrite(str(annotated_dir / f"frame_{i:03d}.png"),
                        cv2.cvtColor(image_msg_to_rgb(image), cv2.COLOR_RGB2BGR))
            written += 1
    print(summarize(monitor, args.frames, elapsed))
    print(f"  annotated images: {annotated_dir} ({written} files)")
    print(f"  process exit codes: {codes}")
    executor.shutdown()
    monitor.node.destroy_node()
    context.try_shutdown()
    complete = len(monitor.with_pose(args.frames)) == args.frames == len(monitor.first_frames(args.frames))
    if not complete:
        print(f"demo: not every frame got a pose (see {log_dir})", file=sys.stderr)
    return 0 if complete and all(code == 0 for code in codes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

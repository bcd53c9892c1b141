"""``make demo-physics``: a few real picks in the physics cell, through ROS and RMI.

Starts what ``ros2 launch grasp_scorer_ros detect.launch.py world:=physics armed:=true`` starts
(app/bringup.py; the physics world writes a side view of each pick), waits for ``--picks`` pick
outcomes on ``/physics_world/outcome``, keeps the detection node's annotated camera frame of each
pick (the newest one when the bridge started the pick), prints the outcomes and stops every node with SIGINT.
Exits 0 when at least one pick succeeded and every node exited 0.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2

from grasp_scorer_ros.app.bringup import node_specs, options_from_launch_arguments
from grasp_scorer_ros.app.demo import find_config_dir, start_processes, stop_processes

LAUNCH_ARGUMENTS = {"world": "physics", "armed": "true"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--picks", type=int, default=3, help="pick outcomes to wait for (default: 3)")
    parser.add_argument("--out", type=Path, default=Path("demo_output/physics"))
    parser.add_argument("--timeout", type=float, default=240.0, help="give up after this many seconds")
    args = parser.parse_args(argv)
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from grasp_scorer_ros.camera.image_decoding import image_msg_to_rgb

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    options = options_from_launch_arguments(find_config_dir(), LAUNCH_ARGUMENTS)
    specs = node_specs(options)
    for spec in specs:
        if spec.name == "physics_world":
            spec.parameters["output_dir"] = str(args.out.resolve())
    args.out.mkdir(parents=True, exist_ok=True)
    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("physics_demo_monitor", context=context)
    from grasp_scorer_ros.msg import BridgeStatus
    outcomes, latest, pick_frames = [], {}, []

    def on_status(status):
        # A pick starts: the newest annotated frame is the one its grasp came from (or one just after).
        if status.busy and not latest.get("busy") and "frame" in latest:
            pick_frames.append(latest["frame"])
        latest["busy"] = status.busy

    node.create_subscription(String, "/physics_world/outcome", lambda m: outcomes.append(m.data), 10)
    node.create_subscription(Image, "/grasp/debug_image", lambda m: latest.update(frame=m), 2)
    node.create_subscription(BridgeStatus, "/fanuc_bridge/status", on_status, 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    print("demo-physics: ros2 launch grasp_scorer_ros detect.launch.py "
          + " ".join(f"{k}:={v}" for k, v in LAUNCH_ARGUMENTS.items()), flush=True)
    processes = start_processes(specs, args.out / "logs")
    started, seen = time.monotonic(), 0
    try:
        while time.monotonic() - started < args.timeout and len(outcomes) < args.picks:
            executor.spin_once(timeout_sec=0.1)
            while seen < len(outcomes):
                print(f"demo-physics: {outcomes[seen]}", flush=True)
                frame = pick_frames[seen] if seen < len(pick_frames) else None
                if frame is not None:
                    cv2.imwrite(str(args.out / f"pick_{seen + 1:03d}_camera.png"),
                                cv2.cvtColor(image_msg_to_rgb(frame), cv2.COLOR_RGB2BGR))
                seen += 1
            ended = {n: p.returncode for n, p in processes if p.poll() is not None}
            if ended:
                print(f"demo-physics: process exited early: {ended} (see {args.out / 'logs'})", file=sys.stderr)
                break
    finally:
        codes = stop_processes(processes)
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
    succeeded = sum(": success:" in o for o in outcomes)
    print(f"demo-physics: {len(outcomes)} pick(s) in {time.monotonic() - started:.0f} s, {succeeded} succeeded; "
          f"pictures in {args.out}; process exit codes: {codes}")
    return 0 if succeeded and all(c == 0 for c in codes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

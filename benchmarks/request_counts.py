"""How long ``grasp/detect`` takes for each ``count``, with the launch file's defaults (not a test).

    python benchmarks/request_counts.py [--counts 5 20 100] [--calls 4]

Starts what ``ros2 launch grasp_scorer_ros detect.launch.py replay:=true`` starts (the bundled
scenes at 2 Hz with their depth, every other argument at its default: app/bringup.py), calls
``/grasp/detect`` from this process as the bridge's pick cycle does (``not_before`` zero: a frame
taken after the call, ``timeout`` zero: the node's ``request_timeout``, 2 s), ``--calls`` times for
each count, and prints whether each was answered, in how long, with how many grasps, and the
failure messages. Writes ``benchmark_output/request_counts.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--counts", type=int, nargs="+", default=[5, 20, 100])
    p.add_argument("--calls", type=int, default=4)
    args = p.parse_args(argv)
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from grasp_scorer_ros.app.bringup import node_specs, options_from_launch_arguments
    from grasp_scorer_ros.app.demo import start_processes, stop_processes
    from grasp_scorer_ros.srv import DetectGrasps
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from benchmark import cpu_model

    specs = [s for s in node_specs(options_from_launch_arguments(ROOT / "config", {"replay": "true"}))
             if s.name in ("camera_replay", "grasp_detection")]
    log_dir = ROOT / "benchmark_output" / "logs" / "request_counts"
    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("request_counts", context=context)
    client = node.create_client(DetectGrasps, "/grasp/detect")
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    processes = start_processes(specs, log_dir)
    figures = {"machine": cpu_model(), "rows": []}
    try:
        deadline = time.monotonic() + 180
        while not client.service_is_ready():
            if time.monotonic() > deadline or any(p.poll() is not None for _, p in processes):
                raise RuntimeError(f"the detector did not start: see {log_dir}")
            executor.spin_once(timeout_sec=0.2)
        print(f"{cpu_model()}: grasp/detect with the launch defaults (2 Hz replay with depth, request_timeout 2 s)")
        for count in args.counts:
            for _ in range(args.calls):
                started = time.monotonic()
                future = client.call_async(DetectGrasps.Request(count=count))
                while not future.done() and time.monotonic() - started < 30:
                    executor.spin_once(timeout_sec=0.05)
                seconds = time.monotonic() - started
                response = future.result() if future.done() else None
                row = {"count": count, "seconds": seconds, "success": bool(response and response.success),
                       "grasps": len(response.grasps) if response else 0,
                       "message": response.message if response else "no answer within 30 s"}
                figures["rows"].append(row)
                print(f"  count {count:3d}: {'answered' if row['success'] else 'FAILED'} in {seconds:.2f} s, "
                      f"{row['grasps']} grasp(s): {row['message'][:110]}", flush=True)
                time.sleep(0.3)
    finally:
        stop_processes(processes)
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
    out = ROOT / "benchmark_output" / "request_counts.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The detector's speed beside other busy processes, for each thread setting (issue: a robot's
computer always runs other processes).

    python benchmarks/busy_cores.py [--calls 20] [--node-seconds 30]

For 0, 1 and 2 busy processes (``while True: pass``, one core each) and each thread setting, a
fresh process loads the bundled model as the node does (precision auto) and times ``detect()`` on
a demo scene (top 5, as the node asks), one call every 0.25 s like a camera's frames: median, p90
and worst call. The settings:

* ``auto``: the node's default (``num_threads: 0``): before every call, the cores other processes
  leave free (``network/cpu_threads.py``);
* ``all cores``: one thread per core, fixed (torch's default, the node's before);
* ``1 thread``;
* ``all cores, OMP_WAIT_POLICY=PASSIVE``: OpenMP's waiting threads sleep instead of spinning;
* ``all cores, 1 inter-op thread`` (``torch.set_num_interop_threads(1)``).

Then, unless ``--node-seconds 0``, the whole launch (``replay:=true``, 2 Hz, every other argument
at its default: benchmark.py's system run) beside 0, 1 and 2 busy processes, with ``num_threads``
auto and fixed at all cores: frames published, processed, dropped, and the node's inference
median. Ratios are to the best quiet time of the same run. Writes
``benchmark_output/busy_cores.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmark_output" / "busy_cores.json"

SETTINGS = {
    "auto (the default)": ({}, "None"),
    "all cores, fixed": ({}, "ALL"),
    "1 thread": ({}, "1"),
    "all cores, OMP_WAIT_POLICY=PASSIVE": ({"OMP_WAIT_POLICY": "PASSIVE"}, "ALL"),
    "all cores, 1 inter-op thread": ({"INTEROP": "1"}, "ALL"),
}

CHILD = r"""
import json, os, sys, time
import numpy as np, torch
if os.environ.get("INTEROP"):
    torch.set_num_interop_threads(int(os.environ["INTEROP"]))
from grasp_scorer_ros import bundled
from grasp_scorer_ros.datasets.sample import load_rgb
from grasp_scorer_ros.network.cpu_threads import usable_cores
from grasp_scorer_ros.network.detector import GraspDetector
from grasp_scorer_ros.network.precision import resolve_precision
threads = sys.argv[1]
threads = None if threads == "None" else usable_cores() if threads == "ALL" else int(threads)
dtype, _ = resolve_precision("auto")
detector = GraspDetector(str(bundled.default_checkpoint_path()), dtype=dtype, channels_last=dtype == "bfloat16",
                         num_threads=threads)
rgb = load_rgb(sorted(bundled.demo_scenes_dir().glob("scene_*.png"))[0])
for _ in range(3):
    detector.detect(rgb, top_k=5)
times, used = [], []
for _ in range(int(sys.argv[2])):
    time.sleep(0.25)
    start = time.perf_counter()
    detector.detect(rgb, top_k=5)
    times.append(time.perf_counter() - start)
    used.append(torch.get_num_threads())
print(json.dumps({"ms": [1000 * t for t in times], "threads": used, "precision": dtype}))
"""


def busy(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def stop(processes) -> None:
    for p in processes:
        p.kill()
        p.wait()


def time_detect(setting: str, calls: int) -> dict:
    env_extra, threads = SETTINGS[setting]
    env = {**os.environ, **env_extra}
    run = subprocess.run([sys.executable, "-c", CHILD, threads, str(calls)], capture_output=True, text=True,
                         env=env, timeout=900)
    if run.returncode != 0:
        raise RuntimeError(f"{setting}: {run.stderr[-2000:]}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    ms = sorted(result["ms"])
    return {"median_ms": ms[len(ms) // 2], "p90_ms": ms[int(0.9 * (len(ms) - 1))], "max_ms": ms[-1],
            "threads_used": sorted(set(result["threads"])), "precision": result["precision"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=20, help="timed detect() calls per setting and load")
    p.add_argument("--node-seconds", type=float, default=30.0, help="seconds of each system run (0: none)")
    p.add_argument("--loads", type=int, nargs="+", default=[0, 1, 2], help="numbers of busy processes")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from benchmark import cpu_model
    print(f"{cpu_model()}, {os.cpu_count()} cores; detect() on a demo scene, top 5, a call every 0.25 s")
    figures = {"machine": cpu_model(), "cores": os.cpu_count(), "detect": {}, "node": {}}
    for load in args.loads:
        processes = busy(load)
        try:
            time.sleep(1.0)
            for setting in SETTINGS:
                row = time_detect(setting, args.calls)
                figures["detect"].setdefault(setting, {})[str(load)] = row
                print(f"  {load} busy, {setting:<36} median {row['median_ms']:6.1f} ms, p90 {row['p90_ms']:6.1f}, "
                      f"max {row['max_ms']:6.1f} (threads {row['threads_used']})", flush=True)
        finally:
            stop(processes)
    best_quiet = min(rows["0"]["median_ms"] for rows in figures["detect"].values() if "0" in rows)
    print(f"\ndetect() median over the best quiet median ({best_quiet:.1f} ms); over the setting's own quiet median")
    for setting, rows in figures["detect"].items():
        quiet = rows.get("0", {}).get("median_ms")
        cells = [f"{load} busy: {rows[load]['median_ms'] / best_quiet:4.2f}x"
                 + (f" ({rows[load]['median_ms'] / quiet:4.2f}x)" if quiet else "") for load in rows]
        print(f"  {setting:<36} " + ", ".join(cells))
    if args.node_seconds > 0:
        from benchmark import system_run
        for threads in (0, os.cpu_count()):
            label = "auto" if threads == 0 else f"{threads} threads fixed"
            for load in args.loads:
                processes = busy(load)
                try:
                    row = system_run(2.0, args.node_seconds, f"{label}, {load} busy",
                                     detection_parameters={"num_threads": threads})
                finally:
                    stop(processes)
                figures["node"].setdefault(label, {})[str(load)] = row
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=1))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

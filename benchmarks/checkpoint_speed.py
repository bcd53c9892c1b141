"""``detect()`` of two or more checkpoints side by side, interleaved, as the node runs them.

    python benchmarks/checkpoint_speed.py --checkpoints old.pt new.pt [--calls 24] [--avx2]

For each checkpoint: float32 and ``precision: auto`` (bfloat16 where the CPU computes it natively),
top 5, the node's default threads (``num_threads: 0``), the 8 demo scenes in turn, one call every
0.25 s like a camera's frames, the checkpoints' calls interleaved so that a shared machine's drift
hits them alike. ``--avx2`` runs the same again in a process whose torch kernels and oneDNN are held
to AVX2 (``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``: what an AVX2-only CPU runs, near
enough; ``make test-avx2`` uses the same). Prints medians and the ratios to the first checkpoint.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, time
import numpy as np, torch
from grasp_scorer_ros import bundled
from grasp_scorer_ros.datasets.sample import load_rgb
from grasp_scorer_ros.network.detector import GraspDetector
from grasp_scorer_ros.network.precision import resolve_precision
checkpoints, calls = json.loads(sys.argv[1]), int(sys.argv[2])
auto, reason = resolve_precision("auto")
precisions = ["float32"] + ([auto] if auto != "float32" else [])
detectors = {(c, p): GraspDetector(c, dtype=p, channels_last=p == "bfloat16") for c in checkpoints for p in precisions}
scenes = [load_rgb(path) for path in sorted(bundled.demo_scenes_dir().glob("scene_*.png"))]
for detector in detectors.values():
    for rgb in scenes[:3]:
        detector.detect(rgb, top_k=5)
times = {key: [] for key in detectors}
for call in range(calls):
    for key, detector in detectors.items():
        time.sleep(0.25)
        start = time.perf_counter()
        detector.detect(scenes[call % len(scenes)], top_k=5)
        times[key].append(1000 * (time.perf_counter() - start))
print(json.dumps({"auto": auto, "reason": reason, "kernels": torch.backends.cpu.get_cpu_capability(),
                  "ms": [[c, p, sorted(t)[len(t) // 2]] for (c, p), t in times.items()]}))
"""

AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def run(checkpoints, calls, env_extra) -> dict:
    env = {**os.environ, **env_extra}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(checkpoints), str(calls)],
                          capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", nargs="+", required=True, help="the first one is the reference")
    parser.add_argument("--calls", type=int, default=24, help="timed calls per checkpoint and precision")
    parser.add_argument("--avx2", action="store_true", help="also with torch held to AVX2 kernels")
    args = parser.parse_args(argv)
    for path in args.checkpoints:
        if not Path(path).is_file():
            parser.error(f"checkpoint not found: {path}")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchmark import cpu_model
    print(f"{cpu_model()}, {os.cpu_count()} cores; detect() on the 8 demo scenes in turn, top 5, "
          f"a call every 0.25 s, interleaved, median of {args.calls}")
    kinds = [("native", {})] + ([("AVX2 kernels", AVX2)] if args.avx2 else [])
    for name, env_extra in kinds:
        result = run(args.checkpoints, args.calls, env_extra)
        print(f"{name} (torch kernels {result['kernels']}; precision auto: {result['auto']}, {result['reason']})")
        reference = {p: ms for c, p, ms in result["ms"] if c == args.checkpoints[0]}
        for checkpoint, precision, ms in result["ms"]:
            print(f"  {checkpoint:<48} {precision:<9} {ms:6.1f} ms  ({ms / reference[precision]:.2f}x the first)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

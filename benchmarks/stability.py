"""Stability of the best grasp: does it stay put when the light changes a little?

    python benchmarks/stability.py [--count 100] [--checkpoint M] [--look NAME=DIR ...]

A robot cell's light drifts; the grasp the node publishes should not. For each look, the share of
images whose top grasp is unchanged (centre within 2 px, angle within 5 deg, opening and jaw
within 10%) under all of brightness x0.8, brightness x1.2 and a Gaussian blur of 1 pixel; and the
looser share whose top grasp stays a match of the original one by the rectangle metric (30 deg,
IoU 25%): the same grasp for a gripper. Run as the detection node runs (its precision, the
checkpoint's final score), for the final score and for the primary score alone.

Without ``--look`` it writes three looks of ``--count`` images into a temporary folder: the
generator's training look (unseen seed 4243), its held-out look (seed 4242), and the physics
cell's renders of the held-out look (seed 2001, ``grasp-scorer-cell-renders``).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from grasp_scorer_ros import bundled
from grasp_scorer_ros.training import look_study


def default_looks(folder: Path, count: int) -> list[str]:
    from grasp_scorer_ros.synthetic import SceneConfig, write_dataset
    looks = []
    for name, look, seed in (("train look", "train", 4243), ("held-out look", "heldout", 4242)):
        root = folder / look
        write_dataset(root, count, seed=seed, config=SceneConfig(look=look), write_masks=False)
        looks.append(f"{name.replace(' ', '_')}={root}")
    from grasp_scorer_ros.camera.calibration_file import load_calibration_yaml, load_intrinsics_yaml
    from grasp_scorer_ros.sim.cell_renders import render_dataset
    root = folder / "cell"
    render_dataset(root, count, 2001, load_calibration_yaml(bundled.demo_calibration_path()),
                   load_intrinsics_yaml(bundled.demo_camera_path()))
    looks.append(f"cell_renders={root}")
    return looks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100, help="images per generated look (default: 100)")
    parser.add_argument("--checkpoint", default=None, help="model checkpoint (default: the bundled model)")
    parser.add_argument("--look", action="append", default=[], metavar="NAME=DIR",
                        help="a Jacquard-format folder instead of the generated looks (repeatable)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        looks = args.look or default_looks(Path(tmp), args.count)
        out = Path(tmp) / "study"
        command = ["--out", str(out), "--weights", "0.5", *(f"--look={spec}" for spec in looks)]
        if args.checkpoint:
            command += ["--checkpoint", args.checkpoint]
        results = look_study.run(look_study.get_args_parser().parse_args(command), quiet=True)
    print(f"{'look':16s} {'ranking':34s} {'unchanged':>10s} {'same grasp (metric)':>20s} {'top-1':>7s}")
    for result in results:
        for name in ("primary", result["shipped"]):
            if name is None or name not in result["rankings"]:
                continue
            row = result["rankings"][name]
            label = name + (" (the final score)" if name == result["shipped"] else "")
            print(f"{result['look']:16s} {label:34s} {100 * row['stable_share']:9.1f}% "
                  f"{100 * row['equivalent_share']:19.1f}% {100 * row['accuracy']:6.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Regenerate the bundled demo scenes: grasp_scorer_ros/data/demo_scenes/scene_NN.png, their
ground truth scene_NN_grasps.txt (Jacquard format) and their depth depth/scene_NN.png (16-bit,
millimetres, as a depth camera registered to the colour one publishes it: 16UC1), for the virtual
camera of camera.yaml (480 px) 0.8 m above the table (calibration.yaml).

Scenes 0-3 of the train look (families the bundled model was trained on, other objects) and scenes
0-3 of the held-out look (shape, table and pattern families it never saw), seed 2024:

    python tools/make_demo_scenes.py
"""
from __future__ import annotations

import argparse
import shutil

import cv2
import numpy as np
import sys
import tempfile
from pathlib import Path

from grasp_scorer_ros import bundled
from grasp_scorer_ros.synthetic import SceneConfig, write_dataset

SEED, PER_LOOK, SIZE = 2024, 4, 480
CAMERA_HEIGHT_M = 0.8       # calibration.yaml's camera above the table


def main(argv=None) -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    out = bundled.demo_scenes_dir()
    (out / "depth").mkdir(exist_ok=True)
    for old in list(out.glob("scene_*.png")) + list(out.glob("scene_*_grasps.txt")) + list(out.glob("depth/*.png")):
        old.unlink()
    number = 0
    with tempfile.TemporaryDirectory() as folder:
        for look in ("train", "heldout"):
            paths = write_dataset(Path(folder) / look, PER_LOOK, seed=SEED, write_masks=False,
                                  config=SceneConfig(size=SIZE, look=look), depth_camera_distance=CAMERA_HEIGHT_M)
            for path in paths:  # scene order, whatever folder its object set put it in
                grasps = Path(str(path).replace("_RGB.png", "_grasps.txt"))
                shutil.copy(path, out / f"scene_{number:02d}.png")
                shutil.copy(grasps, out / f"scene_{number:02d}_grasps.txt")
                depth = cv2.imread(str(path).replace("_RGB.png", "_perfect_depth.tiff"), cv2.IMREAD_UNCHANGED)
                cv2.imwrite(str(out / "depth" / f"scene_{number:02d}.png"), np.round(depth * 1000).astype(np.uint16))
                print(f"scene_{number:02d}: {look} look, {path.name}")
                number += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

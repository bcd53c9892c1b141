"""A picture of sample scenes of each look (``grasp-scorer-synth --grid PATH``), e.g. the README's
``docs/synthetic_looks.png``: for each look a caption and ``rows x columns`` scenes, the first one
with some of its grasps drawn."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from grasp_scorer_ros.visualize import draw_grasps
from grasp_scorer_ros.synthetic.grasp_planner import pick_diverse
from grasp_scorer_ros.synthetic.scene import SceneConfig, generate_scene, make_object_pool

CAPTIONS = {"train": "train look", "heldout": "held-out look"}


def _caption(text: str, width: int, height: int) -> np.ndarray:
    band = np.full((height, width, 3), 255, np.uint8)
    cv2.putText(band, text, (6, height - 8), cv2.FONT_HERSHEY_SIMPLEX, height / 40.0, (20, 20, 20), 1, cv2.LINE_AA)
    return band


def look_grid(seed: int = 0, size: int = 320, looks: Sequence[str] = ("train", "heldout"), rows: int = 2,
              columns: int = 6, tile: int = 128, grasps_drawn: int = 8) -> np.ndarray:
    """RGB picture ``(H, W, 3)`` uint8: for each look, a caption over ``rows x columns`` of its
    scenes (``size`` pixels, shown ``tile`` pixels wide, or ``size`` if smaller); on the first scene of the first look,
    ``grasps_drawn`` of its grasps (diverse ones) are drawn, named in its caption."""
    blocks = []
    tile = min(tile, size)
    for n, name in enumerate(looks):
        config = SceneConfig(size=size, look=name)
        pool = make_object_pool(seed, max(rows * columns, 5), config)
        scenes = [generate_scene(i, seed, pool, config) for i in range(rows * columns)]
        tiles = [cv2.resize(s.image, (tile, tile), interpolation=cv2.INTER_AREA) for s in scenes]
        caption = CAPTIONS.get(name, f"{name} look")
        if n == 0 and grasps_drawn > 0:
            shown = pick_diverse(scenes[0].grasps, np.random.default_rng(seed), grasps_drawn) * (tile / size)
            tiles[0] = draw_grasps(tiles[0], shown, color=(0, 230, 0), jaw_color=(255, 40, 40), centre=False)
            caption += (f"  (first scene: {len(shown)} of its {len(scenes[0].grasps)} grasps drawn, "
                        f"jaws in red)")
        grid = np.vstack([np.hstack(tiles[r * columns:(r + 1) * columns]) for r in range(rows)])
        blocks += [_caption(caption, grid.shape[1], 26), grid]
    return np.vstack(blocks)


def write_look_grid(path, **options) -> np.ndarray:
    """Write :func:`look_grid` to ``path`` (PNG, or any format OpenCV writes); returns the picture."""
    picture = look_grid(**options)
    if not cv2.imwrite(str(path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"could not write {path}")
    return picture

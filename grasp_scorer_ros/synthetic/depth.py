"""What an overhead depth camera sees of a synthetic scene: Jacquard's ``perfect_depth``.

The generator draws objects as flat shapes. For depth each object stands on the table as a prism
of its own height, drawn from (seed, scene index, object) in a stream of its own, so that the
images and grasps stay exactly those written without depth. Depth is the distance along the
camera's optical axis, straight down from ``camera_distance`` above the table: the table at that
distance, each object's top ``height`` nearer, seen where the image shows the object (the camera
is far above objects a few centimetres tall).
"""
from __future__ import annotations

import numpy as np

HEIGHT_RANGE_M = (0.015, 0.06)   # tabletop parts a parallel gripper takes from above
_DEPTH_STREAM = 0x64657074       # "dept": keeps the heights apart from the scene's own draws


def object_heights(seed: int, index: int, count: int) -> np.ndarray:
    """Heights (m) of the ``count`` objects of scene ``index`` of ``seed``."""
    rng = np.random.default_rng([int(seed), int(index), _DEPTH_STREAM])
    return rng.uniform(*HEIGHT_RANGE_M, size=count)


def scene_depth(labels: np.ndarray, heights: np.ndarray, camera_distance: float) -> np.ndarray:
    """Depth ``(H, W)`` float32 metres: ``labels`` 0 is the table, ``k + 1`` object ``k`` of ``heights``."""
    if not camera_distance > float(np.max(heights, initial=0.0)):
        raise ValueError(f"the camera ({camera_distance} m) must be above the objects (up to {np.max(heights)} m)")
    tops = np.concatenate([[0.0], np.asarray(heights, dtype=np.float64)])
    return (camera_distance - tops[labels]).astype(np.float32)

"""Writing synthetic scenes to disk in the Jacquard format, so that they load with
:func:`grasp_scorer_ros.datasets.load_jacquard` like the real dataset.

Layout: ``<out>/<objectid>/<i>_<objectid>_RGB.png``, ``..._grasps.txt`` (``x;y;theta;w;h`` per
line, Jacquard's convention), ``..._mask.png`` (255 on objects) and, when asked, ``..._perfect_depth.tiff``
(float32 metres, as Jacquard's; synthetic/depth.py), where ``<objectid>`` is the object set of the scene; plus ``<out>/synthetic.json`` recording how the set was made: the seed,
the configuration with every parameter of its look, and the grasps per object and per image.
"""
from __future__ import annotations

import json
import multiprocessing
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from grasp_scorer_ros.synthetic.depth import object_heights, scene_depth
from grasp_scorer_ros.synthetic.scene import Scene, SceneConfig, generate_scene, make_object_pool

MANIFEST_NAME = "synthetic.json"


def default_object_sets(count: int) -> int:
    """Enough object sets for object-wise 5-fold splits, each shown in about 8 scenes."""
    return int(np.clip(count // 8, 5, 1000))


def format_jacquard_grasps(grasps: np.ndarray) -> str:
    """Jacquard ``_grasps.txt`` text: ``x;y;theta;w;h`` per line."""
    return "".join(f"{x:.2f};{y:.2f};{t:.2f};{w:.2f};{h:.2f}\n" for x, y, w, h, t in np.asarray(grasps).reshape(-1, 5))


def write_scene(scene: Scene, out_dir: Path, index: int, write_mask: bool = True,
                depth: Optional[np.ndarray] = None) -> Path:
    """Write one scene (and its depth, metres, when given); returns the path of its ``_RGB.png``."""
    folder = out_dir / scene.object_id
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"{index}_{scene.object_id}"
    image_path = Path(f"{stem}_RGB.png")
    if not cv2.imwrite(str(image_path), cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {image_path}")
    Path(f"{stem}_grasps.txt").write_text(format_jacquard_grasps(scene.grasps), encoding="utf-8")
    if write_mask:
        cv2.imwrite(f"{stem}_mask.png", np.where(scene.labels > 0, 255, 0).astype(np.uint8))
    if depth is not None and not cv2.imwrite(f"{stem}_perfect_depth.tiff", depth.astype(np.float32)):
        raise OSError(f"could not write {stem}_perfect_depth.tiff")
    return image_path


_worker_state: dict = {}


def _init_worker(out_dir, seed, pool, config, write_masks, depth_camera_distance=None):
    _worker_state.update(out_dir=out_dir, seed=seed, pool=pool, config=config, write_masks=write_masks,
                         depth_camera_distance=depth_camera_distance)


def _generate_and_write(index: int) -> Tuple[Path, List[int]]:
    st = _worker_state
    scene = generate_scene(index, st["seed"], st["pool"], st["config"])
    depth = None
    if st["depth_camera_distance"]:
        heights = object_heights(st["seed"], index, len(scene.shapes))
        depth = scene_depth(scene.labels, heights, st["depth_camera_distance"])
    return write_scene(scene, st["out_dir"], index, st["write_masks"], depth), scene.grasps_per_object().tolist()


def _summary(values: Sequence[int]) -> Dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    return {"mean": round(float(v.mean()), 1), "median": float(np.median(v)), "min": int(v.min()),
            "max": int(v.max())}


def grasp_statistics(per_object_by_image: Sequence[Sequence[int]]) -> Dict[str, object]:
    """Grasps per object (every object of every scene, those left without a grasp included) and per
    image, as ``{"objects", "grasps_per_object", "grasps_per_image"}`` with mean, median, min and max."""
    per_object = [n for counts in per_object_by_image for n in counts]
    per_image = [sum(counts) for counts in per_object_by_image]
    return {"objects": len(per_object), "grasps_per_object": _summary(per_object),
            "grasps_per_image": _summary(per_image)}


def format_grasp_statistics(stats: Dict[str, object]) -> str:
    """One line: ``grasps per object: mean 236 (median 220, min 0, max 900) over 512 objects; per image: ...``."""
    o, i = stats["grasps_per_object"], stats["grasps_per_image"]
    return (f"grasps per object: mean {o['mean']:.0f} (median {o['median']:.0f}, min {o['min']}, max {o['max']}) "
            f"over {stats['objects']} objects; per image: mean {i['mean']:.0f} (min {i['min']}, max {i['max']})")


def write_dataset(out_dir, count: int, seed: int = 0, config: SceneConfig = SceneConfig(),
                  object_sets: Optional[int] = None, write_masks: bool = True,
                  progress: Optional[Callable] = None, workers: int = 1,
                  depth_camera_distance: Optional[float] = None) -> List[Path]:
    """Generate scenes ``0 .. count-1`` of ``seed`` into ``out_dir``; returns the image paths.

    ``progress(iterable, total)`` wraps the iterator over finished scenes (e.g. ``tqdm``). With
    ``workers > 1`` scenes are made in that many processes; the files are the same either way,
    since every scene depends only on the seed and its index. ``depth_camera_distance`` (m): also
    write each scene's depth as a camera that far above the table sees it.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    object_sets = object_sets or default_object_sets(count)
    pool = make_object_pool(seed, object_sets, config)
    started = time.perf_counter()
    state = (out_dir, seed, pool, config, write_masks, depth_camera_distance)
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers, _init_worker, state) as processes:
            results = processes.imap(_generate_and_write, range(count), chunksize=8)
            results = list(progress(results, total=count) if progress else results)
    else:
        _init_worker(*state)
        results = map(_generate_and_write, range(count))
        results = list(progress(results, total=count) if progress else results)
    paths = [path for path, _ in results]
    stats = grasp_statistics([counts for _, counts in results])
    seconds = time.perf_counter() - started
    manifest = {
        "generator": "grasp_scorer_ros.synthetic", "format": "jacquard", "seed": seed, "count": count,
        "look": config.look.name, "object_sets": object_sets, "depth_camera_distance": depth_camera_distance,
        "grasps": int(sum(sum(counts) for _, counts in results)), **stats, "config": asdict(config),
        "gripper": asdict(config.gripper_model), "seconds": round(seconds, 3),
        "scenes_per_second": round(count / max(seconds, 1e-9), 1),
    }
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return paths

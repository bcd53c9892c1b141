"""``grasp-scorer-cell-renders``: a grasp dataset rendered by the physics cell, in the Jacquard format.

The synthetic generator draws its scenes in 2D, flat, straight from above. The physics cell renders
the same kind of objects another way: 3D prisms 6-60 mm tall on the table, through the calibrated
pinhole camera (perspective: a tall object near the image's edge shows its top face shifted
outward and its sides), lit by a directional light with cast shadows and MuJoCo's own shading.
It is an evaluation look built by a path independent of the generator's renderer, with the same
ground truth by construction: each of the generator's grasps is cast onto the table, moved with
its object as the object settled, raised to the object's top face and projected through the camera
(so it lands where the camera sees the object). Objects that tipped over while settling lose their
grasps (counted in the manifest).

Only prisms are rendered (the ``generator``, ``crowded`` and ``plate`` families): the ``round``
family's balls and rollers do not keep the generator's outline, so its grasps would not be theirs.

Layout as :mod:`grasp_scorer_ros.synthetic.writer`: ``<out>/<objectid>/<i>_<objectid>_RGB.png`` and
``..._grasps.txt``, plus ``<out>/cell_renders.json`` (how the set was made).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import cv2
import numpy as np

from grasp_scorer_ros import bundled
from grasp_scorer_ros.camera.calibration_file import load_calibration_yaml, load_intrinsics_yaml
from grasp_scorer_ros.camera.models import Calibration, CalibrationError, CameraIntrinsics
from grasp_scorer_ros.grasp import corners_to_grasp, grasp_corners
from grasp_scorer_ros.sim.cell_scene import CellScene, image_to_table, make_cell_scene
from grasp_scorer_ros.synthetic.writer import format_jacquard_grasps

MANIFEST_NAME = "cell_renders.json"
PRISM_FAMILIES = ("generator", "crowded", "plate")
MAX_TILT_DEG = 5.0     # an object tipped further than this after settling loses its grasps


def project_points(points, calibration: Calibration, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Image pixels ``(N, 2)`` of base-frame points ``(N, 3)`` (pinhole, no distortion)."""
    pose = calibration.camera_pose
    in_camera = (np.asarray(points, float).reshape(-1, 3) - pose.translation) @ pose.rotation
    if np.any(in_camera[:, 2] <= 0):
        raise CalibrationError("a point lies behind the camera")
    uv = in_camera @ intrinsics.camera_matrix.T
    return uv[:, :2] / uv[:, 2:3]


def settled_grasps(scene: CellScene, poses, calibration: Calibration, intrinsics: CameraIntrinsics,
                   table_z: float) -> tuple[np.ndarray, np.ndarray]:
    """The scene's ground-truth grasps where the camera sees them after the objects settled.

    ``poses``: per object, its body's position ``(3,)`` and rotation matrix ``(3, 3)`` after
    settling (it was built at ``(x, y, table_z)`` without rotation). Each grasp's corners go onto
    the table, move with the object's rigid motion, rise to its top face and are projected.
    Returns ``(grasps (N, 5), tipped object indices)``."""
    out, tipped = [], []
    for k, (obj, (position, rotation)) in enumerate(zip(scene.objects, poses)):
        rotation = np.asarray(rotation, float)
        if np.degrees(np.arccos(np.clip(rotation[2, 2], -1, 1))) > MAX_TILT_DEG:
            tipped.append(k)
            continue
        grasps = scene.grasps_px[scene.grasp_object == k]
        if not len(grasps):
            continue
        corners = grasp_corners(grasps).reshape(-1, 2)
        on_table = image_to_table(corners, calibration, intrinsics)
        start = np.array([obj.position[0], obj.position[1], table_z])
        local = np.column_stack([on_table, np.full(len(on_table), table_z)]) - start
        moved = local @ rotation.T + np.asarray(position, float)
        moved[:, 2] = table_z + obj.height        # the top face, which the camera sees
        pixels = project_points(moved, calibration, intrinsics).reshape(-1, 4, 2)
        out.append(np.stack([corners_to_grasp(c) for c in pixels]))
    grasps = np.concatenate(out).astype(np.float32) if out else np.zeros((0, 5), np.float32)
    return grasps, np.array(tipped, dtype=np.int64)


def _seen_objects(scene: CellScene, poses, calibration, intrinsics, table_z: float) -> list:
    """Each object's kind, height and the pixel where the camera sees the centre of its top face."""
    seen = []
    for obj, (position, rotation) in zip(scene.objects, poses):
        c = obj.footprint.centroid
        local = np.array([c.x - obj.position[0], c.y - obj.position[1], 0.0])
        top = local @ np.asarray(rotation).T + np.asarray(position) + [0.0, 0.0, obj.height]
        centre = project_points(top, calibration, intrinsics)[0]
        seen.append({"kind": obj.kind, "height_m": round(obj.height, 4),
                     "centre_px": [round(float(centre[0]), 2), round(float(centre[1]), 2)]})
    return seen


def render_dataset(out_dir, count: int, seed: int, calibration: Calibration, intrinsics: CameraIntrinsics,
                   look: str = "heldout", families: Sequence[str] = PRISM_FAMILIES,
                   progress: Optional[Callable] = None) -> dict:
    """Render scenes ``0 .. count-1`` of ``seed`` into ``out_dir``; returns the manifest it writes."""
    from grasp_scorer_ros.sim.physics_cell import PhysicsCell   # MuJoCo only when rendering
    unknown = sorted(set(families) - set(PRISM_FAMILIES))
    if unknown:
        raise ValueError(f"only prism families keep the generator's ground truth: {unknown} are not "
                         f"among {PRISM_FAMILIES}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table_z = float(calibration.surface.point[2])
    renderers: dict = {}
    started = time.perf_counter()
    counts = {"images": 0, "grasps": 0, "objects": 0, "tipped_objects": 0, "families": {}}
    scenes = []
    indices = range(count)
    for index in (progress(indices, count) if progress else indices):
        scene = make_cell_scene(index, seed, calibration, intrinsics, look=look, families=tuple(families))
        cell = PhysicsCell(scene, calibration, intrinsics, renderer_cache=renderers)
        poses = cell.object_poses()
        grasps, tipped = settled_grasps(scene, poses, calibration, intrinsics, table_z)
        rgb = cell.render_rgb()
        folder = out_dir / scene.object_id
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / f"{index}_{scene.object_id}"
        if not cv2.imwrite(f"{stem}_RGB.png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {stem}_RGB.png")
        Path(f"{stem}_grasps.txt").write_text(format_jacquard_grasps(grasps), encoding="utf-8")
        counts["images"] += 1
        counts["grasps"] += int(len(grasps))
        counts["objects"] += len(scene.objects)
        counts["tipped_objects"] += int(len(tipped))
        counts["families"][scene.family] = counts["families"].get(scene.family, 0) + 1
        scenes.append({"index": index, "image": f"{scene.object_id}/{index}_{scene.object_id}_RGB.png",
                       "family": scene.family, "objects": _seen_objects(scene, poses, calibration, intrinsics, table_z)})
    seconds = time.perf_counter() - started
    manifest = {"generator": "grasp_scorer_ros.sim.cell_renders", "format": "jacquard", "seed": seed,
                "count": count, "look": look, "families": list(families),
                "camera": {"width": intrinsics.width, "height": intrinsics.height,
                           "camera_matrix": intrinsics.camera_matrix.tolist(),
                           "translation": calibration.camera_pose.translation.tolist()},
                **counts, "scenes": scenes, "seconds": round(seconds, 1), "images_per_second": round(count / max(seconds, 1e-9), 2)}
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grasp-scorer-cell-renders",
        description="Render the physics cell's scenes (3D objects, perspective camera, shadows) with the generator's "
                    "ground truth projected where the camera sees it, as a Jacquard-format dataset.")
    parser.add_argument("--out", required=True, help="output folder (created if needed)")
    parser.add_argument("--count", type=int, default=300, help="number of scenes (default: 300)")
    parser.add_argument("--seed", type=int, default=2000, help="scene seed (default: 2000)")
    parser.add_argument("--look", default="heldout", choices=["heldout", "train"],
                        help="the generator's objects and tables (default: heldout, never trained on)")
    parser.add_argument("--families", nargs="+", choices=PRISM_FAMILIES, default=list(PRISM_FAMILIES),
                        help="scene families (default: all prism families)")
    parser.add_argument("--calibration", default=str(bundled.demo_calibration_path()),
                        help="calibration YAML of the camera (default: the demo camera's)")
    parser.add_argument("--camera-info", default=str(bundled.demo_camera_path()),
                        help="camera_info_manager intrinsics YAML (default: the demo camera's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = get_args_parser()
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error(f"--count must be at least 1, got {args.count}")
    try:
        calibration = load_calibration_yaml(args.calibration)
        intrinsics = load_intrinsics_yaml(args.camera_info)
    except CalibrationError as error:
        print(f"grasp-scorer-cell-renders: {error}", file=sys.stderr)
        return 2
    from tqdm import tqdm
    progress = None if args.quiet else (lambda it, total: tqdm(it, total=total, desc="renders", unit="scene"))
    try:
        manifest = render_dataset(args.out, args.count, args.seed, calibration, intrinsics, look=args.look,
                                  families=args.families, progress=progress)
    except (OSError, ValueError) as error:
        print(f"grasp-scorer-cell-renders: {error}", file=sys.stderr)
        return 1
    print(f"wrote {manifest['images']} renders ({manifest['grasps']} grasps; {manifest['tipped_objects']} of "
          f"{manifest['objects']} objects tipped over) to {args.out} in {manifest['seconds']:.0f} s "
          f"({manifest['images_per_second']:.1f} scenes/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

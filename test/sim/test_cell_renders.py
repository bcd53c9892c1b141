"""The physics cell's renders as a dataset: the ground truth lands where the camera sees the objects.

Each grasp is checked against the render's own depth image: its centre must lie on an object's top
face, which the 2D generator's grasps (not projected) miss for tall objects off the image centre.
"""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from grasp_scorer_ros import bundled
from grasp_scorer_ros.camera.calibration_file import load_calibration_yaml, load_intrinsics_yaml
from grasp_scorer_ros.datasets import load_jacquard
from grasp_scorer_ros.sim.cell_renders import project_points, settled_grasps
from grasp_scorer_ros.sim.cell_scene import image_to_table, make_cell_scene
from grasp_scorer_ros.sim.physics_cell import ensure_gl

ensure_gl()
pytest.importorskip("mujoco")
from grasp_scorer_ros.sim.physics_cell import PhysicsCell  # noqa: E402

CALIBRATION = load_calibration_yaml(bundled.demo_calibration_path())
INTRINSICS = load_intrinsics_yaml(bundled.demo_camera_path())


def test_projection_inverts_the_cast_onto_the_table():
    pixels = np.array([[10.0, 20.0], [240.0, 240.0], [470.5, 3.25]])
    on_table = image_to_table(pixels, CALIBRATION, INTRINSICS)
    points = np.column_stack([on_table, np.zeros(len(on_table))])
    assert np.allclose(project_points(points, CALIBRATION, INTRINSICS), pixels, atol=1e-6)
    # Raised towards the camera (0.8 m above the table) a point moves away from the principal point.
    raised = project_points(points + [0, 0, 0.08], CALIBRATION, INTRINSICS)
    assert np.allclose(raised - 240.0, (pixels - 240.0) * 0.8 / 0.72, atol=1e-6)


@pytest.mark.slow
def test_grasps_follow_their_object_as_it_moved_and_skip_tipped_ones():
    scene = make_cell_scene(0, 5, CALIBRATION, INTRINSICS, families=("generator",))
    upright = [(np.array([*o.position, 0.0]), np.eye(3)) for o in scene.objects]
    grasps, tipped = settled_grasps(scene, upright, CALIBRATION, INTRINSICS, 0.0)
    assert len(tipped) == 0 and len(grasps) == len(scene.grasps_px)
    mine = scene.grasp_object == 0
    # Object 0 slid 1 cm along base +x: image up (image down is base -x), about 14 px.
    moved = list(upright)
    moved[0] = (upright[0][0] + [0.01, 0.0, 0.0], np.eye(3))
    after, _ = settled_grasps(scene, moved, CALIBRATION, INTRINSICS, 0.0)
    shift = after[mine, :2] - grasps[mine, :2]
    assert np.all(shift[:, 1] < -13) and np.all(shift[:, 1] > -17) and np.all(np.abs(shift[:, 0]) < 0.5)
    # Turned a quarter about its origin: every grasp of it turns by 90 degrees, the others stay.
    turned = list(upright)
    turned[0] = (upright[0][0], np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    after, _ = settled_grasps(scene, turned, CALIBRATION, INTRINSICS, 0.0)
    angle_change = (after[mine, 4] - grasps[mine, 4] + 90) % 180 - 90
    assert np.allclose(np.abs(angle_change), 90, atol=0.5)
    assert np.allclose(after[~mine], grasps[~mine], atol=1e-3)
    tipped_pose = list(upright)
    tipped_pose[0] = (upright[0][0], np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]))
    kept, tipped = settled_grasps(scene, tipped_pose, CALIBRATION, INTRINSICS, 0.0)
    assert tipped.tolist() == [0] and len(kept) == int((~mine).sum())


def _top_face_outline(obj, position, rotation):
    """Pixels of the object's top-face outline (and holes), as the camera model projects them."""
    rings = [obj.footprint.exterior, *obj.footprint.interiors]
    out = []
    for ring in rings:
        xy = np.asarray(ring.coords)
        local = np.column_stack([xy - obj.position, np.zeros(len(xy))])
        out.append(project_points(local @ rotation.T + position + [0.0, 0.0, obj.height], CALIBRATION, INTRINSICS))
    return out


def _raster(rings, shape):
    mask = np.zeros(shape, np.uint8)
    for i, ring in enumerate(rings):
        cv2.fillPoly(mask, [np.round(ring * 16).astype(np.int32)], 0 if i else 1, shift=4)
    return mask.astype(bool)


@pytest.mark.parametrize("index", [pytest.param(3, marks=pytest.mark.slow), 5])
def test_a_render_shows_each_object_where_its_ground_truth_puts_it(index):
    scene = make_cell_scene(index, 11, CALIBRATION, INTRINSICS, families=("generator",))
    cell = PhysicsCell(scene, CALIBRATION, INTRINSICS)
    poses = cell.object_poses()
    grasps, tipped = settled_grasps(scene, poses, CALIBRATION, INTRINSICS, 0.0)
    depth = cell.render_depth()              # 0.8 m to the table, less on an object's top face
    assert len(tipped) == 0
    for k, (obj, (position, rotation)) in enumerate(zip(scene.objects, poses)):
        seen = np.abs(depth - (0.8 - obj.height)) < 0.002
        projected = _raster(_top_face_outline(obj, position, rotation), depth.shape)
        flat = _raster(_top_face_outline(obj, np.array([*obj.position, -obj.height]), np.eye(3)), depth.shape)
        iou = (seen & projected).sum() / (seen | projected).sum()
        assert iou > 0.88 and iou > (seen & flat).sum() / (seen | flat).sum() + 0.05, (k, obj.kind, iou)
        # Where the top face has no hole every grasp centre is on it; the generator's flat ones less so.
        if not obj.footprint.interiors:
            mine = scene.grasp_object == k
            on_top = [seen[int(round(y)), int(round(x))] for x, y in grasps[mine, :2]]
            flat_on_top = [seen[int(round(y)), int(round(x))] for x, y in scene.grasps_px[mine, :2]]
            assert np.mean(on_top) > 0.9 and np.mean(on_top) > np.mean(flat_on_top), (k, obj.kind)


@pytest.mark.slow
def test_the_command_writes_a_jacquard_set_with_its_manifest(tmp_path):
    out = tmp_path / "renders"
    run = subprocess.run([sys.executable, "-m", "grasp_scorer_ros.sim.cell_renders", "--out", str(out),
                          "--count", "3", "--seed", "4", "--quiet"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "wrote 3 renders" in run.stdout
    samples = load_jacquard(out)
    assert len(samples) == 3 and all(len(s.grasps) > 0 for s in samples)
    manifest = json.loads((out / "cell_renders.json").read_text())
    assert manifest["images"] == 3 and manifest["grasps"] == sum(len(s.grasps) for s in samples)
    first = manifest["scenes"][0]
    assert (out / first["image"]).is_file() and first["objects"][0]["kind"]
    refused = subprocess.run([sys.executable, "-m", "grasp_scorer_ros.sim.cell_renders", "--out", str(out),
                              "--families", "round"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "invalid choice" in refused.stderr


"""The physics cell: its camera is the calibration's, a good grasp holds through lift and transfer,
a bad one does not, and the trial runner scores and reports real picks.

Physics tests build small scenes by hand (a bar, a plate, a tall block) so that what should happen
is known without a model; the runner's test goes through the installed console script.

Covers sim/physics_cell.py, sim/cell_scene.py, sim/pick_trial.py and the trial runner (sim/trials.py).
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from shapely import affinity
from shapely.geometry import box

from grasp_scorer_ros import bundled
from grasp_scorer_ros.camera.calibration_file import load_calibration_yaml, load_intrinsics_yaml
from grasp_scorer_ros.camera.models import CameraIntrinsics, CameraPose
from grasp_scorer_ros.camera.pixel_to_pose import grasp_to_gripper_pose
from grasp_scorer_ros.sim.cell_scene import CellObject, CellScene, convex_pieces, image_to_table, make_cell_scene
from grasp_scorer_ros.sim.pick_trial import MISSED, REFUSED, SUCCESS, run_pick
from grasp_scorer_ros.sim.physics_cell import ensure_gl

ensure_gl()                  # before MuJoCo is imported: headless EGL rendering
pytest.importorskip("mujoco")
from grasp_scorer_ros.sim.physics_cell import PhysicsCell  # noqa: E402

CALIBRATION = load_calibration_yaml(bundled.demo_calibration_path())
INTRINSICS = load_intrinsics_yaml(bundled.demo_camera_path())


def block(name, x, y, length, width, height, yaw_deg=0.0, rgba=(0.85, 0.1, 0.1, 1.0), density=600.0):
    footprint = affinity.rotate(box(-length / 2, -width / 2, length / 2, width / 2), yaw_deg, origin=(0, 0))
    return CellObject(name=name, kind="bar", footprint=affinity.translate(footprint, x, y),
                      pieces=tuple(convex_pieces(footprint)), position=(x, y), height=height,
                      density=density, rgba=rgba)


def scene_of(*objects, intrinsics=INTRINSICS, calibration=CALIBRATION):
    size = intrinsics.width
    corners = image_to_table([[-0.5, -0.5], [size - 0.5, -0.5], [size - 0.5, size - 0.5], [-0.5, size - 0.5]],
                             calibration, intrinsics)
    return CellScene(index=0, seed=0, family="test", look="test", objects=list(objects),
                     table_image=np.full((size, size, 3), 200, np.uint8), table_corners=corners,
                     light_direction=np.array([0.2, 0.1, -1.0]), light_intensity=1.0,
                     grasps_px=np.zeros((0, 5)), grasp_object=np.zeros(0, int))


def top_down(x, y, yaw_closing_axis_deg, z=0.0):
    """A TCP pose whose closing axis (tool y) points along ``yaw`` in the table plane."""
    yaw = math.radians(yaw_closing_axis_deg) - math.pi / 2     # tool x = y cross z
    c, s = math.cos(yaw / 2), math.sin(yaw / 2)
    # Rz(yaw) Rx(pi): [x, y, z, w]
    return np.array([x, y, z]), np.array([c, s, 0.0, 0.0])


def test_convex_pieces_cover_a_concave_outline_exactly():
    ell = box(0, 0, 0.06, 0.02).union(box(0, 0, 0.02, 0.06))
    pieces = convex_pieces(ell)
    from shapely.geometry import Polygon
    from shapely.ops import unary_union
    polygons = [Polygon(p) for p in pieces]
    assert len(pieces) >= 2
    assert all(p.area >= 0.999 * p.convex_hull.area for p in polygons)
    assert abs(unary_union(polygons).area - ell.area) < 1e-9


def test_the_rendered_camera_is_the_calibrated_one():
    """A thin red tile projects where OpenCV's model of the same K and pose says, for an off-centre
    principal point and unequal focal lengths too."""
    k = np.array([[1100.0, 0, 231.0], [0, 1180.0, 252.0], [0, 0, 1]])
    intrinsics = CameraIntrinsics(k, np.zeros(5), 480, 480)
    tile = block("tile", 0.66, 0.07, 0.02, 0.02, 0.002)
    cell = PhysicsCell(scene_of(tile, intrinsics=intrinsics), CALIBRATION, intrinsics)
    rgb = cell.render_rgb().astype(int)
    mask = (rgb[..., 0] > 120) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80)
    ys, xs = np.nonzero(mask)
    assert len(xs) > 100
    pose = CALIBRATION.camera_pose
    world_to_camera = np.linalg.inv(pose.matrix())
    rvec, _ = cv2.Rodrigues(world_to_camera[:3, :3])
    pixel, _ = cv2.projectPoints(np.array([[0.66, 0.07, 0.001]]), rvec, world_to_camera[:3, 3], k, np.zeros(5))
    assert np.allclose([xs.mean(), ys.mean()], pixel.reshape(2), atol=1.0)


def test_a_distorted_camera_is_refused_not_rendered_wrong():
    distorted = CameraIntrinsics(INTRINSICS.camera_matrix, np.array([0.1, 0, 0, 0, 0]), 480, 480)
    with pytest.raises(ValueError, match="distortion"):
        PhysicsCell(scene_of(block("b", 0.6, 0.0, 0.08, 0.03, 0.04), intrinsics=distorted), CALIBRATION, distorted)


def test_a_good_grasp_lifts_carries_and_releases_the_bar():
    cell = PhysicsCell(scene_of(block("bar", 0.62, 0.05, 0.08, 0.03, 0.04)), CALIBRATION, INTRINSICS)
    position, quaternion = top_down(0.62, 0.05, 90.0)          # closing across the bar's width (base y)
    outcome = run_pick(cell, position, quaternion, 0.05)
    assert outcome.cause == SUCCESS, outcome
    assert outcome.rise_m > 0.14                                # it came up with the 0.15 m lift
    assert np.linalg.norm(cell.object_positions()[0, :2] - [0.35, -0.45]) < 0.1   # and lies at the place


def test_the_same_grasp_turned_by_90_degrees_fails():
    cell = PhysicsCell(scene_of(block("bar", 0.62, 0.05, 0.13, 0.03, 0.04)), CALIBRATION, INTRINSICS)
    position, quaternion = top_down(0.62, 0.05, 0.0)           # closing along a bar wider than the jaws
    outcome = run_pick(cell, position, quaternion, 0.05)
    assert not outcome.success
    assert np.linalg.norm(cell.object_positions()[0, :2] - [0.62, 0.05]) < 0.05   # still on the table


def test_a_calibration_offset_of_a_few_centimetres_turns_a_pick_into_a_miss():
    cube = block("cube", 0.62, 0.05, 0.025, 0.025, 0.04)
    # The pixel grasp across the cube, as the true camera sees its centre; the camera believed 4 cm
    # off along base x, across the closing axis, where the 22 mm pads have no slack.
    world_to_camera = np.linalg.inv(CALIBRATION.camera_pose.matrix())
    rvec, _ = cv2.Rodrigues(world_to_camera[:3, :3])
    centre, _ = cv2.projectPoints(np.array([[0.62, 0.05, 0.0]]), rvec, world_to_camera[:3, 3],
                                  INTRINSICS.camera_matrix, np.zeros(5))
    u, v = centre.reshape(2)
    grasp_px = np.array([u, v, 50.0, 20.0, 0.0])               # opening axis along image x = base -y
    results = {}
    for shift in (0.0, 0.04):
        pose = CameraPose(CALIBRATION.camera_pose.translation + [shift, 0.0, 0.0], CALIBRATION.camera_pose.quaternion)
        gripper = grasp_to_gripper_pose(grasp_px, INTRINSICS, pose, CALIBRATION.surface)
        cell = PhysicsCell(scene_of(cube), CALIBRATION, INTRINSICS)
        results[shift] = run_pick(cell, gripper.position, gripper.quaternion, gripper.opening_width_m).cause
    assert results == {0.0: SUCCESS, 0.04: MISSED}


def test_a_grasp_wider_than_the_gripper_is_refused_and_nothing_moves():
    cell = PhysicsCell(scene_of(block("bar", 0.62, 0.05, 0.08, 0.03, 0.04)), CALIBRATION, INTRINSICS)
    position, quaternion = top_down(0.62, 0.05, 90.0)
    before = cell.tcp()[0]
    outcome = run_pick(cell, position, quaternion, 0.12)
    assert outcome.cause == REFUSED and "opening" in outcome.detail
    assert np.allclose(cell.tcp()[0], before)


@pytest.mark.slow
def test_grasp_height_without_depth_on_the_flattest_and_the_tallest_objects():
    """The fingertips stop grasp_height_offset above the table: the tallest object (0.06 m) is
    picked with the bridge's 15 mm, a plate of 12 mm is missed with it and picked at 5 mm (the
    planner's floor: table plus min_clearance_m)."""
    tall = block("tall", 0.62, 0.05, 0.04, 0.03, 0.06)
    plate = block("plate", 0.62, 0.05, 0.06, 0.04, 0.012)
    position, quaternion = top_down(0.62, 0.05, 90.0)
    assert run_pick(PhysicsCell(scene_of(tall), CALIBRATION, INTRINSICS), position, quaternion, 0.05).success
    assert run_pick(PhysicsCell(scene_of(plate), CALIBRATION, INTRINSICS), position, quaternion, 0.05).cause == MISSED
    assert run_pick(PhysicsCell(scene_of(plate), CALIBRATION, INTRINSICS), position, quaternion, 0.05,
                    grasp_height_offset=0.005).success


def test_cell_scenes_are_seeded_and_keep_the_generators_ground_truth():
    a = make_cell_scene(3, 11, CALIBRATION, INTRINSICS)
    b = make_cell_scene(3, 11, CALIBRATION, INTRINSICS)
    assert [o.kind for o in a.objects] == [o.kind for o in b.objects]
    assert np.array_equal(a.grasps_px, b.grasps_px) and len(a.grasps_px) > 0
    # Every ground-truth grasp's opening axis, cast on the table, crosses the footprint of its object.
    from shapely.geometry import LineString
    g = a.grasps_px[:50]
    axis = np.column_stack([np.cos(np.radians(g[:, 4])), np.sin(np.radians(g[:, 4]))]) * g[:, 2:3] / 2
    ends_a = image_to_table(g[:, :2] - axis, CALIBRATION, INTRINSICS)
    ends_b = image_to_table(g[:, :2] + axis, CALIBRATION, INTRINSICS)
    for p, q, k in zip(ends_a, ends_b, a.grasp_object[:50]):
        assert LineString([p, q]).intersects(a.objects[k].footprint)


def test_save_and_restore_state_replays_the_same_pick():
    scene = scene_of(block("bar", 0.62, 0.05, 0.08, 0.03, 0.04))
    cell = PhysicsCell(scene, CALIBRATION, INTRINSICS)
    state = cell.save_state()
    position, quaternion = top_down(0.62, 0.05, 90.0)
    run_pick(cell, position, quaternion, 0.05)
    first = cell.object_positions()
    cell.restore_state(state)
    assert np.allclose(cell.object_positions()[0, :2], [0.62, 0.05], atol=1e-3)
    run_pick(cell, position, quaternion, 0.05)
    assert np.allclose(cell.object_positions(), first, atol=1e-6)


@pytest.mark.slow
def test_the_trial_runner_console_script_runs_real_picks(tmp_path):
    """Two seeded trials through ``grasp-scorer-trials`` (the installed console script): a summary
    whose last line is the success rate, per-trial results, and a montage."""
    script = shutil.which("grasp-scorer-trials")
    command = [script] if script else [sys.executable, "-m", "grasp_scorer_ros.sim.trials"]
    out = tmp_path / "trials"
    run = subprocess.run(command + ["--trials", "2", "--seed", "5", "--out", str(out), "--quiet", "--save", "all",
                                    "--threads", "1", "--ranking", "final", "ground-truth"],
                         capture_output=True, text=True, timeout=600, env={**os.environ, "MUJOCO_GL": "egl"})
    assert run.returncode == 0, run.stderr[-2000:]
    last = run.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"success rate: \d+\.\d% \[\d+\.\d, \d+\.\d\]", last), last
    results = json.loads((out / "results.json").read_text())
    assert len(results["trials"]) == 2
    for trial in results["trials"]:
        for ranking in ("final", "ground-truth"):
            assert trial[ranking]["cause"] in ("success", "no grasp over the threshold", "jaws missed",
                                               "slipped in lift", "slipped in transfer",
                                               "not released at the place", "collision with another object",
                                               "refused by the limits")
    successes = sum(t["final"]["cause"] == "success" for t in results["trials"])
    assert f"final: {successes}/2" in (out / "summary.txt").read_text()
    assert (out / "montage.png").stat().st_size > 1000
    assert len(list((out / "failures").glob("*_camera.png"))) == 4       # --save all: every pick


@pytest.mark.slow
def test_the_trial_runner_refuses_a_missing_checkpoint(tmp_path):
    run = subprocess.run([sys.executable, "-m", "grasp_scorer_ros.sim.trials", "--checkpoint", "/nope.pt",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "checkpoint not found: /nope.pt" in run.stderr



def test_two_runs_compare_trial_by_trial(tmp_path):
    from grasp_scorer_ros.sim.trials import compare_runs

    def run(name, outcomes, seed=1000):
        path = tmp_path / name / "results.json"
        path.parent.mkdir()
        path.write_text(json.dumps({"arguments": {"seed": seed}, "trials": [
            {"index": i, "final": {"cause": "success" if ok else "jaws missed"}} for i, ok in enumerate(outcomes)]}))
        return str(path)

    a = run("a", [True, True, True, False])
    b = run("b", [True, False, False, False])
    lines = compare_runs(f"{a}:final", f"{b}:final")
    assert lines[0] == "4 scenes in common; a:final: 75.0%, b:final: 25.0%"
    assert "+50.0 points" in lines[1] and "right only by a:final: 2, only by b:final: 0" in lines[1]
    with pytest.raises(ValueError, match="different scene seeds"):
        compare_runs(f"{a}:final", f"{run('c', [True], seed=7)}:final")
    # a run still going (its trials.jsonl so far) pairs on the scenes both have
    going = tmp_path / "going" / "trials.jsonl"
    going.parent.mkdir()
    going.write_text("".join(json.dumps({"index": i, "final": {"cause": "success"}}) + "\n" for i in (0, 1)))
    lines = compare_runs(f"{going}:final", f"{b}:final")
    assert lines[0] == "2 scenes in common; going:final: 100.0%, b:final: 50.0%"


def test_the_summary_counts_causes_and_judges_the_metric_only_on_tried_picks():
    from grasp_scorer_ros.sim.trials import summarize

    def trial(family, cause, metric):
        return {"family": family, "final": {"cause": cause, "metric_correct": metric}}

    records = [trial("generator", "success", True), trial("generator", "success", False),
               trial("plate", "jaws missed", True), trial("generator", "no grasp over the threshold", True)]
    lines = summarize(records, ["final"])
    assert lines[0].startswith("final: 2/4 = 50.0% [") and "jaws missed: 1" in lines[0]
    assert "no grasp over the threshold: 1" in lines[0]
    assert lines[1] == "  by family: generator 2/3, plate 0/1"
    assert "on 3 picked grasps: agree 1 (33.3%)" in lines[2]     # the untried grasp is not judged
    assert lines[-1].startswith("success rate: 50.0% [")


def test_the_trials_use_the_settings_a_user_gets():
    """The runner's settings are the launch defaults, read from the config/ files (not copied), and
    it gives the pipeline the cell's depth, so its figures are those of `ros2 launch grasp_scorer_ros
    detect.launch.py world:=physics`."""
    import yaml
    from pathlib import Path
    from grasp_scorer_ros.sim.trials import get_args_parser, trial_settings
    config = Path(__file__).resolve().parents[2] / "config"
    detection = yaml.safe_load((config / "detection.yaml").read_text())["/**"]["ros__parameters"]
    bridge = yaml.safe_load((config / "fanuc_bridge.yaml").read_text())["/**"]["ros__parameters"]
    args = get_args_parser().parse_args([])
    assert args.detection_config.resolve() == (config / "detection.yaml").resolve() and args.depth
    settings = trial_settings(args)
    assert settings.score_threshold == detection["score_threshold"]
    assert (settings.grasp_depth, settings.reference_yaw) == (detection["grasp_depth"], detection["reference_yaw"])
    assert settings.depth.finger_length == detection["finger_length"]
    assert args.grasp_height_offset == bridge["grasp_height_offset"]
    assert trial_settings(get_args_parser().parse_args(["--score-threshold", "0.7"])).score_threshold == 0.7
    assert not get_args_parser().parse_args(["--no-depth"]).depth


def test_depth_is_metric_along_the_optical_axis():
    """The depth frame (for the depth-aware features to come) gives the table and a block's top at
    their distances from the camera: 0.8 m and 0.8 m minus the block's 50 mm."""
    cell = PhysicsCell(scene_of(block("block", 0.6, 0.0, 0.06, 0.06, 0.05)), CALIBRATION, INTRINSICS)
    depth = cell.render_depth()
    assert depth.shape == (480, 480) and depth.dtype == np.float32
    assert abs(float(depth[240, 240]) - 0.75) < 0.002     # the block's top, under the optical axis
    assert abs(float(depth[20, 20]) - 0.8) < 0.002        # the table

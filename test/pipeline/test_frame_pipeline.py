"""The frame pipeline (the node's rule, once): ranked grasps, their checks and poses, the best one."""
from pathlib import Path

import numpy as np
import pytest
import yaml

from grasp_scorer_ros.camera.workspace import Workspace
from grasp_scorer_ros.network.detector import Detections
from grasp_scorer_ros.pipeline.frame_pipeline import FramePipeline, FrameSettings
from overhead_scene import INTRINSICS, POSE, TABLE, table_with

CONFIG = Path(__file__).resolve().parents[2] / "config" / "detection.yaml"


class ListDetector:
    """A stand-in for GraspDetector.detect that ranks a fixed list (the network is tested elsewhere)."""

    def __init__(self, grasps, scores, primary=None):
        self.grasps = np.asarray(grasps, np.float32)
        self.scores = np.asarray(scores, np.float32)
        self.primary = np.asarray(primary if primary is not None else scores, np.float32)
        self.calls = []

    def detect(self, rgb, top_k=None):
        self.calls.append(top_k)
        order = np.argsort(-self.scores, kind="stable")[:top_k]
        return Detections(self.grasps[order], self.scores[order], self.primary[order], anchor_index=order)


def pipeline_of(detector, **settings):
    return FramePipeline(detector, POSE, TABLE, FrameSettings(**settings))


RGB = np.zeros((96, 96, 3), np.uint8)


def test_the_best_grasp_is_the_best_with_a_pose_if_it_reaches_the_threshold():
    # three grasps scored 0.4, 0.9, 0.8; the 0.9 one lies off the work surface's side of the camera
    grasps = [[48, 48, 20, 8, 0], [48, 48, 20, 8, 0], [30, 30, 20, 8, 0]]
    result = pipeline_of(ListDetector(grasps, [0.4, 0.9, 0.8]), score_threshold=0.5).process(RGB, INTRINSICS)
    assert result.best.score == pytest.approx(0.9) and result.best.pose is not None
    assert [round(c.score, 1) for c in result.candidates] == [0.9, 0.8, 0.4]
    # no intrinsics: no pose, so no best grasp, and the frame says why
    result = pipeline_of(ListDetector(grasps, [0.4, 0.9, 0.8])).process(RGB, None)
    assert result.best is None and result.refusals[-1][0] == "no pose" and not result.placed
    # a threshold above every score: the best with a pose exists but is not published
    result = pipeline_of(ListDetector(grasps, [0.4, 0.9, 0.8]), score_threshold=0.95).process(RGB, INTRINSICS)
    assert result.best is None and result.placed[0].score == pytest.approx(0.9)
    assert "no grasp reaches score_threshold 0.95 (best 0.90)" == result.summary(3)
    # intrinsics of another image size place nothing
    small = np.zeros((48, 48, 3), np.uint8)
    result = pipeline_of(ListDetector(grasps, [0.4, 0.9, 0.8])).process(small, INTRINSICS)
    assert result.best is None and "intrinsics are for 96x96 images" in result.refusals[-1][1]


def test_depth_refusals_widen_the_search_and_heights_place_the_grasp():
    depth = table_with((40, 38, 56, 58, 0.05), (64, 30, 80, 66, 0.12))
    refused = [48.0, 48.0, 34.0, 10.0, 0.0]    # a finger lands on the 12 cm box
    on_box = [48.0, 48.0, 22.0, 10.0, 0.0]
    detector = ListDetector([refused] * 6 + [on_box], [0.9] * 6 + [0.6])
    result = pipeline_of(detector, num_candidates=5).process(RGB, INTRINSICS, depth)
    assert detector.calls == [5, 20] and result.detect_calls == 2     # too few passed in the first 5
    assert len(result.candidates) == 1 and result.best.score == pytest.approx(0.6)
    assert abs(result.best.height.top - 0.05) < 1e-4
    assert result.best.pose.position[2] == pytest.approx(max(0.0, 0.05 - 0.04), abs=2e-3)   # top - finger_length
    assert sum(what == "grasp refused by depth" for what, _ in result.refusals) == 6   # each counted once
    # the wider search checked only the grasps the first one had not: 5, then 2 (the 6th and the one on the box)
    checked = []
    import grasp_scorer_ros.pipeline.frame_pipeline as module
    original = module.select_grasps
    module.select_grasps = lambda grasps, *a, **k: checked.append(len(grasps)) or original(grasps, *a, **k)
    try:
        pipeline_of(ListDetector([refused] * 6 + [on_box], [0.9] * 6 + [0.6]), num_candidates=5).process(
            RGB, INTRINSICS, depth)
    finally:
        module.select_grasps = original
    assert checked == [5, 2]       # the second call sees the 7 ranked minus the 5 already checked
    # depth that should be there but is not: nothing passes, and the frame says why
    result = pipeline_of(ListDetector([on_box], [0.9])).process(RGB, INTRINSICS, depth_problem="no depth frame yet")
    assert result.best is None and result.problem == ("no depth", "no depth frame yet")
    # depth of another size is refused
    result = pipeline_of(ListDetector([on_box], [0.9])).process(RGB, INTRINSICS, depth[:50])
    assert result.problem[0] == "no depth" and "registered" in result.problem[1]


def test_a_workspace_refuses_and_the_primary_ranking_reorders():
    mask = np.ones((96, 96), bool)
    mask[:, 60:] = False
    detector = ListDetector([[80, 48, 10, 6, 0], [30, 48, 10, 6, 0]], [0.9, 0.7], primary=[0.6, 0.8])
    pipeline = pipeline_of(detector, workspace=Workspace(mask=mask))
    result = pipeline.process(RGB, INTRINSICS, wanted=1)
    assert result.best.grasp_px[0] == 30 and result.refusals[0][0] == "grasp outside the workspace"
    every = ListDetector([[30, 48, 10, 6, 0], [40, 48, 10, 6, 0]], [0.9, 0.7], primary=[0.6, 0.8]).detect(RGB)
    by_primary = pipeline_of(None).place(every, RGB.shape, INTRINSICS, ranking="primary")
    assert by_primary.best.grasp_px[0] == 40 and by_primary.best.score == pytest.approx(0.8)


def test_the_settings_are_the_launch_files():
    values = yaml.safe_load(CONFIG.read_text())["/**"]["ros__parameters"]
    settings = FrameSettings.from_yaml(CONFIG)
    assert settings.score_threshold == values["score_threshold"]
    assert settings.num_candidates == values["num_candidates"]
    assert (settings.grasp_depth, settings.reference_yaw) == (values["grasp_depth"], values["reference_yaw"])
    assert (settings.depth.finger_width, settings.depth.finger_length, settings.depth.clearance_tolerance,
            settings.depth.jaw_opening) == \
        (values["finger_width"], values["finger_length"], values["clearance_tolerance"], values["jaw_opening"])
    assert settings.workspace.active == bool(values["workspace_polygon"] or values["workspace_mask"])

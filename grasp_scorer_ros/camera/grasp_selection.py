"""Which of a frame's ranked grasps may leave the detector: the best ``wanted`` of those inside the
workspace and, when there is depth, clear for the fingers (with their height from the depth).

ROS-free: the detection node publishes what is selected and counts every refusal by its reason.
A refused grasp is never published, so it is never picked.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from grasp_scorer_ros.camera.depth import DepthSettings, GraspHeight, grasp_height
from grasp_scorer_ros.camera.models import CalibrationError, CameraIntrinsics, CameraPose, WorkSurface
from grasp_scorer_ros.camera.workspace import Workspace


@dataclass
class Selection:
    kept: list[int] = field(default_factory=list)                  # indices into the ranked grasps, best first
    heights: dict[int, GraspHeight] = field(default_factory=dict)  # of the kept ones, with depth
    refusals: list[tuple[str, str]] = field(default_factory=list)  # (what, reason) of each refused grasp


def select_grasps(grasps: np.ndarray, wanted: int, workspace: Workspace, intrinsics: Optional[CameraIntrinsics],
                  camera_pose: CameraPose, surface: WorkSurface, depth: Optional[np.ndarray] = None,
                  depth_settings: DepthSettings = DepthSettings()) -> Selection:
    """The first ``wanted`` of ``grasps`` ``(N, 5)`` (ranked, raw image pixels) that pass. Depth
    (metres, registered to the image) is checked only with ``intrinsics`` to place the grasps."""
    selection = Selection()
    for i, grasp in enumerate(grasps):
        if len(selection.kept) == wanted:
            break
        if workspace.active:
            reason = workspace.refusal(grasp, intrinsics, camera_pose, surface)
            if reason is not None:
                selection.refusals.append(("grasp outside the workspace", reason))
                continue
        if depth is not None and intrinsics is not None:
            try:
                height = grasp_height(grasp, depth, intrinsics, camera_pose, surface, depth_settings)
            except CalibrationError as error:       # a pixel the lens model cannot undistort
                height = str(error)
            if isinstance(height, str):
                selection.refusals.append(("grasp refused by depth", height))
                continue
            selection.heights[i] = height
        selection.kept.append(i)
    return selection

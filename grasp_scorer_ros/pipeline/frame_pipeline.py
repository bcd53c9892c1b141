"""From one camera frame to gripper poses: the one place where a frame's grasps are ranked, checked
and placed, and the best one chosen.

In: a colour frame, optionally the depth registered to it, the camera intrinsics, the calibration
(camera pose, work surface) and the live settings. Out (:class:`FrameResult`): the ranked grasps
that passed the workspace and depth checks, each with its gripper pose or the reason it has none,
every refusal with its reason, and the best grasp: the highest-ranked one with a pose, if it
reaches ``score_threshold``.

The detection node publishes what this returns (``grasp/best``, ``grasp/candidates``, the answers
of ``grasp/detect``); ``grasp-scorer-trials`` picks what this returns in the physics cell, with the
launch file's settings read from ``config/detection.yaml`` (:meth:`FrameSettings.from_yaml`). So the
node's rule exists once, and a trial is what the launched node would do with that frame.
ROS-free: numbers and numpy arrays in and out.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

import numpy as np
import yaml

from grasp_scorer_ros.camera.depth import DepthSettings, GraspHeight
from grasp_scorer_ros.camera.grasp_selection import select_grasps
from grasp_scorer_ros.camera.models import CalibrationError, CameraIntrinsics, CameraPose, GripperPose, WorkSurface
from grasp_scorer_ros.camera.pixel_to_pose import grasp_to_gripper_pose
from grasp_scorer_ros.camera.workspace import Workspace
from grasp_scorer_ros.network.detector import Detections

WIDER_SEARCH = 4   # when too few of the best grasps pass the workspace and depth checks, rank this many
                   # times as many (at least MIN_WIDER_SEARCH) and check them again
MIN_WIDER_SEARCH = 20
RANKINGS = ("final", "primary")
CHECK_REFUSALS = ("grasp outside the workspace", "grasp refused by depth")   # camera.grasp_selection's


@dataclass(frozen=True)
class FrameSettings:
    """The settings a frame is processed with: the detection node's live parameters of the same names."""

    score_threshold: float = 0.5
    num_candidates: int = 5
    grasp_depth: float = 0.0
    reference_yaw: float = 0.0
    depth: DepthSettings = DepthSettings()
    workspace: Workspace = Workspace()

    @classmethod
    def from_parameters(cls, values: Mapping) -> "FrameSettings":
        """From the node's parameter values (or ``config/detection.yaml``'s), by their names."""
        defaults = cls()
        return cls(score_threshold=float(values.get("score_threshold", defaults.score_threshold)),
                   num_candidates=int(values.get("num_candidates", defaults.num_candidates)),
                   grasp_depth=float(values.get("grasp_depth", defaults.grasp_depth)),
                   reference_yaw=float(values.get("reference_yaw", defaults.reference_yaw)),
                   # the depth settings are node parameters of their field names
                   depth=DepthSettings(**{f.name: float(values.get(f.name, getattr(defaults.depth, f.name)))
                                          for f in dataclasses.fields(DepthSettings)}),
                   workspace=Workspace.from_settings(values.get("workspace_polygon", ""),
                                                     values.get("workspace_mask", "")))

    @classmethod
    def from_yaml(cls, path) -> "FrameSettings":
        """The launch file's settings: a node parameter file such as ``config/detection.yaml``."""
        document = yaml.safe_load(Path(path).read_text()) or {}
        for section in document.values():   # "/**" or the node's name
            if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
                return cls.from_parameters(section["ros__parameters"])
        raise ValueError(f"{path}: no ros__parameters section")

    def replace(self, **changes) -> "FrameSettings":
        return dataclasses.replace(self, **changes)


@dataclass
class RankedGrasp:
    """One grasp of a frame that passed the workspace and depth checks, in rank order."""

    index: int                       # into the frame's detections
    grasp_px: np.ndarray             # [x, y, w, h, theta], image pixels
    score: float                     # the ranking's score (final, or primary with ranking "primary")
    primary_score: float
    pose: Optional[GripperPose] = None
    height: Optional[GraspHeight] = None   # from the depth, when there is depth
    no_pose: str = ""                # why it has no pose


@dataclass
class FrameResult:
    """What a frame gives: its ranked grasps that passed (best first), what was refused and why,
    and the best grasp (:attr:`best`)."""

    detections: Detections
    candidates: list[RankedGrasp]
    threshold: float
    refusals: list[tuple[str, str]] = field(default_factory=list)   # (what, reason), each refused grasp
    problem: tuple[str, str] = ()    # (what, reason) when the whole frame could not be used
    detect_calls: int = 1

    @property
    def placed(self) -> list[RankedGrasp]:
        """The candidates with a pose, best first."""
        return [c for c in self.candidates if c.pose is not None]

    @property
    def best(self) -> Optional[RankedGrasp]:
        """The highest-ranked grasp with a pose, if it reaches the threshold: what ``grasp/best`` gets."""
        placed = self.placed
        return placed[0] if placed and placed[0].score >= self.threshold else None

    def passing(self, count: int) -> list[RankedGrasp]:
        """Up to ``count`` grasps with a pose that reach the threshold, best first."""
        return [c for c in self.placed if c.score >= self.threshold][:count]

    def summary(self, count: int) -> str:
        """Why :meth:`passing` holds what it holds (a request's answer)."""
        placed, passed = self.placed, len(self.passing(len(self.candidates)))
        if passed:
            return f"{min(passed, count)} grasp(s): those with a pose that reach score_threshold {self.threshold:g}" \
                + (f" (the best {count} of {passed})" if passed > count else "")
        if self.problem:
            return f"{self.problem[0]}: {self.problem[1]}"
        if placed:
            return f"no grasp reaches score_threshold {self.threshold:g} (best {placed[0].score:.2f})"
        if self.candidates:
            return (f"none of the {len(self.candidates)} grasp(s) maps onto the work surface "
                    f"({self.candidates[0].no_pose})")
        ranked = len(self.detections)
        return (f"none of the {ranked} grasp(s) ranked passed the workspace and depth checks (the stats line counts "
                f"why)") if ranked else "no grasp found"


class FramePipeline:
    """A detector and a calibrated camera: :meth:`process` a frame. ``settings`` may be replaced at
    any time (one assignment); a frame uses the settings it started with."""

    def __init__(self, detector, camera_pose: CameraPose, surface: WorkSurface,
                 settings: FrameSettings = FrameSettings()):
        self.detector = detector
        self.camera_pose = camera_pose
        self.surface = surface
        self.settings = settings

    def process(self, rgb: np.ndarray, intrinsics: Optional[CameraIntrinsics], depth: Optional[np.ndarray] = None,
                depth_problem: str = "", wanted: Optional[int] = None) -> FrameResult:
        """Rank ``rgb``'s grasps by final score and keep the best ``wanted`` (default
        ``num_candidates``) that pass. ``depth``: metres, registered to ``rgb``; ``depth_problem``:
        why the depth a frame should have is missing (then no grasp passes: the heights are unknown).
        The detector ranks exactly ``wanted`` grasps, and only when too few pass, more."""
        settings = self.settings
        wanted = max(1, int(wanted or settings.num_candidates))
        detections = self.detector.detect(rgb, top_k=wanted)
        result = self._select(detections, rgb.shape, intrinsics, depth, depth_problem, wanted, settings)
        if len(result.candidates) < wanted and len(detections) == wanted and not result.problem:
            # Too few passed: rank more. The ranking is exact for any count, so the first ones are
            # the same grasps: only the new ones are checked (the depth checks are most of the time
            # a large request takes), unless float rounding reordered them.
            wider = self.detector.detect(rgb, top_k=max(WIDER_SEARCH * wanted, MIN_WIDER_SEARCH))
            same = detections.anchor_index is not None and wider.anchor_index is not None and \
                np.array_equal(wider.anchor_index[:len(detections)], detections.anchor_index)
            previous = result if same else None
            result = self._select(wider, rgb.shape, intrinsics, depth, depth_problem, wanted, settings, previous)
            result.detect_calls = 2
        return result

    def place(self, detections: Detections, image_shape, intrinsics: Optional[CameraIntrinsics],
              depth: Optional[np.ndarray] = None, depth_problem: str = "", wanted: Optional[int] = None,
              ranking: str = "final") -> FrameResult:
        """The same checks and placement on detections already made (every grasp of a frame),
        ranked by their final score or, with ``ranking="primary"``, by the primary score alone (the
        trials' comparison; the threshold then applies to the primary score)."""
        if ranking not in RANKINGS:
            raise ValueError(f"ranking must be one of {RANKINGS}, got {ranking!r}")
        if ranking == "primary":
            order = np.argsort(-detections.primary_scores, kind="stable")
            detections = dataclasses.replace(
                detections, grasps=detections.grasps[order], scores=detections.primary_scores[order],
                primary_scores=detections.primary_scores[order],
                scorer_scores=None if detections.scorer_scores is None else detections.scorer_scores[order],
                anchor_index=None if detections.anchor_index is None else detections.anchor_index[order])
        settings = self.settings
        wanted = max(1, int(wanted or settings.num_candidates))
        return self._select(detections, image_shape, intrinsics, depth, depth_problem, wanted, settings)

    def _select(self, detections: Detections, image_shape, intrinsics, depth, depth_problem: str, wanted: int,
                settings: FrameSettings, previous: Optional[FrameResult] = None) -> FrameResult:
        """``previous``: the result of the first ``len(previous.detections)`` of these same grasps,
        whose checks are kept; only the grasps after them are checked."""
        result = FrameResult(detections, [], settings.score_threshold)
        height, width = image_shape[:2]
        no_intrinsics = "no camera intrinsics yet (no valid CameraInfo and none in the calibration file)"
        if intrinsics is not None and (int(intrinsics.width), int(intrinsics.height)) != (width, height):
            no_intrinsics = f"intrinsics are for {intrinsics.width}x{intrinsics.height} images but an image is " \
                            f"{width}x{height}"
            intrinsics = None
        if depth_problem:
            result.problem = ("no depth", depth_problem)
            return result
        if depth is not None and depth.shape[:2] != (height, width):
            result.problem = ("no depth", f"depth rejected: it is {depth.shape[1]}x{depth.shape[0]} but the colour "
                                          f"image is {width}x{height} (the depth must be registered to the colour "
                                          f"camera)")
            return result
        kept, heights = list(range(min(len(detections), wanted))), {}
        if settings.workspace.active or depth is not None:   # refused grasps are never published, so never picked
            start, kept, heights = 0, [], {}
            if previous is not None:
                start = len(previous.detections)
                kept = [c.index for c in previous.candidates]
                heights = {c.index: c.height for c in previous.candidates if c.height is not None}
                result.refusals.extend(r for r in previous.refusals if r[0] in CHECK_REFUSALS)
            selection = select_grasps(detections.grasps[start:], wanted - len(kept), settings.workspace, intrinsics,
                                      self.camera_pose, self.surface, depth, settings.depth)
            kept += [start + i for i in selection.kept]
            heights.update({start + i: h for i, h in selection.heights.items()})
            result.refusals.extend(selection.refusals)
        for i in kept:
            ranked = self._placed(detections, i, intrinsics, heights.get(i), settings)
            result.candidates.append(ranked)
            if ranked.pose is None and intrinsics is not None:
                result.refusals.append(("grasp not mapped", ranked.no_pose))
        if intrinsics is None:
            result.refusals.append(("no pose", no_intrinsics))
        return result

    def _placed(self, detections: Detections, index: int, intrinsics, height: Optional[GraspHeight],
                settings: FrameSettings) -> RankedGrasp:
        grasp = detections.grasps[index]
        ranked = RankedGrasp(index, grasp, float(detections.scores[index]), float(detections.primary_scores[index]),
                             height=height)
        if intrinsics is None:
            ranked.no_pose = "no camera intrinsics to place it"
            return ranked
        try:
            # With depth: seen on the object's top, closed `reach` below it; else on the work surface.
            ranked.pose = grasp_to_gripper_pose(grasp, intrinsics, self.camera_pose,
                                                height.surface if height else self.surface,
                                                settings.grasp_depth + (height.reach if height else 0.0),
                                                settings.reference_yaw)
        except CalibrationError as error:
            ranked.no_pose = str(error)
        return ranked

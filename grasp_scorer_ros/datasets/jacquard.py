"""Jacquard dataset loader (native files: ``<i>_<objectid>_RGB.png`` + ``<i>_<objectid>_grasps.txt``).

Each line of a grasp file is ``x;y;theta;w;h``: centre in pixels, the opening axis angle in degrees
in image coordinates (y down), the opening width and the jaw size. That is exactly the package's
grasp convention, so values are taken as they are (angles only wrapped to ``[-90, 90)``); public
loaders that negate theta do so because they use a y-up angle. Lines may end in CRLF or LF.

The synthetic scene generator writes the same files, so it goes through this loader too.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import List, Optional

import numpy as np

from grasp_scorer_ros.datasets.sample import (GraspSample, LoadReport, check_root, no_images_error,
                                              usable_pair)
from grasp_scorer_ros.grasp import THETA, normalize_angle

logger = logging.getLogger(__name__)

IMAGE_SUFFIX = "_RGB.png"
GRASPS_SUFFIX = "_grasps.txt"
IMAGE_PATTERN = "*" + IMAGE_SUFFIX


def jacquard_object_id(image_path: Path) -> str:
    """The ``<objectid>`` of ``<i>_<objectid>_RGB.png``; the parent folder's name (Jacquard keeps
    one folder per object) if the file name does not have that form."""
    stem = image_path.name[:-len(IMAGE_SUFFIX)]
    index, sep, object_id = stem.partition("_")
    if sep and object_id:
        return object_id
    logger.warning("Jacquard: %s is not named <i>_<objectid>%s; using its folder name %r as the "
                   "object id", image_path, IMAGE_SUFFIX, image_path.parent.name)
    return image_path.parent.name


def read_jacquard_grasps(path: Path, report: Optional[LoadReport] = None) -> np.ndarray:
    """Grasps ``(N, 5)`` ``[x, y, w, h, theta]`` from a ``_grasps.txt`` file.

    Blank lines are ignored. Lines that do not hold 5 numbers, hold NaN/inf, or have a
    non-positive width or jaw size are skipped with a warning naming the file and line, and counted
    in ``report``.
    """
    grasps = []
    with open(path, "r", encoding="utf-8-sig", errors="replace", newline=None) as f:
        lines = f.read().splitlines()  # handles CRLF, LF and CR
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        fields = [v.strip() for v in text.rstrip(";").split(";")]
        try:
            values = [float(v) for v in fields]
        except ValueError:
            values = []
        if len(values) != 5:
            logger.warning("Jacquard: %s line %d: expected 'x;y;theta;w;h', got %r; line skipped",
                           path, number, text[:80])
            if report is not None:
                report.invalid_lines += 1
            continue
        x, y, theta, w, h = values
        if not all(math.isfinite(v) for v in values):
            logger.warning("Jacquard: %s line %d holds NaN or inf (%r); line skipped", path, number, text[:80])
            if report is not None:
                report.nan_rectangles += 1
            continue
        if w <= 0 or h <= 0:
            logger.warning("Jacquard: %s line %d: width and jaw size must be positive (%r); line skipped",
                           path, number, text[:80])
            if report is not None:
                report.invalid_lines += 1
            continue
        grasps.append((x, y, w, h, theta))
    out = np.array(grasps, dtype=np.float64).reshape(-1, 5)
    out[:, THETA] = normalize_angle(out[:, THETA])
    return out


def load_jacquard(root, report: Optional[LoadReport] = None) -> List[GraspSample]:
    """All usable images under ``root`` (searched recursively for ``*_RGB.png``), sorted by path.

    An image is skipped, with a warning naming it, when its grasp file is missing, empty or holds
    no valid grasp, or when the image file is empty or not an image. A summary is logged; pass a
    :class:`LoadReport` to get the counts. Raises ``FileNotFoundError`` if ``root`` holds no images.
    """
    root = check_root(root, "Jacquard")
    report = report if report is not None else LoadReport("Jacquard", root)
    report.dataset, report.root = "Jacquard", root
    image_paths = sorted(p for p in root.rglob(IMAGE_PATTERN) if p.is_file())
    if not image_paths:
        raise no_images_error(root, "Jacquard", IMAGE_PATTERN)
    report.images_found = len(image_paths)
    samples = []
    for image_path in image_paths:
        grasp_path = image_path.with_name(image_path.name[:-len(IMAGE_SUFFIX)] + GRASPS_SUFFIX)
        if not usable_pair(image_path, grasp_path, report):
            continue
        try:
            grasps = read_jacquard_grasps(grasp_path, report)
        except OSError as error:
            report.skip(image_path, f"unreadable grasp file: {grasp_path.name}: {error}")
            continue
        if len(grasps) == 0:
            report.skip(image_path, f"no valid grasp: {grasp_path.name} is empty or holds no valid line")
            continue
        samples.append(GraspSample(image_path, jacquard_object_id(image_path), grasps))
        report.grasps += len(grasps)
    report.samples = len(samples)
    report.log()
    return samples

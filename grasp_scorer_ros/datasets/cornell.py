"""Cornell Grasping Dataset loader (native files: ``pcdXXXXr.png``, ``pcdXXXXcpos.txt``, ``pcdXXXXcneg.txt``).

A rectangle file holds 4 lines ``x y`` per rectangle (its vertices, counter-clockwise). The first
edge (vertex 0 to 1) is read as the opening axis, like the public loaders (GG-CNN and the Zhou et
al. code) do; see :func:`grasp_scorer_ros.grasp.corners_to_grasp`. Rectangles with a NaN
coordinate exist in the real files: they are skipped and counted.

Object identity. The images do not say which object they show; the original distribution records
it in ``z.txt`` (from the dataset's "processed data" archive, described in its second README):
one line per labelled rectangle, ``<image id> <object id> <description> <background id>``
(whitespace separated; image ids 0000-1034, object ids 0-281, one id per physical object, so three
different bowls have three ids). :func:`load_cornell` uses it when it finds a ``z.txt`` under the root (or is given one).
Without it every image counts as its own object, so an "object-wise" split is then really
image-wise; a warning says so. (``backgroundMapping.txt`` maps images to background images, not
to objects, and is not used.)
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from grasp_scorer_ros.datasets.sample import (GraspSample, LoadReport, check_root, no_images_error,
                                              usable_pair)
from grasp_scorer_ros.grasp import corners_to_grasp

logger = logging.getLogger(__name__)

IMAGE_PATTERN = "pcd*r.png"
OBJECT_MAP_NAME = "z.txt"
_IMAGE_NAME = re.compile(r"^pcd(\d+)r\.png$")


class RectangleFileError(ValueError):
    """A Cornell rectangle file that cannot be parsed; the message names the file and line."""


def read_cornell_rectangles(path: Path, report: Optional[LoadReport] = None) -> np.ndarray:
    """Grasps ``(N, 5)`` from a ``cpos``/``cneg`` file; rectangles holding NaN are skipped (counted
    in ``report``). Raises :class:`RectangleFileError` on a malformed line or a number of lines
    that is not a multiple of 4, since the grouping into rectangles is then unknown."""
    points = []
    with open(path, "r", encoding="utf-8-sig", errors="replace") as f:
        lines = f.read().splitlines()
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        parts = text.split()
        try:
            if len(parts) != 2:
                raise ValueError
            points.append((float(parts[0]), float(parts[1])))
        except ValueError:
            raise RectangleFileError(f"{path} line {number}: expected 'x y', got {text[:80]!r}") from None
    if len(points) % 4:
        raise RectangleFileError(f"{path}: {len(points)} vertex lines, not a multiple of 4")
    grasps = []
    for corners in np.array(points, dtype=np.float64).reshape(-1, 4, 2):
        if not np.all(np.isfinite(corners)):
            if report is not None:
                report.nan_rectangles += 1
            continue
        grasp = corners_to_grasp(corners)
        if grasp[2] <= 0 or grasp[3] <= 0:
            logger.warning("Cornell: %s holds a degenerate rectangle %s; skipped", path, corners.tolist())
            if report is not None:
                report.invalid_lines += 1
            continue
        grasps.append(grasp)
    return np.array(grasps, dtype=np.float64).reshape(-1, 5)


def read_object_map(path: Path) -> Dict[int, str]:
    """Image number -> object id, from Cornell's ``z.txt`` (``<image id> <object id> ...`` per
    line; later fields are ignored). Lines that do not start with two integers are skipped."""
    mapping: Dict[int, str] = {}
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            parts = line.split()
            if len(parts) < 2 or not parts[0].isdigit() or not parts[1].lstrip("-").isdigit():
                if line.strip():
                    logger.warning("Cornell: %s line %d is not '<image id> <object id> ...'; skipped",
                                   path, number)
                continue
            image, obj = int(parts[0]), str(int(parts[1]))
            previous = mapping.setdefault(image, obj)
            if previous != obj:
                logger.warning("Cornell: %s line %d gives image %04d object %s, earlier lines %s; "
                               "keeping %s", path, number, image, obj, previous, previous)
    return mapping


def find_object_map(root: Path) -> Optional[Path]:
    """``z.txt`` at the root, else the first one found in its subfolders."""
    direct = root / OBJECT_MAP_NAME
    if direct.is_file():
        return direct
    return next(iter(sorted(root.rglob(OBJECT_MAP_NAME))), None)


def load_cornell(root, report: Optional[LoadReport] = None,
                 object_map: Optional[Path] = None) -> List[GraspSample]:
    """All usable images under ``root`` (searched recursively for ``pcd*r.png``), sorted by path.

    ``grasps`` are the positive rectangles (``cpos``); negatives (``cneg``) are read into
    ``negative_grasps`` and counted. An image is skipped, with a warning naming it, when its
    ``cpos`` file is missing, malformed, or holds no rectangle without NaN, or when the image file is
    empty or not an image. ``object_map`` is Cornell's ``z.txt`` (found under ``root`` if not given).
    Raises ``FileNotFoundError`` if ``root`` holds no images.
    """
    root = check_root(root, "Cornell")
    report = report if report is not None else LoadReport("Cornell", root)
    report.dataset, report.root = "Cornell", root
    image_paths = sorted(p for p in root.rglob(IMAGE_PATTERN) if p.is_file() and _IMAGE_NAME.match(p.name))
    if not image_paths:
        raise no_images_error(root, "Cornell", IMAGE_PATTERN)
    report.images_found = len(image_paths)

    object_map = Path(object_map) if object_map is not None else find_object_map(root)
    objects: Dict[int, str] = {}
    if object_map is not None:
        objects = read_object_map(object_map)
        logger.info("Cornell: object ids from %s (%d images)", object_map, len(objects))
    else:
        logger.warning("Cornell: no %s (image -> object map of the original distribution) under %s; "
                       "each image counts as its own object, so object-wise splits degrade to "
                       "image-wise splits", OBJECT_MAP_NAME, root)

    samples = []
    unmapped = []
    for image_path in image_paths:
        digits = _IMAGE_NAME.match(image_path.name).group(1)
        positives_path = image_path.with_name(f"pcd{digits}cpos.txt")
        negatives_path = image_path.with_name(f"pcd{digits}cneg.txt")
        if not usable_pair(image_path, positives_path, report):
            continue
        try:
            nan_before = report.nan_rectangles
            grasps = read_cornell_rectangles(positives_path, report)
        except (OSError, RectangleFileError) as error:
            report.skip(image_path, f"corrupt grasp file: {error}")
            continue
        if len(grasps) == 0:
            detail = ("all its rectangles hold NaN" if report.nan_rectangles > nan_before else "it is empty")
            report.skip(image_path, f"no valid grasp: {positives_path.name}: {detail}")
            continue
        negatives = np.zeros((0, 5))
        if negatives_path.is_file():
            try:
                negatives = read_cornell_rectangles(negatives_path, report)
            except (OSError, RectangleFileError) as error:
                logger.warning("Cornell: negatives of %s not used: %s", image_path, error)
        number = int(digits)
        object_id = objects.get(number)
        if object_id is None:
            object_id = f"pcd{digits}"
            if objects:
                unmapped.append(image_path.name)
        samples.append(GraspSample(image_path, object_id, grasps, negatives))
        report.grasps += len(grasps)
        report.negative_grasps += len(negatives)
    if unmapped:
        logger.warning("Cornell: %d images are not in %s and count as their own object: %s",
                       len(unmapped), object_map, ", ".join(unmapped[:10]) + (" ..." if len(unmapped) > 10 else ""))
    report.samples = len(samples)
    report.log()
    return samples

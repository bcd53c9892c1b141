"""What every dataset loader returns: one :class:`GraspSample` per image, plus a :class:`LoadReport`.

Loaders read annotations only. Images are decoded later, one at a time (54k Jacquard images would
take minutes to decode up front); at load time only the first bytes of each image are checked
(:func:`image_header_problem`), which catches empty, missing and non-image files cheaply. A file
whose header is fine but whose data is corrupt fails in :func:`load_rgb` with
:class:`ImageReadError`; the torch dataset then logs it and substitutes another sample.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

import cv2
import numpy as np

logger = logging.getLogger(__name__)

# File signatures of the image formats OpenCV decodes that the datasets use.
_IMAGE_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",        # JPEG
    b"II*\x00", b"MM\x00*",  # TIFF
    b"BM",                  # BMP
)


def _no_grasps() -> np.ndarray:
    return np.zeros((0, 5), dtype=np.float64)


@dataclass
class GraspSample:
    """One annotated image.

    ``grasps`` ``(N, 5)`` are ``[x, y, w, h, theta]`` (see :mod:`grasp_scorer_ros.grasp`) in the
    pixels of the image file itself. ``object_id`` names the object (or, for synthetic scenes, the
    object set) the image shows; object-wise splits group by it. ``negative_grasps`` holds
    rectangles annotated as bad grasps where the dataset has them (Cornell's ``cneg``).
    """
    image_path: Path
    object_id: str
    grasps: np.ndarray
    negative_grasps: np.ndarray = field(default_factory=_no_grasps)


class ImageReadError(OSError):
    """An image file that cannot be read or decoded; the message names the file."""


def load_rgb(path) -> np.ndarray:
    """Decode an image file to ``(H, W, 3)`` uint8 **RGB** (grey and 16-bit images are converted,
    alpha is dropped). Raises :class:`ImageReadError` naming the file if it cannot be read."""
    path = Path(path)
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as error:
        raise ImageReadError(f"cannot read image file {path}: {error}") from error
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ImageReadError(f"cannot decode image file {path} ({data.size} bytes): "
                             "corrupt, truncated or not an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def image_header_problem(path) -> Optional[str]:
    """Cheap check of an image file (reads 16 bytes): ``None`` if it looks like an image,
    otherwise a short reason. Does not catch corruption after the header."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as error:
        return f"cannot open ({error.strerror or error})"
    if not head:
        return "empty file"
    if not head.startswith(_IMAGE_SIGNATURES):
        return "not an image (unknown file signature)"
    return None


@dataclass
class LoadReport:
    """What a loader found and what it skipped, with reasons. Filled in by the loaders."""
    dataset: str
    root: Path
    images_found: int = 0
    samples: int = 0
    grasps: int = 0
    negative_grasps: int = 0
    nan_rectangles: int = 0
    invalid_lines: int = 0
    skipped: List[Tuple[Path, str]] = field(default_factory=list)

    def skip(self, path: Path, reason: str) -> None:
        """Record an image that will not be used and warn, naming the file."""
        self.skipped.append((Path(path), reason))
        logger.warning("%s: skipping %s: %s", self.dataset, path, reason)

    def skipped_by_reason(self) -> Counter:
        return Counter(reason.split(":")[0] for _, reason in self.skipped)

    def summary(self) -> str:
        text = (f"{self.dataset} under {self.root}: {self.images_found} images found, "
                f"{self.samples} loaded with {self.grasps} grasps")
        if self.negative_grasps:
            text += f" (+{self.negative_grasps} negative rectangles)"
        if self.nan_rectangles:
            text += f"; {self.nan_rectangles} rectangles with NaN skipped"
        if self.invalid_lines:
            text += f"; {self.invalid_lines} invalid annotation lines skipped"
        if self.skipped:
            reasons = ", ".join(f"{n} {r}" for r, n in sorted(self.skipped_by_reason().items()))
            text += f"; {len(self.skipped)} images skipped ({reasons})"
        return text

    def log(self) -> None:
        level = logging.WARNING if (self.skipped or self.nan_rectangles or self.invalid_lines) else logging.INFO
        logger.log(level, "%s", self.summary())


def check_root(root, dataset: str) -> Path:
    """The dataset root as a Path; a clear error if it does not exist or is not a folder."""
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{dataset} dataset root {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{dataset} dataset root {root} is not a directory")
    return root


def no_images_error(root: Path, dataset: str, pattern: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"no {dataset} images under {root}: looked for files matching '{pattern}' in it and "
        "all its subfolders. Is this the dataset's root folder?")


def usable_pair(image_path: Path, grasp_path: Path, report: "LoadReport") -> bool:
    """Whether an image and its grasp file are worth reading; if not, the skip is reported."""
    if not grasp_path.is_file():
        report.skip(image_path, f"no grasp file: {grasp_path.name} is missing")
        return False
    problem = image_header_problem(image_path)
    if problem:
        report.skip(image_path, f"unreadable image: {problem}")
        return False
    return True

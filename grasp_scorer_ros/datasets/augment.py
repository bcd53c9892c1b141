"""Online data augmentation of the paper (section V-A.2), applied to the image and its grasps together.

"The RGB image is randomly rotated around its center, mirrored, shifted up to 50 pixels in both
axes, and finally rescaled to 320x320 pixels before feeding to the network. This augmentation is
not performed at testing time."

Here, in that order: rotation about the image centre (uniform angle), a left-right mirror with
probability 0.5, a shift of up to ``max_shift`` source pixels along each axis, then the uniform
rescale of :func:`~grasp_scorer_ros.network.image_transform.letterbox_matrix` (the longer side to
``size``; a non-square image is padded, never stretched, so grasp angles stay true). Evaluation
uses the letterbox alone (:func:`evaluation_matrix`). All steps compose into one affine matrix, so
the image is resampled once.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from grasp_scorer_ros.network.image_transform import (compose_affine, letterbox_matrix,
                                                      points_inside, rotation_about,
                                                      transform_grasps, translation, warp_image)


def random_augmentation_matrix(height: int, width: int, rng: np.random.Generator, size: int = 320,
                               max_shift: float = 50.0, max_rotation_deg: float = 180.0,
                               mirror_probability: float = 0.5) -> np.ndarray:
    """A random ``(2, 3)`` matrix from a ``height x width`` source image to the ``size x size``
    network input: rotation in ``[-max_rotation_deg, max_rotation_deg)`` about the centre, mirror,
    shift in ``[-max_shift, max_shift]`` source pixels per axis, letterbox rescale."""
    centre = ((width - 1) / 2.0, (height - 1) / 2.0)
    angle = rng.uniform(-max_rotation_deg, max_rotation_deg)
    mirror = bool(rng.random() < mirror_probability)
    dx, dy = rng.uniform(-max_shift, max_shift, size=2)
    return compose_affine(letterbox_matrix(height, width, size), translation(dx, dy),
                          rotation_about(centre, angle, mirror=mirror))


def evaluation_matrix(height: int, width: int, size: int = 320) -> np.ndarray:
    """The test-time transform: letterbox only."""
    return letterbox_matrix(height, width, size)


def apply_transform(image: np.ndarray, grasps: np.ndarray, matrix: np.ndarray, size: int = 320,
                    border_value=0) -> Tuple[np.ndarray, np.ndarray]:
    """Warp ``image`` to ``size x size`` with ``matrix`` and move ``grasps`` along; grasps whose
    centre falls outside the output image are dropped."""
    out_image = warp_image(image, matrix, size, border_value=border_value)
    out_grasps = transform_grasps(grasps, matrix)
    return out_image, out_grasps[points_inside(out_grasps[:, :2], size)]


def augment(image: np.ndarray, grasps: np.ndarray, rng: np.random.Generator, size: int = 320,
            border_value=0, **matrix_options) -> Tuple[np.ndarray, np.ndarray]:
    """One random augmentation of ``image`` ``(H, W, C)`` and its ``grasps`` ``(N, 5)``: returns the
    ``size x size`` image and the grasps in its pixels (those whose centre left the image are
    dropped, so fewer may come back, possibly none). ``matrix_options`` go to
    :func:`random_augmentation_matrix`."""
    height, width = image.shape[:2]
    matrix = random_augmentation_matrix(height, width, rng, size=size, **matrix_options)
    return apply_transform(image, grasps, matrix, size=size, border_value=border_value)


def letterbox(image: np.ndarray, grasps: np.ndarray, size: int = 320,
              border_value=0) -> Tuple[np.ndarray, np.ndarray]:
    """Test-time counterpart of :func:`augment`: letterbox only."""
    height, width = image.shape[:2]
    return apply_transform(image, grasps, evaluation_matrix(height, width, size), size=size,
                           border_value=border_value)

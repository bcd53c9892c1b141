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

Photometric augmentation (:func:`photometric_augment`, an option next to the paper's geometric one,
for models that must cope with other cameras, tables and light): colour jitter (brightness,
contrast, saturation, hue), gamma, Gaussian blur and Gaussian noise, with the ranges of
:class:`PhotometricAugmentation`. It changes pixel values only, so grasps are untouched.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
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


@dataclass(frozen=True)
class PhotometricAugmentation:
    """Ranges of the photometric augmentation, each drawn uniformly per image.

    * ``brightness``: gain on every channel (1: unchanged);
    * ``contrast``: factor on the distance to the image's mean grey level;
    * ``saturation``: factor on the distance to the pixel's own grey (0: grey image);
    * ``hue_deg``: rotation of the hue, in degrees (in the YIQ chroma plane, which keeps the grey
      level; HSV's hue turns by about as much);
    * ``gamma``: exponent on the intensity in [0, 1] (< 1 brightens the shadows);
    * ``blur_probability``, ``blur_sigma``: chance of a Gaussian blur, and its sigma in pixels;
    * ``noise_probability``, ``noise_sigma``: chance of additive Gaussian noise, and its standard
      deviation in grey levels of 255 (independent per pixel and channel).

    Defaults: brightness 0.7-1.3, contrast 0.7-1.3, saturation 0.6-1.4, hue +-12 deg, gamma
    0.75-1.35, blur in 30% of images with sigma 0.3-1.5 px, noise in 50% with sigma 1-8 grey levels.
    """
    brightness: Tuple[float, float] = (0.7, 1.3)
    contrast: Tuple[float, float] = (0.7, 1.3)
    saturation: Tuple[float, float] = (0.6, 1.4)
    hue_deg: Tuple[float, float] = (-12.0, 12.0)
    gamma: Tuple[float, float] = (0.75, 1.35)
    blur_probability: float = 0.3
    blur_sigma: Tuple[float, float] = (0.3, 1.5)
    noise_probability: float = 0.5
    noise_sigma: Tuple[float, float] = (1.0, 8.0)

    def __post_init__(self):
        for name in ("brightness", "contrast", "saturation", "hue_deg", "gamma", "blur_sigma", "noise_sigma"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"photometric {name}: need lo <= hi, got ({lo}, {hi})")
        for name in ("brightness", "contrast", "saturation", "gamma", "blur_sigma", "noise_sigma"):
            if getattr(self, name)[0] < 0 or (name == "gamma" and self.gamma[0] <= 0):
                raise ValueError(f"photometric {name} must be positive, got {getattr(self, name)}")
        for name in ("blur_probability", "noise_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"photometric {name} must be in [0, 1], got {getattr(self, name)}")


# RGB <-> YIQ: luminance Y and two chroma axes; a hue rotation turns (I, Q), saturation scales them.
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def colour_matrix(brightness: float = 1.0, saturation: float = 1.0, hue_deg: float = 0.0) -> np.ndarray:
    """The ``(3, 3)`` RGB matrix that scales brightness and saturation and rotates the hue (a
    positive angle moves red towards yellow, as the hue of HSV grows)."""
    t = -np.deg2rad(hue_deg)
    chroma = saturation * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    yiq = np.eye(3)
    yiq[1:, 1:] = chroma
    return brightness * _YIQ_TO_RGB @ yiq @ _RGB_TO_YIQ


def photometric_augment(image: np.ndarray, rng: np.random.Generator,
                        options: Optional[PhotometricAugmentation] = None) -> np.ndarray:
    """A photometric augmentation of ``image`` ``(H, W, 3)`` uint8 RGB: returns a new uint8 image.

    In order: brightness, saturation and hue (one colour matrix), contrast, gamma, blur, noise,
    with parameters drawn from ``options`` (default :class:`PhotometricAugmentation`). Every call
    draws the same amount of random numbers from ``rng``, so what follows is reproducible.
    """
    o = options or PhotometricAugmentation()
    u = rng.random(9)
    pick = lambda r, x: r[0] + x * (r[1] - r[0])  # noqa: E731
    brightness, contrast = pick(o.brightness, u[0]), pick(o.contrast, u[1])
    saturation, hue, gamma = pick(o.saturation, u[2]), pick(o.hue_deg, u[3]), pick(o.gamma, u[4])
    blur = u[5] < o.blur_probability
    noise = u[6] < o.noise_probability
    sigma_blur, sigma_noise = pick(o.blur_sigma, u[7]), pick(o.noise_sigma, u[8])
    noise_seed = int(rng.integers(1, 2**31 - 1))

    x = cv2.transform(image.astype(np.float32), colour_matrix(brightness, saturation, hue).astype(np.float32))
    grey = float((x @ _RGB_TO_YIQ[0].astype(np.float32)).mean())
    x = (x - grey) * np.float32(contrast) + np.float32(grey)
    np.clip(x, 0, 255, out=x)
    x = np.power(x * np.float32(1 / 255.0), np.float32(gamma)) * np.float32(255.0)
    if blur and sigma_blur > 0:
        x = cv2.GaussianBlur(x, (0, 0), sigma_blur)
    if noise and sigma_noise > 0:
        n = np.empty(x.size, np.float32)  # one channel: cv2 would fill only the first of several
        cv2.setRNGSeed(noise_seed)
        cv2.randn(n, 0.0, float(sigma_noise))
        x += n.reshape(x.shape)
    np.clip(x, 0, 255, out=x)
    return (x + 0.5).astype(np.uint8)

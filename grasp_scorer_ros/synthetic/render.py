"""Rendering a top-down tabletop scene: table texture, objects with their patterns, shadows, light, noise.

Everything is drawn in float32 RGB 0-255 with OpenCV and numpy, a few milliseconds per 320x320
scene. Objects are anti-aliased; the label image (0 = table, ``k + 1`` = object ``k``) is drawn
without anti-aliasing from the same polygons.
"""
from __future__ import annotations

from functools import lru_cache
from typing import List, Sequence, Tuple

import cv2
import numpy as np
from shapely.geometry import Polygon

from grasp_scorer_ros.synthetic.shapes import ObjectPrototype, random_color

_SHIFT = 4  # sub-pixel bits for cv2 polygon drawing
_ONE = 1 << _SHIFT


@lru_cache(maxsize=4)
def _grid(height: int, width: int) -> Tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``(yy, xx)`` float32, shared read-only between scenes."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy.setflags(write=False)
    xx.setflags(write=False)
    return yy, xx


def _gaussian_noise(rng: np.random.Generator, shape, sigma: float) -> np.ndarray:
    """Gaussian noise, float32. OpenCV's generator is several times faster than numpy's here; it is
    seeded from ``rng`` so scenes stay reproducible."""
    noise = np.empty(shape, np.float32)
    cv2.setRNGSeed(int(rng.integers(1, 2**31 - 1)))
    cv2.randn(noise, 0.0, float(sigma))
    return noise


def _low_frequency(rng, height, width, cells, amplitude) -> np.ndarray:
    grid = rng.normal(size=(cells, cells)).astype(np.float32)
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC) * amplitude


def render_table(rng: np.random.Generator, height: int, width: int,
                 avoid_colors: Sequence[Sequence[int]] = ()) -> np.ndarray:
    """A table top ``(H, W, 3)`` float32: plain, wood, checked cloth, woven or speckled, with a base
    colour kept away from ``avoid_colors`` (the objects') so that objects stay visible."""
    kind = rng.choice(["plain", "wood", "checker", "weave", "speckle"])
    avoid = np.array(avoid_colors, dtype=np.float32).reshape(-1, 3)
    for _ in range(20):
        base = np.array(random_color(rng), dtype=np.float32)
        if len(avoid) == 0 or np.min(np.linalg.norm(avoid - base, axis=1)) > 70:
            break
    other = np.clip(base + rng.normal(0, 30, size=3), 0, 255).astype(np.float32)
    yy, xx = _grid(height, width)
    if kind == "wood":
        a = rng.uniform(0, np.pi)
        along = xx * np.cos(a) + yy * np.sin(a)
        grain = np.sin(along * 2 * np.pi / rng.uniform(6, 25) + _low_frequency(rng, height, width, 5, 3.0))
        mix = 0.5 + 0.5 * grain
    elif kind == "checker":
        period = rng.uniform(0.06, 0.2) * width
        mix = ((np.floor(xx / period) + np.floor(yy / period)) % 2).astype(np.float32)
        other = np.clip(base + rng.normal(0, 45, size=3), 0, 255).astype(np.float32)
    elif kind == "weave":
        period = rng.uniform(3, 7)
        mix = 0.5 + 0.5 * np.sin(xx * 2 * np.pi / period) * np.sin(yy * 2 * np.pi / period)
    else:
        mix = np.zeros((height, width), np.float32)
    shade = _low_frequency(rng, height, width, int(rng.integers(3, 8)), rng.uniform(3, 12))
    if kind == "speckle" or rng.random() < 0.3:
        shade += cv2.GaussianBlur(_gaussian_noise(rng, (height, width), rng.uniform(6, 20)), (0, 0), 0.8)
    if kind == "plain" or kind == "speckle":
        return base + shade[..., None]
    return base + mix[..., None] * (other - base) + shade[..., None]


def _illumination(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Light field ``(H, W)``: overall brightness, a linear gradient and a vignette. Smooth, so it
    is computed on a coarse grid and upsampled."""
    n = 17
    yn, xn = np.mgrid[0:n, 0:n].astype(np.float32) / (n - 1) - 0.5
    g = rng.uniform(-0.35, 0.35, size=2)
    coarse = rng.uniform(0.75, 1.15) * (1 + g[0] * xn + g[1] * yn) * (1 - rng.uniform(0, 0.6) * (xn * xn + yn * yn))
    return cv2.resize(coarse.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


def _object_pattern(proto: ObjectPrototype, u: np.ndarray, v: np.ndarray, rng) -> np.ndarray:
    """Pattern weight in ``[0, 1]`` at object-frame coordinates (0: main colour, 1: pattern colour)."""
    p, a = proto.texture_period, proto.texture_angle
    along = u * np.cos(a) + v * np.sin(a)
    if proto.texture == "stripes":
        return (np.sin(along * 2 * np.pi / p) > 0.3).astype(np.float32)
    if proto.texture == "checker":
        return ((np.floor(u / p) + np.floor(v / p)) % 2).astype(np.float32)
    if proto.texture == "dots":
        du, dv = np.mod(u, p) - p / 2, np.mod(v, p) - p / 2
        return (du * du + dv * dv < (0.3 * p) ** 2).astype(np.float32)
    if proto.texture == "band":
        return (np.abs(along) < 1.5 * p).astype(np.float32)
    if proto.texture == "speckle":
        return np.clip(0.5 + _gaussian_noise(rng, u.shape, 0.25), 0, 1) * 0.6
    return np.zeros_like(u, dtype=np.float32)


def _contours(shape: Polygon, origin: Tuple[int, int] = (0, 0)) -> List[np.ndarray]:
    ox, oy = origin
    return [np.round((np.asarray(ring.coords)[:, :2] - (ox, oy)) * _ONE).astype(np.int32)
            for ring in [shape.exterior, *shape.interiors]]


def render_scene(rng: np.random.Generator, size: Tuple[int, int], shapes: Sequence[Polygon],
                 prototypes: Sequence[ObjectPrototype], poses: Sequence[Tuple[float, float, float, float]],
                 ) -> Tuple[np.ndarray, np.ndarray]:
    """Image ``(H, W, 3)`` uint8 RGB and labels ``(H, W)`` uint8 of a scene.

    ``shapes`` are the placed outlines (image pixels); ``poses`` the ``(x, y, angle_rad, scale)`` that
    placed each prototype, used to lay its pattern in the object's own frame.
    """
    width, height = size
    table = render_table(rng, height, width, [p.colors[0] for p in prototypes])
    labels = np.zeros((height, width), np.uint8)

    # Soft shadows from a random light direction darken the table around the objects.
    all_alpha = np.zeros((height, width), np.uint8)
    for shape in shapes:
        cv2.fillPoly(all_alpha, _contours(shape), 255, cv2.LINE_AA, _SHIFT)
    light = rng.uniform(0, 2 * np.pi)
    reach = rng.uniform(0.005, 0.02) * width
    shadow = cv2.warpAffine(all_alpha.astype(np.float32) / 255.0,
                            np.float32([[1, 0, reach * np.cos(light)], [0, 1, reach * np.sin(light)]]),
                            (width, height))
    shadow = cv2.GaussianBlur(shadow, (0, 0), rng.uniform(0.006, 0.02) * width)
    illumination = _illumination(rng, height, width)
    image = table * (illumination * (1.0 - rng.uniform(0.15, 0.45) * shadow))[..., None]

    for index, (shape, proto, (px, py, angle, scale)) in enumerate(zip(shapes, prototypes, poses)):
        x0, y0, x1, y1 = shape.bounds
        x0, y0 = max(int(np.floor(x0)) - 1, 0), max(int(np.floor(y0)) - 1, 0)
        x1, y1 = min(int(np.ceil(x1)) + 2, width), min(int(np.ceil(y1)) + 2, height)
        alpha = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(alpha, _contours(shape, (x0, y0)), 255, cv2.LINE_AA, _SHIFT)
        cv2.fillPoly(labels, _contours(shape), index + 1, cv2.LINE_8, _SHIFT)
        # Object frame coordinates of the pixels, to lay the pattern on the object.
        grid_y, grid_x = _grid(height, width)
        dx, dy = grid_x[y0:y1, x0:x1] - px, grid_y[y0:y1, x0:x1] - py
        c, s = np.cos(angle), np.sin(angle)
        u, v = (c * dx + s * dy) / scale, (-s * dx + c * dy) / scale
        weight = _object_pattern(proto, u, v, rng)[..., None]
        main = np.array(proto.colors[0], np.float32) * rng.uniform(0.9, 1.1, size=3)
        pattern = np.array(proto.colors[1], np.float32)
        color = main + weight * (pattern - main)
        # A gentle gradient across the object for some relief.
        radius = max(np.sqrt(shape.area), 1.0)
        relief = 1.0 + 0.12 * (np.cos(light) * dx + np.sin(light) * dy) / radius
        color *= (relief * illumination[y0:y1, x0:x1])[..., None]
        a = alpha.astype(np.float32)[..., None] / 255.0
        image[y0:y1, x0:x1] = image[y0:y1, x0:x1] * (1 - a) + color * a
        if proto.outline:
            dark = tuple(float(v) * 0.55 * float(illumination[int(py) % height, int(px) % width]) for v in main)
            cv2.polylines(image, _contours(shape), True, dark, 1, cv2.LINE_AA, _SHIFT)

    # Sensor noise and, sometimes, a little blur.
    image += _gaussian_noise(rng, image.shape, rng.uniform(0, 6))
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 0.8))
    np.clip(image, 0, 255, out=image)
    return image.astype(np.uint8), labels

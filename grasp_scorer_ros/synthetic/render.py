"""Rendering a top-down tabletop scene as a :class:`~.look.Look` says: table texture, flat
distractors, light, shadows, objects with their patterns and materials, camera blur and noise.

Everything is drawn in float32 RGB 0-255 with OpenCV and numpy, about ten milliseconds per 320x320
scene. Objects are anti-aliased; the label image (0 = table, ``k + 1`` = object ``k``) is drawn
without anti-aliasing from the same polygons. Distractors are printed on the table: they are
table (label 0) and change no grasp.

The light comes from azimuth ``phi`` (the direction ``(cos phi, sin phi)`` in image coordinates
points towards it) at elevation ``epsilon``: the table is brighter towards the light, shadows fall
the other way, ``cot(epsilon)`` times longer for a low light, and highlights sit on the side of
each object that faces the light.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from shapely.geometry import Polygon

from grasp_scorer_ros.synthetic.shapes import ObjectPrototype, random_color

from grasp_scorer_ros.synthetic.look import TRAIN_LOOK, Look

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
    noise = np.empty(int(np.prod(shape)), np.float32)
    cv2.setRNGSeed(int(rng.integers(1, 2**31 - 1)))
    cv2.randn(noise, 0.0, float(sigma))  # one channel: cv2 would fill only the first of several
    return noise.reshape(shape)


def _resize(grid: np.ndarray, height: int, width: int, interpolation=cv2.INTER_CUBIC) -> np.ndarray:
    return cv2.resize(grid.astype(np.float32), (width, height), interpolation=interpolation)


def _low_frequency(rng, height, width, cells, amplitude) -> np.ndarray:
    return _resize(rng.normal(size=(cells, cells)), height, width) * amplitude


def _fractal(rng, height: int, width: int, cells: int = 4, octaves: int = 5, persistence: float = 0.55,
             anisotropy: float = 1.0) -> np.ndarray:
    """Multi-octave value noise ``(H, W)``, zero mean and unit standard deviation: the detail of
    stone, paper, plaster. ``anisotropy`` > 1 stretches it along x."""
    out = np.zeros((height, width), np.float32)
    amplitude = 1.0
    for octave in range(octaves):
        c = cells * 2 ** octave
        cx = max(2, int(round(c / anisotropy)))
        if c >= min(height, width) // 2:
            out += _gaussian_noise(rng, (height, width), amplitude)
        else:
            out += _resize(rng.normal(size=(c, cx)), height, width) * amplitude
        amplitude *= persistence
    return (out - out.mean()) / max(float(out.std()), 1e-6)


def _rotated(height, width, angle) -> Tuple[np.ndarray, np.ndarray]:
    """Coordinates along and across the direction ``angle`` (radians)."""
    yy, xx = _grid(height, width)
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    return xx * c + yy * s, yy * c - xx * s


def _profile(rng, length: int, smooth: float) -> np.ndarray:
    """A random 1-D profile (zero mean, unit deviation), smoothed over ``smooth`` samples."""
    p = rng.normal(size=(1, length)).astype(np.float32)
    if smooth > 0:
        p = cv2.GaussianBlur(p, (0, 0), smooth)
    p -= p.mean()
    return p[0] / max(float(p.std()), 1e-6)


def _along_profile(profile: np.ndarray, coordinate: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``profile`` sampled at ``coordinate * scale`` (wrapping), nearest sample."""
    index = (coordinate * scale).astype(np.int32) % len(profile)
    return profile[index]


def _mix(base, other, weight) -> np.ndarray:
    return base + weight[..., None] * (np.asarray(other, np.float32) - base)


def _hsv_color(rng, hue, saturation, value) -> np.ndarray:
    """An RGB colour from HSV ranges (hue in OpenCV's 0-180, saturation and value in 0-1)."""
    hsv = np.array([[[rng.uniform(*hue) % 180, rng.uniform(*saturation) * 255, rng.uniform(*value) * 255]]],
                   np.float32).round().astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


# ------------------------------------------------------------------------------------- table textures
# Each returns the albedo (H, W, 3) float32 of a table of base colour ``base`` with texture strength
# ``contrast`` in [0, 1]. Wood, paper, cardboard, concrete and marble pick their own typical
# colours most of the time (``palette``), otherwise they use ``base``.

def _table_plain(rng, h, w, base, contrast):
    return base + _low_frequency(rng, h, w, int(rng.integers(3, 8)), rng.uniform(3, 12) * contrast)[..., None]


def _table_wood(rng, h, w, base, contrast):
    along, across = _rotated(h, w, rng.uniform(0, np.pi))
    period = rng.uniform(6, 25)
    warp = _fractal(rng, h, w, cells=2, octaves=3, persistence=0.5, anisotropy=3.0) * rng.uniform(0.3, 1.2)
    rings = np.sin(across * np.float32(2 * np.pi / period) + warp)
    fibres = _along_profile(_profile(rng, 2048, 0.7), across + 1024, 2.0)
    mix = (0.5 + 0.5 * rings) * 0.8 + 0.2 * (0.5 + 0.25 * fibres)
    dark = base * rng.uniform(0.45, 0.75)
    shade = _low_frequency(rng, h, w, 4, 6 * contrast)
    return base + (contrast * mix)[..., None] * (dark - base) + shade[..., None]


def _table_checker(rng, h, w, base, contrast):
    yy, xx = _grid(h, w)
    period = rng.uniform(0.06, 0.2) * w
    mix = ((np.floor(xx / period) + np.floor(yy / period)) % 2).astype(np.float32)
    other = np.clip(base + rng.normal(0, 45, size=3) * contrast, 0, 255).astype(np.float32)
    return _mix(base, other, mix) + _low_frequency(rng, h, w, 5, rng.uniform(3, 10))[..., None]


def _table_weave(rng, h, w, base, contrast):
    yy, xx = _grid(h, w)
    period = rng.uniform(3, 7)
    k = np.float32(2 * np.pi / period)
    mix = 0.5 + 0.5 * np.sin(xx * k) * np.sin(yy * k)
    other = np.clip(base + rng.normal(0, 30, size=3) * contrast, 0, 255).astype(np.float32)
    return _mix(base, other, mix) + _low_frequency(rng, h, w, 5, rng.uniform(3, 10))[..., None]


def _table_speckle(rng, h, w, base, contrast):
    shade = _low_frequency(rng, h, w, int(rng.integers(3, 8)), rng.uniform(3, 12))
    shade += cv2.GaussianBlur(_gaussian_noise(rng, (h, w), rng.uniform(6, 20) * contrast), (0, 0), 0.8)
    return base + shade[..., None]


def _table_fractal(rng, h, w, base, contrast):
    noise = _fractal(rng, h, w, cells=int(rng.integers(2, 7)), octaves=6, persistence=rng.uniform(0.45, 0.7))
    other = np.clip(base + rng.normal(0, 50, size=3), 0, 255).astype(np.float32)
    mix = np.clip(0.5 + 0.3 * noise, 0, 1) * contrast
    return _mix(base, other, mix)


def _table_fabric(rng, h, w, base, contrast):
    along, across = _rotated(h, w, rng.choice([0.0, np.pi / 2, rng.uniform(0, np.pi)]))
    period = rng.uniform(2.5, 6)
    k = np.float32(2 * np.pi / period)
    twill = np.float32(rng.choice([0.0, 1.0]))
    threads = np.sin(along * k) * np.sin((across + twill * along) * k)
    # Yarns of slightly different colour, and sometimes a woven check (plaid).
    warp_colour = _along_profile(_profile(rng, 1024, 0.0), across + 512, 1.0 / period)
    weft_colour = _along_profile(_profile(rng, 1024, 0.0), along + 512, 1.0 / period)
    other = np.clip(base + rng.normal(0, 55, size=3), 0, 255).astype(np.float32)
    mix = 0.5 + 0.35 * threads + 0.1 * (warp_colour + weft_colour)
    if rng.random() < 0.35:
        band = rng.uniform(0.05, 0.15) * w
        mix = mix + 0.35 * ((np.mod(along, band) < band / 3).astype(np.float32)
                            + (np.mod(across, band) < band / 3).astype(np.float32)) - 0.35
    folds = _fractal(rng, h, w, cells=2, octaves=3, persistence=0.5) * rng.uniform(4, 14)
    return _mix(base, other, np.clip(mix, 0, 1) * contrast) + folds[..., None]


def _table_paper(rng, h, w, base, contrast):
    if rng.random() < 0.7:
        base = _hsv_color(rng, (0, 180), (0.0, 0.12), (0.75, 0.97))
    fibres = cv2.GaussianBlur(_gaussian_noise(rng, (h, w), 1.0), (0, 0), 0.7) * rng.uniform(4, 10)
    mottle = _fractal(rng, h, w, cells=3, octaves=4, persistence=0.6) * rng.uniform(2, 7)
    image = base + ((fibres + mottle) * contrast)[..., None]
    if rng.random() < 0.35:  # ruled or squared paper
        along, across = _rotated(h, w, rng.choice([0.0, np.pi / 2]) + rng.normal(0, 0.03))
        spacing = rng.uniform(0.03, 0.06) * w
        line = (np.abs((across % spacing) - spacing / 2) > spacing / 2 - 0.8).astype(np.float32)
        if rng.random() < 0.4:
            line = np.maximum(line, (np.abs((along % spacing) - spacing / 2) > spacing / 2 - 0.8).astype(np.float32))
        ink = _hsv_color(rng, (90, 130), (0.2, 0.6), (0.4, 0.8))
        image = _mix(image, ink, line * rng.uniform(0.25, 0.6))
    return image


def _table_cardboard(rng, h, w, base, contrast):
    if rng.random() < 0.75:
        base = _hsv_color(rng, (9, 20), (0.3, 0.6), (0.45, 0.8))
    along, across = _rotated(h, w, rng.uniform(0, np.pi))
    corrugation = np.sin(across * np.float32(2 * np.pi / rng.uniform(6, 14))) * rng.uniform(2, 7)
    fibres = cv2.GaussianBlur(_gaussian_noise(rng, (h, w), 1.0), (0, 0), 0.6) * rng.uniform(4, 9)
    flecks = cv2.GaussianBlur(_gaussian_noise(rng, (h, w), 1.0), (0, 0), 0.9)
    flecks = -np.clip(flecks - 0.55, 0, None) * 60
    mottle = _fractal(rng, h, w, cells=3, octaves=4, persistence=0.55) * rng.uniform(3, 9)
    return base + ((corrugation + fibres + flecks + mottle) * contrast)[..., None]


def _table_concrete(rng, h, w, base, contrast):
    if rng.random() < 0.7:
        base = _hsv_color(rng, (0, 180), (0.0, 0.08), (0.35, 0.75))
    stone = _fractal(rng, h, w, cells=int(rng.integers(3, 7)), octaves=6, persistence=rng.uniform(0.5, 0.7))
    pits = cv2.GaussianBlur(_gaussian_noise(rng, (h, w), 1.0), (0, 0), 1.0)
    pits = -np.clip(pits - 0.5, 0, None) * 120
    grit = _gaussian_noise(rng, (h, w), rng.uniform(3, 8))
    return base + ((stone * rng.uniform(8, 20) + pits + grit) * contrast)[..., None]


def _table_marble(rng, h, w, base, contrast):
    if rng.random() < 0.7:
        base = _hsv_color(rng, (0, 180), (0.0, 0.15), (0.7, 0.95))
    along, _ = _rotated(h, w, rng.uniform(0, np.pi))
    turbulence = _fractal(rng, h, w, cells=2, octaves=5, persistence=0.5)
    phase = along * np.float32(2 * np.pi / (rng.uniform(0.3, 0.8) * w)) + rng.uniform(0.8, 1.8) * turbulence
    ridge = np.abs(np.sin(phase))
    vein = np.exp(-ridge * rng.uniform(4, 10)) + 0.3 * np.exp(-ridge * 1.5)
    colour = _hsv_color(rng, (0, 180), (0.0, 0.5), (0.15, 0.55))
    cloud = _fractal(rng, h, w, cells=3, octaves=5, persistence=0.55) * rng.uniform(4, 10)
    return _mix(base, colour, np.clip(vein, 0, 1) * contrast) + cloud[..., None]


def _table_granite(rng, h, w, base, contrast):
    grain = rng.uniform(1.2, 3.0)
    cells_y, cells_x = max(4, int(h / grain)), max(4, int(w / grain))
    a = _resize(rng.normal(size=(cells_y, cells_x)), h, w, cv2.INTER_LINEAR)
    b = _resize(rng.normal(size=(cells_y, cells_x)), h, w, cv2.INTER_LINEAR)
    palette = [base * rng.uniform(0.2, 0.4), base, np.array(random_color(rng, (0.0, 0.2), (0.75, 1.0)), np.float32),
               _hsv_color(rng, (0, 15), (0.2, 0.5), (0.5, 0.85))]
    image = np.empty((h, w, 3), np.float32)
    image[:] = palette[1]
    for colour, mask in ((palette[0], a > 0.6), (palette[2], b > 0.9), (palette[3], (a < -0.8) & (b < 0))):
        image[mask] = colour
    image = base + contrast * (image - base)
    return image + _low_frequency(rng, h, w, 4, 6)[..., None]


def _table_tiles(rng, h, w, base, contrast):
    along, across = _rotated(h, w, rng.choice([0.0, np.pi / 4, rng.uniform(0, np.pi)]))
    pu = rng.uniform(0.08, 0.25) * w
    pv = pu * float(rng.choice([1.0, 0.5, 2.0]))
    iu, iv = np.floor(along / pu), np.floor(across / pv)
    table = rng.normal(0, 1, size=(64, 64)).astype(np.float32)
    tile_shift = table[iu.astype(np.int32) % 64, iv.astype(np.int32) % 64]
    grout_w = rng.uniform(1.0, 3.0)
    du, dv = along - iu * pu, across - iv * pv
    grout = ((du < grout_w) | (dv < grout_w)).astype(np.float32)
    grout_colour = np.full(3, rng.uniform(40, 230), np.float32)
    image = base + (tile_shift * rng.uniform(4, 15))[..., None]
    gloss = (du / pu + dv / pv) * rng.uniform(-10, 10)
    image = image + gloss[..., None]
    return _mix(image, grout_colour, grout * (0.5 + 0.5 * contrast))


TABLE_TEXTURES: Dict[str, Callable] = {
    "plain": _table_plain, "wood": _table_wood, "checker": _table_checker, "weave": _table_weave,
    "speckle": _table_speckle, "fractal": _table_fractal, "fabric": _table_fabric, "paper": _table_paper,
    "cardboard": _table_cardboard, "concrete": _table_concrete,
    "marble": _table_marble, "granite": _table_granite, "tiles": _table_tiles,  # held out
}

_WOOD_TONES = ((8, 20), (0.35, 0.75), (0.3, 0.85))


def render_table(rng: np.random.Generator, height: int, width: int, look: Look,
                 avoid_colors: Sequence[Sequence[int]] = ()) -> Tuple[np.ndarray, str]:
    """A table top ``(H, W, 3)`` float32 of one of the look's texture families, with a base colour
    kept away from ``avoid_colors`` (the objects') so that objects stay visible; and its family."""
    kind = str(rng.choice(list(look.table_textures)))
    avoid = np.array(avoid_colors, dtype=np.float32).reshape(-1, 3)
    for _ in range(20):
        if kind == "wood" and rng.random() < 0.6:
            base = _hsv_color(rng, *_WOOD_TONES)
        else:
            base = np.array(random_color(rng, look.table_saturation, look.table_value), dtype=np.float32)
        if len(avoid) == 0 or np.min(np.linalg.norm(avoid - base, axis=1)) > 70:
            break
    contrast = rng.uniform(*look.table_contrast)
    return TABLE_TEXTURES[kind](rng, height, width, base, contrast).astype(np.float32, copy=False), kind


# -------------------------------------------------------------------------------------- distractors

def _fill(shape_hw, contours) -> np.ndarray:
    alpha = np.zeros(shape_hw, np.uint8)
    cv2.fillPoly(alpha, contours, 255, cv2.LINE_AA, _SHIFT)
    return alpha


def _blend(image, alpha_u8, colour, opacity=1.0):
    ys, xs = np.nonzero(alpha_u8)
    if len(ys) == 0:
        return
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    a = alpha_u8[y0:y1, x0:x1, None].astype(np.float32) * np.float32(opacity / 255.0)
    region = image[y0:y1, x0:x1]
    image[y0:y1, x0:x1] = region + a * (np.asarray(colour, np.float32) - region)


def _pts(points) -> List[np.ndarray]:
    return [np.round(np.asarray(points, np.float64) * _ONE).astype(np.int32)]


def _box_points(cx, cy, half_w, half_h, angle):
    c, s = np.cos(angle), np.sin(angle)
    corners = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]])
    return corners @ np.array([[c, s], [-s, c]]) + (cx, cy)


def draw_distractors(image: np.ndarray, rng: np.random.Generator, look: Look) -> int:
    """Print flat distractors on the table ``image`` (in place): paper sheets with lines of print,
    stickers, strips of tape, decals. Returns how many."""
    height, width = image.shape[:2]
    count = int(rng.integers(look.distractors[0], look.distractors[1] + 1))
    for _ in range(count):
        kind = str(rng.choice(list(look.distractor_kinds)))
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        angle = rng.uniform(0, np.pi)
        if kind == "paper":
            hw = rng.uniform(0.08, 0.2) * width
            hh = hw * rng.uniform(1.2, 1.5)
            colour = _hsv_color(rng, (0, 180), (0.0, 0.25), (0.8, 1.0))
            _blend(image, _fill((height, width), _pts(_box_points(cx, cy, hw, hh, angle))), colour)
            ink = _hsv_color(rng, (0, 180), (0.0, 0.6), (0.1, 0.45))
            c, s = np.cos(angle), np.sin(angle)
            ux, uy, vx, vy = c, s, -s, c
            spacing = rng.uniform(0.025, 0.045) * width
            for row in np.arange(-hh + 1.5 * spacing, hh - spacing, spacing):
                length = rng.uniform(0.3, 1.0) * 1.6 * hw
                a = (cx + (-0.8 * hw) * ux + row * vx, cy + (-0.8 * hw) * uy + row * vy)
                b = (a[0] + length * ux, a[1] + length * uy)
                cv2.line(image, tuple(int(round(v * _ONE)) for v in a), tuple(int(round(v * _ONE)) for v in b),
                         tuple(float(v) for v in ink), 1, cv2.LINE_AA, _SHIFT)
        elif kind == "sticker":
            radius = rng.uniform(0.02, 0.05) * width
            colour = _hsv_color(rng, (0, 180), (0.5, 1.0), (0.5, 1.0))
            if rng.random() < 0.5:
                alpha = np.zeros((height, width), np.uint8)
                cv2.circle(alpha, (int(cx * _ONE), int(cy * _ONE)), int(radius * _ONE), 255, -1, cv2.LINE_AA, _SHIFT)
            else:
                alpha = _fill((height, width), _pts(_box_points(cx, cy, radius, radius * rng.uniform(0.6, 1.0), angle)))
            _blend(image, alpha, colour)
            if rng.random() < 0.6:
                inner = np.zeros((height, width), np.uint8)
                cv2.circle(inner, (int(cx * _ONE), int(cy * _ONE)), int(radius * rng.uniform(0.3, 0.6) * _ONE), 255,
                           -1, cv2.LINE_AA, _SHIFT)
                _blend(image, inner, _hsv_color(rng, (0, 180), (0.0, 1.0), (0.3, 1.0)))
        elif kind == "tape":
            half_w = rng.uniform(0.01, 0.025) * width
            half_l = rng.uniform(0.15, 0.5) * width
            colour = _hsv_color(rng, (0, 180), (0.0, 0.7), (0.6, 1.0))
            _blend(image, _fill((height, width), _pts(_box_points(cx, cy, half_l, half_w, angle))), colour,
                   opacity=rng.uniform(0.3, 0.75))
        else:  # decal: a printed arrow or polygon
            size = rng.uniform(0.03, 0.08) * width
            if rng.random() < 0.5:
                outline = np.array([[-1, -0.25], [0.2, -0.25], [0.2, -0.6], [1, 0], [0.2, 0.6], [0.2, 0.25],
                                    [-1, 0.25]])
            else:
                n = int(rng.integers(3, 8))
                t = np.sort(rng.uniform(0, 2 * np.pi, n))
                outline = np.c_[np.cos(t), np.sin(t)] * rng.uniform(0.5, 1.0, size=(n, 1))
            c, s = np.cos(angle), np.sin(angle)
            points = outline * size @ np.array([[c, s], [-s, c]]) + (cx, cy)
            _blend(image, _fill((height, width), _pts(points)), _hsv_color(rng, (0, 180), (0.0, 1.0), (0.1, 1.0)),
                   opacity=rng.uniform(0.6, 1.0))
    return count


# ---------------------------------------------------------------------------------- object patterns

def _seeded_waves(proto: ObjectPrototype, u, v, waves: int = 4):
    """A smooth random field over the object (sum of plane waves fixed by the prototype's seed)."""
    r = np.random.default_rng(proto.texture_seed)
    out = np.zeros_like(u)
    for _ in range(waves):
        a = r.uniform(0, np.pi)
        k = 2 * np.pi / (proto.texture_period * r.uniform(1.5, 4.0))
        out += np.sin((u * np.cos(a) + v * np.sin(a)) * np.float32(k) + np.float32(r.uniform(0, 2 * np.pi)))
    return out / np.float32(np.sqrt(waves / 2))


def _object_pattern(proto: ObjectPrototype, u: np.ndarray, v: np.ndarray, rng) -> np.ndarray:
    """Pattern weight in ``[0, 1]`` at object-frame coordinates (0: main colour, 1: pattern colour)."""
    p, a = proto.texture_period, proto.texture_angle
    c, s = np.float32(np.cos(a)), np.float32(np.sin(a))
    along = u * c + v * s
    across = v * c - u * s
    kind = proto.texture
    if kind == "stripes":
        return (np.sin(along * np.float32(2 * np.pi / p)) > 0.3).astype(np.float32)
    if kind == "checker":
        return ((np.floor(u / p) + np.floor(v / p)) % 2).astype(np.float32)
    if kind == "dots":
        du, dv = np.mod(u, p) - p / 2, np.mod(v, p) - p / 2
        return (du * du + dv * dv < (0.3 * p) ** 2).astype(np.float32)
    if kind == "band":
        return (np.abs(along) < 1.5 * p).astype(np.float32)
    if kind == "speckle":
        return np.clip(0.5 + _gaussian_noise(rng, u.shape, 0.25), 0, 1) * 0.6
    if kind == "gradient":
        return np.clip(0.5 + along / np.float32(6 * p), 0, 1)
    if kind == "mottle":
        return np.clip(0.5 + 0.3 * _seeded_waves(proto, u, v), 0, 1)
    if kind == "label":
        label = (np.abs(along) < 2.0 * p) & (np.abs(across) < 3.0 * p)
        text = (np.sin(across * np.float32(2 * np.pi / (0.6 * p))) > 0.5) & (np.abs(along) < 1.4 * p) & (
            np.sin(along * np.float32(2 * np.pi / (0.45 * p)) + across) > -0.6)
        return (label & ~text).astype(np.float32)
    if kind == "camo":
        field = _seeded_waves(proto, u, v, waves=5)
        return (np.digitize(field, [-0.4, 0.4]).astype(np.float32)) * 0.5
    if kind == "zigzag":
        tri = np.abs(np.mod(across / np.float32(p), 2.0) - 1.0)
        return (np.sin((along / np.float32(p) + tri) * np.float32(2 * np.pi)) > 0).astype(np.float32)
    if kind == "concentric":
        return (np.sin(np.hypot(u, v) * np.float32(2 * np.pi / p)) > 0).astype(np.float32)
    return np.zeros_like(u, dtype=np.float32)




def _contours(shape: Polygon, origin: Tuple[int, int] = (0, 0)) -> List[np.ndarray]:
    ox, oy = origin
    return [np.round((np.asarray(ring.coords)[:, :2] - (ox, oy)) * _ONE).astype(np.int32)
            for ring in [shape.exterior, *shape.interiors]]


# ------------------------------------------------------------------------------------------- light

def _illumination(height: int, width: int, intensity: float, gradient: float, light_dir, vignette: float) -> np.ndarray:
    """Light field ``(H, W)``: overall intensity, a linear gradient rising towards the light and a
    vignette. Smooth, so it is computed on a coarse grid and upsampled."""
    n = 17
    yn, xn = np.mgrid[0:n, 0:n].astype(np.float32) / (n - 1) - 0.5
    coarse = (intensity * (1 + gradient * (light_dir[0] * xn + light_dir[1] * yn))
              * (1 - 2 * vignette * (xn * xn + yn * yn)))
    return cv2.resize(coarse.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


def _disc_kernel(radius: float) -> np.ndarray:
    r = int(np.ceil(radius))
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    k = np.clip(radius + 0.5 - np.hypot(x, y), 0, 1).astype(np.float32)
    return k / k.sum()


def _line_kernel(length: float, angle: float) -> np.ndarray:
    r = int(np.ceil(length / 2))
    k = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
    dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
    cv2.line(k, (int(round((r - dx) * _ONE)), int(round((r - dy) * _ONE))),
             (int(round((r + dx) * _ONE)), int(round((r + dy) * _ONE))), 1.0, 1, cv2.LINE_AA, _SHIFT)
    return k / max(float(k.sum()), 1e-6)


def _camera(image: np.ndarray, rng: np.random.Generator, look: Look) -> np.ndarray:
    """Optics and sensor: defocus and motion blur, read and shot noise, quantisation, JPEG."""
    width = image.shape[1]
    if rng.random() < look.defocus_probability:
        radius = rng.uniform(*look.defocus_radius) * width
        if radius >= 0.5:
            image = cv2.filter2D(image, -1, _disc_kernel(radius), borderType=cv2.BORDER_REFLECT)
        else:
            image = cv2.GaussianBlur(image, (0, 0), max(radius, 0.3))
    if rng.random() < look.motion_blur_probability:
        length = rng.uniform(*look.motion_blur_length) * width
        image = cv2.filter2D(image, -1, _line_kernel(max(length, 1.0), rng.uniform(0, np.pi)),
                             borderType=cv2.BORDER_REFLECT)
    read, shot = rng.uniform(*look.noise_sigma), rng.uniform(*look.shot_noise)
    noise = _gaussian_noise(rng, image.shape, 1.0)
    if shot > 0:
        noise *= np.sqrt(np.float32(read * read) + np.float32(shot) * np.clip(image, 0, 255))
    else:
        noise *= np.float32(read)
    image += noise
    np.clip(image, 0, 255, out=image)
    out = (image + 0.5).astype(np.uint8)
    if rng.random() < look.jpeg_probability:
        quality = int(round(rng.uniform(*look.jpeg_quality)))
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out


# ------------------------------------------------------------------------------------------- scene

def render_scene(rng: np.random.Generator, size: Tuple[int, int], shapes: Sequence[Polygon],
                 prototypes: Sequence[ObjectPrototype], poses: Sequence[Tuple[float, float, float, float]],
                 look: Optional[Look] = None, distractor_rng: Optional[np.random.Generator] = None,
                 ) -> Tuple[np.ndarray, np.ndarray, dict]:
    """Image ``(H, W, 3)`` uint8 RGB, labels ``(H, W)`` uint8 and the drawn appearance (a dict) of
    a scene.

    ``shapes`` are the placed outlines (image pixels); ``poses`` the ``(x, y, angle_rad, scale)`` that
    placed each prototype, used to lay its pattern in the object's own frame. Distractors are
    drawn from ``distractor_rng`` (default: ``rng``), so that a scene can be drawn again with other
    distractors and otherwise the same pixels.
    """
    if look is None:
        look = TRAIN_LOOK
    width, height = size
    table, table_kind = render_table(rng, height, width, look, [p.colors[0] for p in prototypes])
    distractors = draw_distractors(table, distractor_rng if distractor_rng is not None else rng, look)
    labels = np.zeros((height, width), np.uint8)

    azimuth = np.deg2rad(rng.uniform(*look.light_azimuth_deg))
    elevation = np.deg2rad(rng.uniform(*look.light_elevation_deg))
    light_dir = np.array([np.cos(azimuth), np.sin(azimuth)], np.float32)  # towards the light
    illumination = _illumination(height, width, rng.uniform(*look.light_intensity), rng.uniform(*look.light_gradient),
                                 light_dir, rng.uniform(*look.vignette))
    warmth, green = rng.uniform(*look.light_warmth), rng.uniform(*look.light_green)
    tint = np.array([1 + warmth, 1 + green, 1 - warmth], np.float32)

    # Shadows fall away from the light, longer for a low light, softer with distance; a faint
    # contact shadow hugs every object.
    all_alpha = np.zeros((height, width), np.uint8)
    for shape in shapes:
        cv2.fillPoly(all_alpha, _contours(shape), 255, cv2.LINE_AA, _SHIFT)
    alpha_f = all_alpha.astype(np.float32) * np.float32(1 / 255.0)
    length = rng.uniform(*look.shadow_length) * width / max(np.tan(elevation), 0.2)
    softness = rng.uniform(*look.shadow_softness) * width + 0.15 * length
    strength = rng.uniform(*look.shadow_strength)
    shadow = cv2.warpAffine(alpha_f, np.float32([[1, 0, -length * light_dir[0]], [0, 1, -length * light_dir[1]]]),
                            (width, height))
    shadow = cv2.GaussianBlur(shadow, (0, 0), max(softness, 0.3))
    contact = cv2.GaussianBlur(alpha_f, (0, 0), max(0.004 * width, 0.5))
    shading = illumination * (1.0 - strength * np.maximum(shadow, 0.5 * contact))
    image = table * shading[..., None]

    grid_y, grid_x = _grid(height, width)
    cos_el = float(np.cos(elevation))
    for index, (shape, proto, (px, py, angle, scale)) in enumerate(zip(shapes, prototypes, poses)):
        x0, y0, x1, y1 = shape.bounds
        x0, y0 = max(int(np.floor(x0)) - 1, 0), max(int(np.floor(y0)) - 1, 0)
        x1, y1 = min(int(np.ceil(x1)) + 2, width), min(int(np.ceil(y1)) + 2, height)
        alpha = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(alpha, _contours(shape, (x0, y0)), 255, cv2.LINE_AA, _SHIFT)
        cv2.fillPoly(labels, _contours(shape), index + 1, cv2.LINE_8, _SHIFT)
        # Object frame coordinates of the pixels, to lay the pattern on the object.
        dx, dy = grid_x[y0:y1, x0:x1] - np.float32(px), grid_y[y0:y1, x0:x1] - np.float32(py)
        c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
        u, v = (c * dx + s * dy) / np.float32(scale), (c * dy - s * dx) / np.float32(scale)
        weight = _object_pattern(proto, u, v, rng)[..., None]
        main = np.array(proto.colors[0], np.float32) * rng.uniform(0.9, 1.1, size=3).astype(np.float32)
        pattern = np.array(proto.colors[1], np.float32)
        color = main + weight * (pattern - main)
        radius = np.float32(max(np.sqrt(shape.area / np.pi), 1.0))
        cx, cy = shape.centroid.x, shape.centroid.y
        ox, oy = grid_x[y0:y1, x0:x1] - np.float32(cx), grid_y[y0:y1, x0:x1] - np.float32(cy)
        facing = (light_dir[0] * ox + light_dir[1] * oy) / radius  # > 0 on the side facing the light
        # Diffuse relief, stronger under a low light; then the material's highlight.
        highlight = None
        if proto.material == "metallic":
            grey = color.mean(axis=-1, keepdims=True)
            color = grey + 0.45 * (color - grey)
            brush = np.random.default_rng(proto.texture_seed)
            streaks = _along_profile(_profile(brush, 512, 0.6), v * np.cos(proto.texture_angle)
                                     - u * np.sin(proto.texture_angle) + 256, 2.0)
            color *= (1 + 0.07 * streaks)[..., None]
            relief = 0.8 + 0.3 * (0.5 + cos_el) * facing
            # A highlight stretched across the brushing direction, towards the light.
            ba = angle + proto.texture_angle
            hx, hy = ox - 0.45 * radius * cos_el * light_dir[0], oy - 0.45 * radius * cos_el * light_dir[1]
            d_along = hx * np.float32(np.cos(ba)) + hy * np.float32(np.sin(ba))
            d_across = hy * np.float32(np.cos(ba)) - hx * np.float32(np.sin(ba))
            lobe = np.exp(-(d_along / (0.25 * radius)) ** 2 - (d_across / (1.2 * radius)) ** 2)
            highlight = (rng.uniform(0.4, 0.9) * lobe)[..., None] * (0.5 * 255 + 0.5 * color)
        else:
            relief = 1.0 + 0.1 * (0.5 + cos_el) * facing
            if proto.material == "glossy":
                hx, hy = ox - 0.5 * radius * cos_el * light_dir[0], oy - 0.5 * radius * cos_el * light_dir[1]
                sigma = np.float32(rng.uniform(0.15, 0.35) * radius)
                lobe = np.exp(-(hx * hx + hy * hy) / (2 * sigma * sigma))
                highlight = (rng.uniform(0.35, 0.85) * 255 * lobe)[..., None] * np.ones(3, np.float32)
        lit = illumination[y0:y1, x0:x1]
        color *= (relief * lit)[..., None]
        if highlight is not None:
            color += highlight * lit[..., None]
        a = alpha.astype(np.float32)[..., None] * np.float32(1 / 255.0)
        image[y0:y1, x0:x1] = image[y0:y1, x0:x1] * (1 - a) + color * a
        if proto.outline:
            dark = tuple(float(v) * 0.55 * float(illumination[int(py) % height, int(px) % width]) for v in main)
            cv2.polylines(image, _contours(shape), True, dark, 1, cv2.LINE_AA, _SHIFT)

    image *= tint
    out = _camera(image, rng, look)
    appearance = {"table": table_kind, "distractors": distractors, "light_azimuth_deg": float(np.rad2deg(azimuth)),
                  "light_elevation_deg": float(np.rad2deg(elevation))}
    return out, labels, appearance

"""The object pool of the synthetic scenes: shapes with a fixed appearance, grouped in object sets.

An :class:`ObjectPrototype` is one physical object: a 2-D outline seen from above (a shapely
polygon in pixels, centroid at the origin, possibly with holes) and its colours and surface
pattern. Scenes show *instances* of prototypes (moved, turned, lit differently). Prototypes come
in :class:`ObjectSet` s; a scene only shows objects of one set, and the set's id is the object id
written in the file name, so object-wise splits never see one object on both sides.

Sizes are fractions of the image side, so a pool for 480-pixel images is the 320-pixel pool scaled.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Tuple

import cv2
import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box

TEXTURES = ("plain", "stripes", "checker", "dots", "band", "speckle")


@dataclass(frozen=True)
class ObjectPrototype:
    """One object: outline ``shape`` (pixels, centroid at the origin) and appearance."""
    prototype_id: str
    kind: str
    shape: Polygon
    colors: Tuple[Tuple[int, int, int], Tuple[int, int, int]]  # RGB, main and pattern colour
    texture: str
    texture_period: float  # pixels
    texture_angle: float   # radians, in the object's frame
    outline: bool          # draw a darker rim


@dataclass(frozen=True)
class ObjectSet:
    set_id: str
    prototypes: Tuple[ObjectPrototype, ...]


def _centred(shape) -> Polygon:
    if shape.geom_type == "MultiPolygon":  # a union that fell apart: keep the largest piece
        shape = max(shape.geoms, key=lambda g: g.area)
    shape = shapely.make_valid(shape.simplify(0.2))
    if shape.geom_type != "Polygon":
        shape = max(getattr(shape, "geoms", [shape]), key=lambda g: g.area)
    c = shape.centroid
    return affinity.translate(shape, -c.x, -c.y)


def _bar(rng, s):
    length, width = rng.uniform(0.15, 0.42) * s, rng.uniform(0.04, 0.11) * s
    corner = rng.uniform(0.0, 0.45) * width
    return box(-length / 2 + corner, -width / 2 + corner, length / 2 - corner, width / 2 - corner).buffer(
        corner, quad_segs=6) if corner > 0.5 else box(-length / 2, -width / 2, length / 2, width / 2)


def _ellipse(rng, s):
    a = rng.uniform(0.05, 0.15) * s
    b = rng.uniform(0.35, 1.0) * min(a, 0.1 * s)
    return affinity.scale(Point(0, 0).buffer(1.0, quad_segs=16), a, b)


def _disc(rng, s):
    return Point(0, 0).buffer(rng.uniform(0.04, 0.1) * s, quad_segs=16)


def _polygon(rng, s):
    sides = int(rng.choice([4, 6, 8, 3, 5]))
    radius = rng.uniform(0.05, 0.11) * s
    t = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    poly = Polygon(np.c_[radius * np.cos(t), radius * np.sin(t)])
    if sides % 2:  # odd polygons have no parallel faces: round them so that a pinch exists
        poly = poly.buffer(rng.uniform(0.25, 0.45) * radius, quad_segs=8).buffer(-0.2 * radius, quad_segs=8)
    return poly


def _l_shape(rng, s):
    a, b = rng.uniform(0.12, 0.3) * s, rng.uniform(0.1, 0.25) * s
    t = rng.uniform(0.04, 0.09) * s
    return box(0, 0, a, t).union(box(0, 0, t, b))


def _t_shape(rng, s):
    a, b = rng.uniform(0.14, 0.32) * s, rng.uniform(0.1, 0.24) * s
    t = rng.uniform(0.04, 0.08) * s
    return box(-a / 2, 0, a / 2, t).union(box(-t / 2, 0, t / 2, b))


def _plus(rng, s):
    a, t = rng.uniform(0.12, 0.26) * s, rng.uniform(0.035, 0.07) * s
    return box(-a / 2, -t / 2, a / 2, t / 2).union(box(-t / 2, -a / 2, t / 2, a / 2))


def _ring(rng, s):
    outer = rng.uniform(0.06, 0.13) * s
    wall = rng.uniform(0.025, 0.05) * s
    return Point(0, 0).buffer(outer, quad_segs=16).difference(Point(0, 0).buffer(outer - wall, quad_segs=16))


def _mug(rng, s):
    radius = rng.uniform(0.05, 0.09) * s
    handle = rng.uniform(0.35, 0.55) * radius
    wall = rng.uniform(0.25, 0.4) * handle
    ring = Point(radius + 0.4 * handle, 0).buffer(handle, quad_segs=12).difference(
        Point(radius + 0.4 * handle, 0).buffer(handle - wall, quad_segs=12))
    return Point(0, 0).buffer(radius, quad_segs=16).union(ring.difference(Point(0, 0).buffer(radius * 0.999)))


def _capsule(rng, s):
    length, width = rng.uniform(0.15, 0.35) * s, rng.uniform(0.03, 0.08) * s
    bend = rng.uniform(-0.25, 0.25) * length
    x = np.linspace(-length / 2, length / 2, 12)
    y = bend * (1 - (2 * x / length) ** 2)
    return LineString(np.c_[x, y]).buffer(width / 2, quad_segs=8)


def _blob(rng, s):
    radius = rng.uniform(0.05, 0.11) * s
    pts = rng.normal(size=(9, 2)) * radius * np.array([1.0, rng.uniform(0.5, 1.0)])
    hull = shapely.convex_hull(shapely.multipoints(pts))
    if hull.geom_type != "Polygon" or hull.area < 1.0:
        return Point(0, 0).buffer(radius, quad_segs=12)
    return hull.buffer(0.15 * radius, quad_segs=8)


SHAPES: Dict[str, Callable] = {
    "bar": _bar, "ellipse": _ellipse, "disc": _disc, "polygon": _polygon, "L": _l_shape,
    "T": _t_shape, "plus": _plus, "ring": _ring, "mug": _mug, "capsule": _capsule, "blob": _blob,
}


def random_color(rng: np.random.Generator) -> Tuple[int, int, int]:
    """A random RGB colour, saturated or not, never too close to black or white."""
    hsv = np.array([[[rng.integers(0, 180), rng.integers(40, 256) if rng.random() < 0.8 else rng.integers(0, 50),
                      rng.integers(60, 240)]]], dtype=np.uint8)
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def random_prototype(rng: np.random.Generator, image_size: int, prototype_id: str, kind: str = None) -> ObjectPrototype:
    kind = kind or str(rng.choice(list(SHAPES)))
    shape = _centred(SHAPES[kind](rng, image_size))
    texture = str(rng.choice(TEXTURES, p=[0.35, 0.15, 0.1, 0.1, 0.15, 0.15]))
    main = random_color(rng)
    pattern = random_color(rng)
    return ObjectPrototype(prototype_id=prototype_id, kind=kind, shape=shape, colors=(main, pattern),
                           texture=texture, texture_period=float(rng.uniform(0.015, 0.05) * image_size),
                           texture_angle=float(rng.uniform(0, np.pi)), outline=bool(rng.random() < 0.4))


def object_set_id(index: int) -> str:
    return f"set{index:04d}"

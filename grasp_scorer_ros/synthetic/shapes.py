"""The object pool of the synthetic scenes: shapes with a fixed appearance, grouped in object sets.

An :class:`ObjectPrototype` is one physical object: a 2-D outline seen from above (a shapely
polygon in pixels, centroid at the origin, possibly with holes) and its colours and surface
pattern. Scenes show *instances* of prototypes (moved, turned, lit differently). Prototypes come
in :class:`ObjectSet` s; a scene only shows objects of one set, and the set's id is the object id
written in the file name, so object-wise splits never see one object on both sides.

Sizes are fractions of the image side, so a pool for 480-pixel images is the 320-pixel pool scaled.
Which shape kinds, patterns, colours and materials a prototype is drawn from is set by a
:class:`~.look.Look`; the shape kinds are all in :data:`SHAPES`: the training families (bars,
ellipses, discs, polygons, L/T/U/plus shapes, rings, mugs, bent capsules, blobs, bottles) and the
held-out ones (hammers, spatulas, wrenches, spoons, gears, stars, crescents).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import cv2
import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box

from grasp_scorer_ros.synthetic.look import TRAIN_LOOK, Look


@dataclass(frozen=True)
class ObjectPrototype:
    """One object: outline ``shape`` (pixels, centroid at the origin) and appearance."""
    prototype_id: str
    kind: str
    shape: Polygon
    colors: Tuple[Tuple[int, int, int], Tuple[int, int, int]]  # RGB, main and pattern colour
    texture: str           # surface pattern, one of look.OBJECT_PATTERNS
    texture_period: float  # pixels
    texture_angle: float   # radians, in the object's frame
    outline: bool          # draw a darker rim
    material: str = "matte"  # one of look.MATERIALS
    texture_seed: int = 0    # fixes the random parts of the pattern (and brushing) of this object


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


def _u_shape(rng, s):
    """A bracket or channel: a base with two arms."""
    a, b = rng.uniform(0.12, 0.28) * s, rng.uniform(0.1, 0.24) * s
    t = rng.uniform(0.03, 0.06) * s
    return box(-a / 2, 0, a / 2, t).union(box(-a / 2, 0, -a / 2 + t, b)).union(box(a / 2 - t, 0, a / 2, b))


def _bottle(rng, s):
    """A bottle seen from the side: rounded body, narrower neck, a cap."""
    length, width = rng.uniform(0.13, 0.25) * s, rng.uniform(0.055, 0.1) * s
    neck_l, neck_w = rng.uniform(0.03, 0.07) * s, rng.uniform(0.35, 0.55) * width
    r = 0.3 * width
    body = box(-length / 2, -width / 2, length / 2, width / 2).buffer(-r).buffer(r, quad_segs=6)
    neck = box(length / 2 - r, -neck_w / 2, length / 2 + neck_l, neck_w / 2)
    cap_w = neck_w * rng.uniform(1.0, 1.25)
    cap = box(length / 2 + neck_l, -cap_w / 2, length / 2 + neck_l + rng.uniform(0.01, 0.025) * s, cap_w / 2)
    return body.union(neck).union(cap)


# Held-out families (see look.HELDOUT_LOOK): tools and toothed/pointed/curved outlines.

def _hammer(rng, s):
    """A handle with a head across one end, flat face on one side and a tapered claw on the other."""
    handle_l, handle_w = rng.uniform(0.2, 0.34) * s, rng.uniform(0.03, 0.05) * s
    head_l, head_w = rng.uniform(0.1, 0.16) * s, rng.uniform(0.04, 0.065) * s
    handle = box(0, -handle_w / 2, handle_l, handle_w / 2).buffer(-0.3 * handle_w).buffer(0.3 * handle_w)
    x0, x1 = handle_l - head_w, handle_l
    face = box(x0, -head_l / 2, x1, 0.05 * head_l)
    claw = Polygon([(x0, 0), (x1, 0), (x1 - 0.2 * head_w, head_l / 2), (x0 + 0.4 * head_w, head_l / 2)])
    return handle.union(face).union(claw)


def _spatula(rng, s):
    """A wide, rounded blade (sometimes slotted) on a thin handle."""
    blade_l, blade_w = rng.uniform(0.08, 0.12) * s, rng.uniform(0.08, 0.12) * s
    handle_l, handle_w = rng.uniform(0.14, 0.22) * s, rng.uniform(0.025, 0.04) * s
    r = 0.2 * blade_w
    blade = box(0, -blade_w / 2, blade_l, blade_w / 2).buffer(-r).buffer(r, quad_segs=6)
    if rng.random() < 0.5:
        slots = int(rng.integers(2, 4))
        slot_w = 0.08 * blade_w
        for y in np.linspace(-blade_w / 4, blade_w / 4, slots):
            blade = blade.difference(box(0.25 * blade_l, y - slot_w / 2, 0.8 * blade_l, y + slot_w / 2))
    neck = box(-0.15 * handle_l, -0.35 * handle_w, 0.05 * blade_l, 0.35 * handle_w)
    handle = box(-handle_l, -handle_w / 2, -0.15 * handle_l, handle_w / 2).buffer(-0.3 * handle_w).buffer(
        0.3 * handle_w)
    return blade.union(neck).union(handle)


def _wrench(rng, s):
    """A handle with an open jaw at one end and a closed ring at the other."""
    length, width = rng.uniform(0.2, 0.3) * s, rng.uniform(0.03, 0.045) * s
    handle = box(-length / 2, -width / 2, length / 2, width / 2)
    open_r = rng.uniform(1.1, 1.5) * width
    jaw = Point(length / 2 + 0.6 * open_r, 0).buffer(open_r, quad_segs=10)
    slot = rng.uniform(0.5, 0.75) * open_r
    tilt = rng.uniform(-0.3, 0.3)
    notch = affinity.rotate(box(length / 2 + 0.4 * open_r, -slot / 2, length / 2 + 2.5 * open_r, slot / 2), tilt,
                            origin=(length / 2 + 0.6 * open_r, 0), use_radians=True)
    ring_r = rng.uniform(1.0, 1.3) * width
    ring = Point(-length / 2 - 0.5 * ring_r, 0).buffer(ring_r, quad_segs=10).difference(
        Point(-length / 2 - 0.5 * ring_r, 0).buffer(0.5 * ring_r, quad_segs=8))
    return handle.union(jaw.difference(notch)).union(ring)


def _spoon(rng, s):
    """An oval bowl on a thin handle with a widened end."""
    a = rng.uniform(0.045, 0.075) * s
    b = rng.uniform(0.6, 0.8) * a
    bowl = affinity.scale(Point(0, 0).buffer(1.0, quad_segs=16), a, b)
    handle_l, handle_w = rng.uniform(0.14, 0.24) * s, rng.uniform(0.02, 0.032) * s
    handle = box(0.7 * a, -handle_w / 2, a + handle_l, handle_w / 2)
    end = Point(a + handle_l, 0).buffer(rng.uniform(0.6, 0.9) * handle_w, quad_segs=8)
    return bowl.union(handle).union(end)


def _gear(rng, s):
    """A toothed wheel, sometimes with a bore."""
    radius = rng.uniform(0.06, 0.12) * s
    teeth = int(rng.integers(6, 15))
    depth = rng.uniform(0.12, 0.22) * radius
    pitch = 2 * np.pi / teeth
    points = []
    for k in range(teeth):
        t = k * pitch
        for dt, r in ((0.0, radius - depth), (0.15, radius), (0.5, radius), (0.65, radius - depth)):
            points.append(((r) * np.cos(t + dt * pitch), (r) * np.sin(t + dt * pitch)))
    gear = Polygon(points)
    if rng.random() < 0.5:
        gear = gear.difference(Point(0, 0).buffer(rng.uniform(0.2, 0.4) * radius, quad_segs=10))
    return gear


def _star(rng, s):
    """A star with rounded points."""
    points = int(rng.integers(4, 9))
    outer = rng.uniform(0.07, 0.13) * s
    inner = rng.uniform(0.45, 0.65) * outer
    t = np.arange(2 * points) * np.pi / points
    r = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    star = Polygon(np.c_[r * np.cos(t), r * np.sin(t)])
    k = rng.uniform(0.06, 0.12) * outer
    return star.buffer(-k, join_style="mitre").buffer(k, quad_segs=6)


def _crescent(rng, s):
    """A disc with an offset disc cut out of it."""
    radius = rng.uniform(0.06, 0.12) * s
    cut = rng.uniform(0.7, 0.9) * radius
    offset = rng.uniform(0.35, 0.55) * radius
    return Point(0, 0).buffer(radius, quad_segs=20).difference(Point(offset, 0).buffer(cut, quad_segs=20))


SHAPES: Dict[str, Callable] = {
    "bar": _bar, "ellipse": _ellipse, "disc": _disc, "polygon": _polygon, "L": _l_shape,
    "T": _t_shape, "plus": _plus, "ring": _ring, "mug": _mug, "capsule": _capsule, "blob": _blob,
    "U": _u_shape, "bottle": _bottle,
    "hammer": _hammer, "spatula": _spatula, "wrench": _wrench, "spoon": _spoon, "gear": _gear,
    "star": _star, "crescent": _crescent,
}


def random_color(rng: np.random.Generator, saturation=(0.0, 1.0), value=(0.25, 0.95)) -> Tuple[int, int, int]:
    """A random RGB colour: any hue, HSV saturation and value drawn from the given ranges (0-1)."""
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(*saturation) * 255, rng.uniform(*value) * 255]]],
                   dtype=np.float32).round().astype(np.uint8)
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def random_prototype(rng: np.random.Generator, image_size: int, prototype_id: str, kind: Optional[str] = None,
                     look: Optional[Look] = None) -> ObjectPrototype:
    """A prototype of shape ``kind`` (default: any of the look's shape kinds) with the look's
    patterns, colours and materials (default look: ``"train"``)."""
    if look is None:
        look = TRAIN_LOOK
    kind = kind or str(rng.choice(list(look.shape_kinds)))
    shape = _centred(SHAPES[kind](rng, image_size))
    patterns = list(look.object_patterns)
    # Plain objects are common in the real world: "plain", when available, weighs as much as
    # three other patterns.
    weights = np.array([3.0 if p == "plain" else 1.0 for p in patterns])
    texture = str(rng.choice(patterns, p=weights / weights.sum()))
    main = random_color(rng, look.object_saturation, look.object_value)
    pattern = random_color(rng, look.object_saturation, look.object_value)
    material = str(rng.choice(list(look.materials)))
    return ObjectPrototype(prototype_id=prototype_id, kind=kind, shape=shape, colors=(main, pattern),
                           texture=texture, texture_period=float(rng.uniform(*look.pattern_period) * image_size),
                           texture_angle=float(rng.uniform(0, np.pi)),
                           outline=bool(rng.random() < look.outline_probability), material=material,
                           texture_seed=int(rng.integers(0, 2**31 - 1)))


def object_set_id(index: int, look_name: str = "train") -> str:
    """``set0003`` for the training look, ``<look>-set0003`` for any other."""
    return f"set{index:04d}" if look_name == "train" else f"{look_name}-set{index:04d}"

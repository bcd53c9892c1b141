"""Scenes of the physics cell: the synthetic generator's objects, given height and mass, on its tables.

A scene starts as a :func:`~grasp_scorer_ros.synthetic.generate_scene` scene drawn at the camera's
resolution: its object outlines (image pixels) are cast onto the table through the same calibration
the detection node reads, so the generator's dense grasps stay the ground truth, and a mistake in
the calibration or its conventions anywhere in the chain shows up as a missed pick. Each outline
becomes a prism of a drawn height (convex pieces, since MuJoCo collides convex shapes), with a mass
from its volume.

Besides the generator's families (:data:`SCENE_FAMILIES`), scenes of the shapes that are hard for a
parallel-plate gripper: ``round`` (discs become balls, bars become cylinders lying on their side:
both roll), ``plate`` (one object is a thin plate, lower than the fingertips stop without depth),
``crowded`` (3 or 4 objects, down to 1.5 pixels apart, where the jaws' way down is narrow).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import List, Optional, Tuple

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import Polygon

from grasp_scorer_ros.camera.models import Calibration, CameraIntrinsics
from grasp_scorer_ros.camera.pixel_to_pose import pixels_to_surface
from grasp_scorer_ros.synthetic.look import resolve_look
from grasp_scorer_ros.synthetic.render import draw_distractors, render_table
from grasp_scorer_ros.synthetic.scene import SceneConfig, generate_scene, make_object_pool

# How often each family is drawn (the scene's family depends only on (seed, index)).
SCENE_FAMILIES = {"generator": 0.6, "crowded": 0.15, "round": 0.15, "plate": 0.10}
HEIGHT_RANGE_M = (0.025, 0.06)     # an ordinary object; the fingers reach 0.06 m above the table
PLATE_HEIGHT_RANGE_M = (0.006, 0.012)
DENSITY_RANGE = (300.0, 900.0)     # kg/m^3: foam and wood to dense plastic
MAX_MASS_KG = 0.5


@dataclass(frozen=True)
class CellObject:
    """One rigid object on the table. ``pieces``: convex outlines ``(K, 2)`` in metres relative to
    ``position`` (base frame x, y; the body's origin, on the table); ``primitive`` replaces the prism
    by a ``"ball"`` or a ``"roller"`` (a cylinder lying along its footprint's long axis)."""
    name: str
    kind: str
    footprint: Polygon              # base frame x, y (metres)
    pieces: Tuple[np.ndarray, ...]
    position: Tuple[float, float]
    height: float
    density: float
    rgba: Tuple[float, float, float, float]
    material: str = "matte"
    primitive: Optional[str] = None

    @property
    def volume(self) -> float:
        if self.primitive == "ball":
            return 4.0 / 3.0 * np.pi * (self.height / 2) ** 3
        if self.primitive == "roller":
            length, _ = _footprint_extent(self.footprint)
            return np.pi * (self.height / 2) ** 2 * length
        return self.footprint.area * self.height

    @property
    def mass(self) -> float:
        return self.volume * self.density


@dataclass
class CellScene:
    """What the cell builds: objects, the table's print (an RGB image laid over the camera's field
    of view), the light, and the generator's ground truth (image pixels of the footprints)."""
    index: int
    seed: int
    family: str
    look: str
    objects: List[CellObject]
    table_image: np.ndarray
    table_corners: np.ndarray         # (4, 2) base x, y of the image corners on the table
    light_direction: np.ndarray       # (3,) unit vector the light shines along
    light_intensity: float
    grasps_px: np.ndarray             # (N, 5) ground-truth grasps in image pixels
    grasp_object: np.ndarray          # (N,) index into objects
    object_id: str = ""
    appearance: dict = field(default_factory=dict)


def convex_pieces(polygon: Polygon, tolerance: float = 1e-3) -> List[np.ndarray]:
    """Convex polygons whose union is ``polygon`` (holes included), as ``(K, 2)`` vertex arrays:
    the hull where the outline is convex to within ``tolerance`` of its area, else a constrained
    Delaunay triangulation merged greedily while each union stays convex."""
    polygon = shapely.make_valid(polygon)
    if polygon.geom_type != "Polygon":
        polygon = max(polygon.geoms, key=lambda g: g.area)
    hull = polygon.convex_hull
    if not polygon.interiors and polygon.area >= (1 - tolerance) * hull.area:
        return [np.asarray(hull.exterior.coords)[:-1]]
    pieces = [t for t in shapely.constrained_delaunay_triangles(polygon).geoms if t.area > 0]
    merged = True
    while merged:
        merged = False
        for i in range(len(pieces)):
            for j in range(i + 1, len(pieces)):
                if pieces[i].intersection(pieces[j]).length <= 0:   # no shared edge
                    continue
                union = pieces[i].union(pieces[j])
                if union.geom_type == "Polygon" and union.area >= (1 - tolerance) * union.convex_hull.area:
                    pieces[i] = union.convex_hull
                    del pieces[j]
                    merged = True
                    break
            if merged:
                break
    return [np.asarray(p.exterior.coords)[:-1] for p in pieces]


def _footprint_extent(footprint: Polygon) -> Tuple[float, float]:
    """Length and width of the footprint's minimum rotated rectangle."""
    rect = np.asarray(footprint.minimum_rotated_rectangle.exterior.coords)[:4]
    a, b = np.linalg.norm(rect[1] - rect[0]), np.linalg.norm(rect[2] - rect[1])
    return max(a, b), min(a, b)


def image_to_table(points_px, calibration: Calibration, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Base-frame x, y ``(N, 2)`` of image points on the work surface (the camera's own model)."""
    return pixels_to_surface(np.asarray(points_px, float).reshape(-1, 2), intrinsics,
                             calibration.camera_pose, calibration.surface)[:, :2]


def _polygon_to_table(polygon: Polygon, calibration, intrinsics) -> Polygon:
    ext = image_to_table(np.asarray(polygon.exterior.coords), calibration, intrinsics)
    holes = [image_to_table(np.asarray(r.coords), calibration, intrinsics) for r in polygon.interiors]
    return shapely.make_valid(Polygon(ext, holes)).buffer(0)


@lru_cache(maxsize=4)
def _object_pool(seed: int, sets: int, size: int, look: str):
    # The pool depends on neither the gap nor the object count: one per seed, size and look.
    return make_object_pool(seed, sets, SceneConfig(size=size, look=look))


def _family(seed: int, index: int, families: Optional[Tuple[str, ...]]) -> str:
    names = list(families or SCENE_FAMILIES)
    weights = np.array([SCENE_FAMILIES[n] for n in names])
    rng = np.random.default_rng([seed, 7001, index])
    return str(rng.choice(names, p=weights / weights.sum()))


def make_cell_scene(index: int, seed: int, calibration: Calibration, intrinsics: CameraIntrinsics,
                    look: str = "heldout", families: Optional[Tuple[str, ...]] = None,
                    object_sets: int = 40) -> CellScene:
    """Scene ``index`` of the cell's scenes of ``seed``: a function of ``(seed, index)`` and the
    arguments only. ``look`` names the generator's look (``heldout``: objects and tables never used
    for training); ``families`` limits the families drawn (default: all of :data:`SCENE_FAMILIES`)."""
    if calibration.surface.normal[2] < 0.99:
        raise ValueError("the physics cell builds a horizontal table: give a calibration with "
                         "work_surface.height (a tilted surface is not simulated)")
    if intrinsics.width != intrinsics.height:
        raise ValueError(f"the cell draws square scenes; the camera is {intrinsics.width}x{intrinsics.height}")
    family = _family(seed, index, families)
    resolved = resolve_look(look)
    config = SceneConfig(size=int(intrinsics.width), look=resolved, max_objects=4,
                         max_gap=0.004 if family == "crowded" else 0.06,
                         min_objects=3 if family == "crowded" else 1)
    pool = _object_pool(seed, object_sets, config.size, resolved.name)
    scene = generate_scene(index, seed, pool, config)
    rng = np.random.default_rng([seed, 7002, index])

    objects = []
    plate = int(rng.integers(len(scene.shapes))) if family == "plate" else -1
    for k, (shape_px, proto) in enumerate(zip(scene.shapes, scene.prototypes)):
        footprint = _polygon_to_table(shape_px, calibration, intrinsics)
        c = footprint.centroid
        # 1 mm is below what the camera resolves (0.7 mm per pixel) and keeps the convex pieces few.
        local = affinity.translate(footprint, -c.x, -c.y).simplify(0.001)
        height = rng.uniform(*(PLATE_HEIGHT_RANGE_M if k == plate else HEIGHT_RANGE_M))
        primitive, kind = None, proto.kind
        length, width = _footprint_extent(footprint)
        if family == "round" and proto.kind in ("disc", "ellipse", "polygon", "gear", "star") and width / length > 0.8:
            primitive, kind, height = "ball", "ball", min(0.055, (length + width) / 2)
        elif family == "round" and proto.kind in ("bar", "capsule", "spatula", "hammer", "spoon", "wrench") \
                and length / width > 2.0:
            primitive, kind, height = "roller", "roller", min(0.055, width)
        elif k == plate:
            kind = "plate"
        density = rng.uniform(*DENSITY_RANGE)
        trial = CellObject(name=f"object{k}", kind=kind, footprint=footprint,
                           pieces=tuple(convex_pieces(local)), position=(c.x, c.y), height=float(height),
                           density=float(density), rgba=(*(np.asarray(proto.colors[0]) / 255.0), 1.0),
                           material=proto.material, primitive=primitive)
        if trial.mass > MAX_MASS_KG:
            trial = replace(trial, density=MAX_MASS_KG / trial.volume)
        objects.append(trial)

    size = int(intrinsics.width)
    table, _ = render_table(np.random.default_rng([seed, 7003, index]), size, size, resolved,
                            [p.colors[0] for p in scene.prototypes])
    draw_distractors(table, np.random.default_rng([seed, 7004, index]), resolved)
    corners = image_to_table([[-0.5, -0.5], [size - 0.5, -0.5], [size - 0.5, size - 0.5], [-0.5, size - 0.5]],
                             calibration, intrinsics)
    azimuth, elevation = rng.uniform(0, 2 * np.pi), np.deg2rad(rng.uniform(*resolved.light_elevation_deg))
    towards_light = np.array([np.cos(azimuth) * np.cos(elevation), np.sin(azimuth) * np.cos(elevation),
                              np.sin(elevation)])
    return CellScene(index=index, seed=seed, family=family, look=resolved.name, objects=objects,
                     table_image=np.clip(table, 0, 255).astype(np.uint8), table_corners=corners,
                     light_direction=-towards_light, light_intensity=float(rng.uniform(*resolved.light_intensity)),
                     grasps_px=scene.grasps, grasp_object=scene.grasp_object, object_id=scene.object_id,
                     appearance=scene.appearance)

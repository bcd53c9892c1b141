"""Synthetic scenes: objects of one object set placed on a table, with their grasps.

Scene ``i`` of a dataset depends only on ``(seed, i)`` and the configuration, and the object pool
only on ``(seed, set index)`` and the look: a dataset is reproducible, and scenes can be generated
in any order. What a scene looks like (:class:`~.look.Look`) is drawn from random streams of its
own: the geometry and the grasps of scene ``i`` do not depend on the look's lighting, camera or
distractors, and the distractors have a stream of their own too, so a scene can be drawn again
without them and differ only where they were.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Union

import numpy as np
from shapely import affinity
from shapely.geometry import Polygon

from grasp_scorer_ros.synthetic.grasp_planner import GripperModel, occupancy, plan_grasps
from grasp_scorer_ros.synthetic.look import Look, resolve_look
from grasp_scorer_ros.synthetic.render import render_scene
from grasp_scorer_ros.synthetic.shapes import ObjectPrototype, ObjectSet, object_set_id, random_prototype

# Streams of random numbers derived from the seed, kept apart so that changing one part of the
# generator does not reshuffle the others.
_POOL_STREAM, _SCENE_STREAM, _RENDER_STREAM, _DISTRACTOR_STREAM = 0, 1, 2, 3


@dataclass(frozen=True)
class SceneConfig:
    """Parameters of the synthetic scenes (sizes in pixels)."""
    size: int = 320
    min_objects: int = 1
    max_objects: int = 4
    objects_per_set: int = 3
    max_grasps_per_object: Optional[int] = None  # None: every grasp found (dense, as Jacquard)
    grasp_angle_step: float = 7.5   # degrees between candidate grasp orientations
    max_gap: float = 0.06           # largest free space between objects, fraction of ``size``
    gripper: Optional[GripperModel] = None  # default: GripperModel.for_image_size(size)
    look: Union[str, Look] = "train"  # a name in look.LOOKS or a Look; kept as the Look itself

    def __post_init__(self):
        object.__setattr__(self, "look", resolve_look(self.look))
        if self.size < 64:
            raise ValueError(f"scene size must be at least 64 pixels, got {self.size}")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError(f"need 1 <= min_objects <= max_objects, got {self.min_objects}, {self.max_objects}")

    @property
    def gripper_model(self) -> GripperModel:
        return self.gripper or GripperModel.for_image_size(self.size)


@dataclass
class Scene:
    """One generated scene. ``grasps`` ``(N, 5)`` in image pixels; ``grasp_object`` ``(N,)`` the
    index of the object each grasp holds; ``labels`` ``(H, W)``: 0 table, ``k + 1`` object ``k``."""
    image: np.ndarray
    labels: np.ndarray
    grasps: np.ndarray
    grasp_object: np.ndarray
    object_id: str
    shapes: List[Polygon] = field(default_factory=list)
    prototypes: List[ObjectPrototype] = field(default_factory=list)
    appearance: dict = field(default_factory=dict)  # what the renderer drew (table family, light, ...)

    def grasps_per_object(self) -> np.ndarray:
        """Number of grasps of each object ``(objects,)`` (0 for an object left without any)."""
        return np.bincount(self.grasp_object, minlength=len(self.shapes))


def _place(shape: Polygon, x: float, y: float, angle_rad: float, scale: float) -> Polygon:
    placed = affinity.scale(shape, scale, scale, origin=(0, 0))
    placed = affinity.rotate(placed, angle_rad, origin=(0, 0), use_radians=True)
    return affinity.translate(placed, x, y)


def _graspable_alone(proto: ObjectPrototype, config: SceneConfig, rng) -> bool:
    c = (config.size - 1) / 2
    shape = _place(proto.shape, c, c, 0.0, 1.0)
    return len(plan_grasps(shape, shape, None, (config.size, config.size), config.gripper_model, rng,
                           angle_step_deg=config.grasp_angle_step, max_grasps=1)) > 0


def _look_stream(look: Look) -> List[int]:
    """Extra entropy that keeps the pools of different looks apart (none for the training look)."""
    return [] if look.name == "train" else [zlib.crc32(look.name.encode("utf-8"))]


def make_object_set(seed: int, index: int, config: SceneConfig) -> ObjectSet:
    """Object set ``index`` of the pool of ``seed`` for the config's look: ``objects_per_set``
    prototypes of the look's shape kinds, different kinds where possible, each checked to have at
    least one grasp when alone on the table. Sets of a look other than ``"train"`` are named with
    its name as prefix (``heldout-set0003``)."""
    look = config.look
    rng = np.random.default_rng([seed, _POOL_STREAM, index, *_look_stream(look)])
    set_id = object_set_id(index, look.name)
    prototypes, kinds = [], set()
    while len(prototypes) < config.objects_per_set:
        for attempt in range(200):
            proto = random_prototype(rng, config.size, f"{set_id}-{len(prototypes)}", look=look)
            # Different kinds first; a repeated kind only if none of the others yields grasps.
            if (proto.kind not in kinds or attempt >= 50) and _graspable_alone(proto, config, rng):
                break
        else:
            raise RuntimeError(f"no graspable object of the kinds {look.shape_kinds} in 200 tries "
                               f"(set {set_id}, image size {config.size})")
        kinds.add(proto.kind)
        prototypes.append(proto)
    return ObjectSet(set_id, tuple(prototypes))


def make_object_pool(seed: int, sets: int, config: SceneConfig) -> List[ObjectSet]:
    if sets < 1:
        raise ValueError(f"need at least one object set, got {sets}")
    return [make_object_set(seed, i, config) for i in range(sets)]


def _arrange(rng, object_set: ObjectSet, count: int, config: SceneConfig):
    """Place up to ``count`` instances without overlap; returns shapes, prototypes and poses."""
    size = config.size
    gap = rng.uniform(1.5, max(2.0, config.max_gap * size))
    shapes, protos, poses = [], [], []
    for _ in range(count):
        proto = object_set.prototypes[rng.integers(len(object_set.prototypes))]
        for _ in range(30):
            angle, scale = rng.uniform(0, 2 * np.pi), rng.uniform(0.9, 1.1)
            shape = _place(proto.shape, 0.0, 0.0, angle, scale)
            x0, y0, x1, y1 = shape.bounds
            margin = 2.0
            if x1 - x0 > size - 2 * margin or y1 - y0 > size - 2 * margin:
                continue
            x = rng.uniform(margin - x0, size - 1 - margin - x1)
            y = rng.uniform(margin - y0, size - 1 - margin - y1)
            shape = affinity.translate(shape, x, y)
            if all(shape.distance(other) >= gap for other in shapes):
                shapes.append(shape)
                protos.append(proto)
                poses.append((x, y, angle, scale))
                break
    return shapes, protos, poses


def generate_scene(index: int, seed: int, pool: Sequence[ObjectSet], config: SceneConfig = SceneConfig()) -> Scene:
    """Scene ``index`` of the dataset of ``seed`` drawn from ``pool``; it always holds at least one
    grasp (a crowded arrangement without any is drawn again, with fewer objects if need be)."""
    key = _look_stream(config.look)
    rng = np.random.default_rng([seed, _SCENE_STREAM, index, *key])
    object_set = pool[rng.integers(len(pool))]
    count = int(rng.integers(config.min_objects, config.max_objects + 1))
    size = (config.size, config.size)
    for attempt in range(12):
        shapes, protos, poses = _arrange(rng, object_set, max(1, count - attempt // 3), config)
        everything = occupancy(shapes)
        grasps, owners = [], []
        for k, shape in enumerate(shapes):
            g = plan_grasps(shape, everything, occupancy(shapes, exclude=k), size, config.gripper_model,
                            rng, angle_step_deg=config.grasp_angle_step,
                            max_grasps=config.max_grasps_per_object)
            grasps.append(g)
            owners.append(np.full(len(g), k))
        if sum(len(g) for g in grasps):
            break
    else:  # one validated prototype alone in the middle of the table always has grasps
        proto = object_set.prototypes[0]
        c = (config.size - 1) / 2
        shapes, protos, poses = [_place(proto.shape, c, c, 0.0, 1.0)], [proto], [(c, c, 0.0, 1.0)]
        g = plan_grasps(shapes[0], shapes[0], None, size, config.gripper_model, rng,
                        angle_step_deg=config.grasp_angle_step, max_grasps=config.max_grasps_per_object)
        grasps, owners = [g], [np.zeros(len(g), int)]
    image, labels, appearance = render_scene(
        np.random.default_rng([seed, _RENDER_STREAM, index, *key]), size, shapes, protos, poses, config.look,
        distractor_rng=np.random.default_rng([seed, _DISTRACTOR_STREAM, index, *key]))
    return Scene(image=image, labels=labels, grasps=np.concatenate(grasps).reshape(-1, 5),
                 grasp_object=np.concatenate(owners).astype(np.int64), object_id=object_set.set_id,
                 shapes=list(shapes), prototypes=list(protos), appearance=appearance)

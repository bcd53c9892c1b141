"""Synthetic grasp dataset: top-down tabletop scenes with grasps correct by construction.

Scenes show 1-4 objects of varied shapes (bars, ellipses, discs, polygons, L/T/plus shapes, rings,
mugs with handles, bent capsules, blobs), colours and surface patterns on varied tables, under
varied light, with shadows and sensor noise. Each object gets several antipodal grasps whose open
fingers are clear of every object (see :mod:`.grasp_planner`). Scenes are written in the Jacquard
format and load with :func:`grasp_scorer_ros.datasets.load_jacquard`.

Command line: ``python -m grasp_scorer_ros.synthetic --out DIR --count N --seed S`` (also the
console script ``grasp-scorer-synth``).
"""
from grasp_scorer_ros.synthetic.cli import main
from grasp_scorer_ros.synthetic.grasp_planner import GripperModel, plan_grasps
from grasp_scorer_ros.synthetic.scene import Scene, SceneConfig, generate_scene, make_object_pool
from grasp_scorer_ros.synthetic.writer import write_dataset

__all__ = ["GripperModel", "Scene", "SceneConfig", "generate_scene", "main", "make_object_pool",
           "plan_grasps", "write_dataset"]

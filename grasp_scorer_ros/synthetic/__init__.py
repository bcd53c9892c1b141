"""Synthetic grasp dataset: top-down tabletop scenes with grasps correct by construction.

Scenes show 1-4 objects of varied shapes, colours, surface patterns and materials on varied
tables, with flat distractors printed on the table, under varied light, with shadows, blur and
sensor noise: every factor of that variation is a named parameter of a :class:`Look` (``"train"``,
or ``"heldout"`` with shape, table and pattern families never used for training). Each object gets
every antipodal grasp of a dense candidate grid whose open fingers are clear of every object, at
three jaw sizes (see :mod:`.grasp_planner`). Scenes are written in the Jacquard format and load
with :func:`grasp_scorer_ros.datasets.load_jacquard`.

Command line: ``python -m grasp_scorer_ros.synthetic --out DIR --count N --seed S [--look heldout]``
(also the console script ``grasp-scorer-synth``); ``--grid PATH`` draws sample scenes of both looks.
"""
from grasp_scorer_ros.synthetic.cli import main
from grasp_scorer_ros.synthetic.grasp_planner import GripperModel, plan_grasps
from grasp_scorer_ros.synthetic.look import LOOKS, Look, resolve_look
from grasp_scorer_ros.synthetic.scene import Scene, SceneConfig, generate_scene, make_object_pool
from grasp_scorer_ros.synthetic.writer import write_dataset

__all__ = ["GripperModel", "LOOKS", "Look", "Scene", "SceneConfig", "generate_scene", "main", "make_object_pool",
           "plan_grasps", "resolve_look", "write_dataset"]

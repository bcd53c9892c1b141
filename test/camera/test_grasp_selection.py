"""The selection of a frame's grasps: workspace first, then depth, the best `wanted` that pass."""
import numpy as np

from grasp_scorer_ros.camera.grasp_selection import select_grasps
from grasp_scorer_ros.camera.workspace import Workspace
from overhead_scene import INTRINSICS, POSE, TABLE, table_with


def test_the_best_that_pass_are_kept_and_every_refusal_says_why():
    depth = table_with((40, 38, 56, 58, 0.05), (64, 30, 80, 66, 0.12), (16, 16, 24, 25, 0.03))
    grasps = np.array([
        [48.0, 48.0, 34.0, 10.0, 0.0],     # its right finger lands on the 12 cm box: refused by depth
        [90.0, 90.0, 20.0, 10.0, 0.0],     # outside the mask: refused by the workspace
        [48.0, 48.0, 22.0, 10.0, 0.0],     # kept, on the 5 cm box
        [20.0, 20.0, 12.0, 8.0, 0.0],      # kept, on the 3 cm box
        [22.0, 20.0, 12.0, 8.0, 0.0],      # would pass, but two are enough
    ])
    mask = np.ones((96, 96), bool)
    mask[80:, 80:] = False
    selection = select_grasps(grasps, 2, Workspace(mask=mask), INTRINSICS, POSE, TABLE, depth)
    assert selection.kept == [2, 3]
    assert [what for what, _ in selection.refusals] == ["grasp refused by depth", "grasp outside the workspace"]
    assert "landing zone is not clear" in selection.refusals[0][1]
    assert abs(selection.heights[2].top - 0.05) < 1e-4
    assert abs(selection.heights[3].top - 0.03) < 1e-4 and set(selection.heights) == {2, 3}

    # On the bare table nothing stands between the jaws: the fingers would close on nothing.
    bare = select_grasps(np.array([[20.0, 70.0, 12.0, 8.0, 0.0]]), 1, Workspace(), INTRINSICS, POSE, TABLE, depth)
    assert bare.kept == [] and "cannot get below the object's top" in bare.refusals[0][1]

    # Without depth or a workspace nothing is refused.
    plain = select_grasps(grasps, 5, Workspace(), INTRINSICS, POSE, TABLE)
    assert plain.kept == [0, 1, 2, 3, 4] and not plain.refusals and not plain.heights

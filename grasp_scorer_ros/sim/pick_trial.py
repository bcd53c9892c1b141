"""One pick-and-place in the physics cell, scored as the paper scored its robot (sect. V-C): a grasp
counts when the object is lifted, carried to the place pose and released there without a drop.

The plan is the bridge's own (:func:`grasp_scorer_ros.fanuc.pick_planner.plan_pick`, with the
bridge's ``grasp_height_offset`` added to the grasp's z, as :class:`~grasp_scorer_ros.fanuc.cell.PickCell`
does); each step runs as the simulated controller runs it: linear moves at their speed, the jaws
switched only once the arm has arrived, then the step's settle time. Physics time only: the pick
takes as long as the CPU needs, not the wall clock.

Causes of failure, in the order they are checked:

* ``no grasp over the threshold``, ``no grasp passed the checks`` (the depth or workspace checks, or
  no pose): nothing was published for the frame (decided by the frame pipeline, before any pick)
* ``refused by the limits``: the planner rejected the grasp (too wide, outside the workspace, ...)
* ``jaws missed``: after the lift no object has risen, and none ever rose more than 2 cm
* ``slipped in lift``: an object rose with the jaws but fell back before the lift ended
* ``slipped in transfer``: lifted, but no longer in the jaws above the place pose
* ``not released at the place``: carried to the place pose, but still in the jaws a second after
  they opened there
* ``collision with another object``: replaces the three causes above when the jaws, on their way
  down or closing, moved an object other than the one under the grasp by more than 1 cm

With a part-present input in the pick's config (``part_present_port``, as the simulated cells have)
the plan's checks read the cell's pads (the input the physics world gives the controller): a check
that reads empty runs the bridge's recovery (jaws open, arm up) and ends the pick as ``jaws missed``
or ``slipped in lift`` with ``verified`` set: the bridge knows, and its pick cycle tries again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np
from shapely.geometry import Point

from grasp_scorer_ros.fanuc.pick_planner import (CLOSE_GRIPPER, DESCEND, LIFT, PLACE_DESCEND, PickConfig,
                                                 PickRejected, PickStep, plan_miss_recovery, plan_pick)
from grasp_scorer_ros.fanuc.rmi_protocol import Position
from grasp_scorer_ros.rotations import matrix_to_wpr, wpr_to_matrix
from grasp_scorer_ros.sim.physics_cell import PhysicsCell

SUCCESS = "success"
NO_GRASP = "no grasp over the threshold"
NOT_PASSED = "no grasp passed the checks"
REFUSED = "refused by the limits"
MISSED = "jaws missed"
SLIPPED_LIFT = "slipped in lift"
SLIPPED_TRANSFER = "slipped in transfer"
NOT_RELEASED = "not released at the place"
COLLISION = "collision with another object"
CAUSES = (SUCCESS, NO_GRASP, NOT_PASSED, MISSED, SLIPPED_LIFT, SLIPPED_TRANSFER, NOT_RELEASED, COLLISION, REFUSED)

LIFTED_FRACTION = 0.5        # an object counts as lifted once it rose half the lift height
DISTURBED_M = 0.01           # another object moved this far on the way down: a collision


@dataclass
class PickOutcome:
    cause: str
    target: Optional[int] = None          # the object under the grasp centre
    lifted: List[int] = field(default_factory=list)
    disturbed: List[int] = field(default_factory=list)
    rise_m: float = 0.0                   # how high the target rose above where it lay
    detail: str = ""
    verified: bool = False                # a part-present check found the jaws empty (the bridge knows)

    @property
    def success(self) -> bool:
        return self.cause == SUCCESS


def target_object(cell: PhysicsCell, xy) -> Optional[int]:
    """The object whose footprint holds (or lies nearest to) a point of the table."""
    if not cell.scene.objects:
        return None
    point = Point(float(xy[0]), float(xy[1]))
    return int(np.argmin([o.footprint.distance(point) for o in cell.scene.objects]))


def run_pick(cell: PhysicsCell, grasp_position_m: Sequence[float], quaternion_xyzw: Sequence[float],
             opening_width_m: float, pick: PickConfig = PickConfig(), grasp_height_offset: float = 0.015,
             after_release_s: float = 1.0, on_step=None) -> PickOutcome:
    """Plan the bridge's pick of a grasp pose (base frame, TCP on the detected point) and run it;
    ``on_step(name, cell)`` after each step (for pictures)."""
    x, y, z = map(float, grasp_position_m)
    try:
        steps = plan_pick((x, y, z + grasp_height_offset), quaternion_xyzw, opening_width_m, pick)
    except PickRejected as error:
        return PickOutcome(REFUSED, detail=f"{error.limit} limit: {error}")
    return run_steps(cell, steps, pick, (x, y), after_release_s, on_step)


def _commanded(cell: PhysicsCell) -> Position:
    """Where the arm is, as the controller reports it (mm, deg)."""
    position, rotation = cell.tcp()
    x, y, z = (np.asarray(position) * 1000.0).tolist()
    return Position(x, y, z, *matrix_to_wpr(rotation))


def _run_step(cell: PhysicsCell, step: PickStep) -> None:
    if step.gripper is not None:
        cell.set_jaws(step.gripper.close)
        cell.step(step.gripper.settle_s)
        return
    m = step.move
    cell.move_tcp(np.array([m.position.x, m.position.y, m.position.z]) / 1000.0,
                  wpr_to_matrix(m.position.w, m.position.p, m.position.r), m.speed_mm_s / 1000.0)


def run_steps(cell: PhysicsCell, steps: List[PickStep], pick: PickConfig, grasp_xy,
              after_release_s: float = 1.0, on_step=None) -> PickOutcome:
    start = cell.object_positions()
    target = target_object(cell, grasp_xy)
    rise = np.zeros(len(start))
    moved_on_the_way_down = np.zeros(len(start))

    def watch_rise(c: PhysicsCell):
        np.maximum(rise, c.object_positions()[:, 2] - start[:, 2], out=rise)

    def watch_down(c: PhysicsCell):
        shift = np.linalg.norm(c.object_positions()[:, :2] - start[:, :2], axis=1)
        np.maximum(moved_on_the_way_down, shift, out=moved_on_the_way_down)

    lifted: List[int] = []
    carried: List[int] = []
    for step in steps:
        if step.check is not None:
            waited = 0.0      # the bridge polls the input for up to wait_s while the jaws close
            while not cell.objects_touching_pads() and waited < step.check.wait_s:
                cell.step(0.05)
                waited += 0.05
            if cell.objects_touching_pads():
                continue
            # The part-present input reads empty: the bridge opens the jaws and goes up, no further.
            for recovery in plan_miss_recovery(_commanded(cell), pick):
                _run_step(cell, recovery)
            cell.step(after_release_s)
            rise_target = float(rise[target]) if target is not None else 0.0
            cause = MISSED if step.check.stage == "close" or float(rise.max(initial=0.0)) <= 0.02 else SLIPPED_LIFT
            when = "after the jaws closed" if step.check.stage == "close" else "after the lift"
            detail = f"the part-present input read empty {when}; jaws opened, arm up"
            disturbed = [int(i) for i in np.nonzero(moved_on_the_way_down > DISTURBED_M)[0] if i != target]
            if disturbed:
                detail = f"{cause}; {detail}; the jaws moved object(s) {disturbed} on the way down"
                cause = COLLISION
            return PickOutcome(cause, target, lifted, disturbed, rise_target, detail, verified=True)
        if step.gripper is not None:
            cell.set_jaws(step.gripper.close)
            cell.step(step.gripper.settle_s, watch_down if step.name == CLOSE_GRIPPER else None)
            if on_step is not None:
                on_step(step.name, cell)
            continue
        m = step.move
        position = np.array([m.position.x, m.position.y, m.position.z]) / 1000.0
        rotation = wpr_to_matrix(m.position.w, m.position.p, m.position.r)
        monitor = watch_rise if step.name == LIFT else watch_down if step.name == DESCEND else watch_rise
        cell.move_tcp(position, rotation, m.speed_mm_s / 1000.0, monitor)
        now = cell.object_positions()
        if step.name == LIFT:
            risen = now[:, 2] - start[:, 2]
            lifted = [int(i) for i in np.nonzero(risen >= LIFTED_FRACTION * pick.lift_height_m)[0]]
        elif step.name == PLACE_DESCEND:
            # In the jaws at the place pose: the pads touch it, and it is still off the table.
            held = cell.objects_touching_pads()
            carried = [i for i in lifted if i in held and now[i, 2] - start[i, 2] > 0.02]
        if on_step is not None:
            on_step(step.name, cell)
    cell.step(after_release_s)
    final = cell.object_positions()
    # Released at the place pose: it was there in the jaws, and now it is out of them, well below
    # the retreated hand (a ball may roll or bounce on from there: the gripper let it go where it should).
    held = cell.objects_touching_pads()
    tcp, _ = cell.tcp()
    placed = [i for i in carried if i not in held and final[i, 2] < tcp[2] - 0.08]
    disturbed = [int(i) for i in np.nonzero(moved_on_the_way_down > DISTURBED_M)[0] if i != target]
    rise_target = float(rise[target]) if target is not None else 0.0
    outcome = PickOutcome(SUCCESS, target, lifted, disturbed, rise_target)
    if placed:
        return outcome
    if not lifted:
        outcome.cause = SLIPPED_LIFT if float(rise.max(initial=0.0)) > 0.02 else MISSED
    elif not carried:
        outcome.cause = SLIPPED_TRANSFER
    else:
        outcome.cause = NOT_RELEASED
    if disturbed:
        outcome.detail = f"{outcome.cause}; the jaws moved object(s) {disturbed} on the way down"
        outcome.cause = COLLISION
    return outcome


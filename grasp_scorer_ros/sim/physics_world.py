"""The physics cell driven by the simulated controller, on the wall clock: what ``world:=physics`` runs.

The :class:`~.sim_controller.SimulatedController` executes the bridge's RMI moves as it always
does; :meth:`PhysicsWorld.sync` steps the MuJoCo cell up to the controller's clock with the TCP on
the controller's tool position (user frame 0 and tool frame 1, both the identity, as the bridge's
defaults assume: base frame and TCP) and the jaws on its gripper output. Each close-then-open of
the jaws is one pick; its outcome (an object lifted with the jaws and let go again, or not) is
returned by :meth:`sync` as it happens, and a new scene is drawn once a pick has succeeded.

The controller's part-present input follows the physics: it reads "holding" while the jaws are
closed with an object touching a pad, as of the last :meth:`sync` (the bridge reads it after the
jaws have settled), so the bridge's verdict on each pick and this world's outcome can be compared.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from grasp_scorer_ros.rotations import wpr_to_matrix
from grasp_scorer_ros.sim.physics_cell import PhysicsCell
from grasp_scorer_ros.sim.sim_controller import SimulatedController

LIFTED_M = 0.05        # an object this far above where it lay when the jaws closed: lifted
SENSOR_WAIT_S = 2.0     # how long (wall clock) a part-present reading may wait for the physics to catch up


@dataclass
class PickEvent:
    number: int
    success: bool
    lifted: list
    detail: str


class PhysicsWorld:
    """``make_cell(k)`` builds scene ``k``'s :class:`PhysicsCell`."""

    def __init__(self, controller: SimulatedController, make_cell: Callable[[int], PhysicsCell],
                 gripper_port: int = 1, close_on: bool = True, max_step_s: float = 0.25):
        self.controller, self.make_cell = controller, make_cell
        self.gripper_port, self.close_on, self.max_step_s = gripper_port, close_on, max_step_s
        self.scene_index = 0
        self.cell = make_cell(0)
        self.picks = 0
        self._clock0 = time.monotonic() - self.cell.time
        self._closed_at: Optional[np.ndarray] = None
        self._lifted_seen: set = set()
        self._next_scene_at: Optional[float] = None
        self._last_pose: Optional[tuple] = None
        self.holding = False               # jaws closed on something, as of the last sync
        self._closed_for = 0.0             # physics seconds the jaws have been closed
        self._closed_since: Optional[float] = None   # wall clock when the world first saw them closed
        self._synced = threading.Condition()
        controller.holding = self.part_present

    def _controller_pose(self) -> tuple[np.ndarray, np.ndarray]:
        p = self.controller.tool_position
        return np.array([p.x, p.y, p.z]) / 1000.0, wpr_to_matrix(p.w, p.p, p.r)

    def jaws_closed(self) -> bool:
        return self.controller.digital_outputs.get(self.gripper_port, not self.close_on) == self.close_on

    def sync(self, now: Optional[float] = None) -> Optional[PickEvent]:
        """Step the physics up to the wall clock (at most ``max_step_s`` at once); a pick's outcome
        when one has just ended.

        The controller is sampled once per call; in between, the TCP moves on the straight line
        from the previous sample to this one, step by step (a TCP held still for a call's steps and
        then jumping would shake the part out of the jaws: the weld pulls the hand along)."""
        now = time.monotonic() if now is None else now
        target = min(now - self._clock0, self.cell.time + self.max_step_s)
        dt = self.cell.model.opt.timestep
        steps = int((target - self.cell.time) / dt)
        position, rotation = self._controller_pose()
        if self._last_pose is None:
            self._last_pose = (position, rotation)
        closed = self.jaws_closed()
        event = None
        if closed and self._closed_at is None:
            self._closed_at = self.cell.object_positions()
            self._lifted_seen = set()
        elif not closed and self._closed_at is not None:
            event = self._pick_ended()
        self.cell.set_jaws(closed)
        self.cell.step_along(*self._last_pose, position, rotation, steps)
        if steps:
            self._last_pose = (position, rotation)
        if self._closed_at is not None:
            risen = self.cell.object_positions()[:, 2] - self._closed_at[:, 2]
            self._lifted_seen |= {int(i) for i in np.nonzero(risen > LIFTED_M)[0]}
        with self._synced:
            self._closed_for = self._closed_for + steps * dt if closed else 0.0
            self._closed_since = (self._closed_since or now) if closed else None
            self.holding = closed and bool(self.cell.objects_touching_pads())
            self._synced.notify_all()
        self._clock0 = now - self.cell.time            # never run behind: a slow machine slows the world
        if self._next_scene_at is not None and now >= self._next_scene_at:
            self._next_scene()
        return event

    def part_present(self) -> bool:
        """The part-present input: jaws closed on an object. On a machine too slow for the wall
        clock the world falls behind the controller; so that the input reads what a real one would
        at this moment, the reading waits (at most ``SENSOR_WAIT_S``) until the physics has had the
        jaws closed as long as the wall clock has since the world saw them close."""
        asked = time.monotonic()
        with self._synced:
            self._synced.wait_for(lambda: not self.jaws_closed() or self._closed_since is not None and
                                  self._closed_for >= asked - self._closed_since - 0.05, SENSOR_WAIT_S)
            return self.holding

    def _pick_ended(self) -> PickEvent:
        self.picks += 1
        risen = self.cell.object_positions()[:, 2] - self._closed_at[:, 2]
        held_at_open = [i for i in self._lifted_seen if risen[i] > LIFTED_M]
        self._closed_at = None
        if held_at_open:
            # The arm retreats from the place pose, then the next scene is laid out.
            self._next_scene_at = time.monotonic() + 3.0
            return PickEvent(self.picks, True, held_at_open,
                             f"object(s) {held_at_open} lifted, carried and released")
        lost = sorted(self._lifted_seen)
        return PickEvent(self.picks, False, lost, "dropped before release" if lost else "the jaws closed on nothing")

    def _next_scene(self) -> None:
        self._next_scene_at = None
        self.scene_index += 1
        self.cell = self.make_cell(self.scene_index)
        self.cell.teleport_tcp(*self._controller_pose())     # the new scene's hand is where the arm is
        self._last_pose = None
        self._clock0 = time.monotonic() - self.cell.time

    def render(self):
        return self.cell.render_rgb()

    def render_depth(self):
        """The overhead camera's depth (metres along its optical axis), aligned with :meth:`render`."""
        return self.cell.render_depth()

    def side_view(self):
        return self.cell.render_rgb("side", True, (480, 360))


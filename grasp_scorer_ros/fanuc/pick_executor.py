"""Runs a planned pick on an RMI client: moves in order, the gripper only when the arm has arrived.

Moves are sent ahead (the client keeps at most 8 in flight) so the controller never waits for the
PC between moves; before a gripper action every move sent so far must be acknowledged, since an
instruction's reply comes only after the move has executed. ``FRC_WriteDOUT`` is a command and acts
at once, so sending it earlier would close the jaws while the arm still moves.

With a ``config``, every move of the plan is checked against its limits before the first one is
sent (the RMI client checks each once more at the wire when it has limits). ``on_gripper(closed)``
reports the jaws: ``True`` as soon as a close is sent, ``False`` once an opening is acknowledged, so
the caller always knows whether they may hold a part; ``unload_first`` delivers such a part to the
place pose before the pick (:func:`~grasp_scorer_ros.fanuc.pick_planner.plan_unload`).

On any failure the arm is stopped (``FRC_Abort``; if the controller no longer answers, the
connection is closed, which stops RMI_MOVE too) and :class:`PickExecutionError` names the step.
The gripper is left as it is: opening it mid-air would drop the part. Nothing resumes on its own.

A ``check`` step (a part-present input, see :mod:`~grasp_scorer_ros.fanuc.pick_planner`) reads the
input once every move before it has been executed. When it reads "empty" the pick is a miss, not a
failure: the jaws open where they are and the arm goes straight up
(:func:`~grasp_scorer_ros.fanuc.pick_planner.plan_miss_recovery`), then :class:`PickMissed` says
at which stage; the place pose is never visited with empty jaws. A dry run has no input to read:
its checks pass, and say so in the log.
"""
from __future__ import annotations

import collections
import logging
import time
from typing import Callable, Optional, Sequence

from grasp_scorer_ros.fanuc import rmi_protocol as rmi
from grasp_scorer_ros.fanuc.pick_planner import (PickConfig, PickRejected, PickStep, check_start_position,
                                                 plan_miss_recovery, plan_unload)
from grasp_scorer_ros.fanuc.rmi_client import (ControllerStatus, InstructionHandle, RMIClient,
                                               RMIConnectionLost, RMIError, RMIException, RMITimeout)

logger = logging.getLogger(__name__)

StepCallback = Callable[[int, int, PickStep], None]   # (1-based index, step count, step)
GripperCallback = Callable[[bool], None]             # closed (or may be)


class PickExecutionError(RuntimeError):
    """A pick that failed at ``step`` (``step_index`` of ``step_count``, 1-based; 0: before any)."""

    def __init__(self, step: str, step_index: int, step_count: int, message: str):
        self.step = step
        self.step_index = step_index
        self.step_count = step_count
        self.message = message
        where = f"step '{step}' ({step_index}/{step_count})" if step_index else f"'{step}'"
        super().__init__(f"pick failed at {where}: {message}")


class PickAborted(PickExecutionError):
    """The pick was cancelled (``should_abort`` returned true); the arm was stopped."""


MISSED_AT_CLOSE = "missed at close"
DROPPED_IN_LIFT = "dropped in lift"


class PickMissed(Exception):
    """The part-present input read "empty" at ``stage`` (``"close"`` or ``"lift"``); the jaws were
    opened and the arm went straight up. ``outcome``: :data:`MISSED_AT_CLOSE` or :data:`DROPPED_IN_LIFT`."""

    def __init__(self, stage: str, step: str):
        self.stage = stage
        self.step = step
        self.outcome = MISSED_AT_CLOSE if stage == "close" else DROPPED_IN_LIFT
        where = "after the jaws closed" if stage == "close" else "after the lift"
        super().__init__(f"{self.outcome}: the part-present input read empty {where} (step '{step}'); "
                         f"jaws opened, arm moved up, nothing carried to the place pose")


def prepare_controller(client: RMIClient, config: PickConfig) -> ControllerStatus:
    """Make RMI ready for a pick: check status, abort a running RMI_MOVE, initialize, set frames
    and override. Raises :class:`PickExecutionError` (step ``"prepare"``) with the reason."""
    try:
        status = client.get_status()
        if status.teach_pendant_enabled:
            raise PickExecutionError("prepare", 0, 0, "the teach pendant is enabled: disable it, AUTO mode")
        if not status.servo_ready:
            raise PickExecutionError("prepare", 0, 0, "servo power is off: clear the alarm first")
        if status.rmi_motion_status != 0:
            client.abort()      # a stale RMI_MOVE would refuse FRC_Initialize
        client.initialize()
        client.set_uframe_utool(config.uframe_number, config.utool_number)
        client.set_override(config.override_percent)
        return status
    except RMIException as exc:
        raise PickExecutionError("prepare", 0, 0, str(exc)) from exc


def execute_pick(client: RMIClient, steps: Sequence[PickStep], *,
                 on_step: Optional[StepCallback] = None,
                 should_abort: Optional[Callable[[], bool]] = None,
                 config: Optional[PickConfig] = None, poll_s: float = 0.02,
                 on_gripper: Optional[GripperCallback] = None, unload_first: bool = False) -> None:
    """Execute ``steps`` (from :func:`~grasp_scorer_ros.fanuc.pick_planner.plan_pick`).

    ``on_step(index, count, step)`` is called when a step starts executing; ``should_abort()`` is
    polled while waiting. Linear moves use the arm configuration the controller reports now. With
    ``config``, the active UFrame/UTool, the arm's start position and every move are checked
    against it first. ``unload_first`` (needs ``config``): the jaws may hold a part; deliver it to
    the place pose before the pick. Expects RMI initialised (:func:`prepare_controller`).
    """
    _check_plan(steps)
    if unload_first and config is None:
        raise ValueError("unload_first needs the pick's config (the place pose)")
    if config is None and any(step.check is not None for step in steps):
        raise ValueError("a plan with part-present checks needs the pick's config (the recovery after a miss)")
    run = _PickRun(client, list(steps), on_step, should_abort, poll_s, on_gripper)
    try:
        run.execute(config, unload_first)
    except PickMissed:
        raise                    # the recovery ran: the arm is up, the jaws open, nothing to stop
    except PickExecutionError:
        run.stop_arm()
        raise
    except PickRejected as exc:      # before anything was sent, or refused by the client's limits
        run.stop_arm()
        index, step = run.failed_step
        raise PickExecutionError(step, index, len(run.steps), f"{exc}; nothing sent for it") from exc
    except RMIException as exc:
        run.stop_arm(connection_lost=isinstance(exc, RMIConnectionLost))
        index, step = run.failed_step
        raise PickExecutionError(step, index, len(run.steps), f"{exc}{run.gripper_note()}") from exc
    except BaseException:
        run.stop_arm()      # whatever went wrong here (even Ctrl-C), leave no motion queued
        raise


def _check_plan(steps: Sequence[PickStep]) -> None:
    """A move right before a gripper action or a check, and the last move, must stop there (FINE):
    a CNT move waits for the next move and would never be acknowledged."""
    for step, following in zip(steps, list(steps[1:]) + [None]):
        if step.move is not None and (following is None or following.move is None):
            if step.move.term_type != "FINE":
                raise ValueError(f"step {step.name!r} must be FINE: it precedes a gripper action or ends the pick")


class _PickRun:
    """State of one execution (which step runs, what the gripper did), for error reports."""

    def __init__(self, client: RMIClient, steps: list[PickStep], on_step: Optional[StepCallback],
                 should_abort: Optional[Callable[[], bool]], poll_s: float,
                 on_gripper: Optional[GripperCallback]):
        self.client = client
        self.steps = steps
        self.on_step = on_step
        self.on_gripper = on_gripper
        self.should_abort = should_abort
        self.poll_s = poll_s
        self.current = (0, "start")            # (index, name) of the step executing now
        self.failed_step = self.current
        self.gripper_closed: Optional[bool] = None
        self.motion_sent = False
        self._in_flight: collections.deque[tuple[int, PickStep, InstructionHandle]] = collections.deque()

    def execute(self, config: Optional[PickConfig], unload_first: bool) -> None:
        client = self.client
        configuration, position = client.read_cartesian_position()
        if config is not None:
            active = (configuration.uframe_number, configuration.utool_number)
            if active != (config.uframe_number, config.utool_number):
                raise PickExecutionError("start", 0, len(self.steps),
                                         f"active UFrame/UTool {active} differ from the configured "
                                         f"{(config.uframe_number, config.utool_number)}")
            if not client.dry_run:
                check_start_position(position, config)
            if unload_first:
                self.steps = plan_unload(position, config) + self.steps
                logger.warning("the jaws may hold a part: delivering it to the place pose first")
            limits = config.motion_limits()
            for step in self.steps:      # the whole plan, before the first move leaves
                if step.move is not None:
                    limits.check_move(step.move.position, configuration, step.move.speed_mm_s, step.name)
        for index, step in enumerate(self.steps, start=1):
            self._check_abort()
            if step.move is not None:
                self.failed_step = (index, step.name)
                self.motion_sent = True
                handle = client.linear_motion(step.move.position, configuration, step.move.speed_mm_s,
                                              step.move.term_type, step.move.term_value)
                if not self._in_flight:
                    self._started(index, step)
                self._in_flight.append((index, step, handle))
            elif step.check is not None:
                self._drain()           # the input is read where the arm is: after the moves before it
                self._started(index, step)
                self.failed_step = (index, step.name)
                if not self._holding(step):
                    self._recover(index, step, configuration, config)
            else:
                self._drain()
                self._started(index, step)
                self.failed_step = (index, step.name)
                if step.gripper.close:          # may close from the moment it is sent
                    self._gripper(True)
                client.write_dout(step.gripper.port, step.gripper.on)
                if not step.gripper.close:      # open only once the controller switched it
                    self._gripper(False)
                self._settle(step.gripper.settle_s)
        self._drain()

    def _holding(self, step: PickStep) -> bool:
        if self.client.dry_run:
            logger.info("dry run: part-present input %d not read (assumed holding)", step.check.port)
            return True
        deadline = time.monotonic() + step.check.wait_s
        while True:     # a closing gripper's switch comes on when the fingers stop on the part
            value = self.client.read_din(step.check.port)
            if value == step.check.holding or time.monotonic() >= deadline:
                break
            self._check_abort()
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        logger.info("part-present input %d: %s (%s)", step.check.port, "ON" if value else "OFF",
                    "holding" if value == step.check.holding else "empty")
        return value == step.check.holding

    def _recover(self, index: int, step: PickStep, configuration, config: PickConfig) -> None:
        """Nothing in the jaws: open them, go straight up, and report the miss."""
        logger.warning("pick step %d/%d: %s read empty: opening the jaws and moving up", index,
                       len(self.steps), step.name)
        _, position = self.client.read_cartesian_position()
        recovery = plan_miss_recovery(position, config)
        self.steps = self.steps[:index] + recovery      # the rest of the plan is not run
        for extra, move in enumerate(recovery, start=index + 1):
            self._started(extra, move)
            self.failed_step = (extra, move.name)
            if move.gripper is not None:
                self.client.write_dout(move.gripper.port, move.gripper.on)
                self._gripper(False)
                self._settle(move.gripper.settle_s)
            else:
                self._in_flight.append((extra, move, self.client.linear_motion(
                    move.move.position, configuration, move.move.speed_mm_s, move.move.term_type,
                    move.move.term_value)))
                self._drain()
        raise PickMissed(step.check.stage, step.name)

    def _gripper(self, closed: bool) -> None:
        self.gripper_closed = closed
        if self.on_gripper is not None:
            try:
                self.on_gripper(closed)
            except Exception:  # reporting must never break a running pick
                logger.exception("on_gripper callback failed")

    def _started(self, index: int, step: PickStep) -> None:
        self.current = (index, step.name)
        logger.info("pick step %d/%d: %s", index, len(self.steps), step.name)
        if self.on_step is not None:
            try:
                self.on_step(index, len(self.steps), step)
            except Exception:  # progress reporting must never break a running pick
                logger.exception("on_step callback failed")

    def _drain(self) -> None:
        """Wait for every move sent so far, reporting each next move as it starts."""
        while self._in_flight:
            index, step, handle = self._in_flight[0]
            self.failed_step = (index, step.name)
            while not handle.wait(self.poll_s):
                self._check_abort()
                if time.monotonic() > handle.deadline:
                    raise RMITimeout(f"instruction {handle.sequence_id} ({handle.name}) not acknowledged "
                                     f"within {handle.timeout_s:.1f} s")
            handle.result()
            self._in_flight.popleft()
            if self._in_flight:
                self._started(*self._in_flight[0][:2])

    def _settle(self, seconds: float) -> None:
        if self.client.dry_run:
            return
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._check_abort()
            time.sleep(min(self.poll_s, max(0.0, end - time.monotonic())))

    def _check_abort(self) -> None:
        if self.should_abort is not None and self.should_abort():
            index, name = self.current
            raise PickAborted(name, index, len(self.steps), f"cancelled{self.gripper_note()}")

    def gripper_note(self) -> str:
        if self.gripper_closed is None:
            return ""
        return "; gripper left " + ("closed" if self.gripper_closed else "open")

    def stop_arm(self, connection_lost: bool = False) -> None:
        """Best effort: abort RMI_MOVE; if the controller does not answer, drop the connection."""
        if not self.motion_sent:
            return      # nothing was queued: nothing to stop
        if connection_lost or not self.client.connected:
            logger.error("pick stopped: connection lost (the controller stops RMI_MOVE itself)")
            return
        try:
            self.client.abort()
            logger.warning("pick stopped: FRC_Abort sent")
        except RMIError as exc:
            if exc.error_id != rmi.RMIT_NOT_RUNNING:     # not running: already stopped (fault)
                logger.error("FRC_Abort refused: %s", exc)
        except RMITimeout as exc:
            logger.error("FRC_Abort unanswered (%s); closing the connection", exc)
            self.client.close()
        except RMIException as exc:
            logger.error("FRC_Abort failed: %s", exc)

"""A pick cell: one RMI session, its arming, its faults and its picks, in one place and free of ROS.

:class:`PickCell` owns the :class:`~grasp_scorer_ros.fanuc.rmi_client.RMIClient` and every safety
decision of the FANUC bridge; the bridge node only translates topics, services and the action to
its methods. The rules:

* **Motion only while armed, and arming lasts one controller session.** A disconnect, a controller
  fault, a failed or aborted pick, and a disarm each clear it; nothing re-arms by itself. ``armed``
  in :class:`CellConfig` arms the first session only; :meth:`PickCell.arm` needs a live session and
  no fault.
* **Disarming stops the pick in progress** (``FRC_Abort``, as letting go of an enabling switch
  does); :meth:`PickCell.abort` sends ``FRC_Abort`` at once, busy or not.
* **A fault** (``FRC_SystemFault``) disarms and refuses arming until :meth:`PickCell.reset`
  (``FRC_Reset``); the cell then stays disarmed.
* One pick at a time; grasps in another frame than ``base_frame`` or outside the limits are
  rejected before anything is sent, and the cell stays armed. Every move is checked once more
  against the limits before it leaves the process (the client's ``limits``).
* **A stalled controller** is found within about ``stall_timeout``: while a pick's motion runs, a
  watchdog asks ``FRC_GetStatus`` every quarter of it (commands are answered at once, even while the arm
  moves); no answer closes the session, which fails the pick and, on a real controller, stops
  RMI_MOVE. Idle status polls use the same timeout.
* **The jaws are tracked** (``"unknown"`` until first switched, ``"closed"`` from the moment a close
  is sent, ``"open"`` once an opening is acknowledged). After a pick that failed with them closed,
  the next pick first goes straight up, delivers the part at the place pose and only then opens.
* **Every pick has an outcome** (:data:`OUTCOMES`: picked, missed at close, dropped in lift,
  refused, aborted, failed), counted since start. With a part-present input (``PickConfig``'s
  ``part_present_port``) a pick is verified after the close and after the lift, and one that holds
  nothing is a miss: the jaws open, the arm goes up, nothing goes to the place pose; the cell stays
  armed for the next try. ``max_consecutive_misses`` misses in a row disarm it: a gripper that
  never holds is a fault, not bad luck. Without the input the picks are unverified, and the status
  says so.

Threads: the caller's (arm, abort, reset, submit: they never wait behind a running pick), one worker
that owns connecting, idle status polls and picks, the watchdog, and the client's reader.
``on_change()`` is called after every change of :meth:`PickCell.status` (from any of them; it must
not block).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Union

from grasp_scorer_ros.fanuc import rmi_protocol as rmi
from grasp_scorer_ros.fanuc.pick_executor import (DROPPED_IN_LIFT, MISSED_AT_CLOSE, PickAborted,
                                                  PickExecutionError, PickMissed, execute_pick, prepare_controller)
from grasp_scorer_ros.fanuc.pick_planner import PickConfig, PickRejected, PickStep, plan_pick
from grasp_scorer_ros.fanuc.rmi_client import (ControllerStatus, RMIClient, RMIConnectionLost, RMIError,
                                               RMIException, RMIFault, RMITimeout)

logger = logging.getLogger(__name__)

# What a failed pick's cause was, in the operator's words (the client's message says the details).
_FAILURE_KINDS = ((RMIConnectionLost, "connection lost"), (RMITimeout, "controller did not answer: timeout"),
                  (RMIFault, "controller fault"), (RMIError, "refused by the controller"))
_IGNORED_LOG_PERIOD_S = 2.0     # "grasp ignored" is logged at most this often
PICKED, REFUSED, ABORTED, FAILED = "picked", "refused", "aborted", "failed"
# What a pick can end as, in the operator's words (BridgeStatus counts each, PickGrasp's result names it).
OUTCOMES = (PICKED, MISSED_AT_CLOSE, DROPPED_IN_LIFT, REFUSED, ABORTED, FAILED)
MISSES = (MISSED_AT_CLOSE, DROPPED_IN_LIFT)
_SHUTDOWN_ABORT_S = 0.3         # on close, how long a running pick gets to stop the arm itself


@dataclass(frozen=True)
class CellConfig:
    """The cell's settings besides the pick's (:class:`PickConfig`). Seconds unless named."""

    robot_ip: str = "192.168.1.10"
    rmi_port: int = rmi.DEFAULT_CONNECT_PORT
    armed: bool = False                  # arm the first session (later ones need arm())
    dry_run: bool = False                # no socket: packets are logged, picks complete at once
    base_frame: str = "base_link"        # grasps in any other frame are rejected
    grasp_height_offset: float = 0.015   # metres added to a grasp's z before planning
    reply_timeout: float = 3.0           # every command reply; the margin on each motion's duration
    motion_timeout_factor: float = 1.5   # a motion's reply is due within duration * this + reply_timeout
    stall_timeout: float = 1.0           # FRC_GetStatus unanswered this long: the controller stalled
    reconnect_backoff_min: float = 0.5
    reconnect_backoff_max: float = 10.0
    status_poll_period: float = 1.0      # FRC_GetStatus while idle; 0: after connecting and picks only
    max_consecutive_misses: int = 3      # verified picks that held nothing, in a row, before disarming

    def __post_init__(self) -> None:
        for name in ("reply_timeout", "motion_timeout_factor", "stall_timeout", "reconnect_backoff_min"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.reconnect_backoff_max < self.reconnect_backoff_min:
            raise ValueError("reconnect_backoff_max must not be below reconnect_backoff_min")
        if self.status_poll_period < 0:
            raise ValueError(f"status_poll_period must not be negative, got {self.status_poll_period}")
        if self.max_consecutive_misses < 1:
            raise ValueError(f"max_consecutive_misses must be at least 1, got {self.max_consecutive_misses}")


@dataclass(frozen=True)
class GraspRequest:
    """A grasp to pick: the gripper's TCP pose in ``frame_id`` (metres, quaternion ``[x, y, z, w]``)."""

    frame_id: str
    position_m: tuple[float, float, float]
    quaternion_xyzw: tuple[float, float, float, float]
    opening_width_m: float
    score: float = 0.0
    source: str = "api"                  # who asked ("topic", "action", ...), for the log


@dataclass(frozen=True)
class CellStatus:
    """A snapshot of the cell (the bridge publishes it field for field as ``BridgeStatus``)."""

    connected: bool
    servo_ready: bool
    teach_pendant_enabled: bool
    program_status: int                  # RMI ProgramStatus: 0 running, 1 paused, 2 aborted, -1 unknown
    armed: bool
    busy: bool
    dry_run: bool
    pick_step: str
    last_sequence_id: int
    last_error: str
    picks_completed: int
    picks_failed: int
    gripper: str                         # "unknown", "open" or "closed" (may hold a part)
    picks_verified: bool                 # a part-present input checks every pick
    last_outcome: str                    # of the last pick: one of OUTCOMES ("" before the first)
    picks_missed: int                    # verified empty after the close
    picks_dropped: int                   # verified empty after the lift
    picks_refused: int                   # rejected before anything moved (frame, limits)
    picks_aborted: int                   # stopped by a disarm, an abort or a shutdown
    consecutive_misses: int              # misses since the last pick that held something


@dataclass(frozen=True)
class Outcome:
    """The answer to an operator's request."""

    success: bool
    message: str


@dataclass
class PickJob:
    """One accepted pick. ``progress`` receives ``(index, count, step name)`` as steps start."""

    request: GraspRequest
    abort: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    progress: "queue.Queue[tuple[int, int, str]]" = field(default_factory=queue.Queue)
    started: bool = False
    success: bool = False
    message: str = ""
    outcome: str = ""                    # one of OUTCOMES once done


class PickCell:
    """The safety rules of the module docstring around one :class:`RMIClient`."""

    def __init__(self, config: CellConfig, pick: PickConfig, on_change: Optional[Callable[[], None]] = None,
                 names: Optional[Mapping[str, str]] = None):
        """``names``: how the operator calls ``arm``, ``reset`` and ``abort`` (e.g. service names),
        used in messages."""
        self.config = config
        self.pick = pick
        self.on_change = on_change
        self._names = {"arm": "arm()", "reset": "reset()", "abort": "abort()", **(names or {})}
        self.client = RMIClient(config.robot_ip, config.rmi_port, timeout=config.reply_timeout,
                                on_event=self._on_client_event, dry_run=config.dry_run,
                                motion_timeout_factor=config.motion_timeout_factor,
                                limits=pick.motion_limits())

        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._armed_session: Optional[int] = None     # the client session that was armed
        self._arm_next_session = config.armed
        self._fault: Optional[str] = None            # FRC_SystemFault seen, not yet reset
        self._job: Optional[PickJob] = None          # accepted or running
        self._watching = False                       # a pick's motion is under way: watchdog on
        self._pick_step = ""
        self._last_error = ""
        self._gripper = "unknown"
        self._controller: Optional[ControllerStatus] = None
        self._session_up = False                     # the worker saw the session open
        self._backoff = config.reconnect_backoff_min
        self._next_connect = 0.0
        self._next_poll = 0.0
        self._last_ignored_log = -math.inf
        self.picks_completed = 0
        self.picks_failed = 0
        self.outcomes = {outcome: 0 for outcome in OUTCOMES}
        self.last_outcome = ""
        self.consecutive_misses = 0
        self.grasps_ignored = 0
        self._threads: list[threading.Thread] = []

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> "PickCell":
        for target, name in ((self._work, "cell-worker"), (self._watch, "cell-watchdog")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def close(self, timeout: float = 1.5) -> None:
        """Stop within about ``timeout`` seconds: a running pick is stopped (``FRC_Abort``, or the
        ``FRC_Disconnect`` that follows, which stops RMI_MOVE too), the session is closed, the
        threads end. The socket is closed even if this is interrupted."""
        deadline = time.monotonic() + timeout
        with self._wake:
            self._stopping = True
            self._armed_session, self._arm_next_session = None, False
            job = self._job
            if job is not None:
                job.abort.set()
                if not job.started:          # the worker will not take it any more
                    job.message = "not started: the cell is closing"
                    job.done.set()
            self._wake.notify_all()
        try:
            if job is not None and not job.done.wait(min(_SHUTDOWN_ABORT_S, timeout / 3)):
                logger.warning("the pick did not stop in time; disconnecting stops RMI_MOVE")
            self.client.disconnect(timeout=max(0.05, (deadline - time.monotonic()) / 2))
        finally:
            self.client.close()
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join(max(0.0, deadline - time.monotonic()))

    # -- state --------------------------------------------------------------------------------------
    def _connected(self) -> bool:
        """The session is open and the worker has taken it up (armed it, if it was to be)."""
        return self._session_up and self.client.connected

    def _armed(self) -> bool:
        """Armed, for this very session: a closed one takes its arming along at once, whoever
        notices the loss first (no window where a new or lost session looks armed)."""
        return self._armed_session == self.client.session_number and self._connected()

    def status(self) -> CellStatus:
        with self._lock:
            connected = self._connected()
            c = self._controller if connected else None
            return CellStatus(
                connected=connected, servo_ready=bool(c and c.servo_ready),
                teach_pendant_enabled=bool(c and c.teach_pendant_enabled),
                program_status=c.program_status if c is not None else -1, armed=self._armed(),
                busy=self._job is not None, dry_run=self.config.dry_run, pick_step=self._pick_step,
                last_sequence_id=self.client.last_acknowledged_sequence_id, last_error=self._last_error,
                picks_completed=self.picks_completed, picks_failed=self.picks_failed, gripper=self._gripper,
                picks_verified=self.pick.verified, last_outcome=self.last_outcome,
                picks_missed=self.outcomes[MISSED_AT_CLOSE], picks_dropped=self.outcomes[DROPPED_IN_LIFT],
                picks_refused=self.outcomes[REFUSED], picks_aborted=self.outcomes[ABORTED],
                consecutive_misses=self.consecutive_misses)

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception:  # a faulty listener must not break the cell
                logger.exception("on_change callback failed")

    def _error(self, message: str) -> None:
        with self._lock:
            self._last_error = message
        logger.error(message)

    def _disarm(self, reason: str) -> bool:
        """Clear arming (and the start-up arming of the next session). Call with the lock held;
        True when it was armed."""
        was_armed = self._armed_session is not None
        self._armed_session, self._arm_next_session = None, False
        if was_armed:
            logger.warning(f"disarmed: {reason}")
        return was_armed

    # -- operator requests -------------------------------------------------------------------------
    def refusal(self) -> Optional[str]:
        """Why a pick would not be accepted now (None: it would)."""
        with self._lock:
            if self._fault is not None:
                return f"the cell is faulted ({self._fault}): call {self._names['reset']}, then {self._names['arm']}"
            if not self._armed():
                return f"disarmed: call {self._names['arm']} first"
            if self._job is not None:
                return "busy with another pick"
            if not self._connected():
                return f"not connected to the controller at {self.client.host}:{self.client.port}"
            return None

    def submit(self, request: GraspRequest) -> Union[PickJob, str]:
        """Hand a pick to the worker: the job, or the reason it was not accepted (counted in
        ``grasps_ignored``)."""
        with self._wake:
            reason = self.refusal()
            if reason is None:
                job = self._job = PickJob(request)
                self._wake.notify_all()
            else:
                self.grasps_ignored += 1
                now = time.monotonic()
                if now - self._last_ignored_log >= _IGNORED_LOG_PERIOD_S:
                    self._last_ignored_log = now
                    logger.info(f"grasp ignored: {reason}")
        self._changed()
        return job if reason is None else reason

    def arm(self, on: bool) -> Outcome:
        """Arm (needs a live session and no fault) or disarm (stops a running pick)."""
        if not on:
            with self._lock:
                self._disarm("requested")
                job = self._job
                if job is not None:
                    job.abort.set()         # before FRC_Abort: the pick must not send another move
            if job is None:
                outcome = Outcome(True, "disarmed")
            else:
                stopped = self._stop_motion()
                outcome = Outcome(stopped.success, f"disarmed; the pick in progress was stopped: {stopped.message}")
        else:
            with self._lock:
                if self._fault is not None:
                    outcome = Outcome(False, f"not armed: the cell is faulted ({self._fault}); "
                                             f"call {self._names['reset']} first")
                elif not self._connected() or self._stopping:
                    outcome = Outcome(False, "not armed: not connected to the controller (arming holds "
                                             "for one session: arm once connected)")
                else:
                    self._armed_session = self.client.session_number
                    outcome = Outcome(True, "armed" + (" (dry run: nothing is sent)" if self.config.dry_run else ""))
        (logger.info if outcome.success else logger.warning)(outcome.message)
        self._changed()
        return outcome

    def abort(self) -> Outcome:
        """``FRC_Abort`` now (never behind the running pick) and disarm."""
        with self._lock:
            self._disarm("abort requested")
            job = self._job
            if job is not None:
                job.abort.set()
        logger.warning("abort requested: sending FRC_Abort, disarming")
        self._changed()
        outcome = self._stop_motion()
        outcome = Outcome(outcome.success, outcome.message + "; disarmed" +
                          ("; the pick in progress was stopped" if job is not None else ""))
        logger.warning(outcome.message)
        self._changed()
        return outcome

    def _stop_motion(self) -> Outcome:
        if not self.client.connected:
            return Outcome(True, "not connected (the controller stops RMI_MOVE itself)")
        try:
            self.client.abort()
            return Outcome(True, "FRC_Abort acknowledged")
        except RMIError as error:
            if error.error_id == rmi.RMIT_NOT_RUNNING:
                return Outcome(True, "nothing was running (RMI_MOVE stopped)")
            return Outcome(False, f"FRC_Abort refused: {error}")
        except RMIException as error:
            # An unanswered FRC_Abort closes the session, which stops RMI_MOVE too.
            return Outcome(not self.client.connected, f"FRC_Abort failed ({error}); connection closed")

    def reset(self) -> Outcome:
        """``FRC_Reset`` and clear the fault; the cell stays disarmed (arming is the operator's)."""
        with self._lock:
            busy = self._job is not None
        if busy:
            outcome = Outcome(False, f"a pick is running: {self._names['abort']} it first")
        elif not self.client.connected:
            outcome = Outcome(False, "not connected to the controller: nothing reset")
        else:
            try:
                self.client.reset()          # FRC_Reset, then FRC_GetStatus for the sequence ID
            except RMIException as error:
                outcome = Outcome(False, f"FRC_Reset failed: {error}")
            else:
                with self._wake:
                    self._fault = None
                    self._last_error = ""
                    self._next_poll = 0.0    # the worker reads the controller's state again
                    self._wake.notify_all()
                outcome = Outcome(True, f"FRC_Reset done; still disarmed: call {self._names['arm']}")
        (logger.info if outcome.success else logger.warning)(outcome.message)
        self._changed()
        return outcome

    # -- client events (reader thread: never block) ------------------------------------------------
    def _on_client_event(self, event: str, packet: dict) -> None:
        if event == "system_fault":
            with self._lock:      # the client fails the pick's waiters and refuses motion itself
                self._fault = self.client.fault or "controller reported FRC_SystemFault"
                self._disarm("controller fault")
            self._error(f"controller fault: {self._fault}; motion stays stopped until "
                        f"{self._names['reset']} and {self._names['arm']}")
        elif event in ("connection_lost", "terminate"):
            reason = packet.get("reason") or "the controller sent FRC_Terminate"
            self._session_ended(reason)
        self._changed()

    def _session_ended(self, reason: str) -> None:
        with self._wake:
            self._controller = None
            if self._stopping:
                return
            self._disarm("the session ended: arm again once connected")
            self._wake.notify_all()          # the worker schedules the reconnection
        self._error(f"connection lost ({reason})")

    # -- worker: connection, status polls, picks ---------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                now = time.monotonic()
                connected = self.client.connected
                if self._session_up and not connected:      # lost: first attempt after the back-off
                    self._session_up = False
                    self._disarm("the session ended: arm again once connected")
                    self._next_connect = now + self._backoff
                    logger.info(f"reconnecting in {self._backoff:.1f} s")
                    self._backoff = min(self._backoff * 2.0, self.config.reconnect_backoff_max)
                job = self._job if self._job is not None and not self._job.started else None
                if job is not None:
                    job.started = True
                connect_due = not connected and now >= self._next_connect
                polling = connected and not self.config.dry_run and (
                    self.config.status_poll_period > 0 or self._next_poll == 0.0)
                poll_due = polling and now >= self._next_poll
                if job is None and not connect_due and not poll_due:
                    timeout = 1.0
                    if not connected:
                        timeout = min(timeout, self._next_connect - now)
                    elif polling:
                        timeout = min(timeout, self._next_poll - now)
                    self._wake.wait(max(0.001, timeout))
                    continue
            if job is not None:
                self._run(job)
            elif connect_due:
                self._connect()
            else:
                self._poll()

    def _connect(self) -> None:
        try:
            self.client.connect(attempts=1)
        except (RMIException, OSError) as error:
            with self._lock:
                delay = self._backoff
                self._next_connect = time.monotonic() + delay
                self._backoff = min(delay * 2.0, self.config.reconnect_backoff_max)
            logger.warning(f"cannot connect to {self.client.host}:{self.client.port} ({error}); "
                           f"next attempt in {delay:.1f} s")
            return
        with self._lock:
            if self._stopping:
                self.client.close()
                return
            self._backoff = self.config.reconnect_backoff_min
            self._next_poll = 0.0
            self._session_up = True
            if self._arm_next_session:
                self._arm_next_session = False
                self._armed_session = self.client.session_number
        if not self.config.dry_run:
            logger.info(f"connected to the controller at {self.client.host}:{self.client.port} "
                        f"(session port {self.client.controller_port})"
                        + ("; ARMED (start-up setting, this session only)" if self._armed() else ""))
        self._poll()

    def _poll(self) -> None:
        status = self._read_status("FRC_GetStatus failed")
        with self._lock:
            period = self.config.status_poll_period
            self._next_poll = time.monotonic() + (period if period > 0 else math.inf)
        if status is not None or not self.client.connected:
            self._changed()

    def _read_status(self, failure: str) -> Optional[ControllerStatus]:
        """FRC_GetStatus as a liveness probe: unanswered within ``stall_timeout``, the session is
        closed (by the client on a reply timeout, here when an earlier command blocks the line)."""
        try:
            status = self.client.get_status(timeout=self.config.stall_timeout)
        except RMITimeout as error:
            if self.client.connected:
                self.client.close(f"the controller stopped answering: {error}; session closed")
                self._session_ended(f"the controller stopped answering: {error}")
            return None
        except RMIException as error:
            logger.warning(f"{failure}: {error}")
            return None
        with self._lock:
            self._controller = status
        return status

    # -- watchdog: a stalled controller during a pick -------------------------------------------------
    def _watch(self) -> None:
        period = self.config.stall_timeout / 4
        while True:
            with self._wake:
                while not self._stopping and not (self._watching and self.client.connected):
                    self._wake.wait(1.0)
                if self._stopping:
                    return
            if self._read_status("watchdog: FRC_GetStatus failed") is not None:
                self._changed()
            with self._wake:
                if not self._stopping:
                    self._wake.wait(period)

    # -- one pick -----------------------------------------------------------------------------------
    def _set_step(self, name: str) -> None:
        with self._lock:
            self._pick_step = name
        self._changed()

    def _set_gripper(self, closed: bool) -> None:
        with self._lock:
            self._gripper = "closed" if closed else "open"
        self._changed()

    def _run(self, job: PickJob) -> None:
        started = time.monotonic()
        try:
            outcome, message, disarm = self._pick(job)
        except Exception as error:  # a bug must not leave the cell busy forever
            logger.exception("pick crashed")
            outcome, message, disarm = FAILED, f"pick failed: internal error: {error}", True
        success = outcome == PICKED
        with self._wake:
            job.success, job.message, job.outcome = success, message, outcome
            stopping = self._stopping
            self.outcomes[outcome] += 1
            self.last_outcome = outcome
            if success:
                self.picks_completed += 1
                self.consecutive_misses = 0
            elif outcome in MISSES:
                self.consecutive_misses += 1
                limit = self.config.max_consecutive_misses
                if self.consecutive_misses >= limit and not stopping and self._disarm("too many misses"):
                    message = job.message = (
                        f"{message}; {self.consecutive_misses} misses in a row (max_consecutive_misses {limit}): "
                        f"disarmed, a gripper that never holds is a fault: check the gripper, its air and the "
                        f"part-present sensor, then call {self._names['arm']}")
                    self._last_error = message
            else:
                self.picks_failed += 1
                if stopping:     # the bridge stops it: an expected end, not a fault of the cell
                    message = job.message = f"{message} (the cell is shutting down)"
                self._last_error = message
                if disarm and not stopping and self._disarm("the pick failed"):
                    message = job.message = f"{message}; disarmed: call {self._names['arm']} to go on"
            self._pick_step = ""
            self._job = None
            self._watching = False
            if not self.config.dry_run:
                self._next_poll = 0.0
            self._wake.notify_all()
        if success:
            logger.info(f"pick completed in {time.monotonic() - started:.1f} s"
                        + ("" if self.pick.verified else " (unverified: no part-present input)"))
        elif outcome in MISSES:
            (logger.error if self._last_error == message else logger.warning)(message)
        else:
            (logger.warning if stopping else logger.error)(message)
        self._changed()
        job.done.set()

    def _pick(self, job: PickJob) -> tuple[str, str, bool]:
        """``(outcome, message, disarm)`` of one pick."""
        request = job.request
        with self._lock:
            refused = job.abort.is_set() or not self._armed() or self._fault is not None
        if refused:
            return ABORTED, "pick aborted before it started", False
        if request.frame_id != self.config.base_frame:
            return REFUSED, (f"grasp rejected: it is in frame '{request.frame_id}', the cell expects "
                             f"'{self.config.base_frame}' (parameter base_frame); nothing sent"), False
        x, y, z = request.position_m
        try:
            steps = plan_pick((x, y, z + self.config.grasp_height_offset), request.quaternion_xyzw,
                              request.opening_width_m, self.pick)
        except PickRejected as error:
            return REFUSED, f"grasp rejected ({error.limit} limit): {error}; nothing sent", False
        logger.info(f"pick ({request.source}): grasp at ({x:.3f}, {y:.3f}, {z:.3f}) m, opening "
                    f"{request.opening_width_m * 1000:.0f} mm, score {request.score:.2f}")

        def on_step(index: int, count: int, step: PickStep) -> None:
            self._set_step(step.name)
            job.progress.put((index, count, step.name))

        self._set_step("prepare")
        try:
            status = prepare_controller(self.client, self.pick)
            with self._wake:
                # FRC_Initialize succeeded: RMI_MOVE runs now (status was read before it).
                self._controller = dataclasses.replace(status, program_status=0)
                self._watching = not self.config.dry_run     # motion follows: watch for a stall
                self._wake.notify_all()
            self._changed()
            # Disarm and abort set job.abort; a fault or a lost session fails the client's waiters
            # with their own error (and the client refuses motion after them).
            execute_pick(self.client, steps, on_step=on_step, should_abort=job.abort.is_set, config=self.pick,
                         on_gripper=self._set_gripper,
                         unload_first=self._gripper == "closed" and not self.config.dry_run)
        except PickMissed as miss:
            return miss.outcome, str(miss), False
        except PickAborted as error:
            return ABORTED, f"pick aborted: {error}", True
        except PickExecutionError as error:
            if job.abort.is_set():
                return ABORTED, f"pick aborted: {error}", True
            kind = next((k for t, k in _FAILURE_KINDS if isinstance(error.__cause__, t)), None)
            return FAILED, f"{error} ({kind})" if kind else str(error), True
        return PICKED, "picked and placed" + ("" if self.pick.verified else " (unverified)"), False

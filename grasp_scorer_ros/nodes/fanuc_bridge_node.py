"""FANUC bridge node: ``grasp/best`` (or the ``~/pick`` action) in, one pick-and-place over RMI out.

A thin translator over the ROS-free :mod:`grasp_scorer_ros.fanuc` core: a ``GraspPose`` becomes
:func:`plan_pick`'s numbers, :func:`prepare_controller` and :func:`execute_pick` send it through one
:class:`RMIClient`, and the outcome becomes ``~/status``, service responses and action results.

Safety rules (the node's whole reason to exist):

* motion only while **armed** (parameter ``armed`` at start-up, ``~/arm`` at run time); one pick
  at a time: grasps arriving while a pick runs are ignored, action goals rejected;
* grasps in another frame than ``base_frame``, or outside the configured limits, are rejected
  before anything is sent (``status.last_error``, ``picks_failed``); the bridge stays armed;
* a pick that fails once the controller is involved (refusal, timeout, lost connection, abort)
  **disarms** the bridge: the gripper may hold a part, and the next pick would open it first;
* ``FRC_SystemFault`` marks the bridge faulted and disarms it; arming is refused until ``~/reset``
  (``FRC_Reset``). ``~/abort`` sends ``FRC_Abort`` at once and disarms. Nothing resumes by itself;
* the connection is opened on a worker thread (never on the executor) and re-opened with
  exponential back-off after a loss; every reply has a timeout (:class:`RMIClient`);
* ``dry_run``: no socket; the packets that would be sent are logged (INFO) and picks "complete".

Threads: the executor (callbacks, status timer), one worker that owns the connection, status polls
and picks, and the RMI client's reader. ``~/abort`` talks to the client from a callback so that it
never waits behind a running pick.
"""
from __future__ import annotations

import dataclasses
import math
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

from rcl_interfaces.msg import SetParametersResult
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from std_srvs.srv import SetBool, Trigger

from grasp_scorer_ros.fanuc import (ControllerStatus, PickAborted, PickConfig, PickExecutionError,
                                    PickRejected, RMIClient, RMIConnectionLost, RMIError, RMIException,
                                    RMIFault, RMITimeout, execute_pick, plan_pick, prepare_controller)
from grasp_scorer_ros.fanuc import rmi_protocol as rmi
from grasp_scorer_ros.msg import BridgeStatus, GraspPose
from grasp_scorer_ros.action import PickGrasp
from grasp_scorer_ros.nodes.log_forwarding import LogForwarding, stop_log_forwarding
from grasp_scorer_ros.nodes.parameters import ParameterSpec, declare_parameters
from grasp_scorer_ros.nodes.runner import run_node

# name: (default, description), declared by declare_parameters; config/fanuc_bridge.yaml sets them
# for the launch file, which also sets robot_ip, rmi_port, armed and dry_run from its arguments.
PARAMETERS: ParameterSpec = {
    "robot_ip": ("192.168.1.10", "Controller address (RMI connect port on it: rmi_port)"),
    "rmi_port": (rmi.DEFAULT_CONNECT_PORT,
                 "RMI connect port (FRC_Connect); the session port is the one the controller names"),
    "armed": (False, "Execute picks from the start; else arm at run time with the ~/arm service"),
    "dry_run": (False, "Open no socket: log (INFO) the RMI packets that would be sent; picks complete "
                       "at once"),
    "base_frame": ("base_link", "Frame the incoming grasps must be in (the robot base, user frame 0 by "
                                "default); grasps in other frames are rejected"),
    "grasp_topic": ("grasp/best", "Input: grasps to pick (grasp_scorer_ros/GraspPose)"),
    "grasp_height_offset": (0.015, "Metres added to the grasp's z before planning: the TCP stops this far above "
                                   "the detected point (grasps on a flat table lie on its surface)"),
    "reply_timeout": (3.0, "Seconds to wait for every command reply; also the margin on each motion's own "
                           "duration"),
    "motion_timeout_factor": (1.5, "A motion's reply is due within its estimated duration times this, plus "
                                   "reply_timeout"),
    "reconnect_backoff_min": (0.5, "Seconds before the first reconnection attempt after a loss"),
    "reconnect_backoff_max": (10.0, "Longest wait between reconnection attempts (the wait doubles after each "
                                    "failure)"),
    "status_period": (0.5, "Seconds between ~/status messages (also published on every change)"),
    "status_poll_period": (1.0, "Seconds between FRC_GetStatus polls while idle; 0: only after connecting and "
                                "after picks"),
}

# One parameter per PickConfig field, under "pick." (pick_planner.PickConfig documents the units).
# Defaults fit the bundled demo: table at z = 0 in base_link, grasps within x 0.3..0.9 m,
# y -0.35..0.35 m, objects up to 0.09 m wide; the place pose lies outside the camera's view.
PICK_PARAMETERS: ParameterSpec = {
    "uframe_number": (0, "User frame selected with FRC_SetUFrameUTool (0: the robot's world frame)"),
    "utool_number": (1, "Tool frame selected with FRC_SetUFrameUTool (teach the gripper's TCP there)"),
    "override_percent": (100, "Speed override sent with FRC_SetOverRide, 1..100"),
    "approach_height_m": (0.10, "Approach point: this far back from the grasp along the tool axis"),
    "lift_height_m": (0.15, "Lift straight up this far after closing the jaws"),
    "place_position_m": ([0.35, -0.45, 0.10], "TCP position (x, y, z m) where the part is released"),
    "place_yaw_rad": (0.0, "Yaw of the (top-down) tool at the place pose"),
    "place_approach_height_m": (0.10, "Above the place pose: where the arm arrives and retreats to"),
    "tool_offset_m": (0.0, "TCP distance from the flange along tool z (used when apply_tool_offset)"),
    "apply_tool_offset": (False, "True when no UTool is taught for the gripper: command the flange, "
                                 "tool_offset_m behind the TCP"),
    "max_tilt_deg": (30.0, "Largest angle of the tool axis from straight down"),
    "workspace_min_m": ([0.20, -0.50, 0.00], "Workspace box, lower corner (x, y, z m); every target must lie inside"),
    "workspace_max_m": ([1.00, 0.50, 0.60], "Workspace box, upper corner (x, y, z m)"),
    "table_height_m": (0.0, "Height of the table plane (z m)"),
    "min_clearance_m": (0.005, "The TCP never goes lower than table_height_m plus this"),
    "speed_mm_s": (250.0, "Linear speed in free space (mm/s)"),
    "approach_speed_mm_s": (50.0, "Linear speed near the object and the place surface (mm/s)"),
    "max_speed_mm_s": (500.0, "Cap on every move's speed (mm/s); a faster configured speed rejects the pick"),
    "gripper_dout_port": (1, "Digital output driving the gripper"),
    "gripper_close_on": (True, "Polarity: the output value that closes the jaws"),
    "gripper_max_opening_m": (0.10, "Widest jaw travel; wider grasps are rejected"),
    "gripper_settle_s": (0.5, "Seconds to wait after switching the jaws before moving"),
}
PICK_PREFIX = "pick."

_PICK_FIELDS = {f.name for f in dataclasses.fields(PickConfig)}
assert set(PICK_PARAMETERS) == _PICK_FIELDS, "one pick.* parameter per PickConfig field"

# What a failed pick's cause was, in the operator's words (the client's message says the details).
_FAILURE_KINDS = ((RMIConnectionLost, "connection lost"), (RMITimeout, "controller did not answer: timeout"),
                  (RMIFault, "controller fault"), (RMIError, "refused by the controller"))

EXECUTOR_THREADS = 4        # the action's execute callback waits for the pick on one of them


def all_parameters() -> ParameterSpec:
    """Every parameter of the node, full names (``pick.speed_mm_s``...), ``(default, description)``."""
    return {**PARAMETERS, **{PICK_PREFIX + k: v for k, v in PICK_PARAMETERS.items()}}


@dataclass
class PickJob:
    """One accepted pick, from the topic or the action."""

    grasp: GraspPose
    source: str                                 # "topic" or "action"
    abort: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    feedback: "queue.Queue[tuple[int, int, str]]" = field(default_factory=queue.Queue)
    started: bool = False
    success: bool = False
    message: str = ""


class FanucBridgeNode(Node):
    def __init__(self, **kwargs):
        super().__init__("fanuc_bridge", **kwargs)
        # Start-up failures (bad parameter types or values) raise ValueError: main() reports them.
        p = declare_parameters(self, all_parameters())
        self.params = p
        try:
            self.config = PickConfig.from_dict({
                name: tuple(float(v) for v in p[PICK_PREFIX + name]) if isinstance(default, list)
                else p[PICK_PREFIX + name]
                for name, (default, _) in PICK_PARAMETERS.items()})
        except ValueError as error:
            raise ValueError(f"{PICK_PREFIX}* parameters: {error}") from None
        for name in ("reply_timeout", "motion_timeout_factor", "reconnect_backoff_min", "status_period"):
            if not p[name] > 0:
                raise ValueError(f"parameter {name} must be positive, got {p[name]}")
        if p["reconnect_backoff_max"] < p["reconnect_backoff_min"]:
            raise ValueError("reconnect_backoff_max must not be below reconnect_backoff_min")
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.dry_run = bool(p["dry_run"])
        self.base_frame = p["base_frame"]

        self._log_forwarding = LogForwarding("grasp_scorer_ros.fanuc", self)
        self.client = RMIClient(p["robot_ip"], p["rmi_port"], timeout=p["reply_timeout"],
                                on_event=self._on_client_event, dry_run=self.dry_run,
                                motion_timeout_factor=p["motion_timeout_factor"])

        # State shared by the executor's threads, the worker and the client's reader (self._lock).
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._armed = bool(p["armed"])
        self._fault: Optional[str] = None            # FRC_SystemFault seen, not yet reset
        self._job: Optional[PickJob] = None          # accepted or running
        self._pick_step = ""
        self._last_error = ""
        self._controller: Optional[ControllerStatus] = None
        self._backoff = p["reconnect_backoff_min"]
        self._next_connect = 0.0
        self._session_up = False                     # the worker saw the session open
        self._next_poll = 0.0
        self._last_status: Optional[tuple] = None
        self._status_lock = threading.Lock()
        self.picks_completed = 0
        self.picks_failed = 0
        self.grasps_ignored = 0

        group = ReentrantCallbackGroup()
        self.status_pub = self.create_publisher(BridgeStatus, "~/status", 10)
        self.create_subscription(GraspPose, p["grasp_topic"], self._on_grasp, 10, callback_group=group)
        self.create_service(SetBool, "~/arm", self._on_arm, callback_group=group)
        self.create_service(Trigger, "~/abort", self._on_abort, callback_group=group)
        self.create_service(Trigger, "~/reset", self._on_reset, callback_group=group)
        self._action_server = ActionServer(
            self, PickGrasp, "~/pick", execute_callback=self._execute_goal,
            goal_callback=self._on_goal, cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=group)
        self.create_timer(p["status_period"], lambda: self._publish_status(force=True), callback_group=group)

        self._worker = threading.Thread(target=self._work, name="fanuc_bridge", daemon=True)
        self._worker.start()
        target = "dry run: no controller, packets are logged" if self.dry_run else \
            f"controller {p['robot_ip']}:{p['rmi_port']}"
        self.get_logger().info(
            f"ready: {target}; {'ARMED' if self._armed else 'disarmed (call ' + self._service('arm') + ')'}; "
            f"grasps from {self.resolve_topic_name(p['grasp_topic'])} in frame '{self.base_frame}'")

    def _service(self, name: str) -> str:
        return self.resolve_service_name(f"~/{name}")

    # -- parameters ----------------------------------------------------------------------------
    def _on_set_parameters(self, parameters) -> SetParametersResult:
        names = [x.name for x in parameters if x.name in all_parameters()]
        if names:
            return SetParametersResult(successful=False, reason=(
                f"{', '.join(names)}: read at start-up only (arm and disarm with {self._service('arm')})"))
        return SetParametersResult(successful=True)

    # -- status --------------------------------------------------------------------------------
    def _status_fields(self) -> tuple:
        with self._lock:
            c = self._controller if self.client.connected else None
            return (self.client.connected, bool(c and c.servo_ready), bool(c and c.teach_pendant_enabled),
                    c.program_status if c is not None else -1, self._armed, self._job is not None,
                    self.dry_run, self._pick_step, self.client.last_acknowledged_sequence_id,
                    self._last_error, self.picks_completed, self.picks_failed)

    def _publish_status(self, force: bool = False) -> None:
        """Publish ``~/status`` when anything changed (or always, for the periodic message)."""
        with self._status_lock:
            fields = self._status_fields()
            if not force and fields == self._last_status:
                return
            self._last_status = fields
            message = BridgeStatus()
            (message.connected, message.servo_ready, message.teach_pendant_enabled, message.program_status,
             message.armed, message.busy, message.dry_run, message.pick_step, message.last_sequence_id,
             message.last_error, message.picks_completed, message.picks_failed) = fields
            message.header.stamp = self.get_clock().now().to_msg()
            try:
                self.status_pub.publish(message)
            except Exception as error:  # during shutdown the publisher may already be gone
                self.get_logger().debug(f"status not published: {error}")

    def _error(self, message: str) -> None:
        with self._lock:
            self._last_error = message
        self.get_logger().error(message)

    # -- client events (reader thread: never block) ----------------------------------------------
    def _on_client_event(self, event: str, packet: dict) -> None:
        if event == "system_fault":
            with self._lock:
                self._fault = self.client.fault or "controller reported FRC_SystemFault"
                was_armed, self._armed = self._armed, False
            self._error(f"controller fault: {self._fault}; "
                        f"{'disarmed; ' if was_armed else ''}motion stays stopped until "
                        f"{self._service('reset')} and {self._service('arm')}")
        elif event in ("connection_lost", "terminate"):
            reason = packet.get("reason") or "the controller sent FRC_Terminate"
            with self._wake:
                self._controller = None
                self._wake.notify_all()      # the worker schedules the reconnection
            if not self._stopping:
                self._error(f"connection lost ({reason})")
        self._publish_status()

    # -- inputs --------------------------------------------------------------------------------
    def _on_grasp(self, grasp: GraspPose) -> None:
        job = self._submit(grasp, "topic")
        if isinstance(job, str):
            with self._lock:
                self.grasps_ignored += 1
            self.get_logger().info(f"grasp ignored: {job}", throttle_duration_sec=2.0)

    def _refusal(self) -> Optional[str]:
        """Why a pick cannot be accepted now (None: it can). Call with the lock held."""
        if self._fault is not None:
            return (f"the bridge is faulted ({self._fault}): call {self._service('reset')}, "
                    f"then {self._service('arm')}")
        if not self._armed:
            return f"the bridge is disarmed: call {self._service('arm')} first"
        if self._job is not None:
            return "busy with another pick"
        if not self.client.connected:
            return f"not connected to the controller at {self.client.host}:{self.client.port}"
        return None

    def _submit(self, grasp: GraspPose, source: str):
        """Hand a pick to the worker; the job, or the reason it was not accepted."""
        with self._wake:
            reason = self._refusal()
            if reason is not None:
                return reason
            job = self._job = PickJob(grasp, source)
            self._wake.notify_all()
        self._publish_status()
        return job

    # -- services ------------------------------------------------------------------------------
    def _on_arm(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        with self._lock:
            if request.data and self._fault is not None:
                response.success = False
                response.message = (f"not armed: the bridge is faulted ({self._fault}); "
                                    f"call {self._service('reset')} first")
            elif request.data:
                self._armed = True
                response.success = True
                response.message = "armed" + (" (dry run: nothing is sent)" if self.dry_run else "")
            else:
                self._armed = False
                response.success = True
                response.message = "disarmed" + (
                    f"; the pick in progress goes on (stop it with {self._service('abort')})"
                    if self._job is not None else "")
        self._log_response(response)
        self._publish_status()
        return response

    def _log_response(self, response) -> None:
        if response.success:
            self.get_logger().info(response.message)
        else:
            self.get_logger().warning(response.message)

    def _on_abort(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """FRC_Abort now, from this callback: never behind the running pick."""
        with self._lock:
            self._armed = False
            job = self._job
            if job is not None:
                job.abort.set()      # before FRC_Abort: the pick must not send another move
        self.get_logger().warning("abort requested: sending FRC_Abort, disarming")
        self._publish_status()
        if not self.client.connected:
            response.success = True
            response.message = "not connected (the controller stops RMI_MOVE itself); disarmed"
            return response
        try:
            self.client.abort()
            response.success = True
            response.message = "FRC_Abort acknowledged; disarmed"
        except RMIError as error:
            response.success = error.error_id == rmi.RMIT_NOT_RUNNING
            response.message = ("nothing was running (RMI_MOVE stopped); disarmed" if response.success
                                else f"FRC_Abort refused: {error}; disarmed")
        except RMIException as error:
            # An unanswered FRC_Abort closes the session, which stops RMI_MOVE too.
            response.success = not self.client.connected
            response.message = f"FRC_Abort failed ({error}); connection closed; disarmed"
        if job is not None:
            response.message += "; the pick in progress was stopped"
        self.get_logger().warning(response.message)
        self._publish_status()
        return response

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """FRC_Reset and clear the bridge's fault; it stays disarmed (arming is the operator's)."""
        with self._lock:
            busy = self._job is not None
        if busy:
            response.success, response.message = False, f"a pick is running: {self._service('abort')} it first"
        elif not self.client.connected:
            response.success, response.message = False, "not connected to the controller: nothing reset"
        else:
            try:
                self.client.reset()          # FRC_Reset, then FRC_GetStatus for the sequence ID
            except RMIException as error:
                response.success, response.message = False, f"FRC_Reset failed: {error}"
            else:
                with self._wake:
                    self._fault = None
                    self._last_error = ""
                    self._next_poll = 0.0    # the worker reads the controller's state again
                    self._wake.notify_all()
                response.success = True
                response.message = f"FRC_Reset done; the bridge stays disarmed: call {self._service('arm')}"
        self._log_response(response)
        self._publish_status()
        return response

    # -- action --------------------------------------------------------------------------------
    def _on_goal(self, goal_request) -> GoalResponse:
        with self._lock:
            reason = self._refusal()
        if reason is not None:
            self.get_logger().warning(f"pick goal rejected: {reason}")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _execute_goal(self, goal_handle) -> PickGrasp.Result:
        job = self._submit(goal_handle.request.grasp, "action")
        if isinstance(job, str):        # taken by a grasp from the topic since the goal was accepted
            goal_handle.abort()
            return PickGrasp.Result(success=False, message=f"not started: {job}")

        def forward_feedback():
            while True:
                try:
                    index, count, step = job.feedback.get_nowait()
                except queue.Empty:
                    return
                goal_handle.publish_feedback(PickGrasp.Feedback(step=step, step_index=index, step_count=count))

        while not job.done.wait(0.02):
            forward_feedback()
            if goal_handle.is_cancel_requested and not job.abort.is_set():
                self.get_logger().warning("pick goal cancelled: stopping the arm")
                job.abort.set()
        forward_feedback()
        if job.success:
            goal_handle.succeed()
        elif goal_handle.is_cancel_requested:
            goal_handle.canceled()
        else:
            goal_handle.abort()
        return PickGrasp.Result(success=job.success, message=job.message)

    # -- worker: connection, status polls, picks -------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                now = time.monotonic()
                connected = self.client.connected
                if self._session_up and not connected:      # lost: first attempt after the back-off
                    self._session_up = False
                    self._next_connect = now + self._backoff
                    self.get_logger().info(f"reconnecting in {self._backoff:.1f} s")
                    self._backoff = min(self._backoff * 2.0, self.params["reconnect_backoff_max"])
                job = self._job if self._job is not None and not self._job.started else None
                if job is not None:
                    job.started = True
                connect_due = not connected and now >= self._next_connect
                polling = connected and not self.dry_run and self._controller_poll_enabled()
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

    def _controller_poll_enabled(self) -> bool:
        return self.params["status_poll_period"] > 0 or self._next_poll == 0.0

    def _connect(self) -> None:
        try:
            self.client.connect(attempts=1)
        except (RMIException, OSError) as error:
            with self._lock:
                delay = self._backoff
                self._next_connect = time.monotonic() + delay
                self._backoff = min(delay * 2.0, self.params["reconnect_backoff_max"])
            self.get_logger().warning(f"cannot connect to {self.client.host}:{self.client.port} "
                                      f"({error}); next attempt in {delay:.1f} s")
            return
        with self._lock:
            self._backoff = self.params["reconnect_backoff_min"]
            self._next_poll = 0.0
            self._session_up = True
        if not self.dry_run:
            self.get_logger().info(f"connected to the controller at {self.client.host}:{self.client.port} "
                                   f"(session port {self.client.controller_port})")
        self._poll()

    def _poll(self) -> None:
        try:
            status = self.client.get_status()
        except RMIException as error:       # a timeout also closes the session: reconnect follows
            self.get_logger().warning(f"FRC_GetStatus failed: {error}")
            status = None
        with self._lock:
            if status is not None:
                self._controller = status
            period = self.params["status_poll_period"]
            self._next_poll = time.monotonic() + (period if period > 0 else math.inf)
        self._publish_status()

    # -- one pick --------------------------------------------------------------------------------
    def _set_step(self, name: str) -> None:
        with self._lock:
            self._pick_step = name
        self._publish_status()

    def _run(self, job: PickJob) -> None:
        started = time.monotonic()
        try:
            success, message, disarm = self._pick(job)
        except Exception as error:  # a bug must not leave the bridge busy forever
            self.get_logger().error(f"pick crashed: {type(error).__name__}: {error}")
            success, message, disarm = False, f"pick failed: internal error: {error}", True
        with self._wake:
            job.success, job.message = success, message
            if success:
                self.picks_completed += 1
            else:
                self.picks_failed += 1
                self._last_error = message
                if disarm and self._armed:
                    self._armed = False
                    message = job.message = f"{message}; disarmed: call {self._service('arm')} to go on"
            self._pick_step = ""
            self._job = None
            self._next_poll = 0.0 if not self.dry_run else self._next_poll
            self._wake.notify_all()
        if success:
            self.get_logger().info(f"pick completed in {time.monotonic() - started:.1f} s")
        else:
            self.get_logger().error(message)
        self._publish_status()
        job.done.set()

    def _pick(self, job: PickJob) -> tuple[bool, str, bool]:
        """``(success, message, disarm)`` of one pick."""
        grasp = job.grasp
        if job.abort.is_set():
            return False, "pick aborted before it started", False
        frame = grasp.header.frame_id
        if frame != self.base_frame:
            return False, (f"grasp rejected: it is in frame '{frame}', the bridge expects '{self.base_frame}' "
                           f"(parameter base_frame); nothing sent"), False
        p, q = grasp.pose.position, grasp.pose.orientation
        position = (p.x, p.y, p.z + self.params["grasp_height_offset"])
        try:
            steps = plan_pick(position, (q.x, q.y, q.z, q.w), grasp.opening_width, self.config)
        except PickRejected as error:
            return False, f"grasp rejected ({error.limit} limit): {error}; nothing sent", False
        self.get_logger().info(
            f"pick ({job.source}): grasp at ({p.x:.3f}, {p.y:.3f}, {p.z:.3f}) m, opening "
            f"{grasp.opening_width * 1000:.0f} mm, score {grasp.score:.2f}")

        def on_step(index: int, count: int, step) -> None:
            self._set_step(step.name)
            job.feedback.put((index, count, step.name))

        self._set_step("prepare")
        try:
            status = prepare_controller(self.client, self.config)
            with self._lock:
                # FRC_Initialize succeeded: RMI_MOVE runs now (status was read before it).
                self._controller = dataclasses.replace(status, program_status=0)
            self._publish_status()
            execute_pick(self.client, steps, on_step=on_step, should_abort=job.abort.is_set, config=self.config)
        except PickAborted as error:
            return False, f"pick aborted: {error}", True
        except PickExecutionError as error:
            if job.abort.is_set():
                return False, f"pick aborted: {error}", True
            kind = next((k for t, k in _FAILURE_KINDS if isinstance(error.__cause__, t)), None)
            return False, f"{error} ({kind})" if kind else str(error), True
        return True, "picked and placed", False

    # -- shutdown --------------------------------------------------------------------------------
    def destroy_node(self):
        if not self.context.ok():       # after Ctrl-C rosout is gone: the core's last words stay local
            stop_log_forwarding(self)
        worker = getattr(self, "_worker", None)  # absent when the constructor failed
        if worker is not None:
            with self._wake:
                self._stopping = True
                if self._job is not None:
                    self._job.abort.set()
                self._wake.notify_all()
            worker.join(timeout=self.params["reply_timeout"] * 3 + 2.0)
            self.client.disconnect()     # FRC_Disconnect: the controller stops RMI_MOVE
            self._action_server.destroy()
        stop_log_forwarding(self)
        super().destroy_node()


def main(args=None) -> int:
    # Services (abort) and the action must be served while a pick blocks its callback.
    return run_node(FanucBridgeNode, args,
                    executor_factory=lambda: MultiThreadedExecutor(num_threads=EXECUTOR_THREADS))


if __name__ == "__main__":
    sys.exit(main())

"""FANUC bridge node: grasps from the detector (or the ``~/pick`` action) in, one pick-and-place over RMI out.

Where the grasps come from (``grasp_source``): ``request`` (default), the pick cycle of
:mod:`grasp_scorer_ros.fanuc.pick_cycle`: whenever the cell would take a pick it calls the
detector's ``grasp/detect`` for a frame taken after the previous pick ended and picks the best
grasp, so it never picks from an image of the arm or of the part it just took; ``topic``: every
``GraspPose`` on ``grasp_topic`` that arrives while the cell is idle (any detector that streams),
except one stamped before the previous pick ended (plus ``settle_time``): it is ignored and counted.

A translator over :class:`grasp_scorer_ros.fanuc.cell.PickCell`, which holds every safety rule
(arming, faults, one pick at a time, limits, the stall watchdog, the gripper's state; its docstring
states them): a ``GraspPose`` becomes a :class:`GraspRequest`, ``~/arm``, ``~/abort`` and
``~/reset`` call the cell, and the cell's status becomes ``~/status`` (on every change and every
``status_period``). Parameters are read at start-up only; their defaults are those of
:class:`CellConfig` and :class:`PickConfig`.
"""
from __future__ import annotations

import dataclasses
import sys
import threading
import time

from rcl_interfaces.msg import SetParametersResult
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from std_srvs.srv import SetBool, Trigger

from grasp_scorer_ros.fanuc.cell import CellConfig, GraspRequest, PickCell
from grasp_scorer_ros.fanuc.pick_cycle import CycleConfig, Fetched, FetchError, PickCycle
from grasp_scorer_ros.fanuc.pick_planner import PickConfig
from grasp_scorer_ros.msg import BridgeStatus, GraspPose
from grasp_scorer_ros.action import PickGrasp
from grasp_scorer_ros.srv import DetectGrasps
from grasp_scorer_ros.nodes.log_forwarding import LogForwarding, stop_log_forwarding
from grasp_scorer_ros.nodes.parameters import ParameterSpec, declare_parameters
from grasp_scorer_ros.nodes.runner import run_node
from grasp_scorer_ros.nodes.stamps import ns_to_stamp, stamp_to_ns

# The descriptions of the parameters; their defaults come from CellConfig and PickConfig (one source:
# config/fanuc_bridge.yaml repeats them for the launch file, a test checks they agree).
CELL_DESCRIPTIONS = {
    "robot_ip": "Controller address (RMI connect port on it: rmi_port)",
    "rmi_port": "RMI connect port (FRC_Connect); the session port is the one the controller names",
    "armed": "Arm the first controller session at start-up; later sessions (after a disconnect) and "
             "every fault, failed pick or disarm need the ~/arm service",
    "dry_run": "Open no socket: log (INFO) the RMI packets that would be sent; picks complete at once",
    "base_frame": "Frame the incoming grasps must be in (the robot base, user frame 0 by default); grasps "
                  "in other frames are rejected",
    "grasp_height_offset": "Metres added to the grasp's z before planning: the TCP stops this far above the "
                           "detected point (grasps on a flat table lie on its surface)",
    "reply_timeout": "Seconds to wait for every command reply; also the margin on each motion's own duration",
    "motion_timeout_factor": "A motion's reply is due within its estimated duration times this, plus "
                             "reply_timeout",
    "stall_timeout": "Seconds: a controller that leaves FRC_GetStatus unanswered this long (asked four times "
                     "as often during a pick) has stalled; the session is closed and the pick fails",
    "reconnect_backoff_min": "Seconds before the first reconnection attempt after a loss",
    "reconnect_backoff_max": "Longest wait between reconnection attempts (the wait doubles after each failure)",
    "status_poll_period": "Seconds between FRC_GetStatus polls while idle; 0: only after connecting and after "
                          "picks",
    "max_consecutive_misses": "Verified picks in a row that held nothing (missed at close, dropped in lift) "
                              "before the cell disarms: a gripper that never holds is a fault",
}
GRASP_SOURCES = ("request", "topic")
NODE_PARAMETERS: ParameterSpec = {
    "grasp_source": ("request", "request: before each pick, ask detect_service for the grasps of a frame taken after "
                                "the previous pick ended (never a stale frame); topic: pick every grasp that arrives "
                                "on grasp_topic while idle"),
    "detect_service": ("grasp/detect", "grasp_source request: the detector's service (grasp_scorer_ros/DetectGrasps)"),
    "request_timeout": (CycleConfig.request_timeout, "grasp_source request: seconds the detector may take to "
                                                     "answer (it waits for a new enough frame)"),
    "retry_delay": (CycleConfig.retry_delay, "grasp_source request: seconds before asking again after a failed "
                                             "request or a frame without a grasp"),
    "settle_time": (CycleConfig.settle_time, "grasp_source request: seconds after a pick ends before a frame counts "
                                             "(e.g. until the arm has left the camera's view)"),
    "grasp_topic": ("grasp/best", "grasp_source topic: grasps to pick (grasp_scorer_ros/GraspPose)"),
    "status_period": (0.5, "Seconds between ~/status messages (also published on every change)"),
}
# One parameter per PickConfig field, under "pick." (pick_planner.PickConfig documents the units).
PICK_DESCRIPTIONS = {
    "uframe_number": "User frame selected with FRC_SetUFrameUTool (0: the robot's world frame)",
    "utool_number": "Tool frame selected with FRC_SetUFrameUTool (teach the gripper's TCP there)",
    "override_percent": "Speed override sent with FRC_SetOverRide, 1..100",
    "approach_height_m": "Approach point: this far back from the grasp along the tool axis",
    "lift_height_m": "Lift straight up this far after closing the jaws",
    "place_position_m": "TCP position (x, y, z m) where the part is released",
    "place_yaw_rad": "Yaw of the (top-down) tool at the place pose",
    "place_approach_height_m": "Above the place pose: where the arm arrives and retreats to",
    "tool_offset_m": "TCP distance from the flange along tool z (used when apply_tool_offset)",
    "apply_tool_offset": "True when no UTool is taught for the gripper: command the flange, tool_offset_m "
                         "behind the TCP",
    "max_tilt_deg": "Largest angle of the tool axis from straight down",
    "workspace_min_m": "Workspace box, lower corner (x, y, z m); every target must lie inside",
    "workspace_max_m": "Workspace box, upper corner (x, y, z m)",
    "table_height_m": "Height of the table plane (z m)",
    "min_clearance_m": "The TCP never goes lower than table_height_m plus this",
    "speed_mm_s": "Linear speed in free space (mm/s)",
    "approach_speed_mm_s": "Linear speed near the object and the place surface (mm/s)",
    "max_speed_mm_s": "Cap on every move's speed (mm/s); a faster configured speed rejects the pick",
    "gripper_dout_port": "Digital output driving the gripper",
    "gripper_close_on": "Polarity: the output value that closes the jaws",
    "gripper_max_opening_m": "Widest jaw travel; wider grasps are rejected",
    "gripper_settle_s": "Seconds to wait after switching the jaws before moving",
    "part_present_port": "Digital input of a part-present sensor (a proximity or finger-position switch), read "
                         "with FRC_ReadDIN after the jaws close and after the lift: a pick that holds nothing "
                         "opens the jaws, moves up and never goes to the place pose; 0: none (picks are "
                         "unverified)",
    "part_present_on": "Polarity: the input value that means a part is between the jaws",
    "part_present_wait_s": "After the jaws close, seconds the part-present input may take to say 'holding' (polled "
                           "every 50 ms: the fingers may still be travelling)",
}
PICK_PREFIX = "pick."
ANSWER_MARGIN_S = 2.0      # on top of request_timeout: the detector's answer on its way back
EXECUTOR_THREADS = 4        # the action's execute callback waits for the pick on one of them


def _spec(config_class, descriptions: dict[str, str]) -> ParameterSpec:
    """``{name: (default, description)}`` from a config dataclass's defaults (tuples as lists)."""
    defaults = {f.name: f.default for f in dataclasses.fields(config_class)}
    assert set(descriptions) == set(defaults), f"one description per {config_class.__name__} field"
    return {name: (list(defaults[name]) if isinstance(defaults[name], tuple) else defaults[name], text)
            for name, text in descriptions.items()}


CELL_PARAMETERS = _spec(CellConfig, CELL_DESCRIPTIONS)
PICK_PARAMETERS = _spec(PickConfig, PICK_DESCRIPTIONS)
PARAMETERS: ParameterSpec = {**CELL_PARAMETERS, **NODE_PARAMETERS}


def all_parameters() -> ParameterSpec:
    """Every parameter of the node, full names (``pick.speed_mm_s``...), ``(default, description)``."""
    return {**PARAMETERS, **{PICK_PREFIX + k: v for k, v in PICK_PARAMETERS.items()}}


def _config(config_class, values: dict):
    """A config dataclass from parameter values (arrays become tuples of floats)."""
    return config_class(**{k: tuple(float(x) for x in v) if isinstance(v, (list, tuple)) else v
                           for k, v in values.items()})


class FanucBridgeNode(Node):
    def __init__(self, **kwargs):
        super().__init__("fanuc_bridge", **kwargs)
        # Start-up failures (bad parameter types or values) raise ValueError: main() reports them.
        p = self.params = declare_parameters(self, all_parameters())
        try:
            self.config = _config(PickConfig, {k: p[PICK_PREFIX + k] for k in PICK_PARAMETERS})
        except ValueError as error:
            raise ValueError(f"{PICK_PREFIX}* parameters: {error}") from None
        cell_config = _config(CellConfig, {k: p[k] for k in CELL_PARAMETERS})
        if not p["status_period"] > 0:
            raise ValueError(f"parameter status_period must be positive, got {p['status_period']}")
        if p["grasp_source"] not in GRASP_SOURCES:
            raise ValueError(f"grasp_source must be one of {', '.join(GRASP_SOURCES)}, got {p['grasp_source']!r}")
        cycle_config = CycleConfig(p["request_timeout"], p["retry_delay"], p["settle_time"])
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._log_forwarding = LogForwarding("grasp_scorer_ros.fanuc", self)
        self._last_status = None
        self._pick_ended_ns = 0          # node clock; topic mode ignores grasps stamped before it
        self.stale_grasps = 0
        self._settle_ns = int(p["settle_time"] * 1e9)
        self._status_lock = threading.Lock()
        self.status_pub = self.create_publisher(BridgeStatus, "~/status", 10)
        self.cell = PickCell(cell_config, self.config, on_change=self._publish_status,
                             names={name: self.resolve_service_name(f"~/{name}") for name in ("arm", "reset", "abort")})

        group = ReentrantCallbackGroup()
        self.cycle = None
        if p["grasp_source"] == "topic":
            self.create_subscription(GraspPose, p["grasp_topic"], self._on_grasp, 10, callback_group=group)
            source = f"grasps from {self.resolve_topic_name(p['grasp_topic'])}"
        else:
            self._detect_client = self.create_client(DetectGrasps, p["detect_service"], callback_group=group)
            self._detector_seen = self._waiting_logged = False
            self.cycle = PickCycle(self.cell, self._fetch_grasps, lambda: self.get_clock().now().nanoseconds,
                                   cycle_config)
            source = (f"grasps on request from {self.resolve_service_name(p['detect_service'])}, each from a frame "
                      f"taken after the previous pick")
        self.create_service(SetBool, "~/arm", lambda request, response: self._respond(
            self.cell.arm(request.data), response), callback_group=group)
        self.create_service(Trigger, "~/abort", lambda _, response: self._respond(self.cell.abort(), response),
                            callback_group=group)
        self.create_service(Trigger, "~/reset", lambda _, response: self._respond(self.cell.reset(), response),
                            callback_group=group)
        self._action_server = ActionServer(
            self, PickGrasp, "~/pick", execute_callback=self._execute_goal, goal_callback=self._on_goal,
            cancel_callback=lambda _: CancelResponse.ACCEPT, callback_group=group)
        self.create_timer(p["status_period"], lambda: self._publish_status(force=True), callback_group=group)
        self.cell.start()
        if self.cycle is not None:
            self.cycle.start()
        target = "dry run: no controller, packets are logged" if cell_config.dry_run else \
            f"controller {cell_config.robot_ip}:{cell_config.rmi_port}"
        self.get_logger().info(
            f"ready: {target}; {'arming the first session' if cell_config.armed else 'disarmed'} "
            f"(arm with {self.resolve_service_name('~/arm')}); {source}, in frame '{cell_config.base_frame}'")

    @property
    def client(self):
        return self.cell.client

    @property
    def grasps_ignored(self) -> int:
        return self.cell.grasps_ignored

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        names = [x.name for x in parameters if x.name in all_parameters()]
        if names:
            return SetParametersResult(successful=False, reason=(
                f"{', '.join(names)}: read at start-up only (arm and disarm with "
                f"{self.resolve_service_name('~/arm')})"))
        return SetParametersResult(successful=True)

    def _publish_status(self, force: bool = False) -> None:
        """``~/status`` when anything changed (or always, for the periodic message)."""
        with self._status_lock:         # from several threads: never publish an older status last
            status = self.cell.status()
            if self._last_status is not None and self._last_status.busy and not status.busy:
                self._pick_ended_ns = self.get_clock().now().nanoseconds
            if not force and status == self._last_status:
                return
            self._last_status = status
            message = BridgeStatus(**dataclasses.asdict(status))
            message.header.stamp = self.get_clock().now().to_msg()
            try:
                self.status_pub.publish(message)
            except Exception as error:  # during shutdown the publisher may already be gone
                self.get_logger().debug(f"status not published: {error}")

    @staticmethod
    def _respond(outcome, response):
        response.success, response.message = outcome.success, outcome.message
        return response

    @staticmethod
    def _request(grasp: GraspPose, source: str) -> GraspRequest:
        p, q = grasp.pose.position, grasp.pose.orientation
        return GraspRequest(grasp.header.frame_id, (p.x, p.y, p.z), (q.x, q.y, q.z, q.w),
                            grasp.opening_width, grasp.score, source)

    def _on_grasp(self, grasp: GraspPose) -> None:
        stamp = stamp_to_ns(grasp.header.stamp)
        if stamp and stamp < self._pick_ended_ns + self._settle_ns:    # unstamped (0): cannot tell
            self.stale_grasps += 1
            if self.stale_grasps == 1 or self.stale_grasps % 100 == 0:
                self.get_logger().info(
                    f"grasp ignored: its image was taken {(self._pick_ended_ns - stamp) / 1e9:.3f} s before the "
                    f"previous pick ended ({self.stale_grasps} so far)")
            return
        self.cell.submit(self._request(grasp, "topic"))

    def _fetch_grasps(self, not_before_ns: int, timeout: float) -> Fetched:
        """The pick cycle's request: ``grasp/detect`` for a frame taken at or after ``not_before_ns``."""
        if not self._detect_client.service_is_ready():
            # At start-up the detector is still loading its model: wait for it, saying so once.
            if not self._detector_seen and not self._waiting_logged:
                self._waiting_logged = True
                self.get_logger().info(f"waiting for the detector's service {self._detect_client.srv_name}")
            deadline = time.monotonic() + timeout
            while not self._detect_client.wait_for_service(timeout_sec=0.1):
                if self.cycle.stopping or not self.context.ok() or time.monotonic() > deadline:
                    raise FetchError(f"the detector's service {self._detect_client.srv_name} is not available "
                                     f"(is the detection node running?)")
        self._detector_seen = True
        request = DetectGrasps.Request(timeout=float(timeout), count=1, not_before=ns_to_stamp(not_before_ns))
        done = threading.Event()
        future = self._detect_client.call_async(request)
        future.add_done_callback(lambda _: done.set())
        # The detector waits up to timeout for its frame; the answer's trip gets ANSWER_MARGIN_S more.
        deadline = time.monotonic() + timeout + ANSWER_MARGIN_S
        while not done.wait(0.05):
            if self.cycle.stopping or not self.context.ok():
                self._detect_client.remove_pending_request(future)
                raise FetchError("stopping")
            if time.monotonic() > deadline:
                self._detect_client.remove_pending_request(future)
                raise FetchError(f"{self._detect_client.srv_name} did not answer within {timeout + ANSWER_MARGIN_S:g} s")
        response = future.result()
        if not response.success:
            raise FetchError(response.message)
        return Fetched([self._request(g, "request") for g in response.grasps], stamp_to_ns(response.header.stamp),
                       response.message)

    def _on_goal(self, goal_request) -> GoalResponse:
        reason = self.cell.refusal()
        if reason is not None:
            self.get_logger().warning(f"pick goal rejected: {reason}")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _execute_goal(self, goal_handle) -> PickGrasp.Result:
        job = self.cell.submit(self._request(goal_handle.request.grasp, "action"))
        if isinstance(job, str):        # taken by a grasp from the topic since the goal was accepted
            goal_handle.abort()
            return PickGrasp.Result(success=False, message=f"not started: {job}", outcome="refused")
        while not job.done.wait(0.02):
            self._forward_progress(job, goal_handle)
            if (goal_handle.is_cancel_requested or not self.context.ok()) and not job.abort.is_set():
                self.get_logger().warning("pick goal cancelled: stopping the arm")
                job.abort.set()
        self._forward_progress(job, goal_handle)
        if job.success:
            goal_handle.succeed()
        elif goal_handle.is_cancel_requested:
            goal_handle.canceled()
        else:
            goal_handle.abort()
        return PickGrasp.Result(success=job.success, message=job.message, outcome=job.outcome)

    @staticmethod
    def _forward_progress(job, goal_handle) -> None:
        while not job.progress.empty():
            index, count, step = job.progress.get_nowait()
            goal_handle.publish_feedback(PickGrasp.Feedback(step=step, step_index=index, step_count=count))

    def destroy_node(self):
        if not self.context.ok():       # after Ctrl-C rosout is gone: the core's last words stay local
            stop_log_forwarding(self)
        cycle = getattr(self, "cycle", None)
        if cycle is not None:           # asks no more before the cell stops
            cycle.stop()
        cell = getattr(self, "cell", None)      # absent when the constructor failed
        if cell is not None:
            cell.close()                # stops a running pick; FRC_Disconnect stops RMI_MOVE
            self._action_server.destroy()
        stop_log_forwarding(self)
        super().destroy_node()


def main(args=None) -> int:
    # Services (abort) and the action must be served while a pick blocks its callback.
    return run_node(FanucBridgeNode, args,
                    executor_factory=lambda: MultiThreadedExecutor(num_threads=EXECUTOR_THREADS))


if __name__ == "__main__":
    sys.exit(main())

"""A simulated FANUC controller that speaks RMI over TCP, for tests and for running without an arm.

It answers the way the manual (B-84184EN) describes, and refuses what the manual does not allow,
so that it catches a client's mistakes. Its parts:

* :mod:`.rmi_server`: the connect port's ``FRC_Connect`` hand-off, the one session at a time, the
  answer to a line that is not JSON;
* :mod:`.packet_checks`: every packet checked field by field, each wrong field refused with the
  alarm that names it;
* :mod:`.arm_motion` and :mod:`.sim_arm`: the arm's motion and kinematics;
* this module: :class:`SimulatedController`, the RMI program's state machine, the commands (the
  table :meth:`SimulatedController._command_table`) and the instructions.

What is simulated:

* commands are answered at once, even while the arm moves; ``FRC_WriteDOUT`` acts at once.
* instructions are queued and acknowledged *after* they have executed: a linear move takes
  ``distance / (speed * override) * speed_scale`` seconds, a joint move its largest joint travel at
  ``Speed`` percent of 180 deg/s (times the override), during which the tool position is
  interpolated. At most 8 may be unacknowledged (RMIT-028 for a ninth); a sequence gap is refused
  (RMIT-029) and puts RMI in HOLD (RMIT-024 for every instruction until ``FRC_Reset``);
  ``FRC_Initialize`` restarts IDs at 1; ``FRC_Abort`` drops the queue without replies. A CNT (or
  CR) move waits for the next instruction before it runs, so a sequence ending in one is never
  acknowledged.
* motion is refused with the pendant enabled (RMIT-008), the servo off (RMIT-007) or RMI_MOVE not
  running (RMIT-009). A target the arm cannot reach (:mod:`~grasp_scorer_ros.sim.sim_arm`),
  outside a sphere of reach around the base, or below an optional floor, is refused when its turn
  comes (RMIT-036) and pauses the program, as a motion alarm does.
* when the session ends, RMI_MOVE stops, as on a real controller when the remote device leaves.

Implemented: the commands ``FRC_GetStatus``, ``FRC_Initialize``, ``FRC_Abort``, ``FRC_Pause``,
``FRC_Continue``, ``FRC_Reset``, ``FRC_ReadError``, ``FRC_SetOverRide``, ``FRC_SetUFrameUTool``,
``FRC_GetUFrameUTool``, ``FRC_ReadUFrameData``/``FRC_WriteUFrameData``,
``FRC_ReadUToolData``/``FRC_WriteUToolData``, ``FRC_ReadCartesianPosition``,
``FRC_ReadJointAngles``, ``FRC_WriteDOUT``, ``FRC_ReadDIN``; the instructions ``FRC_LinearMotion``,
``FRC_LinearRelative``, ``FRC_JointMotionJRep``, ``FRC_JointRelativeJRep``, ``FRC_WaitTime``,
``FRC_WaitDIN``, ``FRC_SetUFrame``, ``FRC_SetUTool``. A motion's ``Position`` is read in the user
and tool frames its ``Configuration`` names; relative moves add X, Y, Z, W, P, R (or the joints)
to where the arm is. All frames are the identity until written.

A part-present sensor on digital input ``part_present_port`` (0: none; the simulated cells put one
on DI 1): by default the stand-in says "holding" while the gripper output is closed, so every
close holds something; ``miss_next(n)`` makes the next ``n`` closes hold nothing, ``drop_next(n)``
the next ``n`` closes hold a part at the first reading and lose it before the next (tests), and
``holding`` (a function, set by the physics world) replaces the stand-in with what the physics
says. ``part_present_on`` is the value the input takes when it holds.

Knobs for failure tests: ``servo_ready``, ``teach_pendant_enabled``, ``stop_answering`` (packets are
read, never answered), ``digital_inputs``, ``miss_next()``, ``drop_connection()``, ``raise_fault()``
(``FRC_SystemFault``, motion stops), ``send_terminate()``, ``place_arm()``. Logs for assertions:
``received_packets``, ``sent_packets``, ``dout_events``, ``digital_outputs``, ``tool_position``,
``joint_angles``, ``max_unacknowledged``.

Simplifications: one motion group; no joint limits, no collisions, no acceleration.

Run it standalone: ``python -m grasp_scorer_ros.sim.sim_controller --host 127.0.0.1 --port 16001``.
"""
from __future__ import annotations

import argparse
import collections
import logging
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from grasp_scorer_ros.fanuc import rmi_protocol as rmi
from grasp_scorer_ros.fanuc.rmi_protocol import Configuration, Position
from grasp_scorer_ros.sim.arm_motion import Motion, Pose, joint_duration_s, lerp_position, linear_duration_s
from grasp_scorer_ros.sim.packet_checks import (INSTRUCTIONS, LINEAR_MOTIONS, MOTIONS, PORTS, POSITION_KEYS,
                                                UFRAMES, UTOOLS, instruction_field_error, int_field,
                                                int_field_or_default, number_fields)
from grasp_scorer_ros.sim.rmi_server import POLL_S, RMIServer
from grasp_scorer_ros.sim.sim_arm import JOINTS, SimArm, matrix_position, position_matrix

logger = logging.getLogger(__name__)

# ProgramStatus values of FRC_GetStatus.
PROGRAM_RUNNING, PROGRAM_PAUSED, PROGRAM_ABORTED = 0, 1, 2

# A command's handler: fills the reply (beyond its name and ErrorID), returns the ErrorID (0: done).
CommandHandler = Callable[[dict, dict], int]


@dataclass(frozen=True)
class DoutEvent:
    """One ``FRC_WriteDOUT`` as the controller saw it (to check the gripper's timing)."""

    port: int
    on: bool
    position: Position          # tool position when the output switched
    arm_moving: bool            # an instruction was executing at that moment
    unacknowledged: int         # instructions queued or executing at that moment


CLIENT_GRACE_S = 1.0    # on Ctrl-C, how long a connected client gets to disconnect first (stop())


def _server_attribute(name: str, doc: str) -> property:
    """The attribute ``name`` of the controller's :class:`~.rmi_server.RMIServer`, read and set as
    the controller's own."""
    return property(lambda self: getattr(self._server, name),
                    lambda self, value: setattr(self._server, name, value), doc=doc)


class SimulatedController:
    """An RMI server on ``host``: connect port ``port``, session port ``handoff_port`` (0: any)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, handoff_port: int = 0,
                 speed_scale: float = 1.0, workspace_reach_mm: float = 1800.0,
                 floor_z_mm: Optional[float] = None,
                 start_position: Position = Position(500.0, 0.0, 400.0, 180.0, 0.0, 0.0),
                 arm_configuration: Configuration = Configuration(), arm: SimArm = SimArm(),
                 part_present_port: int = 0, part_present_on: bool = True, gripper_port: int = 1,
                 gripper_close_on: bool = True):
        self.speed_scale = float(speed_scale)
        self.workspace_reach_mm = float(workspace_reach_mm)
        self.floor_z_mm = floor_z_mm
        self.arm = arm

        # Failure knobs (plain attributes: set them from the test; stop_answering is the server's).
        self.servo_ready = True
        self.teach_pendant_enabled = False
        self.digital_inputs: dict[int, bool] = {}
        # The part-present sensor (see the module docstring).
        self.part_present_port, self.part_present_on = int(part_present_port), bool(part_present_on)
        self.gripper_port, self.gripper_close_on = int(gripper_port), bool(gripper_close_on)
        self.holding: Optional[Callable[[], bool]] = None
        self._ahead: collections.deque[str] = collections.deque()   # "miss" / "drop" for the next closes
        self._sensed_part: Optional[bool] = None                     # holding()'s answer for this ReadDIN
        self._this_close = "hold"
        self._part_reads = 0                                          # readings since this close

        # One lock for the program and the session (the server holds it around its own state).
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._server = RMIServer(host, port, handoff_port, self._lock,
                                 handle_packet=self._handle_packet, session_ended=self._session_ended)
        self._stop = self._server.stopping
        self._t_start = time.monotonic()

        self._rmi_running = False
        self._program_status = PROGRAM_ABORTED
        self._hold = False
        self._alarm: Optional[str] = None
        self._expected_sequence_id = 1
        self._queue: collections.deque[dict] = collections.deque()
        self._executing: Optional[dict] = None
        self._motion: Optional[Motion] = None
        self._abort_generation = 0
        c = arm_configuration
        self._uframe, self._utool = c.uframe_number, c.utool_number
        self._uframes: dict[int, np.ndarray] = {}       # written user frames (others: identity)
        self._utools: dict[int, np.ndarray] = {}
        self._pose = Pose(start_position, (self._uframe, self._utool), (c.front, c.up, c.flip))
        self._turns = (c.left, c.turn4, c.turn5, c.turn6)
        self._override = 100
        self._last_error_text = ""
        self._commands = self._command_table()

        self.digital_outputs: dict[int, bool] = {}
        self.dout_events: list[DoutEvent] = []
        self.max_unacknowledged = 0

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "SimulatedController":
        self._server.start()
        self._server.spawn(self._motion_loop, name="sim-motion")
        logger.info("simulated controller on %s: connect port %d, hand-off port %d",
                    self.host, self.port, self.handoff_port)
        return self

    def stop(self, timeout: float = 1.0, client_grace: float = 0.0) -> None:
        """Close every socket, then wait at most ``timeout`` seconds in all for the threads (they
        poll every 50 ms). The sockets are closed even if the wait is interrupted.

        ``client_grace``: first give a connected client this long to end its session itself. A real
        controller outlives the bridge; when one Ctrl-C stops both, the bridge then stops its pick
        and disconnects as it would on a real cell, instead of losing the connection mid-pick."""
        try:
            if client_grace > 0 and self.connected:
                logger.info("stopping: waiting up to %.1f s for the client to disconnect", client_grace)
                self.wait_until(lambda: not self.connected, timeout=client_grace)
        finally:
            self._stop_now(timeout)

    def _stop_now(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._stop.set()
        try:
            self._server.end_session("controller stopped")
            with self._changed:
                self._changed.notify_all()
            self._server.close_listeners()
        finally:
            self._server.join_threads(deadline)

    def __enter__(self) -> "SimulatedController":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # -- the server's side, for tests: its attributes, as this controller's own --------------------
    host = _server_attribute("host", "The address the ports listen on.")
    port = _server_attribute("port", "The connect port (0 until :meth:`start`).")
    handoff_port = _server_attribute("handoff_port", "The session port that the FRC_Connect reply names "
                                     "(0 until :meth:`start`).")
    stop_answering = _server_attribute("stop_answering", "Failure knob: packets are read, never answered.")
    received_packets = _server_attribute("received_packets", "Every packet received, in order.")
    sent_packets = _server_attribute("sent_packets", "Every packet sent, in order.")
    sessions_opened = _server_attribute("sessions_opened", "How many sessions the hand-off port opened.")

    @property
    def connected(self) -> bool:
        return self._server.connected

    # -- state for tests -------------------------------------------------------------------------
    @property
    def tool_position(self) -> Position:
        """The TCP in the active user and tool frames."""
        with self._lock:
            return self._current_position()

    @property
    def joint_angles(self) -> tuple[float, ...]:
        with self._lock:
            return tuple(float(j) for j in self._current_joints())

    @property
    def unacknowledged(self) -> int:
        with self._lock:
            return self._unacknowledged()

    @property
    def program_status(self) -> int:
        return self._program_status

    @property
    def rmi_running(self) -> bool:
        return self._rmi_running

    @property
    def hold(self) -> bool:
        return self._hold

    @property
    def override(self) -> int:
        return self._override

    def received(self, kind: Optional[str] = None) -> list[dict]:
        """Received packets, optionally only those of one kind (``"Command"``, ...)."""
        with self._lock:
            return [p for p in self.received_packets if kind is None or kind in p]

    @staticmethod
    def wait_until(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
        """Poll ``predicate`` until it holds or ``timeout`` passes (tests use this, never sleep)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.005)
        return predicate()

    def _unacknowledged(self) -> int:
        return len(self._queue) + (self._executing is not None)

    # -- frames and poses --------------------------------------------------------------------------
    def _frames_matrix(self, frames: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        return self._uframes.get(frames[0], np.eye(4)), self._utools.get(frames[1], np.eye(4))

    def _flange(self, position: Position, frames: tuple[int, int]) -> np.ndarray:
        """The flange in the world frame when the TCP of ``frames`` is at ``position``."""
        user, tool = self._frames_matrix(frames)
        return user @ position_matrix(position) @ np.linalg.inv(tool)

    def _in_frames(self, position: Position, source: tuple[int, int], frames: tuple[int, int]) -> Position:
        """``position`` (in ``source`` frames) expressed in ``frames``; exactly itself where both
        are the identity (never written)."""
        written = (source[0] in self._uframes, source[1] in self._utools,
                   frames[0] in self._uframes, frames[1] in self._utools)
        if source == frames or not any(written):
            return position
        user, tool = self._frames_matrix(frames)
        return matrix_position(np.linalg.inv(user) @ self._flange(position, source) @ tool)

    def _pose_now(self) -> Pose:
        """The arm's pose now (in the middle of a move: interpolated)."""
        motion = self._motion
        if motion is None:
            return self._pose
        a = motion.fraction(time.monotonic())
        if motion.joints is None:
            return Pose(lerp_position(motion.start.position, motion.target.position, a), motion.target.frames,
                         motion.target.flags)
        start, end = motion.joints
        joints = tuple(float(v) for v in start + (end - start) * a)
        return self._pose_at_joints(joints, motion.target.frames)

    def _pose_at_joints(self, joints: tuple[float, ...], frames: tuple[int, int]) -> Pose:
        user, tool = self._frames_matrix(frames)
        position = matrix_position(np.linalg.inv(user) @ self.arm.forward(joints) @ tool)
        return Pose(position, frames, self.arm.configuration(joints), joints)

    def _current_position(self) -> Position:
        pose = self._pose_now()
        return self._in_frames(pose.position, pose.frames, (self._uframe, self._utool))

    def _current_joints(self) -> np.ndarray:
        pose = self._pose_now()
        if pose.joints is not None:
            return np.array(pose.joints)
        joints = self.arm.inverse(self._flange(pose.position, pose.frames), *pose.flags)
        if joints is None:      # only for a start position the arm cannot reach
            raise ValueError(f"the arm cannot be at {pose.position}")
        return joints

    def place_arm(self, position: Position) -> None:
        """Put the TCP at ``position`` (active frames) at once, as jogging by hand would."""
        with self._lock:
            self._pose = Pose(position, (self._uframe, self._utool), self._pose.flags)

    # -- failure knobs ---------------------------------------------------------------------------
    def drop_connection(self) -> None:
        """Close the session socket without a word, as a cut cable would."""
        logger.info("dropping the session connection")
        self._server.end_session("connection dropped")

    def raise_fault(self, message: str = "simulated system fault") -> None:
        """Send ``FRC_SystemFault``, stop the arm where it is and raise an alarm (needs FRC_Reset)."""
        with self._lock:
            seq = (self._executing or {}).get("SequenceID", self._expected_sequence_id - 1)
            self._alarm = message
            self._last_error_text = message
            self._stop_program(PROGRAM_ABORTED)
        self._server.send({rmi.COMMUNICATION: "FRC_SystemFault", "SequenceID": seq})

    def send_terminate(self) -> None:
        """Send ``FRC_Terminate`` (as after the idle timeout) and close the session."""
        self._server.send({rmi.COMMUNICATION: "FRC_Terminate"})
        self._server.end_session("terminated by the controller")

    # -- the session's packets ------------------------------------------------------------------
    def _session_ended(self) -> None:
        """The session closed (the server holds the lock): like a real controller, stop RMI_MOVE
        when the remote device leaves."""
        if self._rmi_running:
            self._stop_program(PROGRAM_ABORTED)

    def _handle_packet(self, conn: socket.socket, packet: dict) -> None:
        try:
            kind, name = rmi.packet_kind(packet)
        except rmi.ProtocolError:
            self._server.send({rmi.COMMAND: "Unknown", "ErrorID": rmi.RMIT_INVALID_COMMAND}, conn)
            return
        if kind == rmi.COMMUNICATION:
            if name == "FRC_Disconnect":
                self._server.send({rmi.COMMUNICATION: "FRC_Disconnect", "ErrorID": 0}, conn)
                self._server.end_session("FRC_Disconnect")
            else:
                logger.warning("session: ignoring %s", packet)
            return
        if kind == rmi.COMMAND:
            reply = self._handle_command(name, packet)
        else:
            reply = self._accept_instruction(name, packet)
        if reply is not None:
            if reply.get("ErrorID"):
                self._last_error_text = rmi.describe_error(reply["ErrorID"])
            self._server.send(reply, conn)

    # -- commands --------------------------------------------------------------------------------
    def _command_table(self) -> dict[str, CommandHandler]:
        """The commands this controller implements: each RMI command's name and its handler (any
        other command is refused with RMIT-013). A handler runs with the lock held."""
        return {
            "FRC_GetStatus": self._command_get_status,
            "FRC_Initialize": self._command_initialize,
            "FRC_Abort": self._command_abort,
            "FRC_Pause": self._command_pause,
            "FRC_Continue": self._command_continue,
            "FRC_Reset": self._command_reset,
            "FRC_ReadError": self._command_read_error,
            "FRC_SetOverRide": self._command_set_override,
            "FRC_SetUFrameUTool": self._command_set_uframe_utool,
            "FRC_GetUFrameUTool": self._command_get_uframe_utool,
            "FRC_ReadUFrameData": self._command_read_uframe_data,
            "FRC_WriteUFrameData": self._command_write_uframe_data,
            "FRC_ReadUToolData": self._command_read_utool_data,
            "FRC_WriteUToolData": self._command_write_utool_data,
            "FRC_ReadCartesianPosition": self._command_read_cartesian_position,
            "FRC_ReadJointAngles": self._command_read_joint_angles,
            "FRC_WriteDOUT": self._command_write_dout,
            "FRC_ReadDIN": self._command_read_din,
        }

    _GROUP_COMMANDS = ("FRC_SetUFrameUTool", "FRC_GetUFrameUTool", "FRC_ReadCartesianPosition",
                       "FRC_ReadJointAngles", "FRC_ReadUFrameData", "FRC_WriteUFrameData",
                       "FRC_ReadUToolData", "FRC_WriteUToolData")

    def _handle_command(self, name: str, packet: dict) -> dict:
        reply: dict[str, Any] = {rmi.COMMAND: name, "ErrorID": 0}
        # The physics' part-present reading may wait for the world to catch up, which reads this
        # controller: ask it before taking the lock.
        sensed = self.holding() if (name == "FRC_ReadDIN" and self.holding is not None and self.part_present_port
                                    and packet.get("PortNumber") == self.part_present_port) else None
        with self._changed:
            self._sensed_part = sensed
            if name in self._GROUP_COMMANDS:
                group = int_field_or_default(packet, "Group", 1, range(1, 2))   # omitted: group 1
                if group is None:
                    reply["ErrorID"] = rmi.RMIT_INVALID_GROUP
                    return reply
                reply["Group"] = group
            handler = self._commands.get(name)
            if handler is None:
                reply["ErrorID"] = rmi.RMIT_INVALID_COMMAND
            else:
                reply["ErrorID"] = handler(packet, reply) or 0
            self._changed.notify_all()
        return reply

    def _command_get_status(self, packet: dict, reply: dict) -> int:
        reply.update(
            ServoReady=int(self.servo_ready), TPMode=int(self.teach_pendant_enabled),
            RMIMotionStatus=int(self._rmi_running), ProgramStatus=self._program_status,
            SingleStepMode=0, NumberUTool=len(UTOOLS), NumberUFrame=len(UFRAMES) - 1,
            NextSequenceID=self._expected_sequence_id, Override=self._override)
        return 0

    def _command_initialize(self, packet: dict, reply: dict) -> int:
        mask = int_field_or_default(packet, "GroupMask", 1, range(1, 2))      # omitted: group 1
        if mask is None:
            return rmi.RMIT_INVALID_GROUP_MASK
        reply["GroupMask"] = mask
        if self.teach_pendant_enabled:
            return rmi.RMIT_TP_ENABLED
        if not self.servo_ready:
            return rmi.RMIT_SERVO_OFF
        if self._alarm is not None:
            return rmi.RMIT_INVALID_CONTROLLER_STATE
        if self._rmi_running:
            return rmi.MEMO_PROGRAM_IN_USE
        self._rmi_running = True
        self._program_status = PROGRAM_RUNNING
        self._expected_sequence_id = 1
        self._hold = False
        self._queue.clear()
        return 0

    def _command_abort(self, packet: dict, reply: dict) -> int:
        if not self._rmi_running:
            return rmi.RMIT_NOT_RUNNING
        self._stop_program(PROGRAM_ABORTED)
        return 0

    def _command_pause(self, packet: dict, reply: dict) -> int:
        if not self._rmi_running:
            return rmi.RMIT_NOT_RUNNING
        self._program_status = PROGRAM_PAUSED
        return 0

    def _command_continue(self, packet: dict, reply: dict) -> int:
        if not self._rmi_running:
            return rmi.RMIT_NOT_RUNNING
        if self._program_status != PROGRAM_PAUSED:
            return rmi.RMIT_NOT_PAUSED
        if self._alarm is not None:
            return rmi.RMIT_INVALID_CONTROLLER_STATE
        self._program_status = PROGRAM_RUNNING
        return 0

    def _command_reset(self, packet: dict, reply: dict) -> int:
        self._hold = False
        self._alarm = None
        return 0

    def _command_read_error(self, packet: dict, reply: dict) -> int:
        count = int_field_or_default(packet, "Count", 1)                       # omitted: the last error
        if count is None or count < 1:
            return rmi.RMIT_INVALID_VALUE
        reply.update(Count=1, ErrorData=self._last_error_text)
        return 0

    def _command_set_override(self, packet: dict, reply: dict) -> int:
        value = int_field(packet, "Value", range(1, 101))
        if value is None:
            return rmi.RMIT_INVALID_OVERRIDE
        self._override = value
        return 0

    def _command_set_uframe_utool(self, packet: dict, reply: dict) -> int:
        if self._executing is not None:
            return rmi.RMIT_INVALID_CONTROLLER_STATE     # not while moving
        uframe, utool = int_field(packet, "UFrameNumber", UFRAMES), int_field(packet, "UToolNumber", UTOOLS)
        if uframe is None:
            return rmi.RMIT_INVALID_UFRAME
        if utool is None:
            return rmi.RMIT_INVALID_UTOOL
        self._uframe, self._utool = uframe, utool
        return 0

    def _command_get_uframe_utool(self, packet: dict, reply: dict) -> int:
        reply.update(UFrameNumber=self._uframe, UToolNumber=self._utool)
        return 0

    def _frame_data(self, packet: dict, reply: dict, key: str, frames: dict, numbers: range,
                    error: int, write: bool) -> int:
        """Read or write user frame or tool data (user frame 0, the world, reads only)."""
        number = int_field(packet, key, numbers)
        if number is None or (write and key == "FrameNumber" and number == 0):
            return error
        if write:
            if self._executing is not None:
                return rmi.RMIT_INVALID_CONTROLLER_STATE
            values = number_fields(packet, "Frame", POSITION_KEYS)
            if values is None:
                return rmi.RMIT_INVALID_VALUE
            frames[number] = position_matrix(Position(*values))
        else:
            reply["UFrameNumber" if key == "FrameNumber" else "UToolNumber"] = number
            reply["Frame"] = matrix_position(frames.get(number, np.eye(4))).to_packet()
        return 0

    def _command_read_uframe_data(self, packet: dict, reply: dict) -> int:
        return self._frame_data(packet, reply, "FrameNumber", self._uframes, UFRAMES,
                                rmi.RMIT_INVALID_UFRAME, write=False)

    def _command_write_uframe_data(self, packet: dict, reply: dict) -> int:
        return self._frame_data(packet, reply, "FrameNumber", self._uframes, UFRAMES,
                                rmi.RMIT_INVALID_UFRAME, write=True)

    def _command_read_utool_data(self, packet: dict, reply: dict) -> int:
        return self._frame_data(packet, reply, "ToolNumber", self._utools, UTOOLS,
                                rmi.RMIT_INVALID_UTOOL, write=False)

    def _command_write_utool_data(self, packet: dict, reply: dict) -> int:
        return self._frame_data(packet, reply, "ToolNumber", self._utools, UTOOLS,
                                rmi.RMIT_INVALID_UTOOL, write=True)

    def _command_read_cartesian_position(self, packet: dict, reply: dict) -> int:
        front, up, flip = self._pose_now().flags
        left, turn4, turn5, turn6 = self._turns
        configuration = Configuration(self._utool, self._uframe, front, up, left, flip, turn4, turn5, turn6)
        reply.update(TimeTag=int((time.monotonic() - self._t_start) * 1000),
                     Configuration=configuration.to_packet(), Position=self._current_position().to_packet())
        return 0

    def _command_read_joint_angles(self, packet: dict, reply: dict) -> int:
        try:
            joints = self._current_joints()
        except ValueError:
            return rmi.RMIT_INVALID_POSITION_DATA
        reply.update(TimeTag=int((time.monotonic() - self._t_start) * 1000),
                     JointAngle={**{k: round(float(v), 4) for k, v in zip(JOINTS, joints)},
                                 "J7": 0.0, "J8": 0.0, "J9": 0.0})
        return 0

    def _command_write_dout(self, packet: dict, reply: dict) -> int:
        port, value = int_field(packet, "PortNumber", PORTS), packet.get("PortValue")
        if port is None:
            return rmi.RMIT_INVALID_PORT_NUMBER
        if value not in ("ON", "OFF"):
            return rmi.RMIT_INVALID_VALUE
        on = value == "ON"
        if port == self.gripper_port and on == self.gripper_close_on and not self.jaws_closed():
            self._this_close = self._ahead.popleft() if self._ahead else "hold"     # a new close
            self._part_reads = 0
        self.digital_outputs[port] = on
        self.dout_events.append(DoutEvent(port, on, self._current_position(),
                                          arm_moving=self._executing is not None,
                                          unacknowledged=self._unacknowledged()))
        return 0

    def _command_read_din(self, packet: dict, reply: dict) -> int:
        port = int_field(packet, "PortNumber", PORTS)
        if port is None:
            return rmi.RMIT_INVALID_PORT_NUMBER
        if port == self.part_present_port and port > 0:
            value = self.part_present_on if self.holds_part() else not self.part_present_on
            self._part_reads += 1
        else:
            value = self.digital_inputs.get(port, False)
        reply.update(PortNumber=port, PortValue="ON" if value else "OFF")
        return 0

    # -- the part-present sensor ----------------------------------------------------------------------
    def jaws_closed(self) -> bool:
        return self.digital_outputs.get(self.gripper_port, not self.gripper_close_on) == self.gripper_close_on

    def holds_part(self) -> bool:
        """What the part-present sensor says now: the physics' answer when there is one, else the
        stand-in's (closed jaws hold something, but for the closes :meth:`miss_next` marked)."""
        if self.holding is not None:
            sensed, self._sensed_part = self._sensed_part, None
            return bool(self.holding() if sensed is None else sensed)
        with self._lock:
            if not self.jaws_closed() or self._this_close == "miss":
                return False
            return self._this_close == "hold" or self._part_reads == 0     # a drop: held at the first reading

    def miss_next(self, closes: int = 1) -> None:
        """The next ``closes`` closes of the jaws hold nothing (the stand-in's misses)."""
        with self._lock:
            self._ahead.extend(["miss"] * int(closes))

    def drop_next(self, closes: int = 1) -> None:
        """The next ``closes`` closes hold a part at the first reading, and not at the next (a drop)."""
        with self._lock:
            self._ahead.extend(["drop"] * int(closes))

    def _stop_program(self, program_status: int) -> None:
        """Abort RMI_MOVE: the arm stops where it is, queued instructions are never answered."""
        self._pose = self._pose_now()
        self._motion = None
        self._executing = None
        self._queue.clear()
        self._abort_generation += 1
        self._rmi_running = False
        self._program_status = program_status
        self._changed.notify_all()

    # -- instructions ----------------------------------------------------------------------------
    def _accept_instruction(self, name: str, packet: dict) -> Optional[dict]:
        """Queue an instruction, or the refusal to send back at once."""
        seq = packet.get("SequenceID")
        with self._changed:
            error = self._refusal(name, packet, seq)
            if error:
                return {rmi.INSTRUCTION: name, "ErrorID": error, "SequenceID": seq}
            self._expected_sequence_id += 1
            self._queue.append(packet)
            self.max_unacknowledged = max(self.max_unacknowledged, self._unacknowledged())
            self._changed.notify_all()
        return None

    def _refusal(self, name: str, packet: dict, seq: Any) -> int:
        if name not in INSTRUCTIONS:
            return rmi.RMIT_INVALID_INSTRUCTION
        if self.teach_pendant_enabled:
            return rmi.RMIT_TP_ENABLED
        if not self.servo_ready:
            return rmi.RMIT_SERVO_OFF
        if not self._rmi_running:
            return rmi.RMIT_NOT_RUNNING
        if self._hold:
            return rmi.RMIT_HOLD
        if int_field(packet, "SequenceID") is None:
            return rmi.RMIT_INVALID_VALUE
        if seq != self._expected_sequence_id:
            self._hold = True
            logger.warning("sequence gap: got %s, expected %d; RMI in HOLD", seq, self._expected_sequence_id)
            return rmi.RMIT_INVALID_SEQUENCE_ID
        if self._unacknowledged() >= rmi.MAX_INSTRUCTIONS_IN_FLIGHT:
            return rmi.RMIT_BUFFER_FULL
        return instruction_field_error(name, packet)

    def _ready_to_run(self) -> bool:
        """The next instruction may start: RMI_MOVE runs, and a CNT/CR move has a successor."""
        if not (self._queue and self._rmi_running and self._program_status == PROGRAM_RUNNING):
            return False
        head = self._queue[0]
        blends = head[rmi.INSTRUCTION] in MOTIONS and head.get("TermType") in ("CNT", "CR")
        return not blends or len(self._queue) > 1

    def _plan(self, name: str, packet: dict) -> tuple[int, Optional[Motion]]:
        """``(error, motion)`` of a motion whose turn has come (RMIT-036 when unreachable)."""
        start = self._pose
        if name in LINEAR_MOTIONS:
            c = packet["Configuration"]
            frames = (c["UFrameNumber"], c["UToolNumber"])
            values = Position.from_packet(packet["Position"])
            if name == "FRC_LinearRelative":
                here = self._in_frames(start.position, start.frames, frames)
                values = Position(here.x + values.x, here.y + values.y, here.z + values.z,
                                  here.w + values.w, here.p + values.p, here.r + values.r)
            target = Pose(values, frames, (c["Front"], c["Up"], c["Flip"]))
            flange = self._flange(values, frames)
            if self.arm.inverse(flange, *target.flags) is None or not self._reachable(flange, frames):
                return rmi.RMIT_INVALID_DESTINATION, None
            start = Pose(self._in_frames(start.position, start.frames, frames), frames, start.flags)
            duration = linear_duration_s(packet, start.position, values, self._override, self.speed_scale)
            return 0, Motion(start, target, time.monotonic(), duration)
        try:
            here = self._current_joints()
        except ValueError:      # a start position the arm cannot be at
            return rmi.RMIT_INVALID_DESTINATION, None
        angles = np.array([float(packet["JointAngle"][k]) for k in JOINTS])
        goal = here + angles if name == "FRC_JointRelativeJRep" else angles
        frames = (self._uframe, self._utool)
        target = self._pose_at_joints(tuple(float(v) for v in goal), frames)
        if not self._reachable(self.arm.forward(goal), frames):
            return rmi.RMIT_INVALID_DESTINATION, None
        start = self._pose_at_joints(tuple(float(v) for v in here), frames)
        travel = float(np.max(np.abs(goal - here)))
        duration = joint_duration_s(packet, travel, self._override, self.speed_scale)
        return 0, Motion(start, target, time.monotonic(), duration, (here, goal))

    def _reachable(self, flange: np.ndarray, frames: tuple[int, int]) -> bool:
        """The TCP (world frame) inside the sphere of reach and above the floor."""
        tcp = (flange @ self._frames_matrix(frames)[1])[:3, 3]
        if float(np.linalg.norm(tcp)) > self.workspace_reach_mm:
            return False
        return self.floor_z_mm is None or tcp[2] >= self.floor_z_mm

    def _motion_loop(self) -> None:
        """Execute queued instructions one by one; acknowledge each when it has finished."""
        while not self._stop.is_set():
            with self._changed:
                if not self._ready_to_run():
                    self._changed.wait(POLL_S)
                    continue
                packet = self._queue.popleft()
                self._executing = packet
                generation = self._abort_generation
                name, seq = packet[rmi.INSTRUCTION], packet["SequenceID"]
                error, motion = self._plan(name, packet) if name in MOTIONS else (0, None)
                if error:
                    # A motion alarm: refuse this move and pause the program, keeping the queue.
                    self._executing = None
                    self._program_status = PROGRAM_PAUSED
                else:
                    self._motion = motion
                    if name == "FRC_WaitTime":
                        end = time.monotonic() + float(packet["Time"]) * self.speed_scale
                    else:
                        end = motion.t0 + motion.duration if motion is not None else time.monotonic()
                    while (self._abort_generation == generation and not self._stop.is_set()
                           and (time.monotonic() < end or not self._input_matches(packet))):
                        remaining = end - time.monotonic()
                        self._changed.wait(min(POLL_S, remaining) if remaining > 0 else POLL_S)
                    if self._abort_generation != generation or self._stop.is_set():
                        continue    # aborted or faulted: no reply
                    self._finish(name, packet, motion)
                    self._changed.notify_all()
            self._server.send({rmi.INSTRUCTION: name, "ErrorID": error, "SequenceID": seq})

    def _input_matches(self, packet: dict) -> bool:
        if packet[rmi.INSTRUCTION] != "FRC_WaitDIN":
            return True
        return self.digital_inputs.get(packet["PortNumber"], False) == (packet["PortValue"] == "ON")

    def _finish(self, name: str, packet: dict, motion: Optional[Motion]) -> None:
        if motion is not None:
            self._pose = motion.target
        elif name == "FRC_SetUFrame":
            self._uframe = packet["FrameNumber"]
        elif name == "FRC_SetUTool":
            self._utool = packet["ToolNumber"]
        self._motion = None
        self._executing = None


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Simulated FANUC controller speaking RMI over TCP.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=rmi.DEFAULT_CONNECT_PORT,
                        help="connect port (FRC_Connect); 0 picks a free port")
    parser.add_argument("--handoff-port", type=int, default=rmi.DEFAULT_CONNECT_PORT + 1,
                        help="session port named in the FRC_Connect reply; 0 picks a free port")
    parser.add_argument("--speed-scale", type=float, default=1.0,
                        help="multiplies every motion's duration (0.1: ten times faster than real)")
    parser.add_argument("--reach-mm", type=float, default=1800.0,
                        help="targets farther than this from the base origin are unreachable")
    parser.add_argument("--floor-z-mm", type=float, default=None,
                        help="targets below this height are unreachable")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    # Ctrl-C (SIGINT, maybe several) and SIGTERM only ask to stop: no KeyboardInterrupt can land in
    # the clean-up. Once stopping they are ignored: at exit Python puts back the default action of a
    # signal it handled, and a late one would kill the process after its clean stop.
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    args = get_args_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    sim = SimulatedController(host=args.host, port=args.port, handoff_port=args.handoff_port,
                              speed_scale=args.speed_scale, workspace_reach_mm=args.reach_mm,
                              floor_z_mm=args.floor_z_mm).start()
    print(f"simulated FANUC controller listening on {args.host}: connect port {sim.port}, "
          f"hand-off port {sim.handoff_port}", flush=True)
    try:
        stopped.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        sim.stop(client_grace=CLIENT_GRACE_S)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

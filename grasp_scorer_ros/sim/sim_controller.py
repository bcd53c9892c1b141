"""A simulated FANUC controller that speaks RMI over TCP, for tests and for running without an arm.

It answers the way the manual (B-84184EN) describes, and refuses what the manual does not allow,
so that it catches a client's mistakes:

* ``FRC_Connect`` on the connect port is answered with the hand-off port, then that socket is
  closed; the session lives on the hand-off port, which takes one connection, from the address that
  sent ``FRC_Connect``, within a few seconds; one client at a time (RMIT-026 otherwise).
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
* every packet is checked field by field. A field the manual gives a default for may be left
  out (``Group`` and ``GroupMask`` 1, ``FRC_ReadError``'s ``Count`` 1, a FINE move's
  ``TermValue`` 0), as FANUC's own driver and the PyPI client ``fanuc-rmi`` send them; a line that
  is not JSON is answered as an unknown command (RMIT-013). A wrong field, or a missing one
  without a default, is refused with the alarm that names it (``GroupMask`` RMIT-040, ``Group`` RMIT-039, ``SpeedType`` RMIT-030, ``Speed``
  (an integer, as in the manual's packets) RMIT-031, ``TermType``/``TermValue`` RMIT-032/033,
  ``Position``/``JointAngle``/``Configuration`` RMIT-023, frame numbers RMIT-003/002, ports RMIT-038,
  ``SequenceID``/``Count``/``Time``/``Frame`` RMIT-021).

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
import math
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from grasp_scorer_ros.fanuc import rmi_protocol as rmi
from grasp_scorer_ros.fanuc.rmi_protocol import Configuration, Position
from grasp_scorer_ros.sim.sim_arm import JOINTS, SimArm, matrix_position, position_matrix

logger = logging.getLogger(__name__)

_POLL_S = 0.05                      # how often blocking loops look at the stop flag
_ROTATION_SPEED_DEG_S = 90.0        # wrist reorientation rate of the simulated arm
_JOINT_SPEED_DEG_S = 180.0          # every joint's speed at 100 % (and 100 % override)
_GRANT_VALID_S = 5.0                # how long the hand-off port waits after FRC_Connect
_LINEAR_SPEED_TYPES: dict[str, Callable[[float], float]] = {      # to mm/s
    "mmSec": lambda v: v,
    "InchMin": lambda v: v * 25.4 / 60.0,
}
_TIME_SPEED_TYPES = {"Time": 1.0, "mSec": 0.001}                  # the move takes Speed * this seconds
_LINEAR = ("FRC_LinearMotion", "FRC_LinearRelative")
_JOINT = ("FRC_JointMotionJRep", "FRC_JointRelativeJRep")
_INSTRUCTIONS = _LINEAR + _JOINT + ("FRC_WaitTime", "FRC_WaitDIN", "FRC_SetUFrame", "FRC_SetUTool")
_PORTS = range(1, 513)
_UFRAMES, _UTOOLS = range(0, 10), range(1, 11)
_POSITION_KEYS = ("X", "Y", "Z", "W", "P", "R")
_FLAG_KEYS = ("Front", "Up", "Left", "Flip", "Turn4", "Turn5", "Turn6")

# ProgramStatus values of FRC_GetStatus.
PROGRAM_RUNNING, PROGRAM_PAUSED, PROGRAM_ABORTED = 0, 1, 2


@dataclass(frozen=True)
class DoutEvent:
    """One ``FRC_WriteDOUT`` as the controller saw it (to check the gripper's timing)."""

    port: int
    on: bool
    position: Position          # tool position when the output switched
    arm_moving: bool            # an instruction was executing at that moment
    unacknowledged: int         # instructions queued or executing at that moment


@dataclass(frozen=True)
class _Pose:
    """Where the arm is: the TCP ``position`` in user/tool ``frames``, the arm configuration
    ``(front, up, flip)``, and the joints when known exactly (after a joint move)."""

    position: Position
    frames: tuple[int, int]
    flags: tuple[int, int, int]
    joints: Optional[tuple[float, ...]] = None


@dataclass
class _Motion:
    """A move in progress: linear (``start`` to ``target`` in ``frames``) or joint (``joints``)."""

    start: _Pose
    target: _Pose
    t0: float
    duration: float
    joints: Optional[tuple[np.ndarray, np.ndarray]] = None

    def fraction(self, t: float) -> float:
        return 1.0 if self.duration <= 0 else min(1.0, max(0.0, (t - self.t0) / self.duration))


def _angle_diff(a: float, b: float) -> float:
    """``a - b`` wrapped to [-180, 180)."""
    return (a - b + 180.0) % 360.0 - 180.0


def _lerp(s: Position, e: Position, a: float) -> Position:
    lerp = lambda u, v: u + (v - u) * a  # noqa: E731  (orientation lerp is enough for a sim)
    return Position(lerp(s.x, e.x), lerp(s.y, e.y), lerp(s.z, e.z),
                    lerp(s.w, s.w + _angle_diff(e.w, s.w)), lerp(s.p, s.p + _angle_diff(e.p, s.p)),
                    lerp(s.r, s.r + _angle_diff(e.r, s.r)))


# -- field checks: the value, or None when missing or mistyped ------------------------------------
def _int(packet: dict, key: str, allowed: Optional[range] = None) -> Optional[int]:
    value = packet.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or (allowed is not None and value not in allowed):
        return None
    return value


def _int_or_default(packet: dict, key: str, default: int, allowed: Optional[range] = None) -> Optional[int]:
    """``key``'s integer, ``default`` where the packet leaves it out (the manual's default), None
    where it is there but not allowed."""
    return default if key not in packet else _int(packet, key, allowed)


def _number(packet: dict, key: str) -> Optional[float]:
    value = packet.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return float(value)


def _numbers(packet: dict, key: str, names: tuple[str, ...]) -> Optional[tuple[float, ...]]:
    block = packet.get(key)
    if not isinstance(block, dict):
        return None
    values = tuple(_number(block, k) for k in names)
    return None if None in values else values


CLIENT_GRACE_S = 1.0    # on Ctrl-C, how long a connected client gets to disconnect first (stop())


class SimulatedController:
    """An RMI server on ``host``: connect port ``port``, session port ``handoff_port`` (0: any)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, handoff_port: int = 0,
                 speed_scale: float = 1.0, workspace_reach_mm: float = 1800.0,
                 floor_z_mm: Optional[float] = None,
                 start_position: Position = Position(500.0, 0.0, 400.0, 180.0, 0.0, 0.0),
                 arm_configuration: Configuration = Configuration(), arm: SimArm = SimArm(),
                 part_present_port: int = 0, part_present_on: bool = True, gripper_port: int = 1,
                 gripper_close_on: bool = True):
        self.host = host
        self._requested_ports = (int(port), int(handoff_port))
        self.speed_scale = float(speed_scale)
        self.workspace_reach_mm = float(workspace_reach_mm)
        self.floor_z_mm = floor_z_mm
        self.arm = arm

        # Failure knobs (plain attributes: set them from the test).
        self.servo_ready = True
        self.teach_pendant_enabled = False
        self.stop_answering = False
        self.digital_inputs: dict[int, bool] = {}
        # The part-present sensor (see the module docstring).
        self.part_present_port, self.part_present_on = int(part_present_port), bool(part_present_on)
        self.gripper_port, self.gripper_close_on = int(gripper_port), bool(gripper_close_on)
        self.holding: Optional[Callable[[], bool]] = None
        self._ahead: collections.deque[str] = collections.deque()   # "miss" / "drop" for the next closes
        self._sensed_part: Optional[bool] = None                     # holding()'s answer for this ReadDIN
        self._this_close = "hold"
        self._part_reads = 0                                          # readings since this close

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listeners: list[socket.socket] = []
        self._t_start = time.monotonic()

        self._session: Optional[socket.socket] = None
        self._grant: Optional[tuple[str, float]] = None    # FRC_Connect answered: (address, deadline)
        self._rmi_running = False
        self._program_status = PROGRAM_ABORTED
        self._hold = False
        self._alarm: Optional[str] = None
        self._expected_sequence_id = 1
        self._queue: collections.deque[dict] = collections.deque()
        self._executing: Optional[dict] = None
        self._motion: Optional[_Motion] = None
        self._abort_generation = 0
        c = arm_configuration
        self._uframe, self._utool = c.uframe_number, c.utool_number
        self._uframes: dict[int, np.ndarray] = {}       # written user frames (others: identity)
        self._utools: dict[int, np.ndarray] = {}
        self._pose = _Pose(start_position, (self._uframe, self._utool), (c.front, c.up, c.flip))
        self._turns = (c.left, c.turn4, c.turn5, c.turn6)
        self._override = 100
        self._last_error_text = ""

        self.port = 0
        self.handoff_port = 0
        self.received_packets: list[dict] = []
        self.sent_packets: list[dict] = []
        self.digital_outputs: dict[int, bool] = {}
        self.dout_events: list[DoutEvent] = []
        self.max_unacknowledged = 0
        self.sessions_opened = 0

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "SimulatedController":
        connect_listener = self._listen(self._requested_ports[0])
        handoff_listener = self._listen(self._requested_ports[1])
        self.port = connect_listener.getsockname()[1]
        self.handoff_port = handoff_listener.getsockname()[1]
        self._spawn(self._accept_loop, connect_listener, self._serve_connect_port, name="sim-connect")
        self._spawn(self._accept_loop, handoff_listener, self._open_session, name="sim-handoff")
        self._spawn(self._motion_loop, name="sim-motion")
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
            self._end_session("controller stopped")
            with self._changed:
                self._changed.notify_all()
            for listener in self._listeners:
                listener.close()
        finally:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> "SimulatedController":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, port))
        listener.listen(4)
        listener.settimeout(_POLL_S)
        self._listeners.append(listener)
        return listener

    def _spawn(self, target: Callable, *args: Any, name: str) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self, listener: socket.socket, handle: Callable[[socket.socket, str], None]) -> None:
        while not self._stop.is_set():
            try:
                conn, address = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            handle(conn, address[0])

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
    def connected(self) -> bool:
        return self._session is not None

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

    def _pose_now(self) -> _Pose:
        """The arm's pose now (in the middle of a move: interpolated)."""
        motion = self._motion
        if motion is None:
            return self._pose
        a = motion.fraction(time.monotonic())
        if motion.joints is None:
            return _Pose(_lerp(motion.start.position, motion.target.position, a), motion.target.frames,
                         motion.target.flags)
        start, end = motion.joints
        joints = tuple(float(v) for v in start + (end - start) * a)
        return self._pose_at_joints(joints, motion.target.frames)

    def _pose_at_joints(self, joints: tuple[float, ...], frames: tuple[int, int]) -> _Pose:
        user, tool = self._frames_matrix(frames)
        position = matrix_position(np.linalg.inv(user) @ self.arm.forward(joints) @ tool)
        return _Pose(position, frames, self.arm.configuration(joints), joints)

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
            self._pose = _Pose(position, (self._uframe, self._utool), self._pose.flags)

    # -- failure knobs ---------------------------------------------------------------------------
    def drop_connection(self) -> None:
        """Close the session socket without a word, as a cut cable would."""
        logger.info("dropping the session connection")
        self._end_session("connection dropped")

    def raise_fault(self, message: str = "simulated system fault") -> None:
        """Send ``FRC_SystemFault``, stop the arm where it is and raise an alarm (needs FRC_Reset)."""
        with self._lock:
            seq = (self._executing or {}).get("SequenceID", self._expected_sequence_id - 1)
            self._alarm = message
            self._last_error_text = message
            self._stop_program(PROGRAM_ABORTED)
        self._send({rmi.COMMUNICATION: "FRC_SystemFault", "SequenceID": seq})

    def send_terminate(self) -> None:
        """Send ``FRC_Terminate`` (as after the idle timeout) and close the session."""
        self._send({rmi.COMMUNICATION: "FRC_Terminate"})
        self._end_session("terminated by the controller")

    # -- connect port ----------------------------------------------------------------------------
    def _serve_connect_port(self, conn: socket.socket, address: str) -> None:
        """Answer one ``FRC_Connect`` and close the socket (the controller's connect handshake)."""
        with conn:
            conn.settimeout(1.0)
            packet = self._read_one(conn)
            if packet is None:
                return
            with self._lock:
                self.received_packets.append(packet)
            if packet.get(rmi.COMMUNICATION) != "FRC_Connect":
                logger.warning("connect port: ignoring %s", packet)
                return
            if self.stop_answering:
                logger.debug("not answering (stop_answering): %s", packet)
                return
            with self._lock:
                busy = self._session is not None or (self._grant is not None and time.monotonic() < self._grant[1])
                if not busy:
                    # This address has a few seconds to come back on the hand-off port.
                    self._grant = (address, time.monotonic() + _GRANT_VALID_S)
            reply = {rmi.COMMUNICATION: "FRC_Connect",
                     "ErrorID": rmi.RMIT_ALREADY_CONNECTED if busy else 0,
                     "PortNumber": 0 if busy else self.handoff_port,
                     "MajorVersion": 1, "MinorVersion": 0}
            try:
                self._write(conn, reply)
            except OSError as exc:
                logger.warning("connect port: reply failed (%s)", exc)

    def _read_one(self, conn: socket.socket) -> Optional[dict]:
        reader = rmi.PacketReader()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and not self._stop.is_set():
            try:
                chunk = conn.recv(4096)
            except (socket.timeout, OSError):
                return None
            if not chunk:
                return None
            packets = reader.feed(chunk)
            if packets:
                logger.debug("<- %s", packets[0])
                return packets[0]
        return None

    # -- session ---------------------------------------------------------------------------------
    def _open_session(self, conn: socket.socket, address: str) -> None:
        with self._lock:
            grant = self._grant
            if (grant is None or grant[0] != address or time.monotonic() >= grant[1]
                    or self._session is not None):
                logger.warning("hand-off port: refusing %s, which was granted no session", address)
                conn.close()
                return
            self._grant = None
            self._session = conn
            self.sessions_opened += 1
        conn.settimeout(_POLL_S)
        self._spawn(self._session_loop, conn, name="sim-session")

    def _session_loop(self, conn: socket.socket) -> None:
        # a line that is not JSON is answered, as an unknown command, rather than left to time out
        reader = rmi.PacketReader(on_malformed=lambda line, error: self._send(
            {rmi.COMMAND: "Unknown", "ErrorID": rmi.RMIT_INVALID_COMMAND}, conn))
        while not self._stop.is_set() and self._session is conn:
            try:
                chunk = conn.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            for packet in reader.feed(chunk):
                logger.debug("<- %s", packet)
                with self._lock:
                    self.received_packets.append(packet)
                self._handle_packet(conn, packet)
        if self._session is conn:
            self._end_session("the client closed the connection")

    def _end_session(self, reason: str) -> None:
        """Close the session; like a real controller, stop RMI_MOVE when the remote device leaves."""
        with self._lock:
            conn, self._session = self._session, None
            if conn is None:
                return
            if self._rmi_running:
                self._stop_program(PROGRAM_ABORTED)
        logger.info("session ended: %s", reason)
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.close()

    def _send(self, packet: dict, conn: Optional[socket.socket] = None) -> None:
        """Reply on the session (nothing when ``stop_answering`` or no session)."""
        if self.stop_answering:
            logger.debug("not answering (stop_answering): %s", packet)
            return
        conn = conn or self._session
        if conn is None or conn is not self._session:
            logger.debug("no session, reply dropped: %s", packet)
            return
        try:
            self._write(conn, packet)
        except OSError as exc:
            logger.warning("reply failed (%s); ending the session", exc)
            self._end_session("send failed")

    def _write(self, conn: socket.socket, packet: dict) -> None:
        with self._send_lock:
            conn.sendall(rmi.encode_packet(packet))
        logger.debug("-> %s", packet)
        with self._lock:
            self.sent_packets.append(packet)

    def _handle_packet(self, conn: socket.socket, packet: dict) -> None:
        try:
            kind, name = rmi.packet_kind(packet)
        except rmi.ProtocolError:
            self._send({rmi.COMMAND: "Unknown", "ErrorID": rmi.RMIT_INVALID_COMMAND}, conn)
            return
        if kind == rmi.COMMUNICATION:
            if name == "FRC_Disconnect":
                self._send({rmi.COMMUNICATION: "FRC_Disconnect", "ErrorID": 0}, conn)
                self._end_session("FRC_Disconnect")
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
            self._send(reply, conn)

    # -- commands --------------------------------------------------------------------------------
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
                group = _int_or_default(packet, "Group", 1, range(1, 2))   # omitted: group 1
                if group is None:
                    reply["ErrorID"] = rmi.RMIT_INVALID_GROUP
                    return reply
                reply["Group"] = group
            handler = getattr(self, f"_command_{name[4:]}", None) if name.startswith("FRC_") else None
            if handler is None:
                reply["ErrorID"] = rmi.RMIT_INVALID_COMMAND
            else:
                reply["ErrorID"] = handler(packet, reply) or 0
            self._changed.notify_all()
        return reply

    def _command_GetStatus(self, packet: dict, reply: dict) -> int:
        reply.update(
            ServoReady=int(self.servo_ready), TPMode=int(self.teach_pendant_enabled),
            RMIMotionStatus=int(self._rmi_running), ProgramStatus=self._program_status,
            SingleStepMode=0, NumberUTool=len(_UTOOLS), NumberUFrame=len(_UFRAMES) - 1,
            NextSequenceID=self._expected_sequence_id, Override=self._override)
        return 0

    def _command_Initialize(self, packet: dict, reply: dict) -> int:
        mask = _int_or_default(packet, "GroupMask", 1, range(1, 2))      # omitted: group 1
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

    def _command_Abort(self, packet: dict, reply: dict) -> int:
        if not self._rmi_running:
            return rmi.RMIT_NOT_RUNNING
        self._stop_program(PROGRAM_ABORTED)
        return 0

    def _command_Pause(self, packet: dict, reply: dict) -> int:
        if not self._rmi_running:
            return rmi.RMIT_NOT_RUNNING
        self._program_status = PROGRAM_PAUSED
        return 0

    def _command_Continue(self, packet: dict, reply: dict) -> int:
        if not self._rmi_running:
            return rmi.RMIT_NOT_RUNNING
        if self._program_status != PROGRAM_PAUSED:
            return rmi.RMIT_NOT_PAUSED
        if self._alarm is not None:
            return rmi.RMIT_INVALID_CONTROLLER_STATE
        self._program_status = PROGRAM_RUNNING
        return 0

    def _command_Reset(self, packet: dict, reply: dict) -> int:
        self._hold = False
        self._alarm = None
        return 0

    def _command_ReadError(self, packet: dict, reply: dict) -> int:
        count = _int_or_default(packet, "Count", 1)                       # omitted: the last error
        if count is None or count < 1:
            return rmi.RMIT_INVALID_VALUE
        reply.update(Count=1, ErrorData=self._last_error_text)
        return 0

    def _command_SetOverRide(self, packet: dict, reply: dict) -> int:
        value = _int(packet, "Value", range(1, 101))
        if value is None:
            return rmi.RMIT_INVALID_OVERRIDE
        self._override = value
        return 0

    def _command_SetUFrameUTool(self, packet: dict, reply: dict) -> int:
        if self._executing is not None:
            return rmi.RMIT_INVALID_CONTROLLER_STATE     # not while moving
        uframe, utool = _int(packet, "UFrameNumber", _UFRAMES), _int(packet, "UToolNumber", _UTOOLS)
        if uframe is None:
            return rmi.RMIT_INVALID_UFRAME
        if utool is None:
            return rmi.RMIT_INVALID_UTOOL
        self._uframe, self._utool = uframe, utool
        return 0

    def _command_GetUFrameUTool(self, packet: dict, reply: dict) -> int:
        reply.update(UFrameNumber=self._uframe, UToolNumber=self._utool)
        return 0

    def _frame_data(self, packet: dict, reply: dict, key: str, frames: dict, numbers: range,
                    error: int, write: bool) -> int:
        """Read or write user frame or tool data (user frame 0, the world, reads only)."""
        number = _int(packet, key, numbers)
        if number is None or (write and key == "FrameNumber" and number == 0):
            return error
        if write:
            if self._executing is not None:
                return rmi.RMIT_INVALID_CONTROLLER_STATE
            values = _numbers(packet, "Frame", _POSITION_KEYS)
            if values is None:
                return rmi.RMIT_INVALID_VALUE
            frames[number] = position_matrix(Position(*values))
        else:
            reply["UFrameNumber" if key == "FrameNumber" else "UToolNumber"] = number
            reply["Frame"] = matrix_position(frames.get(number, np.eye(4))).to_packet()
        return 0

    def _command_ReadUFrameData(self, packet: dict, reply: dict) -> int:
        return self._frame_data(packet, reply, "FrameNumber", self._uframes, _UFRAMES,
                                rmi.RMIT_INVALID_UFRAME, write=False)

    def _command_WriteUFrameData(self, packet: dict, reply: dict) -> int:
        return self._frame_data(packet, reply, "FrameNumber", self._uframes, _UFRAMES,
                                rmi.RMIT_INVALID_UFRAME, write=True)

    def _command_ReadUToolData(self, packet: dict, reply: dict) -> int:
        return self._frame_data(packet, reply, "ToolNumber", self._utools, _UTOOLS,
                                rmi.RMIT_INVALID_UTOOL, write=False)

    def _command_WriteUToolData(self, packet: dict, reply: dict) -> int:
        return self._frame_data(packet, reply, "ToolNumber", self._utools, _UTOOLS,
                                rmi.RMIT_INVALID_UTOOL, write=True)

    def _command_ReadCartesianPosition(self, packet: dict, reply: dict) -> int:
        front, up, flip = self._pose_now().flags
        left, turn4, turn5, turn6 = self._turns
        configuration = Configuration(self._utool, self._uframe, front, up, left, flip, turn4, turn5, turn6)
        reply.update(TimeTag=int((time.monotonic() - self._t_start) * 1000),
                     Configuration=configuration.to_packet(), Position=self._current_position().to_packet())
        return 0

    def _command_ReadJointAngles(self, packet: dict, reply: dict) -> int:
        try:
            joints = self._current_joints()
        except ValueError:
            return rmi.RMIT_INVALID_POSITION_DATA
        reply.update(TimeTag=int((time.monotonic() - self._t_start) * 1000),
                     JointAngle={**{k: round(float(v), 4) for k, v in zip(JOINTS, joints)},
                                 "J7": 0.0, "J8": 0.0, "J9": 0.0})
        return 0

    def _command_WriteDOUT(self, packet: dict, reply: dict) -> int:
        port, value = _int(packet, "PortNumber", _PORTS), packet.get("PortValue")
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

    def _command_ReadDIN(self, packet: dict, reply: dict) -> int:
        port = _int(packet, "PortNumber", _PORTS)
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
        if name not in _INSTRUCTIONS:
            return rmi.RMIT_INVALID_INSTRUCTION
        if self.teach_pendant_enabled:
            return rmi.RMIT_TP_ENABLED
        if not self.servo_ready:
            return rmi.RMIT_SERVO_OFF
        if not self._rmi_running:
            return rmi.RMIT_NOT_RUNNING
        if self._hold:
            return rmi.RMIT_HOLD
        if _int(packet, "SequenceID") is None:
            return rmi.RMIT_INVALID_VALUE
        if seq != self._expected_sequence_id:
            self._hold = True
            logger.warning("sequence gap: got %s, expected %d; RMI in HOLD", seq, self._expected_sequence_id)
            return rmi.RMIT_INVALID_SEQUENCE_ID
        if self._unacknowledged() >= rmi.MAX_INSTRUCTIONS_IN_FLIGHT:
            return rmi.RMIT_BUFFER_FULL
        return self._field_error(name, packet)

    @staticmethod
    def _field_error(name: str, packet: dict) -> int:
        """The alarm of the first missing or mistyped field of an instruction (0: none)."""
        if name == "FRC_WaitTime":
            time_s = _number(packet, "Time")
            return 0 if time_s is not None and time_s >= 0 else rmi.RMIT_INVALID_VALUE
        if name == "FRC_WaitDIN":
            if _int(packet, "PortNumber", _PORTS) is None:
                return rmi.RMIT_INVALID_PORT_NUMBER
            return 0 if packet.get("PortValue") in ("ON", "OFF") else rmi.RMIT_INVALID_VALUE
        if name == "FRC_SetUFrame":
            return 0 if _int(packet, "FrameNumber", _UFRAMES) is not None else rmi.RMIT_INVALID_UFRAME
        if name == "FRC_SetUTool":
            return 0 if _int(packet, "ToolNumber", _UTOOLS) is not None else rmi.RMIT_INVALID_UTOOL
        # A motion.
        speed_types = (*_LINEAR_SPEED_TYPES, *_TIME_SPEED_TYPES) if name in _LINEAR else ("Percent", *_TIME_SPEED_TYPES)
        if packet.get("SpeedType") not in speed_types:
            return rmi.RMIT_INVALID_SPEED_TYPE
        speed = _int(packet, "Speed")
        if speed is None or speed <= 0 or (packet["SpeedType"] == "Percent" and speed > 100):
            return rmi.RMIT_INVALID_SPEED_VALUE
        if packet.get("TermType") not in rmi.TERM_TYPES:
            return rmi.RMIT_INVALID_TERM_TYPE
        # TermValue matters to CNT (1-100) only; a FINE (or CR) move may leave it out
        term = _int(packet, "TermValue") if packet["TermType"] == "CNT" else _int_or_default(packet, "TermValue", 0)
        if term is None or term < 0 or (packet["TermType"] == "CNT" and not 1 <= term <= 100):
            return rmi.RMIT_INVALID_TERM_VALUE
        if name in _JOINT:
            return 0 if _numbers(packet, "JointAngle", JOINTS) is not None else rmi.RMIT_INVALID_POSITION_DATA
        configuration = packet.get("Configuration")
        if not isinstance(configuration, dict) or any(_int(configuration, k) is None for k in _FLAG_KEYS):
            return rmi.RMIT_INVALID_POSITION_DATA
        if _int(configuration, "UFrameNumber", _UFRAMES) is None:
            return rmi.RMIT_INVALID_UFRAME
        if _int(configuration, "UToolNumber", _UTOOLS) is None:
            return rmi.RMIT_INVALID_UTOOL
        return 0 if _numbers(packet, "Position", _POSITION_KEYS) is not None else rmi.RMIT_INVALID_POSITION_DATA

    def _ready_to_run(self) -> bool:
        """The next instruction may start: RMI_MOVE runs, and a CNT/CR move has a successor."""
        if not (self._queue and self._rmi_running and self._program_status == PROGRAM_RUNNING):
            return False
        head = self._queue[0]
        blends = head[rmi.INSTRUCTION] in _LINEAR + _JOINT and head.get("TermType") in ("CNT", "CR")
        return not blends or len(self._queue) > 1

    def _plan(self, name: str, packet: dict) -> tuple[int, Optional[_Motion]]:
        """``(error, motion)`` of a motion whose turn has come (RMIT-036 when unreachable)."""
        start = self._pose
        if name in _LINEAR:
            c = packet["Configuration"]
            frames = (c["UFrameNumber"], c["UToolNumber"])
            values = Position.from_packet(packet["Position"])
            if name == "FRC_LinearRelative":
                here = self._in_frames(start.position, start.frames, frames)
                values = Position(here.x + values.x, here.y + values.y, here.z + values.z,
                                  here.w + values.w, here.p + values.p, here.r + values.r)
            target = _Pose(values, frames, (c["Front"], c["Up"], c["Flip"]))
            flange = self._flange(values, frames)
            if self.arm.inverse(flange, *target.flags) is None or not self._reachable(flange, frames):
                return rmi.RMIT_INVALID_DESTINATION, None
            start = _Pose(self._in_frames(start.position, start.frames, frames), frames, start.flags)
            return 0, _Motion(start, target, time.monotonic(), self._linear_duration_s(packet, start.position, values))
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
        return 0, _Motion(start, target, time.monotonic(), self._joint_duration_s(packet, travel), (here, goal))

    def _reachable(self, flange: np.ndarray, frames: tuple[int, int]) -> bool:
        """The TCP (world frame) inside the sphere of reach and above the floor."""
        tcp = (flange @ self._frames_matrix(frames)[1])[:3, 3]
        if float(np.linalg.norm(tcp)) > self.workspace_reach_mm:
            return False
        return self.floor_z_mm is None or tcp[2] >= self.floor_z_mm

    def _linear_duration_s(self, packet: dict, start: Position, target: Position) -> float:
        if packet["SpeedType"] in _TIME_SPEED_TYPES:       # the move takes Speed (milli)seconds
            return packet["Speed"] * _TIME_SPEED_TYPES[packet["SpeedType"]] * self.speed_scale
        speed = _LINEAR_SPEED_TYPES[packet["SpeedType"]](packet["Speed"]) * self._override / 100.0
        rotation = max(abs(_angle_diff(a, b)) for a, b in
                       ((target.w, start.w), (target.p, start.p), (target.r, start.r)))
        rotation_rate = _ROTATION_SPEED_DEG_S * self._override / 100.0
        return max(start.distance_mm(target) / speed, rotation / rotation_rate) * self.speed_scale

    def _joint_duration_s(self, packet: dict, travel_deg: float) -> float:
        if packet["SpeedType"] in _TIME_SPEED_TYPES:
            return packet["Speed"] * _TIME_SPEED_TYPES[packet["SpeedType"]] * self.speed_scale
        rate = _JOINT_SPEED_DEG_S * packet["Speed"] / 100.0 * self._override / 100.0
        return travel_deg / rate * self.speed_scale

    def _motion_loop(self) -> None:
        """Execute queued instructions one by one; acknowledge each when it has finished."""
        while not self._stop.is_set():
            with self._changed:
                if not self._ready_to_run():
                    self._changed.wait(_POLL_S)
                    continue
                packet = self._queue.popleft()
                self._executing = packet
                generation = self._abort_generation
                name, seq = packet[rmi.INSTRUCTION], packet["SequenceID"]
                error, motion = self._plan(name, packet) if name in _LINEAR + _JOINT else (0, None)
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
                        self._changed.wait(min(_POLL_S, remaining) if remaining > 0 else _POLL_S)
                    if self._abort_generation != generation or self._stop.is_set():
                        continue    # aborted or faulted: no reply
                    self._finish(name, packet, motion)
                    self._changed.notify_all()
            self._send({rmi.INSTRUCTION: name, "ErrorID": error, "SequenceID": seq})

    def _input_matches(self, packet: dict) -> bool:
        if packet[rmi.INSTRUCTION] != "FRC_WaitDIN":
            return True
        return self.digital_inputs.get(packet["PortNumber"], False) == (packet["PortValue"] == "ON")

    def _finish(self, name: str, packet: dict, motion: Optional[_Motion]) -> None:
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

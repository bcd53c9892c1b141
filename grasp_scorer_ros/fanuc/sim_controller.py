"""A simulated FANUC controller that speaks RMI over TCP, for tests and for running without an arm.

It answers the way the manual (B-84184EN) describes:

* ``FRC_Connect`` on the connect port is answered with the hand-off port, then that socket is
  closed; the session lives on the hand-off port; one client at a time (RMIT-026 otherwise).
* commands are answered at once, even while the arm moves; ``FRC_WriteDOUT`` acts at once.
* instructions are queued and acknowledged *after* they have executed: a linear move takes
  ``distance / (speed * override) * speed_scale`` seconds, during which the tool position is
  interpolated. At most 8 may be unacknowledged (RMIT-028 for a ninth); a sequence gap is refused
  (RMIT-029) and puts RMI in HOLD (RMIT-024 for every instruction until ``FRC_Reset``);
  ``FRC_Initialize`` restarts IDs at 1; ``FRC_Abort`` drops the queue without replies.
* motion is refused with the pendant enabled (RMIT-008), the servo off (RMIT-007) or RMI_MOVE not
  running (RMIT-009). A target outside a sphere of reach around the base, or below an optional
  floor, is refused when its turn comes (RMIT-036) and pauses the program, as a motion alarm does.

Knobs for failure tests: ``servo_ready``, ``teach_pendant_enabled``, ``stop_answering`` (packets are
read, never answered), ``drop_connection()``, ``raise_fault()`` (``FRC_SystemFault``, motion stops),
``send_terminate()``. Logs for assertions: ``received_packets``, ``sent_packets``, ``dout_events``,
``digital_outputs``, ``tool_position``, ``max_unacknowledged``.

Simplifications: one motion group; user and tool frames are recorded but positions are not
transformed between them; only ``FRC_LinearMotion`` and ``FRC_WaitTime`` are executed.

Run it standalone: ``python -m grasp_scorer_ros.fanuc.sim_controller --host 127.0.0.1 --port 16001``.
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

from grasp_scorer_ros.fanuc import rmi_protocol as rmi
from grasp_scorer_ros.fanuc.rmi_protocol import Configuration, Position

logger = logging.getLogger(__name__)

_POLL_S = 0.05                      # how often blocking loops look at the stop flag
_ROTATION_SPEED_DEG_S = 90.0        # wrist reorientation rate of the simulated arm
_GRANT_VALID_S = 5.0                # how long the hand-off port waits after FRC_Connect
_SPEED_TYPE_TO_MM_S: dict[str, Callable[[float], float]] = {
    "mmSec": lambda v: v,
    "InchMin": lambda v: v * 25.4 / 60.0,
}
_VALID_INSTRUCTIONS = ("FRC_LinearMotion", "FRC_WaitTime")

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


@dataclass
class _Motion:
    start: Position
    target: Optional[Position]  # None for FRC_WaitTime
    t0: float
    duration: float

    def position_at(self, t: float) -> Position:
        if self.target is None:
            return self.start
        a = 1.0 if self.duration <= 0 else min(1.0, max(0.0, (t - self.t0) / self.duration))
        s, e = self.start, self.target
        lerp = lambda u, v: u + (v - u) * a  # noqa: E731  (orientation lerp is enough for a sim)
        return Position(lerp(s.x, e.x), lerp(s.y, e.y), lerp(s.z, e.z),
                        lerp(s.w, s.w + _angle_diff(e.w, s.w)), lerp(s.p, s.p + _angle_diff(e.p, s.p)),
                        lerp(s.r, s.r + _angle_diff(e.r, s.r)))


def _angle_diff(a: float, b: float) -> float:
    """``a - b`` wrapped to [-180, 180)."""
    return (a - b + 180.0) % 360.0 - 180.0


class SimulatedController:
    """An RMI server on ``host``: connect port ``port``, session port ``handoff_port`` (0: any)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, handoff_port: int = 0,
                 speed_scale: float = 1.0, workspace_reach_mm: float = 1800.0,
                 floor_z_mm: Optional[float] = None,
                 start_position: Position = Position(500.0, 0.0, 400.0, 180.0, 0.0, 0.0),
                 arm_configuration: Configuration = Configuration()):
        self.host = host
        self._requested_ports = (int(port), int(handoff_port))
        self.speed_scale = float(speed_scale)
        self.workspace_reach_mm = float(workspace_reach_mm)
        self.floor_z_mm = floor_z_mm

        # Failure knobs (plain attributes: set them from the test).
        self.servo_ready = True
        self.teach_pendant_enabled = False
        self.stop_answering = False

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listeners: list[socket.socket] = []
        self._t_start = time.monotonic()

        self._session: Optional[socket.socket] = None
        self._grant_deadline = 0.0           # FRC_Connect answered, hand-off not yet taken
        self._rmi_running = False
        self._program_status = PROGRAM_ABORTED
        self._hold = False
        self._alarm: Optional[str] = None
        self._expected_sequence_id = 1
        self._queue: collections.deque[dict] = collections.deque()
        self._executing: Optional[dict] = None
        self._motion: Optional[_Motion] = None
        self._abort_generation = 0
        self._position = start_position
        self._arm_configuration = arm_configuration
        self._uframe = arm_configuration.uframe_number
        self._utool = arm_configuration.utool_number
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

    def stop(self) -> None:
        self._stop.set()
        self._end_session("controller stopped")
        with self._changed:
            self._changed.notify_all()
        for listener in self._listeners:
            listener.close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2.0)

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

    def _accept_loop(self, listener: socket.socket, handle: Callable[[socket.socket], None]) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            handle(conn)

    # -- state for tests -------------------------------------------------------------------------
    @property
    def tool_position(self) -> Position:
        with self._lock:
            return self._current_position()

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

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
        """Poll ``predicate`` until it holds or ``timeout`` passes (tests use this, never sleep)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.005)
        return predicate()

    def _current_position(self) -> Position:
        if self._motion is not None:
            return self._motion.position_at(time.monotonic())
        return self._position

    def _unacknowledged(self) -> int:
        return len(self._queue) + (self._executing is not None)

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
    def _serve_connect_port(self, conn: socket.socket) -> None:
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
                busy = self._session is not None or time.monotonic() < self._grant_deadline
                if not busy:
                    # The client has a few seconds to come back on the hand-off port.
                    self._grant_deadline = time.monotonic() + _GRANT_VALID_S
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
    def _open_session(self, conn: socket.socket) -> None:
        with self._lock:
            if time.monotonic() >= self._grant_deadline or self._session is not None:
                logger.warning("hand-off port: refusing a connection without FRC_Connect")
                conn.close()
                return
            self._grant_deadline = 0.0
            self._session = conn
            self.sessions_opened += 1
        conn.settimeout(_POLL_S)
        self._spawn(self._session_loop, conn, name="sim-session")

    def _session_loop(self, conn: socket.socket) -> None:
        reader = rmi.PacketReader()
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
    def _handle_command(self, name: str, packet: dict) -> dict:
        reply: dict[str, Any] = {rmi.COMMAND: name, "ErrorID": 0}
        with self._changed:
            if name == "FRC_GetStatus":
                reply.update(
                    ServoReady=int(self.servo_ready), TPMode=int(self.teach_pendant_enabled),
                    RMIMotionStatus=int(self._rmi_running), ProgramStatus=self._program_status,
                    SingleStepMode=0, NumberUTool=10, NumberUFrame=9,
                    NextSequenceID=self._expected_sequence_id, Override=self._override)
            elif name == "FRC_Initialize":
                reply["GroupMask"] = packet.get("GroupMask", 1)
                reply["ErrorID"] = self._initialize()
            elif name == "FRC_Abort":
                if not self._rmi_running:
                    reply["ErrorID"] = rmi.RMIT_NOT_RUNNING
                else:
                    self._stop_program(PROGRAM_ABORTED)
            elif name == "FRC_Pause":
                if not self._rmi_running:
                    reply["ErrorID"] = rmi.RMIT_NOT_RUNNING
                else:
                    self._program_status = PROGRAM_PAUSED
            elif name == "FRC_Continue":
                if not self._rmi_running:
                    reply["ErrorID"] = rmi.RMIT_NOT_RUNNING
                elif self._program_status != PROGRAM_PAUSED:
                    reply["ErrorID"] = rmi.RMIT_NOT_PAUSED
                elif self._alarm is not None:
                    reply["ErrorID"] = rmi.RMIT_INVALID_CONTROLLER_STATE
                else:
                    self._program_status = PROGRAM_RUNNING
            elif name == "FRC_Reset":
                self._hold = False
                self._alarm = None
            elif name == "FRC_ReadError":
                reply.update(Count=1, ErrorData=self._last_error_text)
            elif name == "FRC_SetUFrameUTool":
                reply["Group"] = packet.get("Group", 1)
                reply["ErrorID"] = self._set_frames(packet)
            elif name == "FRC_SetOverRide":
                value = packet.get("Value")
                if isinstance(value, int) and 1 <= value <= 100:
                    self._override = value
                else:
                    reply["ErrorID"] = rmi.RMIT_INVALID_OVERRIDE
            elif name == "FRC_ReadCartesianPosition":
                c = self._arm_configuration
                configuration = Configuration(self._utool, self._uframe, c.front, c.up, c.left, c.flip,
                                              c.turn4, c.turn5, c.turn6)
                reply.update(TimeTag=int((time.monotonic() - self._t_start) * 1000),
                             Configuration=configuration.to_packet(),
                             Position=self._current_position().to_packet(), Group=packet.get("Group", 1))
            elif name == "FRC_WriteDOUT":
                reply["ErrorID"] = self._write_dout(packet)
            else:
                reply["ErrorID"] = rmi.RMIT_INVALID_COMMAND
            self._changed.notify_all()
        return reply

    def _initialize(self) -> int:
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

    def _set_frames(self, packet: dict) -> int:
        if self._executing is not None:
            return rmi.RMIT_INVALID_CONTROLLER_STATE     # not while moving
        uframe, utool = packet.get("UFrameNumber"), packet.get("UToolNumber")
        if not isinstance(uframe, int) or not 0 <= uframe <= 9:
            return rmi.RMIT_INVALID_UFRAME
        if not isinstance(utool, int) or not 1 <= utool <= 10:
            return rmi.RMIT_INVALID_UTOOL
        self._uframe, self._utool = uframe, utool
        return 0

    def _write_dout(self, packet: dict) -> int:
        port, value = packet.get("PortNumber"), packet.get("PortValue")
        if not isinstance(port, int) or not 1 <= port <= 512:
            return rmi.RMIT_INVALID_PORT_NUMBER
        if value not in ("ON", "OFF"):
            return rmi.RMIT_INVALID_VALUE
        on = value == "ON"
        self.digital_outputs[port] = on
        self.dout_events.append(DoutEvent(port, on, self._current_position(),
                                          arm_moving=self._executing is not None,
                                          unacknowledged=self._unacknowledged()))
        return 0

    def _stop_program(self, program_status: int) -> None:
        """Abort RMI_MOVE: the arm stops where it is, queued instructions are never answered."""
        self._position = self._current_position()
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
        if name not in _VALID_INSTRUCTIONS:
            return rmi.RMIT_INVALID_INSTRUCTION
        if self.teach_pendant_enabled:
            return rmi.RMIT_TP_ENABLED
        if not self.servo_ready:
            return rmi.RMIT_SERVO_OFF
        if not self._rmi_running:
            return rmi.RMIT_NOT_RUNNING
        if self._hold:
            return rmi.RMIT_HOLD
        if seq != self._expected_sequence_id:
            self._hold = True
            logger.warning("sequence gap: got %s, expected %d; RMI in HOLD", seq, self._expected_sequence_id)
            return rmi.RMIT_INVALID_SEQUENCE_ID
        if self._unacknowledged() >= rmi.MAX_INSTRUCTIONS_IN_FLIGHT:
            return rmi.RMIT_BUFFER_FULL
        if name == "FRC_WaitTime":
            t = packet.get("Time")
            return 0 if isinstance(t, (int, float)) and t >= 0 else rmi.RMIT_INVALID_VALUE
        if packet.get("SpeedType") not in _SPEED_TYPE_TO_MM_S and packet.get("SpeedType") != "mSec":
            return rmi.RMIT_INVALID_SPEED_TYPE
        speed = packet.get("Speed")
        if not isinstance(speed, (int, float)) or speed <= 0:
            return rmi.RMIT_INVALID_SPEED_VALUE
        if packet.get("TermType") not in rmi.TERM_TYPES:
            return rmi.RMIT_INVALID_TERM_TYPE
        if packet.get("TermType") == "CNT" and not 1 <= packet.get("TermValue", 0) <= 100:
            return rmi.RMIT_INVALID_TERM_VALUE
        try:
            Position.from_packet(packet["Position"])
        except (KeyError, TypeError, ValueError):
            return rmi.rmit(23)     # invalid position data
        return 0

    def _reachable(self, target: Position) -> bool:
        if math.sqrt(target.x ** 2 + target.y ** 2 + target.z ** 2) > self.workspace_reach_mm:
            return False
        return self.floor_z_mm is None or target.z >= self.floor_z_mm

    def _duration_s(self, packet: dict, start: Position, target: Optional[Position]) -> float:
        if target is None:
            return float(packet["Time"]) * self.speed_scale
        if packet["SpeedType"] == "mSec":      # the move takes Speed milliseconds
            return packet["Speed"] / 1000.0 * self.speed_scale
        speed = _SPEED_TYPE_TO_MM_S[packet["SpeedType"]](packet["Speed"]) * self._override / 100.0
        rotation = max(abs(_angle_diff(a, b)) for a, b in
                       ((target.w, start.w), (target.p, start.p), (target.r, start.r)))
        rotation_rate = _ROTATION_SPEED_DEG_S * self._override / 100.0
        return max(start.distance_mm(target) / speed, rotation / rotation_rate) * self.speed_scale

    def _motion_loop(self) -> None:
        """Execute queued instructions one by one; acknowledge each when it has finished."""
        while not self._stop.is_set():
            with self._changed:
                if not (self._queue and self._rmi_running and self._program_status == PROGRAM_RUNNING):
                    self._changed.wait(_POLL_S)
                    continue
                packet = self._queue.popleft()
                self._executing = packet
                generation = self._abort_generation
                name, seq = packet[rmi.INSTRUCTION], packet["SequenceID"]
                target = Position.from_packet(packet["Position"]) if name == "FRC_LinearMotion" else None
                if target is not None and not self._reachable(target):
                    # A motion alarm: refuse this move and pause the program, keeping the queue.
                    self._executing = None
                    self._program_status = PROGRAM_PAUSED
                    error = rmi.RMIT_INVALID_DESTINATION
                else:
                    error = 0
                    self._motion = _Motion(self._position, target, time.monotonic(),
                                           self._duration_s(packet, self._position, target))
                    end = self._motion.t0 + self._motion.duration
                    while (self._abort_generation == generation and not self._stop.is_set()
                           and time.monotonic() < end):
                        self._changed.wait(min(_POLL_S, max(0.0, end - time.monotonic())))
                    if self._abort_generation != generation:
                        continue    # aborted or faulted: no reply
                    if target is not None:
                        self._position = target
                    self._motion = None
                    self._executing = None
                    self._changed.notify_all()
            self._send({rmi.INSTRUCTION: name, "ErrorID": error, "SequenceID": seq})


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
    args = get_args_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())     # before the ports are announced
    sim = SimulatedController(host=args.host, port=args.port, handoff_port=args.handoff_port,
                              speed_scale=args.speed_scale, workspace_reach_mm=args.reach_mm,
                              floor_z_mm=args.floor_z_mm).start()
    print(f"simulated FANUC controller listening on {args.host}: connect port {sim.port}, "
          f"hand-off port {sim.handoff_port}", flush=True)
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

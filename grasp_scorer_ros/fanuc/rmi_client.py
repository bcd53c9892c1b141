"""Client for FANUC's Remote Motion Interface (RMI): one TCP session with the robot controller.

No ROS here: the bridge node wraps this class, and the tests drive it against
:mod:`grasp_scorer_ros.sim.sim_controller` over real sockets.

Session (manual B-84184EN): send ``FRC_Connect`` to port 16001, read the port the controller names
(``PortNumber``), reconnect there and keep that socket for the session. A reader thread splits the
stream into packets and hands each reply to its waiter:

* **commands** (``FRC_GetStatus``, ``FRC_WriteDOUT``, ...) run one at a time and act at once; the
  reply is matched by the command's name;
* **instructions** (``FRC_LinearMotion``, ``FRC_WaitTime``) are queued in the controller's RMI_MOVE
  program and acknowledged, by ``SequenceID``, *after they have executed*. IDs are consecutive and
  restart at 1 after ``FRC_Initialize``; at most 8 may be unacknowledged, so a ninth call blocks
  until a slot frees;
* unsolicited ``FRC_SystemFault`` / ``FRC_Terminate`` fail every waiter with :class:`RMIFault` /
  :class:`RMITerminated` and are reported through ``on_event``.

Every reply has a timeout. A motion's timeout follows from the motion (distance / speed at the
current override, after the instructions queued before it) plus a margin; a late instruction reply
still matches its ID. A command that times out closes the session (command replies carry no ID, so
a late one could be taken for the next command's answer); the caller reconnects. After an instruction is
refused, the client sends no further instruction until ``reset()`` or ``initialize()``; after
``abort()`` or a fault, none until ``initialize()``: motion never resumes on its own. ``abort()``
blocks new instructions *before* it sends ``FRC_Abort`` and waits for a send in progress, so none
can follow it on the wire.

With ``limits`` (:class:`~grasp_scorer_ros.fanuc.motion_limits.MotionLimits`), every linear move is
checked against them just before it is sent and refused with
:class:`~grasp_scorer_ros.fanuc.motion_limits.PickRejected` (nothing sent) when outside.

``dry_run=True`` opens no socket: the client talks to a
:class:`~grasp_scorer_ros.fanuc.dry_run.DryRunController` in this process instead, which logs the
packets (INFO), keeps them and acknowledges every request at once.
"""
from __future__ import annotations

import concurrent.futures
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from grasp_scorer_ros.fanuc import rmi_protocol as rmi
from grasp_scorer_ros.fanuc.dry_run import DryRunController
from grasp_scorer_ros.fanuc.motion_limits import MotionLimits
from grasp_scorer_ros.fanuc.rmi_protocol import Configuration, Position
from grasp_scorer_ros.rotations import angle_difference_degrees

logger = logging.getLogger(__name__)

# Assumed when the arm's position is unknown, to size a motion's timeout: about a large arm's reach.
ASSUMED_DISTANCE_MM = 2000.0
# Reorientation rate assumed for timeouts; real wrists are faster, this errs on the long side.
ASSUMED_ROTATION_DEG_S = 30.0

EventCallback = Callable[[str, dict], None]


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------
class RMIException(Exception):
    """Base of every error raised by the RMI client."""


class RMIError(RMIException):
    """The controller answered with a non-zero ``ErrorID``."""

    def __init__(self, error_id: int, request: str = "", packet: Optional[dict] = None):
        self.error_id = int(error_id)
        self.request = request
        self.packet = packet
        self.message = rmi.describe_error(self.error_id)
        super().__init__(f"{request} refused: {self.message}" if request else self.message)


class RMITimeout(RMIException):
    """No reply within the timeout."""


class RMIConnectionLost(RMIException):
    """The session is closed (or was never opened)."""


class RMITerminated(RMIConnectionLost):
    """The controller ended the session with ``FRC_Terminate``."""


class RMIFault(RMIException):
    """The controller reported ``FRC_SystemFault``; motion stays refused until ``initialize()``."""


class RMIAborted(RMIException):
    """The instruction was dropped by ``FRC_Abort`` and will never be acknowledged."""


class RMINotReady(RMIException):
    """The client refuses to send an instruction (after an error, until reset or initialize)."""


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ControllerStatus:
    """Reply of ``FRC_GetStatus``."""

    servo_ready: bool
    teach_pendant_enabled: bool     # TPMode 1: the pendant is enabled and motion is refused
    rmi_motion_status: int          # 0: RMI_MOVE not running
    program_status: int             # 0 running, 1 paused, 2 aborted
    single_step_mode: bool
    next_sequence_id: int
    override: int
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_packet(cls, packet: dict) -> "ControllerStatus":
        return cls(
            servo_ready=bool(packet.get("ServoReady", 0)),
            teach_pendant_enabled=bool(packet.get("TPMode", 0)),
            rmi_motion_status=int(packet.get("RMIMotionStatus", 0)),
            program_status=int(packet.get("ProgramStatus", -1)),
            single_step_mode=bool(packet.get("SingleStepMode", 0)),
            next_sequence_id=int(packet.get("NextSequenceID", 1)),
            override=int(packet.get("Override", 100)),
            raw=dict(packet),
        )

    @property
    def ready_for_motion(self) -> bool:
        return self.servo_ready and not self.teach_pendant_enabled and not self.single_step_mode


class InstructionHandle:
    """An instruction sent to the controller; settled by its reply, an abort, a fault or a loss."""

    def __init__(self, sequence_id: int, name: str, packet: dict, deadline: float):
        self.sequence_id = sequence_id
        self.name = name
        self.packet = packet
        self.deadline = deadline        # time.monotonic() by which the reply is due
        self.timeout_s = deadline - time.monotonic()
        self._event = threading.Event()
        self._reply: Optional[dict] = None
        self._error: Optional[RMIException] = None

    def done(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Whether the instruction is settled within ``timeout`` seconds (never raises)."""
        return self._event.wait(timeout)

    def result(self) -> dict:
        """The acknowledgement, or the error that settled the instruction."""
        if not self._event.is_set():
            raise RMITimeout(f"instruction {self.sequence_id} ({self.name}) is not acknowledged yet")
        if self._error is not None:
            raise self._error
        return self._reply  # type: ignore[return-value]

    def _settle(self, reply: Optional[dict] = None, error: Optional[RMIException] = None) -> None:
        if self._event.is_set():
            return
        self._reply, self._error = reply, error
        self._event.set()

    def __repr__(self) -> str:
        state = "pending" if not self.done() else ("failed" if self._error else "acknowledged")
        return f"InstructionHandle({self.sequence_id}, {self.name}, {state})"


# ---------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------
class RMIClient:
    """One RMI session with a FANUC controller (thread-safe)."""

    def __init__(self, host: str, port: int = rmi.DEFAULT_CONNECT_PORT, timeout: float = 5.0,
                 on_event: Optional[EventCallback] = None, dry_run: bool = False,
                 motion_timeout_factor: float = 1.5,
                 dry_run_position: Position = Position(0.0, 0.0, 0.0, 180.0, 0.0, 0.0),
                 limits: Optional[MotionLimits] = None):
        """``timeout``: seconds for every command reply and the margin added to a motion's own
        duration. ``on_event(event, packet)`` reports what the controller did unasked:
        ``"system_fault"`` and ``"terminate"`` with the controller's packet, ``"connection_lost"``
        with ``{"reason": ...}``; it runs on the reader thread (or the caller's, for a failed send
        or a command timeout) and must not block. ``limits``: the envelope every linear move is
        checked against before it is sent (None: unchecked)."""
        self.host = host
        self.port = int(port)
        self.timeout = float(timeout)
        self.on_event = on_event
        self.dry_run = bool(dry_run)
        self.motion_timeout_factor = float(motion_timeout_factor)
        self.limits = limits

        self._lock = threading.RLock()
        self._slot_freed = threading.Condition(self._lock)
        self._command_lock = threading.Lock()      # one command at a time
        self._instruction_lock = threading.Lock()  # keeps sequence IDs in send order
        self._send_lock = threading.Lock()

        self._sock: Optional[socket.socket] = None
        self._reader_thread: Optional[threading.Thread] = None
        self._connected = False
        self._closing = False
        self._pending_command: Optional[tuple[str, concurrent.futures.Future]] = None
        self._disconnect_reply: Optional[concurrent.futures.Future] = None
        self._pending_instructions: dict[int, InstructionHandle] = {}
        self._next_sequence_id = 1
        self._queue_finish_estimate = 0.0
        self._last_target: Optional[Position] = None
        self._override_percent: Optional[int] = None
        self._instructions_blocked: Optional[str] = None    # an instruction was refused
        self._aborted: Optional[str] = None                 # FRC_Abort sent: until initialize()

        self.controller_port: Optional[int] = None   # the port the controller named
        self.controller_version: Optional[tuple[int, int]] = None
        self.fault: Optional[str] = None
        self.terminated = False
        self.last_error = ""
        self.last_acknowledged_sequence_id = 0
        self.session_number = 0         # counts the sessions opened: which one is this

        # Where the session's packets go, chosen once: the controller over TCP, or (dry run) a
        # stand-in in this process that answers at once. _open() returns the session's socket.
        self.dry_run_controller: Optional[DryRunController] = None
        self._open: Callable[[], Optional[socket.socket]] = self._open_tcp
        self._send: Callable[[dict, bytes], Optional[dict]] = self._send_tcp
        if self.dry_run:
            self.dry_run_controller = DryRunController(dry_run_position)
            self._open, self._send = self.dry_run_controller.open, self.dry_run_controller.send

    # -- session -------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def instructions_in_flight(self) -> int:
        with self._lock:
            return len(self._pending_instructions)

    def connect(self, attempts: int = 1, backoff_s: float = 0.5, max_backoff_s: float = 5.0) -> None:
        """Open the session: ``FRC_Connect`` on ``port``, then reconnect to the port it names.

        Network failures are retried ``attempts`` times with exponential back-off; a refusal by
        the controller (e.g. another client is connected) is raised at once as :class:`RMIError`.
        """
        if self._connected:
            return
        delay = backoff_s
        for attempt in range(1, max(1, attempts) + 1):
            try:
                self._start_session(self._open())
                return
            except (OSError, RMITimeout, RMIConnectionLost) as exc:
                if attempt >= attempts:
                    self.last_error = f"cannot connect to {self.host}:{self.port}: {exc}"
                    if isinstance(exc, RMIException):
                        raise
                    raise RMIConnectionLost(self.last_error) from exc
                logger.warning("connect attempt %d/%d failed (%s); retrying in %.1f s",
                               attempt, attempts, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2.0, max_backoff_s)

    def _open_tcp(self) -> socket.socket:
        """The session's socket: ``FRC_Connect`` on the connect port, then the port it names."""
        reply = self._handshake()
        error_id = int(reply.get("ErrorID", 0))
        if error_id:
            self.last_error = rmi.describe_error(error_id)
            raise RMIError(error_id, "FRC_Connect", reply)
        port = reply.get("PortNumber")
        if not isinstance(port, int) or not 0 < port < 65536:
            raise RMIConnectionLost(f"FRC_Connect reply names no valid port: {reply!r}")
        self.controller_port = port
        self.controller_version = (int(reply.get("MajorVersion", 0)), int(reply.get("MinorVersion", 0)))
        sock = socket.create_connection((self.host, port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        logger.info("RMI session open on %s:%d (RMI %d.%d)", self.host, port, *self.controller_version)
        return sock

    def _handshake(self) -> dict:
        """``FRC_Connect`` on the connect port; the controller answers and closes that socket."""
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
            data = rmi.encode_packet(rmi.connect_packet())
            logger.debug("-> %s", data.decode("ascii").rstrip())
            sock.sendall(data)
            packets = rmi.read_packets(sock, rmi.PacketReader(), deadline=time.monotonic() + self.timeout,
                                       on_timeout="raise", on_error="raise")
            try:
                for packet in packets:
                    logger.debug("<- %s", packet)
                    if packet.get(rmi.COMMUNICATION) == "FRC_Connect":
                        return packet
                    logger.warning("unexpected packet before the FRC_Connect reply: %s", packet)
            except socket.timeout:
                raise RMITimeout(f"no reply to FRC_Connect within {self.timeout:.1f} s") from None
            raise RMIConnectionLost("controller closed the connect port without a reply")

    def _start_session(self, sock: Optional[socket.socket]) -> None:
        with self._lock:
            self.session_number += 1
            self._sock = sock
            self._connected = True
            self._closing = False
            self._pending_command = None
            self._pending_instructions.clear()
            self._next_sequence_id = 1
            self.last_acknowledged_sequence_id = 0
            self._queue_finish_estimate = 0.0
            self._last_target = None          # the arm may have moved between sessions
            self._override_percent = None
            self._instructions_blocked = None
            self._aborted = None
            self.fault = None
            self.terminated = False
        if sock is not None:
            self._reader_thread = threading.Thread(target=self._read_loop, args=(sock,),
                                                   name="rmi-reader", daemon=True)
            self._reader_thread.start()

    def disconnect(self, timeout: Optional[float] = None) -> None:
        """``FRC_Disconnect`` (the controller stops RMI_MOVE), wait ``timeout`` seconds (default: the
        client's) for its reply, then close the socket. Idempotent; the socket is closed even when
        interrupted (KeyboardInterrupt)."""
        timeout = self.timeout if timeout is None else timeout
        if not self._connected:
            self._join_reader(timeout)
            return
        with self._lock:
            self._closing = True
            reply = self._disconnect_reply = concurrent.futures.Future()
        try:
            self._transmit(rmi.disconnect_packet())
            reply.result(timeout)
        except (RMIException, concurrent.futures.TimeoutError) as exc:
            logger.warning("no clean FRC_Disconnect (%s); closing the socket", exc or "timeout")
        finally:
            self._teardown(lambda: RMIConnectionLost("the client disconnected"), event=None)
            self._join_reader(timeout)
        logger.info("RMI session closed")

    def close(self, reason: str = "the client closed the connection") -> None:
        """Drop the socket without ``FRC_Disconnect`` (for a link that no longer answers); every
        waiter fails with :class:`RMIConnectionLost` (``reason``)."""
        with self._lock:
            self._closing = True
        self._teardown(lambda: RMIConnectionLost(reason), event=None)
        self._join_reader(self.timeout)

    def __enter__(self) -> "RMIClient":
        self.connect()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.disconnect()

    def _join_reader(self, timeout: float) -> None:
        thread = self._reader_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout)      # the socket is closed: the reader ends at once

    def _teardown(self, make_error: Callable[[], RMIException], event: Optional[str],
                  packet: Optional[dict] = None) -> None:
        """Close the session once, fail every waiter, then report ``event``."""
        with self._lock:
            if not self._connected:
                return
            sock, self._sock = self._sock, None
            self._connected = False
        self._fail_pending(make_error)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if event is not None:
            self._emit(event, packet or {})

    def _fail_pending(self, make_error: Callable[[], RMIException], commands: bool = True) -> None:
        with self._lock:
            handles = list(self._pending_instructions.values())
            self._pending_instructions.clear()
            self._queue_finish_estimate = 0.0
            futures = []
            if commands:
                if self._pending_command is not None:
                    futures.append(self._pending_command[1])
                if self._disconnect_reply is not None:
                    futures.append(self._disconnect_reply)
                self._pending_command = self._disconnect_reply = None
            self._slot_freed.notify_all()
        for handle in handles:
            handle._settle(error=make_error())
        for future in futures:
            try:
                future.set_exception(make_error())
            except concurrent.futures.InvalidStateError:
                pass        # its reply arrived first

    def _emit(self, event: str, packet: dict) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event, packet)
        except Exception:  # a faulty callback must not kill the reader thread
            logger.exception("on_event callback failed for %s", event)

    # -- wire ----------------------------------------------------------------------------------
    def _transmit(self, packet: dict) -> None:
        data = rmi.encode_packet(packet)
        logger.debug("-> %s", data.decode("ascii").rstrip())
        reply = self._send(packet, data)
        if reply is not None:       # the dry run's stand-in answers at once
            logger.debug("<- %s", reply)
            self._dispatch(reply)

    def _send_tcp(self, packet: dict, data: bytes) -> None:
        """Write to the session's socket; replies come through the reader thread."""
        with self._send_lock:
            sock = self._sock
            if sock is None:
                raise RMIConnectionLost("not connected to the controller")
            try:
                sock.sendall(data)
            except OSError as exc:
                error = f"sending {rmi.packet_kind(packet)[1]} failed: {exc}"
                self.last_error = error
                self._teardown(lambda: RMIConnectionLost(error), event="connection_lost",
                               packet={"reason": error})
                raise RMIConnectionLost(error) from exc

    def _read_loop(self, sock: socket.socket) -> None:
        # an idle session retries (the socket's timeout only bounds sendall); an error ends it
        for packet in rmi.read_packets(sock, rmi.PacketReader(), on_timeout="retry", on_error="end"):
            logger.debug("<- %s", packet)
            try:
                self._dispatch(packet)
            except Exception:  # keep reading: one bad reply must not end the session
                logger.exception("failed to handle packet %s", packet)
        with self._lock:
            expected = self._closing or self._sock is not sock
        if not expected:
            error = "the controller closed the connection"
            self.last_error = error
            logger.error(error)
            self._teardown(lambda: RMIConnectionLost(error), event="connection_lost",
                           packet={"reason": error})

    def _dispatch(self, packet: dict) -> None:
        try:
            kind, name = rmi.packet_kind(packet)
        except rmi.ProtocolError as exc:
            logger.warning("ignoring packet: %s", exc)
            return
        if kind == rmi.COMMUNICATION:
            self._on_communication(name, packet)
        elif kind == rmi.COMMAND:
            self._on_command_reply(name, packet)
        else:
            self._on_instruction_reply(name, packet)

    def _on_communication(self, name: str, packet: dict) -> None:
        if name == "FRC_SystemFault":
            seq = packet.get("SequenceID")
            message = "controller reported FRC_SystemFault" + (
                f" during instruction {seq}" if seq is not None else "")
            logger.error(message)
            with self._lock:
                self.fault = message
                self._instructions_blocked = message
                self.last_error = message
            self._fail_pending(lambda: RMIFault(message))
            self._emit("system_fault", packet)
        elif name == "FRC_Terminate":
            message = "controller ended the session with FRC_Terminate"
            logger.error(message)
            self.terminated = True
            self.last_error = message
            self._teardown(lambda: RMITerminated(message), event="terminate", packet=packet)
        elif name == "FRC_Disconnect":
            with self._lock:
                reply, self._disconnect_reply = self._disconnect_reply, None
            if reply is not None:
                try:
                    reply.set_result(packet)
                except concurrent.futures.InvalidStateError:
                    pass
        else:
            logger.warning("ignoring unexpected communication packet %s", packet)

    def _on_command_reply(self, name: str, packet: dict) -> None:
        with self._lock:
            pending = self._pending_command
            if pending is None or pending[0] != name:
                logger.warning("ignoring reply to a command not in progress: %s", packet)
                return
            self._pending_command = None
        try:
            pending[1].set_result(packet)
        except concurrent.futures.InvalidStateError:
            pass            # already failed by a fault or a lost connection

    def _on_instruction_reply(self, name: str, packet: dict) -> None:
        seq = packet.get("SequenceID")
        error_id = int(packet.get("ErrorID", 0))
        with self._lock:
            handle = self._pending_instructions.pop(seq, None)
            if handle is None:
                logger.warning("ignoring reply to an instruction not in flight: %s", packet)
                return
            if error_id == 0:
                self.last_acknowledged_sequence_id = max(self.last_acknowledged_sequence_id, seq)
            else:
                self.last_error = f"instruction {seq} ({name}): {rmi.describe_error(error_id)}"
                self._instructions_blocked = self.last_error
                logger.error(self.last_error)
            if not self._pending_instructions:
                self._queue_finish_estimate = 0.0
            self._slot_freed.notify_all()
        if error_id == 0:
            handle._settle(reply=packet)
        else:
            handle._settle(error=RMIError(error_id, f"{name} {seq}", packet))

    # -- commands ------------------------------------------------------------------------------
    def _command(self, packet: dict, timeout: Optional[float] = None) -> dict:
        """Send one command, wait for its reply, raise :class:`RMIError` on a non-zero ErrorID."""
        name = packet[rmi.COMMAND]
        timeout = self.timeout if timeout is None else timeout
        # Commands go one at a time; one that waits longer than its own timeout for the line means
        # the command before it is unanswered that long (the caller decides what that means).
        if not self._command_lock.acquire(timeout=timeout):
            raise RMITimeout(f"{name} not sent: the command before it has been unanswered for "
                             f"{timeout:.1f} s")
        try:
            reply_future: concurrent.futures.Future = concurrent.futures.Future()
            with self._lock:
                if not self._connected:
                    raise self._not_connected_error()
                self._pending_command = (name, reply_future)
            try:
                self._transmit(packet)
                reply = reply_future.result(timeout)
            except concurrent.futures.TimeoutError:
                if not reply_future.done():
                    # Replies carry no request ID: a late one could be taken for the answer to the
                    # next command. The session is no longer trustworthy; close it (which also makes
                    # the controller stop RMI_MOVE) and let the caller reconnect.
                    message = (f"the controller stopped answering: no reply to {name} within "
                               f"{timeout:.1f} s; session closed")
                    self.last_error = message
                    logger.error(message)
                    with self._lock:
                        self._closing = True
                    self._teardown(lambda: RMIConnectionLost(message), event="connection_lost",
                                   packet={"reason": message})
                    raise RMITimeout(message) from None
                reply = reply_future.result(0)      # the reply won the race with the timeout
            finally:
                with self._lock:
                    if self._pending_command is not None and self._pending_command[1] is reply_future:
                        self._pending_command = None
        finally:
            self._command_lock.release()
        error_id = int(reply.get("ErrorID", 0))
        if error_id:
            self.last_error = f"{name}: {rmi.describe_error(error_id)}"
            raise RMIError(error_id, name, reply)
        return reply

    def _not_connected_error(self) -> RMIConnectionLost:
        if self.terminated:
            return RMITerminated("not connected: the controller sent FRC_Terminate")
        return RMIConnectionLost("not connected to the controller")

    def get_status(self, timeout: Optional[float] = None) -> ControllerStatus:
        """``FRC_GetStatus``; ``timeout`` (default: the client's) also serves as a liveness probe:
        commands are answered at once, even while the arm moves."""
        status = ControllerStatus.from_packet(self._command(rmi.get_status_packet(), timeout))
        with self._lock:
            self._override_percent = status.override
        return status

    def initialize(self, group_mask: int = 1) -> None:
        """``FRC_Initialize``: start RMI_MOVE; sequence IDs restart at 1 and a fault is cleared."""
        self._command(rmi.initialize_packet(group_mask))
        self._fail_pending(lambda: RMIAborted("dropped by FRC_Initialize"), commands=False)
        with self._lock:
            self._next_sequence_id = 1
            self.last_acknowledged_sequence_id = 0      # IDs restart: the counter does too
            self._instructions_blocked = None
            self._aborted = None
            self.fault = None

    def abort(self) -> None:
        """``FRC_Abort``: stop RMI_MOVE; queued instructions are dropped and fail with RMIAborted.

        From this call on no instruction is sent until ``initialize()``: the block is set before
        ``FRC_Abort`` goes out, and a send already in progress is waited for, so no motion can
        follow ``FRC_Abort`` on the wire (even from another thread).
        """
        with self._lock:
            self._aborted = "FRC_Abort was sent"
            self._slot_freed.notify_all()        # a sender waiting for a slot gives up
        with self._instruction_lock:             # a send in progress finishes before FRC_Abort
            pass
        try:
            self._command(rmi.abort_packet())
        except RMIError:
            self._fail_pending(lambda: RMIAborted("dropped by FRC_Abort"), commands=False)
            raise
        self._fail_pending(lambda: RMIAborted("dropped by FRC_Abort"), commands=False)

    def pause(self) -> None:
        self._command(rmi.pause_packet())

    def continue_motion(self) -> None:
        """``FRC_Continue``: resume a paused RMI_MOVE (after ``reset()`` of a warning)."""
        self._command(rmi.continue_packet())

    def reset(self) -> None:
        """``FRC_Reset`` (clears alarms and HOLD), then take ``NextSequenceID`` from the controller.

        After a fault the client still refuses motion until ``initialize()``.
        """
        self._command(rmi.reset_packet())
        status = self.get_status()
        with self._lock:
            self._next_sequence_id = status.next_sequence_id
            if self.fault is None:
                self._instructions_blocked = None

    def set_uframe_utool(self, uframe: int, utool: int, group: int = 1) -> None:
        self._command(rmi.set_uframe_utool_packet(uframe, utool, group))

    def set_override(self, percent: int) -> None:
        if not 1 <= int(percent) <= 100:
            raise ValueError(f"override {percent}% outside 1..100")
        self._command(rmi.set_override_packet(percent))
        with self._lock:
            self._override_percent = int(percent)

    def read_cartesian_position(self, group: int = 1) -> tuple[Configuration, Position]:
        reply = self._command(rmi.read_cartesian_position_packet(group))
        configuration = Configuration.from_packet(reply.get("Configuration", {}))
        position = Position.from_packet(reply["Position"])
        with self._lock:
            if not self._pending_instructions:
                self._last_target = position
        return configuration, position

    def write_dout(self, port: int, on: bool) -> None:
        """``FRC_WriteDOUT``: acts at once, not after the queued motion."""
        self._command(rmi.write_dout_packet(port, on))

    def read_din(self, port: int) -> bool:
        """``FRC_ReadDIN``: the digital input's value now (True: ON)."""
        reply = self._command(rmi.read_din_packet(port))
        value = reply.get("PortValue")
        if value not in ("ON", "OFF"):
            raise RMIException(f"FRC_ReadDIN of port {port} answered PortValue {value!r}, not ON or OFF")
        return value == "ON"

    # -- instructions --------------------------------------------------------------------------
    def linear_motion(self, position: Position, configuration: Configuration, speed_mm_s: float,
                      term_type: str = "FINE", term_value: int = 0) -> InstructionHandle:
        """Queue ``FRC_LinearMotion``; the handle settles when the move has been executed.

        Raises :class:`~grasp_scorer_ros.fanuc.motion_limits.PickRejected` (nothing sent) for a
        move outside ``limits``."""
        if self.limits is not None:
            self.limits.check_move(position, configuration, speed_mm_s)
        duration = self._motion_duration_s(position, speed_mm_s)
        handle = self._send_instruction(
            lambda seq: rmi.linear_motion_packet(seq, configuration, position, speed_mm_s,
                                                 term_type, term_value),
            duration)
        with self._lock:
            self._last_target = position
        return handle

    def wait_time(self, seconds: float) -> InstructionHandle:
        """Queue ``FRC_WaitTime`` (a pause in RMI_MOVE, after the motion queued before it)."""
        return self._send_instruction(lambda seq: rmi.wait_time_packet(seq, seconds), float(seconds))

    def wait(self, handle: InstructionHandle, timeout: Optional[float] = None) -> dict:
        """Wait for an instruction's reply (by default until its deadline); raise on failure."""
        remaining = handle.deadline - time.monotonic() if timeout is None else timeout
        if not handle.wait(max(0.0, remaining)):
            message = (f"instruction {handle.sequence_id} ({handle.name}) not acknowledged "
                       f"within {max(0.0, remaining):.1f} s")
            self.last_error = message
            raise RMITimeout(message)
        return handle.result()

    def _motion_duration_s(self, target: Position, speed_mm_s: float) -> float:
        with self._lock:
            start = self._last_target
            scale = (self._override_percent or 100) / 100.0
        if start is None:
            distance, rotation = ASSUMED_DISTANCE_MM, 180.0
        else:
            distance = start.distance_mm(target)
            rotation = max(abs(angle_difference_degrees(a, b))
                           for a, b in ((start.w, target.w), (start.p, target.p), (start.r, target.r)))
        speed = max(1.0, float(speed_mm_s)) * scale
        return max(distance / speed, rotation / (ASSUMED_ROTATION_DEG_S * scale))

    def _send_instruction(self, build: Callable[[int], dict], duration_s: float) -> InstructionHandle:
        with self._instruction_lock:
            with self._lock:
                self._check_instructions_allowed()
                has_slot = self._slot_freed.wait_for(
                    lambda: len(self._pending_instructions) < rmi.MAX_INSTRUCTIONS_IN_FLIGHT
                    or not self._connected or self._instructions_blocked is not None
                    or self._aborted is not None or self.fault is not None,
                    timeout=self.timeout)
                self._check_instructions_allowed()
                if not has_slot:
                    raise RMITimeout(f"no free instruction slot within {self.timeout:.1f} s "
                                     f"({rmi.MAX_INSTRUCTIONS_IN_FLIGHT} unacknowledged)")
                seq = self._next_sequence_id
                packet = build(seq)
                now = time.monotonic()
                # The reply comes after this move *and* every move queued before it.
                finish = max(now, self._queue_finish_estimate) + duration_s
                self._queue_finish_estimate = finish
                deadline = now + (finish - now) * self.motion_timeout_factor + self.timeout
                handle = InstructionHandle(seq, packet[rmi.INSTRUCTION], packet, deadline)
                self._pending_instructions[seq] = handle
                self._next_sequence_id += 1
            try:
                self._transmit(packet)
            except RMIException:
                with self._lock:
                    self._pending_instructions.pop(seq, None)
                raise
        return handle

    def _check_instructions_allowed(self) -> None:
        if not self._connected:
            raise self._not_connected_error()
        if self.fault is not None:
            raise RMIFault(f"{self.fault}; initialize() before new motion")
        if self._aborted is not None:
            raise RMINotReady(f"{self._aborted}; initialize() before new motion")
        if self._instructions_blocked is not None:
            raise RMINotReady(f"{self._instructions_blocked}; reset() or initialize() before new motion")

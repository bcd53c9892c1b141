"""FANUC Remote Motion Interface (RMI, option R912) packets: builders, framing and error codes.

Pure data, no sockets of its own: the client and the simulated controller both speak through this
module, so the two cannot drift apart. :func:`read_packets` is their one loop that reads packets from
a socket the caller opened.

Wire format (manual B-84184EN): every packet is one ASCII JSON object followed by ``\\r\\n``; its
first key is ``Communication``, ``Command`` or ``Instruction``. Units on the wire are millimetres and
degrees; orientations are W, P, R (rotations about the fixed X, Y, Z axes).
"""
from __future__ import annotations

import json
import logging
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

logger = logging.getLogger(__name__)

DEFAULT_CONNECT_PORT = 16001
PACKET_TERMINATOR = b"\r\n"
# A line longer than this is not an RMI packet; refuse it instead of buffering without bound.
MAX_PACKET_BYTES = 64 * 1024
# The controller keeps at most this many instructions unacknowledged; a ninth is refused.
MAX_INSTRUCTIONS_IN_FLIGHT = 8

COMMUNICATION = "Communication"
COMMAND = "Command"
INSTRUCTION = "Instruction"
PACKET_KINDS = (COMMUNICATION, COMMAND, INSTRUCTION)

LINEAR_SPEED_TYPES = ("mmSec", "InchMin", "Time", "mSec")
TERM_TYPES = ("FINE", "CNT", "CR")

# ---------------------------------------------------------------------------------------------
# Error codes. RMIT-n is reported as ErrorID 2556928 + n; MEMO errors keep their own numbers.
# ---------------------------------------------------------------------------------------------
SUCCESS = 0
RMIT_BASE = 2556928


def rmit(n: int) -> int:
    """ErrorID of alarm RMIT-``n``."""
    return RMIT_BASE + n


RMIT_INTERNAL_ERROR = rmit(1)
RMIT_INVALID_UTOOL = rmit(2)
RMIT_INVALID_UFRAME = rmit(3)
RMIT_INVALID_OVERRIDE = rmit(5)
RMIT_SERVO_OFF = rmit(7)
RMIT_TP_ENABLED = rmit(8)
RMIT_NOT_RUNNING = rmit(9)
RMIT_NOT_PAUSED = rmit(10)
RMIT_INVALID_COMMAND = rmit(13)
RMIT_INVALID_CONTROLLER_STATE = rmit(15)
RMIT_INVALID_INSTRUCTION = rmit(20)
RMIT_INVALID_VALUE = rmit(21)
RMIT_INVALID_POSITION_DATA = rmit(23)
RMIT_HOLD = rmit(24)
RMIT_ALREADY_CONNECTED = rmit(26)
RMIT_BUFFER_FULL = rmit(28)
RMIT_INVALID_SEQUENCE_ID = rmit(29)
RMIT_INVALID_SPEED_TYPE = rmit(30)
RMIT_INVALID_SPEED_VALUE = rmit(31)
RMIT_INVALID_TERM_TYPE = rmit(32)
RMIT_INVALID_TERM_VALUE = rmit(33)
RMIT_INVALID_DESTINATION = rmit(36)
RMIT_INVALID_PORT_NUMBER = rmit(38)
RMIT_INVALID_GROUP = rmit(39)
RMIT_INVALID_GROUP_MASK = rmit(40)
MEMO_PROGRAM_IN_USE = 7004
MEMO_PROGRAM_EXISTS = 7015

# Alarm titles of the manual's ErrorID table (appendix A.1), by RMIT number.
_RMIT_TITLES = {
    1: "Internal system error",
    2: "Invalid UTool number",
    3: "Invalid UFrame number",
    4: "Invalid position register",
    5: "Invalid speed override",
    6: "Cannot execute TP program",
    7: "Controller servo is off",
    8: "Teach pendant is enabled",
    9: "RMI is not running",
    10: "TP program is not paused",
    11: "Cannot resume TP program",
    12: "Cannot reset controller",
    13: "Invalid RMI command",
    14: "RMI command failed",
    15: "Invalid controller state",
    16: "Please cycle power",
    17: "Invalid payload schedule",
    18: "Invalid motion option",
    19: "Invalid vision register",
    20: "Invalid RMI instruction",
    21: "Invalid value",
    22: "Invalid text string",
    23: "Invalid position data",
    24: "RMI is in HOLD state",
    25: "Remote device disconnected",
    26: "Robot is already connected",
    27: "Wait for command done",
    28: "Wait for instruction done (instruction buffer full)",
    29: "Invalid sequence ID number",
    30: "Invalid speed type",
    31: "Invalid speed value",
    32: "Invalid term type",
    33: "Invalid term value",
    34: "Invalid LCB port type",
    35: "Invalid ACC value",
    36: "Invalid destination position",
    37: "Invalid VIA position",
    38: "Invalid port number",
    39: "Invalid group number",
    40: "Invalid group mask",
    41: "Joint motion with COORD",
    42: "Incremental motion with COORD",
    43: "Robot in single step mode",
    44: "Invalid position data type",
    45: "Not ready for ASCII packet",
    46: "ASCII conversion failed",
    47: "Invalid ASCII instruction",
    48: "Invalid number of groups",
    49: "Invalid instruction packet",
    50: "Invalid ASCII packet",
    51: "Invalid ASCII string size",
    52: "Invalid application tool",
    53: "Invalid call program name",
    54: "Joint motion with ALIM",
    55: "ALIM option is not loaded",
    56: "Need to finish S-motion",
    57: "Spline option is not loaded",
}
_MEMO_TITLES = {
    MEMO_PROGRAM_IN_USE: ("MEMO-004", "Specified program is in use (RMI_MOVE)"),
    MEMO_PROGRAM_EXISTS: ("MEMO-015", "Program already exists (RMI_MOVE)"),
}
# What an operator should do about the errors a pick is likely to meet.
_HINTS = {
    RMIT_SERVO_OFF: "servo power is off: clear the alarm and reset the controller",
    RMIT_TP_ENABLED: "disable the teach pendant and switch to AUTO mode",
    RMIT_NOT_RUNNING: "RMI_MOVE is not running: send FRC_Initialize first",
    RMIT_HOLD: "RMI is in HOLD (a sequence gap or an error): FRC_Reset, then resynchronise IDs",
    RMIT_ALREADY_CONNECTED: "another RMI client holds the controller",
    RMIT_BUFFER_FULL: "more than 8 instructions unacknowledged",
    RMIT_INVALID_SEQUENCE_ID: "sequence IDs must be consecutive",
    RMIT_INVALID_DESTINATION: "the target is unreachable for the robot",
    MEMO_PROGRAM_IN_USE: "RMI_MOVE is running or selected: FRC_Abort before FRC_Initialize",
    MEMO_PROGRAM_EXISTS: "RMI_MOVE is selected on the pendant: select another program",
}


def error_code_name(error_id: int) -> str:
    """Alarm code of an ErrorID, e.g. ``"RMIT-036"``; ``"ErrorID <n>"`` when unknown."""
    n = error_id - RMIT_BASE
    if n in _RMIT_TITLES:
        return f"RMIT-{n:03d}"
    if error_id in _MEMO_TITLES:
        return _MEMO_TITLES[error_id][0]
    return f"ErrorID {error_id}"


def describe_error(error_id: int) -> str:
    """Readable text of an ErrorID, e.g. ``"RMIT-036 Invalid destination position (2556964): ..."``."""
    if error_id == SUCCESS:
        return "success"
    n = error_id - RMIT_BASE
    if n in _RMIT_TITLES:
        text = f"RMIT-{n:03d} {_RMIT_TITLES[n]} ({error_id})"
    elif error_id in _MEMO_TITLES:
        code, title = _MEMO_TITLES[error_id]
        text = f"{code} {title} ({error_id})"
    else:
        text = f"unknown controller error ({error_id})"
    hint = _HINTS.get(error_id)
    return f"{text}: {hint}" if hint else text


# ---------------------------------------------------------------------------------------------
# Positions
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Configuration:
    """Arm configuration and active frames of a Cartesian position (the packet's ``Configuration``)."""

    utool_number: int = 1
    uframe_number: int = 0
    front: int = 1
    up: int = 1
    left: int = 0
    flip: int = 0
    turn4: int = 0
    turn5: int = 0
    turn6: int = 0

    def to_packet(self) -> dict[str, int]:
        return {
            "UToolNumber": self.utool_number, "UFrameNumber": self.uframe_number,
            "Front": self.front, "Up": self.up, "Left": self.left, "Flip": self.flip,
            "Turn4": self.turn4, "Turn5": self.turn5, "Turn6": self.turn6,
        }

    @classmethod
    def from_packet(cls, d: dict[str, Any]) -> "Configuration":
        return cls(
            utool_number=int(d.get("UToolNumber", 1)), uframe_number=int(d.get("UFrameNumber", 0)),
            front=int(d.get("Front", 1)), up=int(d.get("Up", 1)), left=int(d.get("Left", 0)),
            flip=int(d.get("Flip", 0)), turn4=int(d.get("Turn4", 0)), turn5=int(d.get("Turn5", 0)),
            turn6=int(d.get("Turn6", 0)),
        )


@dataclass(frozen=True)
class Position:
    """Cartesian position in the active user frame: X, Y, Z in mm; W, P, R in degrees."""

    x: float
    y: float
    z: float
    w: float
    p: float
    r: float

    def to_packet(self) -> dict[str, float]:
        # Micrometres and 1e-4 degrees are far below the robot's repeatability.
        return {"X": round(float(self.x), 3), "Y": round(float(self.y), 3), "Z": round(float(self.z), 3),
                "W": round(float(self.w), 4), "P": round(float(self.p), 4), "R": round(float(self.r), 4)}

    @classmethod
    def from_packet(cls, d: dict[str, Any]) -> "Position":
        return cls(*(float(d[k]) for k in ("X", "Y", "Z", "W", "P", "R")))

    def distance_mm(self, other: "Position") -> float:
        return ((self.x - other.x) ** 2 + (self.y - other.y) ** 2 + (self.z - other.z) ** 2) ** 0.5


# ---------------------------------------------------------------------------------------------
# Packet builders (return dicts; the first key is the packet kind, as the manual requires)
# ---------------------------------------------------------------------------------------------
def connect_packet() -> dict:
    return {COMMUNICATION: "FRC_Connect"}


def disconnect_packet() -> dict:
    return {COMMUNICATION: "FRC_Disconnect"}


def get_status_packet() -> dict:
    return {COMMAND: "FRC_GetStatus"}


def initialize_packet(group_mask: int = 1) -> dict:
    return {COMMAND: "FRC_Initialize", "GroupMask": int(group_mask)}


def abort_packet() -> dict:
    return {COMMAND: "FRC_Abort"}


def pause_packet() -> dict:
    return {COMMAND: "FRC_Pause"}


def continue_packet() -> dict:
    return {COMMAND: "FRC_Continue"}


def reset_packet() -> dict:
    return {COMMAND: "FRC_Reset"}


def read_error_packet(count: int = 5) -> dict:
    return {COMMAND: "FRC_ReadError", "Count": int(count)}


def set_uframe_utool_packet(uframe: int, utool: int, group: int = 1) -> dict:
    return {COMMAND: "FRC_SetUFrameUTool", "UFrameNumber": int(uframe), "UToolNumber": int(utool),
            "Group": int(group)}


def set_override_packet(percent: int) -> dict:
    return {COMMAND: "FRC_SetOverRide", "Value": int(percent)}


def read_cartesian_position_packet(group: int = 1) -> dict:
    return {COMMAND: "FRC_ReadCartesianPosition", "Group": int(group)}


def read_joint_angles_packet(group: int = 1) -> dict:
    return {COMMAND: "FRC_ReadJointAngles", "Group": int(group)}


def get_uframe_utool_packet(group: int = 1) -> dict:
    return {COMMAND: "FRC_GetUFrameUTool", "Group": int(group)}


def read_din_packet(port: int) -> dict:
    return {COMMAND: "FRC_ReadDIN", "PortNumber": int(port)}


def write_dout_packet(port: int, on: bool) -> dict:
    return {COMMAND: "FRC_WriteDOUT", "PortNumber": int(port), "PortValue": "ON" if on else "OFF"}


def linear_motion_packet(sequence_id: int, configuration: Configuration, position: Position,
                         speed_mm_s: float, term_type: str = "FINE", term_value: int = 0) -> dict:
    """``FRC_LinearMotion`` at ``speed_mm_s`` (sent as an integer, at least 1 mm/s)."""
    if term_type not in TERM_TYPES:
        raise ValueError(f"term type {term_type!r} is not one of {TERM_TYPES}")
    if term_type == "CNT" and not 1 <= int(term_value) <= 100:
        raise ValueError(f"CNT term value {term_value} outside 1..100")
    speed = int(round(speed_mm_s))
    if speed < 1:
        raise ValueError(f"speed {speed_mm_s} mm/s rounds below 1 mm/s")
    return {
        INSTRUCTION: "FRC_LinearMotion",
        "SequenceID": int(sequence_id),
        "Configuration": configuration.to_packet(),
        "Position": position.to_packet(),
        "SpeedType": "mmSec",
        "Speed": speed,
        "TermType": term_type,
        "TermValue": int(term_value),
    }


def wait_time_packet(sequence_id: int, seconds: float) -> dict:
    return {INSTRUCTION: "FRC_WaitTime", "SequenceID": int(sequence_id), "Time": float(seconds)}


# ---------------------------------------------------------------------------------------------
# Framing
# ---------------------------------------------------------------------------------------------
class ProtocolError(ValueError):
    """Bytes on the wire that are not an RMI packet."""


def packet_kind(packet: dict) -> tuple[str, str]:
    """``(kind, name)`` of a packet, e.g. ``("Instruction", "FRC_LinearMotion")``."""
    for kind in PACKET_KINDS:
        if kind in packet:
            return kind, str(packet[kind])
    raise ProtocolError(f"packet has none of the keys {PACKET_KINDS}: {packet!r}")


def encode_packet(packet: dict) -> bytes:
    """One packet on the wire: compact ASCII JSON and ``\\r\\n``."""
    # allow_nan=False: NaN and Infinity are not JSON; a controller would get a line it cannot parse
    return json.dumps(packet, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii") + PACKET_TERMINATOR


def decode_packet(line: bytes) -> dict:
    """Parse one line (without its terminator) into a packet dict."""
    try:
        packet = json.loads(line.decode("ascii"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"not a JSON packet: {line[:200]!r}") from exc
    if not isinstance(packet, dict):
        raise ProtocolError(f"packet is not a JSON object: {line[:200]!r}")
    return packet


class PacketReader:
    """Splits a TCP byte stream into packets at ``\\r\\n`` (a packet may arrive in pieces).

    A malformed line is dropped with a warning and counted in ``malformed_count``: one bad packet
    must not stall the stream (a reply that never parses ends in its caller's timeout).
    """

    def __init__(self, on_malformed=None) -> None:
        self._buffer = bytearray()
        self.malformed_count = 0
        self._on_malformed = on_malformed     # (line, error), for a peer that answers bad lines

    def feed(self, data: bytes) -> list[dict]:
        """Packets completed by ``data``, in order."""
        self._buffer += data
        packets: list[dict] = []
        while True:
            end = self._buffer.find(PACKET_TERMINATOR)
            if end < 0:
                if len(self._buffer) > MAX_PACKET_BYTES:
                    logger.warning("dropping %d bytes without a packet terminator", len(self._buffer))
                    self._buffer.clear()
                    self.malformed_count += 1
                return packets
            line = bytes(self._buffer[:end]).strip()
            del self._buffer[:end + len(PACKET_TERMINATOR)]
            if not line:
                continue
            try:
                packets.append(decode_packet(line))
            except ProtocolError as exc:
                self.malformed_count += 1
                logger.warning("dropping malformed packet: %s", exc)
                if self._on_malformed is not None:
                    self._on_malformed(line, exc)


# ---------------------------------------------------------------------------------------------
# Reading packets from a socket
# ---------------------------------------------------------------------------------------------
RECV_BYTES = 4096
ON_TIMEOUT = ("retry", "end", "raise")
ON_ERROR = ("end", "raise")


def read_packets(sock: socket.socket, reader: PacketReader, *,
                 keep_reading: Optional[Callable[[], bool]] = None, deadline: Optional[float] = None,
                 on_timeout: str = "retry", on_error: str = "end") -> Iterator[dict]:
    """The packets arriving on ``sock``, in order: ``recv()`` the bytes, feed them to ``reader``
    (which owns the framing and the malformed lines) and yield each packet it completes.

    The caller handles each packet, and may stop at any one (e.g. after the reply it waited for).
    Before every ``recv()``:

    * ``keep_reading()`` (None: always true) is asked; false ends the packets;
    * with a ``deadline`` (``time.monotonic()`` seconds), the socket's timeout is set to the time
      left (at least 10 ms): a ``recv()`` after the deadline still runs, and times out at once.

    A ``recv()`` that times out: ``on_timeout`` ``"retry"`` (an idle session: read again, as the
    socket's timeout only bounds the wait for the stop checks), ``"end"``, or ``"raise"`` (the
    ``socket.timeout``). Any other ``OSError``: ``on_error`` ``"end"`` or ``"raise"``. The packets
    end too when the peer closes the connection (``recv()`` returns nothing).
    """
    if on_timeout not in ON_TIMEOUT:
        raise ValueError(f"on_timeout {on_timeout!r} is not one of {ON_TIMEOUT}")
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error {on_error!r} is not one of {ON_ERROR}")
    return _read_packets(sock, reader, keep_reading, deadline, on_timeout, on_error)


def _read_packets(sock: socket.socket, reader: PacketReader, keep_reading: Optional[Callable[[], bool]],
                  deadline: Optional[float], on_timeout: str, on_error: str) -> Iterator[dict]:
    while keep_reading is None or keep_reading():
        if deadline is not None:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(RECV_BYTES)
        except socket.timeout:
            if on_timeout == "retry":
                continue
            if on_timeout == "end":
                return
            raise
        except OSError:
            if on_error == "end":
                return
            raise
        if not chunk:
            return
        yield from reader.feed(chunk)

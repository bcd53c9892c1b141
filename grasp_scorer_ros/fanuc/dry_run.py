"""The dry run: a stand-in for the controller in the client's own process, so that nothing is sent.

An :class:`~grasp_scorer_ros.fanuc.rmi_client.RMIClient` made with ``dry_run=True`` opens no socket:
it hands every packet to a :class:`DryRunController`, which logs it (INFO), keeps it
(:attr:`DryRunController.packets`) and answers at once as a healthy, idle controller would. Every
request succeeds, an instruction is acknowledged as soon as it is sent (motion takes no time) and
``FRC_ReadCartesianPosition`` returns the last target.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Optional

from grasp_scorer_ros.fanuc import rmi_protocol as rmi
from grasp_scorer_ros.fanuc.rmi_protocol import Configuration, Position

logger = logging.getLogger(__name__)


class DryRunController:
    """Answers an RMI client's packets in-process, as a healthy, idle controller would."""

    def __init__(self, position: Position = Position(0.0, 0.0, 0.0, 180.0, 0.0, 0.0)):
        self._lock = threading.Lock()
        self._packets: list[dict] = []
        self.position = position            # where the arm "is": the last target
        self.configuration = Configuration()
        self.initialized = False            # RMI_MOVE running (FRC_Initialize, until FRC_Abort)
        self.next_sequence_id = 1
        self.override = 100

    @property
    def packets(self) -> list[dict]:
        """Every packet the client would have sent, in order."""
        with self._lock:
            return list(self._packets)

    def open(self) -> None:
        """A session starts (``FRC_Connect``); returns no socket, for there is none."""
        packet = rmi.connect_packet()
        self.send(packet, rmi.encode_packet(packet))
        with self._lock:
            self.next_sequence_id = 1
        logger.info("dry-run session opened (no socket)")

    def send(self, packet: dict, data: bytes) -> Optional[dict]:
        """Log and keep ``packet`` (``data`` is its encoding); return the controller's reply at once,
        or None where it gives none (``FRC_Connect`` is answered by the session's start)."""
        logger.info("dry-run, not sent: %s", data.decode("ascii").rstrip())
        with self._lock:
            self._packets.append(packet)
            return self._reply(packet)

    def _reply(self, packet: dict) -> Optional[dict]:
        kind, name = rmi.packet_kind(packet)
        if kind == rmi.COMMUNICATION:
            return {kind: name, "ErrorID": 0} if name == "FRC_Disconnect" else None
        if kind == rmi.INSTRUCTION:
            if name == "FRC_LinearMotion":
                self.position = Position.from_packet(packet["Position"])
            self.next_sequence_id = packet["SequenceID"] + 1
            return {kind: name, "ErrorID": 0, "SequenceID": packet["SequenceID"]}
        reply: dict[str, Any] = {kind: name, "ErrorID": 0}
        if name == "FRC_Initialize":
            self.initialized = True
            self.next_sequence_id = 1
        elif name == "FRC_Abort":
            self.initialized = False
        elif name == "FRC_SetOverRide":
            self.override = int(packet["Value"])
        elif name == "FRC_SetUFrameUTool":
            c = self.configuration
            self.configuration = Configuration(
                packet["UToolNumber"], packet["UFrameNumber"], c.front, c.up, c.left, c.flip,
                c.turn4, c.turn5, c.turn6)
        elif name == "FRC_GetStatus":
            reply.update(ServoReady=1, TPMode=0, RMIMotionStatus=int(self.initialized),
                         ProgramStatus=0, SingleStepMode=0, NumberUTool=10, NumberUFrame=9,
                         NextSequenceID=self.next_sequence_id, Override=self.override)
        elif name == "FRC_ReadCartesianPosition":
            reply.update(Configuration=self.configuration.to_packet(),
                         Position=self.position.to_packet(), Group=packet.get("Group", 1),
                         TimeTag=0)
        return reply

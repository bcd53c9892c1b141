"""The simulated controller's TCP side: the connect port, the hand-off port and the one session.

:class:`RMIServer` knows sockets and sessions, not what a packet asks for: every packet of a
session goes to its owner's ``handle_packet`` (:class:`~.sim_controller.SimulatedController`, the
RMI program), which answers through :meth:`RMIServer.send`. As the manual (B-84184EN) describes:

* ``FRC_Connect`` on the connect port is answered with the hand-off port, then that socket is
  closed; the session lives on the hand-off port, which takes one connection, from the address that
  sent ``FRC_Connect``, within a few seconds (:data:`GRANT_VALID_S`); one client at a time
  (RMIT-026 otherwise).
* a line that is not JSON is answered as an unknown command (RMIT-013), rather than left to time
  out.
* when the session ends (the client leaves, the connection drops, the controller stops), the
  owner's ``session_ended`` runs (a real controller stops RMI_MOVE then).

Knob for failure tests: ``stop_answering`` (packets are read, never answered). Logs for assertions:
``received_packets``, ``sent_packets``, ``sessions_opened``.

Thread-safety: the session, the pending hand-off grant and the logs are guarded by the owner's
lock (shared with the owner's program state, so that ending a session and stopping the program are
one step); writes to a socket are serialised by a lock of their own.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any, Callable, Optional

from grasp_scorer_ros.fanuc import rmi_protocol as rmi

logger = logging.getLogger(__name__)

POLL_S = 0.05                       # how often blocking loops look at the stop flag
GRANT_VALID_S = 5.0                 # how long the hand-off port waits after FRC_Connect
CONNECT_PORT_TIMEOUT_S = 1.0        # how long the connect port waits for FRC_Connect


class RMIServer:
    """The RMI listening sockets on ``host`` (connect port ``port``, session port ``handoff_port``,
    0: any free one) and the session.

    ``lock``: the owner's lock, held around the session state and the logs; ``handle_packet(conn,
    packet)``: called for every packet of the session (on the session's thread); ``session_ended()``:
    called with ``lock`` held when a session closes."""

    def __init__(self, host: str, port: int, handoff_port: int, lock: threading.RLock,
                 handle_packet: Callable[[socket.socket, dict], None],
                 session_ended: Callable[[], None]):
        self.host = host
        self._requested_ports = (int(port), int(handoff_port))
        self._lock = lock
        self._handle_packet = handle_packet
        self._session_ended = session_ended

        self.stop_answering = False
        self.stopping = threading.Event()       # set by the owner: every loop ends
        self._send_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._listeners: list[socket.socket] = []
        self._session: Optional[socket.socket] = None
        self._grant: Optional[tuple[str, float]] = None    # FRC_Connect answered: (address, deadline)

        self.port = 0
        self.handoff_port = 0
        self.received_packets: list[dict] = []
        self.sent_packets: list[dict] = []
        self.sessions_opened = 0

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Listen on both ports and accept connections (threads ``sim-connect``, ``sim-handoff``)."""
        connect_listener = self._listen(self._requested_ports[0])
        handoff_listener = self._listen(self._requested_ports[1])
        self.port = connect_listener.getsockname()[1]
        self.handoff_port = handoff_listener.getsockname()[1]
        self.spawn(self._accept_loop, connect_listener, self._serve_connect_port, name="sim-connect")
        self.spawn(self._accept_loop, handoff_listener, self._open_session, name="sim-handoff")

    def spawn(self, target: Callable, *args: Any, name: str) -> None:
        """Run ``target(*args)`` on a daemon thread that :meth:`join_threads` waits for."""
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def close_listeners(self) -> None:
        for listener in self._listeners:
            listener.close()

    def join_threads(self, deadline: float) -> None:
        """Wait for every thread of :meth:`spawn` (but the calling one) until ``deadline``
        (``time.monotonic()``)."""
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, port))
        listener.listen(4)
        listener.settimeout(POLL_S)
        self._listeners.append(listener)
        return listener

    def _accept_loop(self, listener: socket.socket, handle: Callable[[socket.socket, str], None]) -> None:
        while not self.stopping.is_set():
            try:
                conn, address = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            handle(conn, address[0])

    @property
    def connected(self) -> bool:
        return self._session is not None

    # -- connect port ----------------------------------------------------------------------------
    def _serve_connect_port(self, conn: socket.socket, address: str) -> None:
        """Answer one ``FRC_Connect`` and close the socket (the controller's connect handshake)."""
        with conn:
            conn.settimeout(CONNECT_PORT_TIMEOUT_S)
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
                    self._grant = (address, time.monotonic() + GRANT_VALID_S)
            reply = {rmi.COMMUNICATION: "FRC_Connect",
                     "ErrorID": rmi.RMIT_ALREADY_CONNECTED if busy else 0,
                     "PortNumber": 0 if busy else self.handoff_port,
                     "MajorVersion": 1, "MinorVersion": 0}
            try:
                self._write(conn, reply)
            except OSError as exc:
                logger.warning("connect port: reply failed (%s)", exc)

    def _read_one(self, conn: socket.socket) -> Optional[dict]:
        """The first packet on the connect port, or None (nothing within a second, closed, stopping)."""
        deadline = time.monotonic() + CONNECT_PORT_TIMEOUT_S
        for packet in rmi.read_packets(
                conn, rmi.PacketReader(),
                keep_reading=lambda: time.monotonic() < deadline and not self.stopping.is_set(),
                on_timeout="end", on_error="end"):
            logger.debug("<- %s", packet)
            return packet
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
        conn.settimeout(POLL_S)
        self.spawn(self._session_loop, conn, name="sim-session")

    def _session_loop(self, conn: socket.socket) -> None:
        # a line that is not JSON is answered, as an unknown command, rather than left to time out
        reader = rmi.PacketReader(on_malformed=lambda line, error: self.send(
            {rmi.COMMAND: "Unknown", "ErrorID": rmi.RMIT_INVALID_COMMAND}, conn))
        # an idle session reads again (the timeout only paces the stop checks); an error ends it
        for packet in rmi.read_packets(
                conn, reader, keep_reading=lambda: not self.stopping.is_set() and self._session is conn,
                on_timeout="retry", on_error="end"):
            logger.debug("<- %s", packet)
            with self._lock:
                self.received_packets.append(packet)
            self._handle_packet(conn, packet)
        if self._session is conn:
            self.end_session("the client closed the connection")

    def end_session(self, reason: str) -> None:
        """Close the session (if any); the owner's ``session_ended`` runs first, under its lock."""
        with self._lock:
            conn, self._session = self._session, None
            if conn is None:
                return
            self._session_ended()
        logger.info("session ended: %s", reason)
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.close()

    def send(self, packet: dict, conn: Optional[socket.socket] = None) -> None:
        """Reply on the session (nothing when ``stop_answering``, or when ``conn`` is no longer the
        session); a failed write ends the session."""
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
            self.end_session("send failed")

    def _write(self, conn: socket.socket, packet: dict) -> None:
        with self._send_lock:
            conn.sendall(rmi.encode_packet(packet))
        logger.debug("-> %s", packet)
        with self._lock:
            self.sent_packets.append(packet)

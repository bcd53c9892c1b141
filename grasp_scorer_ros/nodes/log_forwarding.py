"""Python ``logging`` of the ROS-free core (e.g. every RMI packet) into a node's rclpy logger.

Once the node's context is shut down (Ctrl-C), rclpy's logger can no longer publish to ``/rosout``
and rcl complains ("publisher's context is invalid"); the core's last words (a closed session, a
stopped pick) then go to stderr directly.
"""
from __future__ import annotations

import logging
import sys

from rclpy.logging import LoggingSeverity


class RclpyLogHandler(logging.Handler):
    """Forwards Python ``logging`` records to an rclpy logger, level for level."""

    def __init__(self, ros_logger, context=None):
        super().__init__()
        self._ros_logger = ros_logger
        self._context = context

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if self._context is not None and not self._context.ok():
                print(f"[{record.levelname}] [{self._ros_logger.name}]: {message}", file=sys.stderr, flush=True)
            elif record.levelno >= logging.ERROR:
                self._ros_logger.error(message)
            elif record.levelno >= logging.WARNING:
                self._ros_logger.warning(message)
            elif record.levelno >= logging.INFO:
                self._ros_logger.info(message)
            else:
                self._ros_logger.debug(message)
        except Exception:  # logging must never break the caller
            self.handleError(record)


class LogForwarding:
    """Routes ``logger_name``'s records to ``node``'s logger, at the node's level, until ``stop()``."""

    def __init__(self, logger_name: str, node):
        self._logger = logging.getLogger(logger_name)
        self._handler = RclpyLogHandler(node.get_logger(), node.context)
        self._previous_level = self._logger.level
        debug = node.get_logger().get_effective_level() <= LoggingSeverity.DEBUG
        self._logger.setLevel(logging.DEBUG if debug else logging.INFO)
        self._logger.addHandler(self._handler)
        self._active = True

    def stop(self) -> None:
        if self._active:
            self._logger.removeHandler(self._handler)
            self._logger.setLevel(self._previous_level)
            self._active = False


def stop_log_forwarding(node) -> None:
    """Stop ``node._log_forwarding`` if it was started (a constructor may have failed before)."""
    forwarding = getattr(node, "_log_forwarding", None)
    if forwarding is not None:
        forwarding.stop()

"""The standard main() of every node: init, spin, clean shutdown, clear start-up errors."""
from __future__ import annotations

import sys

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

# Start-up problems that are the user's to fix (missing or corrupt files, bad parameters): one
# clear line and exit code 2 instead of a traceback.
# CalibrationError and RotationError are ValueErrors.
STARTUP_ERRORS = (FileNotFoundError, ValueError)


def run_node(node_class, args=None, executor_factory=None) -> int:
    """Run ``node_class()`` until shut down; ``executor_factory`` (called after rclpy.init)
    makes the executor, a single-threaded one by default."""
    rclpy.init(args=args)
    node = None
    executor = None
    try:
        try:
            node = node_class()
        except STARTUP_ERRORS as error:
            print(f"{node_class.__name__}: cannot start: {error}", file=sys.stderr)
            return 2
        executor = executor_factory() if executor_factory else SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if executor is not None:
            executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0

"""Ctrl-C for a node process: one clean stop, however many SIGINTs arrive.

A terminal's Ctrl-C reaches every process of its group, and ``ros2 launch`` forwards one more to each
child: a node gets SIGINT two or more times. With Python's default handler each one raises
``KeyboardInterrupt`` wherever the main thread happens to be, so the second one lands in the clean-up
(joining a thread, closing a socket) and ends the process with a traceback and exit code -2.

:func:`run_until_ctrl_c` installs, before ``rclpy.init``, a SIGINT handler that raises
``KeyboardInterrupt`` only while rclpy's own handler is not installed (start-up, so that Ctrl-C still
stops it) and only once; once rclpy is initialised, its handler shuts the context down, which ends
the executor's spin, and the node's clean-up runs undisturbed. It also absorbs the ``RCLError``
that rclpy raises when that shutdown lands between the executor's own checks. Once the node is
done, SIGINT is ignored: at exit Python puts back the default action of a signal it handled, and a
late SIGINT would kill the process (exit code -2) after its clean shutdown.
"""
from __future__ import annotations

import signal
from typing import Callable

import rclpy
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.signals import SignalHandlerOptions, get_current_signal_handlers_options


class _SigintOnce:
    def __init__(self) -> None:
        self.handled = False

    def __call__(self, signum, frame) -> None:
        if self.handled:
            return
        self.handled = True
        if get_current_signal_handlers_options() == SignalHandlerOptions.NO:
            raise KeyboardInterrupt      # rclpy is not listening yet: stop the start-up
        # rclpy's handler (which called this one) is shutting the context down: spin ends.


def run_until_ctrl_c(run: Callable[[], int]) -> int:
    """``run()`` (a node's :func:`~grasp_scorer_ros.nodes.runner.run_node`) with the SIGINT
    handling of the module docstring; its exit code, 0 after Ctrl-C."""
    signal.signal(signal.SIGINT, _SigintOnce())
    try:
        return run()
    except _rclpy.RCLError:
        if rclpy.ok():
            raise
        return 0        # the context was shut down under the executor; run_node has cleaned up
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

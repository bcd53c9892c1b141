"""The standard main() of every node: init, spin, clean shutdown, clear start-up errors.

Stopping (Ctrl-C in a terminal, ``ros2 launch`` shutting down, ``kill``): SIGINT and SIGTERM only
ask the node to stop. The spin loop notices within :data:`POLL_S`, then the executor and the node
are shut down while the ROS context is still valid, so that threads that publish or log on their
way out (inference workers, status publishers) never meet an invalid context, and only then is the
context shut down. Further signals during that clean-up (a terminal's Ctrl-C reaches every process
of the group and ``ros2 launch`` forwards another SIGINT) are ignored, so no ``KeyboardInterrupt``
can interrupt ``executor.shutdown()``, ``destroy_node()`` or a thread join half-way. Exit code 0.

rclpy's own signal handlers are therefore not installed (``SignalHandlerOptions.NO``): they shut
the context down from inside the signal, before the node has stopped its threads.

Once all is cleaned up, the process ends at once (``exit_process``): the atexit handlers run and
the streams are flushed, but the interpreter's teardown is skipped, which takes 1 to 2 s more in a
process that has run a torch model.
"""
from __future__ import annotations

import atexit
import ctypes
import os
import signal
import sys
import threading

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

# Start-up problems that are the user's to fix (missing or corrupt files, bad parameters): one
# clear line and exit code 2 instead of a traceback.
# CalibrationError and RotationError are ValueErrors.
STARTUP_ERRORS = (FileNotFoundError, ValueError, ImportError)   # ImportError: an optional engine not installed
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
POLL_S = 0.1  # longest time between a stop signal and the start of the clean-up


class StopRequest:
    """Records SIGINT/SIGTERM instead of raising.

    Handlers can only be installed from the main thread; elsewhere (a node run from a test's
    thread) this does nothing and the caller stops the node through its context."""

    def __init__(self):
        self.signal_name: str | None = None
        self._event = threading.Event()
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            for number in STOP_SIGNALS:
                self._previous[number] = signal.signal(number, self._on_signal)

    def _on_signal(self, number, _frame) -> None:
        if self.signal_name is None:
            self.signal_name = signal.Signals(number).name
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def ignore_from_now_on(self) -> None:
        for number in self._previous:
            signal.signal(number, signal.SIG_IGN)

    def restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}


def run_node(node_class, args=None, executor_factory=None, exit_process: bool = True) -> int:
    """Run ``node_class()`` until a stop signal or an external shutdown of rclpy.

    ``executor_factory`` (called after rclpy.init) makes the executor, a single-threaded one by
    default. The exit code is 0 after a stop, 2 when the node cannot start; with ``exit_process``
    (a process's main()) the process ends with it here, else it is returned."""
    if wants_help(sys.argv[1:] if args is None else args):
        print(node_help(node_class), flush=True)
        code = 0
        if exit_process:
            _exit(code)
        return code
    stop = StopRequest()
    code = _run(node_class, args, executor_factory, stop)
    if exit_process:
        # Whatever arrives now is ignored: the default handlers would kill the process with -2.
        stop.ignore_from_now_on()
        _exit(code)
    stop.restore()
    return code


def wants_help(args) -> bool:
    """``-h`` or ``--help`` before any ``--ros-args``."""
    args = list(args)
    ours = args[:args.index("--ros-args")] if "--ros-args" in args else args
    return "-h" in ours or "--help" in ours


def node_help(node_class) -> str:
    """Usage, the node's docstring and its parameters (the module's spec) with defaults and descriptions."""
    module = sys.modules.get(node_class.__module__)
    spec_function = getattr(module, "all_parameters", None)
    spec = spec_function() if callable(spec_function) else getattr(module, "PARAMETERS", {})
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] not in ("", "-c", "-m") else node_class.__name__
    lines = [f"usage: {prog} [-h] [--ros-args [-p NAME:=VALUE ...] [--params-file FILE] [-r FROM:=TO ...]]", ""]
    doc = (module.__doc__ or "").strip().split("\n\n")[0] if module is not None else ""
    if doc:
        lines += [" ".join(doc.split()), ""]
    if spec:
        lines.append("parameters (-p NAME:=VALUE):")
        for name, (default, description, *value_range) in spec.items():
            within = f", {value_range[0][0]} to {value_range[0][1]}" if value_range else ""
            lines.append(f"  {name} (default {default!r}{within})")
            lines.append(f"      {description}")
    return "\n".join(lines)


def _exit(code: int) -> None:
    """End the process now, as sys.exit would, less the interpreter's teardown."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    try:
        ctypes.CDLL(None).fflush(None)   # C stdio buffers (rcutils console logging)
    except (OSError, AttributeError):
        pass
    os._exit(code)


def _run(node_class, args, executor_factory, stop: StopRequest) -> int:
    node = None
    executor = None
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        context = rclpy.get_default_context()
        try:
            node = node_class()
        except STARTUP_ERRORS as error:
            print(f"{node_class.__name__}: cannot start: {error}", file=sys.stderr, flush=True)
            return 2
        executor = executor_factory() if executor_factory else SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.requested and context.ok():
            executor.spin_once(timeout_sec=POLL_S)
        if stop.requested:
            node.get_logger().info(f"{stop.signal_name}: shutting down")
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # The clean-up runs to its end whatever signals arrive now: the handlers only record them.
        if executor is not None:
            executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0

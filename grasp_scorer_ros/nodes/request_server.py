"""A service served on a helper node with an executor and a thread of its own.

A ``grasp/detect`` request waits in its callback for a frame that has not been taken yet; on the
node's own single-threaded executor that would hold up the frames it waits for. A
MultiThreadedExecutor for the whole node instead cost frames: at 10 Hz it received 131 of 203,
against all 203 this way (benchmarks/benchmark.py's system run, 20 s).
"""
from __future__ import annotations

import threading
from typing import Callable

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node


class RequestServer:
    def __init__(self, node: Node, service_type: type, name: str, callback: Callable):
        self._node = rclpy.create_node(f"{node.get_name()}_requests", namespace=node.get_namespace(),
                                       context=node.context, use_global_arguments=False,
                                       start_parameter_services=False)
        self._node.create_service(service_type, node.resolve_service_name(name), callback)
        self._executor = SingleThreadedExecutor(context=node.context)
        self._executor.add_node(self._node)
        self._running = True
        self._thread = threading.Thread(target=self._spin, name=f"{node.get_name()}_requests", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self._running and self._node.context.ok():
            try:
                self._executor.spin_once(timeout_sec=0.1)
            except Exception:   # the context or the executor is shutting down
                return

    def stop(self) -> None:
        self._running = False
        self._thread.join(timeout=2.0)
        self._executor.shutdown()
        self._node.destroy_node()

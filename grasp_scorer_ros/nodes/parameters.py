"""The one idiom for a node's parameters: a spec ``{name: (default, description[, (low, high)])}``
next to the node's code, declared by :func:`declare_parameters`.

The default also sets the parameter's type; the description, and the range where one is given, are
what ``ros2 param describe`` shows (rclpy refuses a value outside the range, at start-up and later).
``config/*.yaml`` set the values for the launch file.
"""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import ParameterException
from rclpy.node import Node

ParameterSpec = dict[str, tuple]   # name: (default, description) or (default, description, (low, high))


def descriptor(default: Any, description: str, value_range: tuple | None = None,
               read_only: bool = False) -> ParameterDescriptor:
    """The descriptor of one spec entry: its description, its range for a number, and whether it is
    read-only (rclpy then refuses any change after start-up, with its own reason)."""
    result = ParameterDescriptor(description=description, read_only=read_only)
    if value_range is not None:
        low, high = value_range
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            raise TypeError(f"a range needs a numeric default, got {default!r}")
        if isinstance(default, int):
            result.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=0)]
        else:
            result.floating_point_range = [FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]
    return result


def declare_parameters(node: Node, spec: ParameterSpec, live: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Declare every parameter of ``spec`` on ``node``; return their values, by name. With ``live``,
    every other parameter is declared read-only: set at start-up (a parameter file, ``-p``) and
    refused by rclpy afterwards.

    A value of the wrong type (from a parameter file or ``-p``) raises ``ValueError`` naming the
    parameter: a start-up error that :func:`~grasp_scorer_ros.nodes.runner.run_node` reports in one
    line.
    """
    try:
        for name, (default, description, *value_range) in spec.items():
            read_only = live is not None and name not in live
            node.declare_parameter(name, default, descriptor(default, description, *value_range, read_only=read_only))
    except ParameterException as error:
        raise ValueError(f"parameter {error}") from None
    return {name: node.get_parameter(name).value for name in spec}

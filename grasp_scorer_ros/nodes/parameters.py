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


def descriptor(default: Any, description: str, value_range: tuple | None = None) -> ParameterDescriptor:
    """The descriptor of one spec entry: its description, and its range for a number."""
    result = ParameterDescriptor(description=description)
    if value_range is not None:
        low, high = value_range
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            raise TypeError(f"a range needs a numeric default, got {default!r}")
        if isinstance(default, int):
            result.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=0)]
        else:
            result.floating_point_range = [FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]
    return result


def declare_parameters(node: Node, spec: ParameterSpec) -> dict[str, Any]:
    """Declare every parameter of ``spec`` on ``node``; return their values, by name.

    A value of the wrong type (from a parameter file or ``-p``) raises ``ValueError`` naming the
    parameter: a start-up error that :func:`~grasp_scorer_ros.nodes.runner.run_node` reports in one
    line.
    """
    try:
        for name, (default, *rest) in spec.items():
            node.declare_parameter(name, default, descriptor(default, *rest))
    except ParameterException as error:
        raise ValueError(f"parameter {error}") from None
    return {name: node.get_parameter(name).value for name in spec}

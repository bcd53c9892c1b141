"""The one idiom for a node's parameters: a spec ``{name: (default, description)}`` next to the node's
code, declared by :func:`declare_parameters`.

The default also sets the parameter's type; the description is what ``ros2 param describe`` shows.
``config/*.yaml`` set the values for the launch file.
"""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import ParameterException
from rclpy.node import Node

ParameterSpec = dict[str, tuple[Any, str]]


def declare_parameters(node: Node, spec: ParameterSpec) -> dict[str, Any]:
    """Declare every parameter of ``spec`` on ``node``; return their values, by name.

    A value of the wrong type (from a parameter file or ``-p``) raises ``ValueError`` naming the
    parameter: a start-up error that :func:`~grasp_scorer_ros.nodes.runner.run_node` reports in one
    line.
    """
    try:
        for name, (default, description) in spec.items():
            node.declare_parameter(name, default, ParameterDescriptor(description=description))
    except ParameterException as error:
        raise ValueError(f"parameter {error}") from None
    return {name: node.get_parameter(name).value for name in spec}

"""The one helper that declares a node's parameters from its spec."""
import pytest

SPEC = {
    "rate": (2.0, "Frames per second"),
    "names": (["a", "b"], "Some names"),
    "loop": (True, "Start again"),
}


def test_declares_every_parameter_with_its_description(ros):
    import rclpy
    from rclpy.parameter import Parameter

    from grasp_scorer_ros.nodes.parameters import declare_parameters

    node = rclpy.create_node("spec_test", context=ros, parameter_overrides=[Parameter("rate", value=5.0)])
    try:
        values = declare_parameters(node, SPEC)
        assert values == {"rate": 5.0, "names": ["a", "b"], "loop": True}
        descriptors = node.describe_parameters(list(SPEC))
        assert [d.description for d in descriptors] == [description for _, description in SPEC.values()]
    finally:
        node.destroy_node()


def test_a_value_of_the_wrong_type_is_a_start_up_error(ros):
    import rclpy
    from rclpy.parameter import Parameter

    from grasp_scorer_ros.nodes.parameters import declare_parameters

    node = rclpy.create_node("spec_test", context=ros, parameter_overrides=[Parameter("rate", value="fast")])
    try:
        with pytest.raises(ValueError, match="rate"):
            declare_parameters(node, SPEC)
    finally:
        node.destroy_node()


def test_a_range_is_declared_and_enforced_from_the_start(ros):
    import rclpy
    from rclpy.parameter import Parameter

    from grasp_scorer_ros.nodes.parameters import declare_parameters

    spec = {"threshold": (0.5, "Score threshold", (0.0, 1.0)), "count": (5, "How many", (1, 100))}
    node = rclpy.create_node("range_test", context=ros)
    try:
        declare_parameters(node, spec)
        threshold, count = node.describe_parameters(["threshold", "count"])
        assert threshold.floating_point_range[0].to_value == 1.0 and count.integer_range[0].from_value == 1
        assert not node.set_parameters([Parameter("count", value=0)])[0].successful
        assert node.set_parameters([Parameter("count", value=100)])[0].successful
    finally:
        node.destroy_node()
    node = rclpy.create_node("range_test", context=ros, parameter_overrides=[Parameter("threshold", value=1.5)])
    try:
        with pytest.raises(ValueError, match="threshold"):
            declare_parameters(node, spec)
    finally:
        node.destroy_node()

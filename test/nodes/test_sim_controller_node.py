"""The simulated controller as a ROS node (nodes/sim_controller_node.py): it serves RMI, stops on destroy,
and publishes the arm's joint states and tool pose."""
import socket

import pytest

from ros_helpers import spin_until


def test_sim_controller_node_serves_rmi_and_stops_on_destroy(ros):
    from rclpy.parameter import Parameter
    from grasp_scorer_ros.fanuc.rmi_client import RMIClient
    from grasp_scorer_ros.nodes.sim_controller_node import SimControllerNode

    node = SimControllerNode(context=ros, parameter_overrides=[
        Parameter("port", value=0), Parameter("speed_scale", value=0.5), Parameter("floor_z_mm", value=10.0)])
    sim = node.sim
    try:
        assert sim.speed_scale == 0.5 and sim.floor_z_mm == 10.0 and sim.port > 0 and sim.handoff_port > 0
        client = RMIClient("127.0.0.1", sim.port, timeout=1.0)
        client.connect()
        assert client.get_status().servo_ready
        client.close()
    finally:
        node.destroy_node()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", sim.port), timeout=0.5).close()


def test_sim_controller_node_publishes_joint_states_and_the_tool_pose(ros):
    """So that RViz shows the simulated arm: joint_states (radians, FANUC's joint names) and the TCP,
    both following a move made over RMI."""
    import math
    from geometry_msgs.msg import PoseStamped
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import JointState
    from grasp_scorer_ros.fanuc.rmi_client import RMIClient
    from grasp_scorer_ros.fanuc.rmi_protocol import Position
    from grasp_scorer_ros.nodes.sim_controller_node import JOINT_NAMES, SimControllerNode

    node = SimControllerNode(context=ros, parameter_overrides=[Parameter("port", value=0),
                                                               Parameter("state_period", value=0.05)])
    listener = Node("arm_watcher", context=ros)
    joints, poses = [], []
    listener.create_subscription(JointState, "/joint_states", joints.append, 10)
    listener.create_subscription(PoseStamped, "/fanuc_sim_controller/tool_pose", poses.append, 10)
    executor = SingleThreadedExecutor(context=ros)
    executor.add_node(node)
    executor.add_node(listener)
    client = RMIClient("127.0.0.1", node.sim.port, timeout=2.0)
    try:
        assert spin_until(executor, lambda: joints and poses, timeout=10)
        assert tuple(joints[-1].name) == JOINT_NAMES
        assert list(joints[-1].position) == pytest.approx([math.radians(a) for a in node.sim.joint_angles], abs=1e-6)
        start = poses[-1].pose.position
        assert (start.x, start.y, start.z) == pytest.approx((0.5, 0.0, 0.4), abs=1e-6)
        assert poses[-1].header.frame_id == "base_link"
        client.connect()
        client.initialize()
        configuration, _ = client.read_cartesian_position()
        client.linear_motion(Position(600.0, 50.0, 300.0, 180.0, 0.0, 0.0), configuration, 500)
        before = len(poses)
        assert spin_until(executor, lambda: len(poses) > before + 2, timeout=10)
        end = poses[-1].pose.position
        assert (end.x, end.y, end.z) == pytest.approx((0.6, 0.05, 0.3), abs=1e-4)
        assert list(joints[-1].position) != pytest.approx(list(joints[0].position), abs=1e-3), "the joints moved"
    finally:
        client.close()
        executor.shutdown()
        listener.destroy_node()
        node.destroy_node()

"""Two cells side by side on one machine: namespaced nodes and a simulator port each, one graph."""
from __future__ import annotations

from grasp_scorer_ros.app.bringup import node_specs, options_from_launch_arguments
from grasp_scorer_ros.app.demo import find_config_dir, start_processes, stop_processes
from ros_helpers import spin_until

CELLS = ("cell1", "cell2")


def test_two_namespaced_cells_run_side_by_side(ros, tmp_path):
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from grasp_scorer_ros.msg import BridgeStatus, GraspCandidates

    processes, ports = [], {}
    for cell in CELLS:     # what `ros2 launch ... namespace:=cellN replay:=true` starts, twice
        specs = node_specs(options_from_launch_arguments(find_config_dir(), {"namespace": cell, "replay": "true"}))
        ports[cell] = next(s.parameters["port"] for s in specs if s.name == "fanuc_sim_controller")
        processes += [(f"{cell}/{name}", p) for name, p in start_processes(specs, tmp_path / cell)]
    assert ports["cell1"] != ports["cell2"], "each cell's simulator has its own port"
    node = Node("two_cells_listener", context=ros)
    candidates = {cell: [] for cell in CELLS}
    connected = {cell: False for cell in CELLS}
    for cell in CELLS:
        node.create_subscription(GraspCandidates, f"/{cell}/grasp/candidates",
                                 lambda m, c=cell: candidates[c].append(m), 10)
        node.create_subscription(BridgeStatus, f"/{cell}/fanuc_bridge/status",
                                 lambda m, c=cell: connected.__setitem__(c, connected[c] or m.connected), 10)
    executor = SingleThreadedExecutor(context=ros)
    executor.add_node(node)
    try:
        assert spin_until(executor, lambda: all(len(candidates[c]) >= 2 for c in CELLS) and all(connected.values()),
                          timeout=180), (({c: len(v) for c, v in candidates.items()}, connected),
                                         [(n, p.poll()) for n, p in processes])
        # nothing crosses over: each cell's replay reaches its own detector only
        assert not node.get_publishers_info_by_topic("/camera/color/image_raw")
        assert {n for n, _ in node.get_node_names_and_namespaces() if n == "grasp_detection"} == {"grasp_detection"}
        namespaces = {ns for n, ns in node.get_node_names_and_namespaces() if n == "grasp_detection"}
        assert namespaces == {"/cell1", "/cell2"}
    finally:
        executor.shutdown()
        node.destroy_node()
        codes = stop_processes(processes)
    assert all(code == 0 for code in codes.values()), codes
    for cell in CELLS:
        bridge_log = (tmp_path / cell / "fanuc_bridge.log").read_text()
        assert f"127.0.0.1:{ports[cell]}" in bridge_log, bridge_log[-2000:]

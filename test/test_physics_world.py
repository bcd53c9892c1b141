"""The whole chain in the physics cell: the cell's camera over ROS, the detection node unchanged, the
bridge over RMI to the simulated controller, whose moves and gripper output move the MuJoCo gripper;
at least one object is lifted, carried and released. Started as ``world:=physics robot:=sim
armed:=true`` starts it (app/bringup.py), each node its own process, on a real rclpy graph."""
from __future__ import annotations

import pytest

from grasp_scorer_ros.app.bringup import options_from_launch_arguments, node_specs
from grasp_scorer_ros.app.demo import find_config_dir, start_processes, stop_processes
from grasp_scorer_ros.sim.physics_cell import ensure_gl
from ros_helpers import spin_until

ensure_gl()                  # before MuJoCo is imported: headless EGL rendering
pytest.importorskip("mujoco")


def test_world_physics_is_one_launch_argument(tmp_path):
    options = options_from_launch_arguments(tmp_path, {"world": "physics", "armed": "true"})
    specs = node_specs(options)
    assert [s.name for s in specs] == ["physics_world", "grasp_detection", "fanuc_bridge"]
    assert specs[0].parameters["port"] == specs[2].parameters["rmi_port"]
    assert ("image", "/camera/color/image_raw") in specs[0].remappings
    # The cell's depth reaches the detector: grasp heights and finger clearance from it.
    assert ("depth", "/camera/aligned_depth_to_color/image_raw") in specs[0].remappings
    assert specs[1].parameters["depth_topic"] == "/camera/aligned_depth_to_color/image_raw"
    with pytest.raises(ValueError, match="robot:=sim"):
        options_from_launch_arguments(tmp_path, {"world": "physics", "robot": "real"})


def test_a_published_pose_picks_an_object_in_the_physics_cell(ros, tmp_path):
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from std_msgs.msg import String

    options = options_from_launch_arguments(find_config_dir(), {"world": "physics", "armed": "true"})
    specs = node_specs(options)
    for spec in specs:
        if spec.name == "physics_world":
            spec.parameters["output_dir"] = str(tmp_path / "picks")
    processes = start_processes(specs, tmp_path / "logs")
    node = Node("physics_outcome_listener", context=ros)
    outcomes = []
    node.create_subscription(String, "/physics_world/outcome", lambda m: outcomes.append(m.data), 10)
    executor = SingleThreadedExecutor(context=ros)
    executor.add_node(node)
    try:
        picked = spin_until(executor, lambda: any(": success:" in o for o in outcomes)
                            or any(p.poll() is not None for _, p in processes), timeout=240)
    finally:
        codes = stop_processes(processes)
        executor.shutdown()
        node.destroy_node()
    logs = {p.name: p.read_text(errors="replace")[-3000:] for p in (tmp_path / "logs").glob("*.log")}
    assert picked and any(": success:" in o for o in outcomes), (outcomes, logs)
    assert codes == {"physics_world": 0, "grasp_detection": 0, "fanuc_bridge": 0}, (codes, logs)
    assert "pick 1" in outcomes[0]
    detector_log = next((tmp_path / "logs").glob("*detection*.log")).read_text(errors="replace")
    assert "depth on /camera/aligned_depth_to_color/image_raw" in detector_log
    assert "depth rejected" not in detector_log and "no depth frame" not in detector_log, detector_log[-3000:]
    assert list((tmp_path / "picks").glob("pick_*_side.png"))

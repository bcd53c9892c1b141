"""The whole chain in the physics cell: the cell's camera over ROS, the detection node unchanged, the
bridge over RMI to the simulated controller, whose moves and gripper output move the MuJoCo gripper;
at least one object is lifted, carried and released. Started as ``world:=physics robot:=sim
armed:=true`` starts it (app/bringup.py), each node its own process, on a real rclpy graph."""
from __future__ import annotations

import time

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


def test_a_miss_is_seen_by_the_bridge_retried_from_a_new_frame_and_never_carried(ros, tmp_path):
    """world:=physics with the detector's service answered by the test: the first answer is the real
    detector's best grasp raised 8 cm (the jaws close in the air: a certain miss), the next ones the real
    grasps of frames taken after the request's time. The cell's part-present input follows the physics:
    the bridge reports the miss, opens, goes up, never visits the place pose with empty jaws, asks for a
    frame taken after the miss, and picks; the physics world agrees pick by pick."""
    import threading
    from rclpy.callback_groups import ReentrantCallbackGroup
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from std_msgs.msg import String
    from grasp_scorer_ros.msg import BridgeStatus, GraspPose
    from grasp_scorer_ros.nodes.stamps import stamp_to_ns
    from grasp_scorer_ros.srv import DetectGrasps

    options = options_from_launch_arguments(find_config_dir(), {"world": "physics", "armed": "true"})
    specs = node_specs(options)
    bridge = next(s for s in specs if s.name == "fanuc_bridge")
    assert bridge.parameters["pick.part_present_port"] == 1          # the simulated cell's sensor, verified picks
    bridge.parameters["detect_service"] = "/test/detect"             # the test answers the bridge
    node = Node("miss_test", context=ros)
    group = ReentrantCallbackGroup()
    best: list = []
    outcomes, steps, requests, condition = [], [], [], threading.Condition()

    def on_best(message):
        with condition:
            best.append(message)
            condition.notify_all()

    def answer(request, response):
        not_before = stamp_to_ns(request.not_before)
        requests.append(not_before)
        with condition:
            ready = condition.wait_for(lambda: any(stamp_to_ns(b.header.stamp) >= not_before for b in best), 30)
            grasp = next(b for b in best if stamp_to_ns(b.header.stamp) >= not_before) if ready else None
        if grasp is None:
            response.success, response.message = False, "no frame in time"
            return response
        if len(requests) == 1:
            grasp.pose.position.z += 0.08                                # closes in the air above the part
        response.success, response.header, response.grasps = True, grasp.header, [grasp]
        return response

    node.create_subscription(GraspPose, "/grasp/best", on_best, 10, callback_group=group)
    node.create_subscription(String, "/physics_world/outcome", lambda m: outcomes.append(m.data), 10,
                             callback_group=group)
    statuses = []
    node.create_subscription(BridgeStatus, "/fanuc_bridge/status", lambda m: statuses.append(m), 50,
                             callback_group=group)
    node.create_service(DetectGrasps, "/test/detect", answer, callback_group=group)
    executor = MultiThreadedExecutor(num_threads=4, context=ros)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    processes = start_processes(specs, tmp_path / "logs")
    try:
        deadline = time.monotonic() + 300
        while not (len(outcomes) >= 2 and any(": success:" in o for o in outcomes)
                   and any(s.last_outcome == "picked" for s in statuses)) and \
                time.monotonic() < deadline and all(p.poll() is None for _, p in processes):
            time.sleep(0.2)
    finally:
        codes = stop_processes(processes)
        executor.shutdown()
        spinner.join(5)
        node.destroy_node()
    logs = {p.stem: p.read_text(errors="replace")[-6000:] for p in (tmp_path / "logs").glob("*.log")}
    assert len(outcomes) >= 2 and outcomes[0].startswith("pick 1: failure: the jaws closed on nothing"), (outcomes, logs)
    assert ": success:" in outcomes[1], (outcomes, logs)
    bridge_log = logs["fanuc_bridge"]
    assert "missed at close" in bridge_log and "read empty after the jaws closed" in bridge_log, bridge_log
    # the steps the bridge reported: the miss went up, not to the place; the retry went there
    sequence = [s.pick_step for s in statuses if s.pick_step]
    sequence = [step for i, step in enumerate(sequence) if i == 0 or sequence[i - 1] != step]
    first_miss = sequence.index("miss-release")
    assert "place-above" not in sequence[:first_miss] and sequence[first_miss + 1] == "miss-retreat", sequence
    assert "place-above" in sequence[first_miss:], sequence
    assert max(s.picks_missed for s in statuses) == 1 and any(s.last_outcome == "picked" for s in statuses)
    missed = next(s for s in statuses if s.last_outcome == "missed at close")
    assert len(requests) >= 2 and requests[1] >= stamp_to_ns(missed.header.stamp) - 50_000_000, \
        "the retry's frame must be taken after the miss ended"
    assert codes == {"physics_world": 0, "grasp_detection": 0, "fanuc_bridge": 0}, (codes, logs)

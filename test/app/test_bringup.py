"""The node list shared by detect.launch.py, the demo and the benchmark, and the launch file's declarations."""
import ast
import configparser
from pathlib import Path

import pytest

from grasp_scorer_ros.app.bringup import (FASTDDS_PROFILE, LAUNCH_ARGUMENTS, BringupOptions, node_specs,
                                          options_from_launch_arguments, transport_environment)

ROOT = Path(__file__).resolve().parents[2]


def names(specs):
    return [s.name for s in specs]


def test_simulated_robot_starts_the_simulator_and_points_the_bridge_at_it(tmp_path):
    specs = node_specs(BringupOptions(config_dir=tmp_path, robot="sim", sim_port="17001"))
    assert names(specs) == ["grasp_detection", "fanuc_sim_controller", "fanuc_bridge"]
    sim, bridge = specs[1], specs[2]
    assert sim.parameters == {"host": "127.0.0.1", "port": 17001}
    assert bridge.parameters["robot_ip"] == "127.0.0.1" and bridge.parameters["rmi_port"] == 17001
    assert bridge.parameters["armed"] is False, "never armed unless asked"
    # sim_port auto (the default): a free port each launch, the same for the simulator and the bridge
    auto = [node_specs(BringupOptions(config_dir=tmp_path, robot="sim")) for _ in range(2)]
    ports = [(s[1].parameters["port"], s[2].parameters["rmi_port"]) for s in auto]
    assert all(a == b for a, b in ports) and ports[0][0] != 16001


def test_a_namespace_puts_every_node_and_the_default_camera_in_it(tmp_path):
    options = options_from_launch_arguments(tmp_path, {"namespace": "cell1", "replay": "true"})
    specs = node_specs(options)
    assert {s.namespace for s in specs} == {"cell1"}
    command = specs[0].command("python3")
    assert "__ns:=/cell1" in command and "image:=camera/color/image_raw" in command
    named = node_specs(options_from_launch_arguments(tmp_path, {"namespace": "cell2", "camera_topic": "/cam2/rgb"}))
    assert ("image", "/cam2/rgb") in named[0].remappings       # a topic the user named stays as named
    with pytest.raises(ValueError, match="namespace"):
        options_from_launch_arguments(tmp_path, {"namespace": "2cells"})
    with pytest.raises(ValueError, match="sim_port"):
        options_from_launch_arguments(tmp_path, {"sim_port": "any"})


def test_real_robot_and_no_bridge(tmp_path):
    specs = node_specs(BringupOptions(config_dir=tmp_path, robot="real", robot_ip="10.0.0.5"))
    assert names(specs) == ["grasp_detection", "fanuc_bridge"]
    assert specs[1].parameters["robot_ip"] == "10.0.0.5"
    assert names(node_specs(BringupOptions(config_dir=tmp_path, start_bridge=False))) == ["grasp_detection"]
    with pytest.raises(ValueError, match="robot"):
        BringupOptions(config_dir=tmp_path, robot="simulated")


def test_camera_topics_are_remapped_and_replay_is_optional(tmp_path):
    options = BringupOptions(config_dir=tmp_path, camera_topic="/cam/rgb", camera_info_topic="/cam/info",
                             replay_folder="", start_bridge=False, checkpoint="/models/m.pt")
    replay, detection = node_specs(options)
    assert replay.name == "camera_replay"
    for spec in (replay, detection):
        assert ("image", "/cam/rgb") in spec.remappings and ("camera_info", "/cam/info") in spec.remappings
    # The bundled scenes come with depth, which the replay publishes and the detector is given.
    assert detection.parameters == {"checkpoint": "/models/m.pt",
                                    "depth_topic": "/camera/aligned_depth_to_color/image_raw"}
    command = detection.command("python3")
    assert command[:3] == ["python3", "-m", "grasp_scorer_ros.nodes.detection_node"]
    assert ["--params-file", str(tmp_path / "detection.yaml")] == command[6:8]
    assert "checkpoint:=/models/m.pt" in command and "image:=/cam/rgb" in command
    assert "__node:=grasp_detection" in command
    options = options_from_launch_arguments(tmp_path, {"engine": "openvino", "onnx_model": "int8"})
    detection = [spec for spec in node_specs(options) if spec.name == "grasp_detection"][0]
    assert detection.parameters == {"engine": "openvino", "onnx_model": "int8"}


def test_every_config_file_named_by_the_specs_exists():
    config = ROOT / "config"
    for spec in node_specs(BringupOptions(config_dir=config, replay_folder="")):
        for path in spec.parameter_files:
            assert Path(path).is_file(), path


def test_launch_arguments_are_described_and_their_defaults_are_the_options_defaults(tmp_path):
    by_name = {name: (default, description, choices) for name, default, description, choices in LAUNCH_ARGUMENTS}
    assert len(by_name) == len(LAUNCH_ARGUMENTS) == 18
    for required in ("checkpoint", "engine", "onnx_model", "calibration_file", "camera_topic", "start_bridge", "robot",
                     "replay_rate", "world"):
        assert required in by_name
    for name, (default, description, choices) in by_name.items():
        assert len(description) > 15, f"launch argument {name} needs a description"
        assert choices is None or default in choices
    assert by_name["robot"][2] == ["sim", "real"]
    typed = options_from_launch_arguments(tmp_path, {}, environment={})
    plain = BringupOptions(config_dir=tmp_path, environment={})
    assert typed == plain, "the launch file's defaults are the options' defaults"


def test_typed_arguments_become_options(tmp_path):
    options = options_from_launch_arguments(tmp_path, {"replay": "true", "replay_rate": "10", "armed": "True",
                                                       "start_bridge": "false"}, environment={})
    assert options.replay_folder == "" and options.replay_rate == 10.0 and options.armed
    replay, detection = node_specs(options)
    assert replay.parameters == {"rate": 10.0} and detection.name == "grasp_detection"
    with pytest.raises(ValueError, match="unknown launch argument"):
        options_from_launch_arguments(tmp_path, {"replay_hz": "3"})
    with pytest.raises(ValueError, match="replay_rate"):
        options_from_launch_arguments(tmp_path, {"replay_rate": "fast"})


def test_nodes_get_the_large_image_fastdds_profile_unless_fastdds_is_configured(tmp_path):
    profile = str(ROOT / "config" / FASTDDS_PROFILE)
    assert transport_environment(ROOT / "config", {}) == {"FASTDDS_DEFAULT_PROFILES_FILE": profile}
    jazzy = transport_environment(ROOT / "config", {"ROS_DISTRO": "jazzy"})
    assert jazzy == {"FASTRTPS_DEFAULT_PROFILES_FILE": profile}
    assert transport_environment(ROOT / "config", {"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"})
    for user in ({"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"}, {"FASTDDS_DEFAULT_PROFILES_FILE": "/mine.xml"},
                 {"FASTRTPS_DEFAULT_PROFILES_FILE": "/mine.xml"}, {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}):
        assert transport_environment(ROOT / "config", user) == {}, user
    options = options_from_launch_arguments(ROOT / "config", {"replay": "true"}, environment={})
    specs = node_specs(options)
    assert all(spec.env == {"FASTDDS_DEFAULT_PROFILES_FILE": profile} for spec in specs)
    assert specs[0].environment({"PATH": "/bin"}) == {"PATH": "/bin", "FASTDDS_DEFAULT_PROFILES_FILE": profile}


def test_the_fastdds_profile_holds_several_camera_frames_in_shared_memory():
    import xml.etree.ElementTree as ET
    root = ET.parse(ROOT / "config" / FASTDDS_PROFILE).getroot()
    ns = {"dds": "http://www.eprosima.com"}
    shm = [d for d in root.iterfind(".//dds:transport_descriptor", ns)
           if d.findtext("dds:type", namespaces=ns) == "SHM"]
    assert len(shm) == 1
    assert int(shm[0].findtext("dds:segment_size", namespaces=ns)) >= 4 * 480 * 480 * 3
    kinds = {d.findtext("dds:type", namespaces=ns) for d in root.iterfind(".//dds:transport_descriptor", ns)}
    assert "UDPv4" in kinds, "UDP stays for discovery and for other machines"
    participant = root.find(".//dds:participant", ns)
    assert participant.get("is_default_profile") == "true"


def test_launch_file_uses_the_shared_arguments_and_specs_and_requires_the_detector():
    # The launch packages are not installable here: check the file's structure statically.
    source = (ROOT / "launch" / "detect.launch.py").read_text()
    tree = ast.parse(source)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module == "grasp_scorer_ros.app.bringup" for alias in node.names}
    assert {"LAUNCH_ARGUMENTS", "node_specs", "options_from_launch_arguments"} <= imported
    assert not any(isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ARGUMENTS"
                   for node in ast.walk(tree)), "the arguments live in bringup.py only"
    node_calls = [node for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Node"]
    assert len(node_calls) == 1
    keywords = {k.arg for k in node_calls[0].keywords}
    assert {"parameters", "remappings", "additional_env", "on_exit", "name", "executable"} <= keywords
    # The detector's exit shuts the launch down; the launch's last word repeats the detector's line.
    assert "Shutdown(" in source and "OnProcessExit" in source and "OnProcessIO" in source
    assert "get_package_share_directory" in source
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    scripts = setup["options.entry_points"]["console_scripts"].strip().splitlines()
    executables = {line.split("=")[0].strip() for line in scripts}
    for spec in node_specs(BringupOptions(config_dir=ROOT / "config", replay_folder="")):
        entry = "grasp-scorer-" + spec.executable.replace("_", "-")
        assert entry in executables, f"{spec.executable} has no console script (ros2 run) entry"


def test_demo_and_benchmark_start_what_the_launch_file_starts():
    """One source: both build their options from launch arguments, never by hand."""
    from grasp_scorer_ros.app import demo
    assert set(demo.DEMO_LAUNCH_ARGUMENTS) <= {name for name, *_ in LAUNCH_ARGUMENTS}
    for path in (ROOT / "grasp_scorer_ros" / "app" / "demo.py", ROOT / "benchmarks" / "benchmark.py"):
        source = path.read_text()
        assert "options_from_launch_arguments(" in source and "node_specs(" in source, path
        assert "BringupOptions(" not in source and "NodeSpec(" not in source, f"{path} builds its own nodes"
        assert "image_reliability" not in source, f"{path} overrides the image QoS"

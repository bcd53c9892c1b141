"""The node list shared by detect.launch.py and the demo, and the launch file's declarations."""
import ast
import configparser
from pathlib import Path

import pytest

from grasp_scorer_ros.app.bringup import BringupOptions, node_specs

ROOT = Path(__file__).resolve().parent.parent


def names(specs):
    return [s.name for s in specs]


def test_simulated_robot_starts_the_simulator_and_points_the_bridge_at_it(tmp_path):
    specs = node_specs(BringupOptions(config_dir=tmp_path, robot="sim", rmi_port=17001))
    assert names(specs) == ["grasp_detection", "fanuc_sim_controller", "fanuc_bridge"]
    sim, bridge = specs[1], specs[2]
    assert sim.parameters == {"host": "127.0.0.1", "port": 17001}
    assert bridge.parameters["robot_ip"] == "127.0.0.1" and bridge.parameters["rmi_port"] == 17001
    assert bridge.parameters["armed"] is False, "never armed unless asked"


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
    assert detection.parameters == {"checkpoint": "/models/m.pt"}
    command = detection.command("python3")
    assert command[:3] == ["python3", "-m", "grasp_scorer_ros.nodes.detection_node"]
    assert ["--params-file", str(tmp_path / "detection.yaml")] == command[6:8]
    assert "checkpoint:=/models/m.pt" in command and "image:=/cam/rgb" in command
    assert "__node:=grasp_detection" in command


def test_every_config_file_named_by_the_specs_exists():
    config = ROOT / "config"
    for spec in node_specs(BringupOptions(config_dir=config, replay_folder="")):
        for path in spec.parameter_files:
            assert Path(path).is_file(), path


def test_launch_file_declares_described_arguments_and_uses_the_shared_specs():
    # The launch packages are not installable here: check the file's structure statically.
    source = (ROOT / "launch" / "detect.launch.py").read_text()
    tree = ast.parse(source)
    arguments = next(node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                     and getattr(node.targets[0], "id", "") == "ARGUMENTS")
    declared = ast.literal_eval(arguments)
    by_name = {name: (default, description, choices) for name, default, description, choices in declared}
    for required in ("checkpoint", "calibration_file", "camera_topic", "start_bridge", "robot"):
        assert required in by_name
    for name, (default, description, choices) in by_name.items():
        assert len(description) > 15, f"launch argument {name} needs a description"
        assert choices is None or default in choices
    assert by_name["robot"][2] == ["sim", "real"]
    assert "node_specs(" in source and "get_package_share_directory" in source
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    scripts = setup["options.entry_points"]["console_scripts"].strip().splitlines()
    executables = {line.split("=")[0].strip() for line in scripts}
    for spec in node_specs(BringupOptions(config_dir=ROOT / "config", replay_folder="")):
        entry = "grasp-scorer-" + spec.executable.replace("_", "-")
        assert entry in executables, f"{spec.executable} has no console script (ros2 run) entry"

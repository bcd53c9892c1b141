"""The package's layout is its architecture: imports point one way, no cycles, ROS only in the nodes.

Every module of grasp_scorer_ros/ is parsed with ``ast`` (nothing is imported), its package-internal
imports become a graph, and the graph is checked against the layers the README draws:

    nodes -> pipeline -> {camera, network} -> shared primitives (grasp, rotations, visualize, bundled)
    nodes -> {fanuc}
    nodes -> sim -> {pipeline, camera, fanuc, network, synthetic} (the simulated controller and world; the
                    real robot side never imports sim)
    training -> {network, datasets, synthetic} -> shared primitives (the look study reruns the generator)

The checks are plain functions, so the tests at the end also run them on small planted trees to
show that they catch a cycle, a layer violation and a ROS import.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO / "grasp_scorer_ros"
PACKAGE = "grasp_scorer_ros"

# Top-level modules that every layer may use; everything else lives in a subpackage.
PRIMITIVES = {"grasp", "rotations", "visualize", "bundled"}
# What each layer may import besides itself: layer names, or single modules by full name.
ALLOWED = {
    "primitives": set(),
    "network": {"primitives"},
    "camera": {"primitives"},
    "fanuc": {"primitives"},
    "synthetic": {"primitives"},
    "datasets": {"primitives", f"{PACKAGE}.network.image_transform"},   # the letterbox
    "training": {"primitives", "network", "datasets", "synthetic"},  # look_study reruns the generator
    # from a frame to gripper poses, what the node and the trials share
    "pipeline": {"primitives", "network", "camera"},
    # the stand-ins for the controller and the world: nothing that runs on a real cell imports them
    "sim": {"primitives", "network", "camera", "fanuc", "synthetic", "pipeline",
            f"{PACKAGE}.training.paired_statistics"},
    "nodes": {"primitives", "network", "camera", "fanuc", "pipeline", "sim"},
    "app": {"primitives", "network", "camera", "fanuc", "datasets"},  # names the nodes as strings, never imports them; reads the demo scenes' ground truth
}
# Where rclpy, message packages and the launch system may be imported.
ROS_ALLOWED = (f"{PACKAGE}.nodes", f"{PACKAGE}.app.demo", f"{PACKAGE}.app.physics_demo")
ROS_PACKAGES = {"rclpy", "launch", "launch_ros", "ament_index_python", "rosidl_runtime_py",
                "message_filters", "tf2_ros", "cv_bridge"}


# -- the checks ---------------------------------------------------------------------------------
def find_modules(package_dir: Path) -> dict[str, Path]:
    """Module name -> file, for every ``.py`` file under ``package_dir`` (a package's ``__init__``
    is the package's name)."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imports_of(module: str, path: Path) -> list[tuple[str, list[str], int]]:
    """``(module, names, level)`` for every import statement of a file, wherever it stands (inside
    functions too). Relative imports are resolved to absolute names; ``level`` says how many dots
    they had (0 for absolute ones)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, [], 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.append((base, [alias.name for alias in node.names], node.level))
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package modules it imports. ``from a import b`` counts as importing the module
    ``a.b`` where there is one, else ``a``."""
    graph = {}
    for module, path in modules.items():
        targets = set()
        for base, names, _ in imports_of(module, path):
            submodules = [f"{base}.{name}" for name in names if f"{base}.{name}" in modules]
            if submodules:
                targets.update(submodules)
            if base in modules and len(submodules) < len(names or [None]):
                targets.add(base)
        graph[module] = targets - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}     # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def layer_of(module: str, package: str = PACKAGE) -> str:
    """The layer a module belongs to; ValueError for a module the layer table does not know."""
    parts = module.split(".")
    if parts == [package] or (len(parts) == 2 and parts[1] in PRIMITIVES):
        return "primitives"
    if len(parts) >= 2 and parts[1] in ALLOWED:
        return parts[1]
    raise ValueError(f"{module} is in no layer: add it to the README's architecture and to ALLOWED "
                     f"or PRIMITIVES in {Path(__file__).name}")


def layer_violations(graph: dict[str, set[str]], package: str = PACKAGE) -> list[str]:
    """``importer -> imported`` for every import that points against the layers."""
    violations = []
    for module, targets in sorted(graph.items()):
        layer = layer_of(module, package)
        allowed = ALLOWED[layer] | {layer}
        for target in sorted(targets):
            if layer_of(target, package) not in allowed and target not in allowed:
                violations.append(f"{module} ({layer}) -> {target} ({layer_of(target, package)})")
    return violations


def is_ros(name: str, package: str = PACKAGE) -> bool:
    top = name.split(".")[0]
    return (top in ROS_PACKAGES or top.endswith(("_msgs", "_srvs", "_interfaces"))
            or name in (f"{package}.msg", f"{package}.srv", f"{package}.action")
            or name.startswith((f"{package}.msg.", f"{package}.srv.", f"{package}.action.")))


def ros_imports(modules: dict[str, Path], allowed=ROS_ALLOWED) -> list[str]:
    """``module imports name`` for every ROS import outside the modules allowed to have them."""
    package = next(iter(modules)).split(".")[0]
    found = []
    for module, path in sorted(modules.items()):
        if any(module == a or module.startswith(f"{a}.") for a in allowed):
            continue
        for base, names, _ in imports_of(module, path):
            for name in [base] + [f"{base}.{n}" for n in names]:
                if is_ros(name, package):
                    found.append(f"{module} imports {name}")
                    break
    return found


def relative_imports(modules: dict[str, Path]) -> list[str]:
    return [f"{module}: from {'.' * level}... import {', '.join(names)}"
            for module, path in sorted(modules.items())
            for _, names, level in imports_of(module, path) if level]


# -- the package --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def modules():
    return find_modules(PACKAGE_DIR)


@pytest.fixture(scope="module")
def package_graph(modules):
    return import_graph(modules)


def test_the_graph_sees_the_package(modules, package_graph):
    assert len(modules) > 40
    assert f"{PACKAGE}.network.model" in package_graph[f"{PACKAGE}.network.losses"]
    assert f"{PACKAGE}.fanuc.rmi_protocol" in package_graph[f"{PACKAGE}.fanuc.pick_executor"]  # from pkg import mod
    assert f"{PACKAGE}.bundled" in package_graph[f"{PACKAGE}.nodes.detection_node"]


def test_no_import_cycle(package_graph):
    assert find_cycle(package_graph) is None, " -> ".join(find_cycle(package_graph))


def test_imports_point_one_way(package_graph):
    assert layer_violations(package_graph) == []


def test_ros_is_imported_only_by_the_nodes_and_the_demo(modules):
    assert ros_imports(modules) == []


def test_one_import_style_absolute(modules):
    assert relative_imports(modules) == []


def test_the_readme_architecture_names_every_folder_and_top_level_module():
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Architecture"):]
    section = section[:section.index("\n## ", 1)]
    entries = sorted(p.name for p in PACKAGE_DIR.iterdir()
                     if p.name not in ("__init__.py", "__pycache__")
                     and (p.is_dir() or p.suffix == ".py"))
    missing = [name for name in entries
               if not re.search(rf"`(grasp_scorer_ros/)?{re.escape(name.removesuffix('.py'))}(/|\.py`|`)",
                                section)]
    assert missing == [], f"README's architecture section does not mention {missing}"
    assert {p.removesuffix(".py") for p in entries} - {"data", "weights"} <= PRIMITIVES | set(ALLOWED)


# -- the checks catch what they are for -----------------------------------------------------------
def write_tree(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return find_modules(root / PACKAGE)


def test_a_planted_cycle_is_found(tmp_path):
    modules = write_tree(tmp_path, {
        f"{PACKAGE}/__init__.py": "",
        f"{PACKAGE}/network/__init__.py": "",
        f"{PACKAGE}/network/a.py": f"from {PACKAGE}.network import b\n",
        f"{PACKAGE}/network/b.py": f"def f():\n    import {PACKAGE}.network.c\n",
        f"{PACKAGE}/network/c.py": "from . import a\n",
    })
    cycle = find_cycle(import_graph(modules))
    assert cycle == [f"{PACKAGE}.network.{m}" for m in "abca"]
    assert relative_imports(modules) == [f"{PACKAGE}.network.c: from .... import a"]


def test_planted_layer_violations_and_ros_imports_are_found(tmp_path):
    modules = write_tree(tmp_path, {
        f"{PACKAGE}/__init__.py": "",
        f"{PACKAGE}/grasp.py": "import numpy\n",
        f"{PACKAGE}/network/__init__.py": "",
        f"{PACKAGE}/network/model.py": f"from {PACKAGE}.grasp import W\nfrom {PACKAGE}.nodes import node\n",
        f"{PACKAGE}/camera/__init__.py": "",
        f"{PACKAGE}/camera/models.py": "from sensor_msgs.msg import Image\n",
        f"{PACKAGE}/fanuc/__init__.py": "",
        f"{PACKAGE}/fanuc/client.py": f"def f():\n    from {PACKAGE}.msg import GraspPose\n",
        f"{PACKAGE}/nodes/__init__.py": "",
        f"{PACKAGE}/nodes/node.py": f"import rclpy\nfrom {PACKAGE}.network import model\n",
        f"{PACKAGE}/datasets/__init__.py": "",
        f"{PACKAGE}/datasets/load.py": f"from {PACKAGE}.network.model import W\n",
    })
    assert layer_violations(import_graph(modules)) == [
        f"{PACKAGE}.datasets.load (datasets) -> {PACKAGE}.network.model (network)",
        f"{PACKAGE}.network.model (network) -> {PACKAGE}.nodes.node (nodes)",
    ]
    assert ros_imports(modules) == [f"{PACKAGE}.camera.models imports sensor_msgs.msg",
                                    f"{PACKAGE}.fanuc.client imports {PACKAGE}.msg"]
    assert find_cycle(import_graph(modules)) == [f"{PACKAGE}.network.model", f"{PACKAGE}.nodes.node",
                                                 f"{PACKAGE}.network.model"]


def test_a_module_outside_the_layers_is_an_error():
    with pytest.raises(ValueError, match="in no layer"):
        layer_of(f"{PACKAGE}.helpers")

"""Shared test set-up: ROS 2 isolation and the ROS/no-ROS switch, the simulated controller, the small
synthetic dataset, and the ``ros`` and ``slow`` markers.

Tests that need rclpy use the ``ros`` fixture. On a machine without ROS (the pip route) they are
skipped; with GRASP_SCORER_REQUIRE_ROS=1 (``make test``, CI) a missing rclpy is a failure instead.
Tests that need a FANUC controller use ``sim``; tests that train or load a dataset use ``synthetic_set``.

Where things are: test/<layer>/test_<module>.py tests grasp_scorer_ros/<layer>/<module>.py (top-level
modules: test/test_<module>.py); test/system/ holds the system tests; test/helpers/ the helper modules
(on sys.path through ``pythonpath`` in setup.cfg); a layer's conftest.py the fixtures only it shares.

Markers (registered in setup.cfg): every test that uses ``ros`` (directly or through another fixture)
is marked ``ros`` here, every test under test/system/ ``slow``; other slow tests carry
``@pytest.mark.slow`` themselves. ``make test-fast`` runs ``-m "not slow"``.
"""
import os
import random
from pathlib import Path

import pytest

SYSTEM_TESTS = Path(__file__).resolve().parent / "system"

# A private DDS domain on loopback, so that tests never talk to another process's graph.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


def _import_rclpy():
    try:
        import rclpy  # noqa: F401
        import grasp_scorer_ros.msg  # noqa: F401  (built by colcon)
    except ImportError as exc:
        if os.environ.get("GRASP_SCORER_REQUIRE_ROS") == "1":
            pytest.fail(f"ROS 2 is required here but does not import: {exc}")
        pytest.skip(f"ROS 2 not available: {exc}")
    import rclpy
    return rclpy


@pytest.fixture
def ros():
    """An initialised rclpy context for one test; shut down afterwards."""
    rclpy = _import_rclpy()
    context = rclpy.context.Context()
    rclpy.init(context=context)
    yield context
    context.try_shutdown()


@pytest.fixture
def sim_speed_scale():
    """Motion durations of ``sim`` as a fraction of the real arm's; a test module overrides this
    fixture where its moves must be faster or slower."""
    return 0.01


@pytest.fixture
def sim(sim_speed_scale):
    """A simulated FANUC controller (RMI server) on loopback, on free ports; stopped afterwards."""
    from grasp_scorer_ros.sim.sim_controller import SimulatedController
    controller = SimulatedController(speed_scale=sim_speed_scale).start()
    yield controller
    controller.stop()


@pytest.fixture(scope="module")
def synthetic_set(tmp_path_factory):
    """A small synthetic set (24 scenes, Jacquard format) written to disk, once per test module."""
    from grasp_scorer_ros.synthetic import write_dataset
    root = tmp_path_factory.mktemp("synthetic")
    write_dataset(root, count=24, seed=3, object_sets=6, write_masks=False, progress=False)
    return root


def pytest_collection_modifyitems(config, items):
    """``ros`` on every test that needs rclpy (its fixtures include ``ros``), ``slow`` on every system test."""
    for item in items:
        if "ros" in item.fixturenames:
            item.add_marker(pytest.mark.ros)
        if SYSTEM_TESTS in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.slow)

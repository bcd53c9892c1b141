"""Fixtures shared by the pick cell's and the pick cycle's tests: cells against the simulated controller
(``sim``, test/conftest.py)."""
import pytest

from grasp_scorer_ros.fanuc.cell import CellConfig, PickCell
from pick_cell_helpers import PICK, VERIFIED, connected


@pytest.fixture
def make_cell(sim):
    cells = []

    def make(port=None, **settings):
        values = dict(robot_ip="127.0.0.1", rmi_port=sim.port if port is None else port, armed=True,
                      reply_timeout=2.0, stall_timeout=3.0, reconnect_backoff_min=0.1, reconnect_backoff_max=0.4,
                      status_poll_period=0.0, grasp_height_offset=0.02)
        values.update(settings)
        cells.append(PickCell(CellConfig(**values), PICK).start())
        return cells[-1]
    yield make
    for cell in cells:
        cell.close()


@pytest.fixture
def verified_cell(sim):
    sim.part_present_port = 3     # the stand-in sensor: holding while the jaws are closed
    cells = []

    def make(**settings):
        values = dict(robot_ip="127.0.0.1", rmi_port=sim.port, armed=True, reply_timeout=2.0, stall_timeout=3.0,
                      status_poll_period=0.0, grasp_height_offset=0.02)
        values.update(settings)
        cells.append(PickCell(CellConfig(**values), VERIFIED).start())
        return connected(cells[-1], sim)
    yield make
    for cell in cells:
        cell.close()

"""The pick cell of the cell and pick-cycle tests (fanuc/cell.py, fanuc/pick_cycle.py): its pick settings,
a grasp request, waiting, and a connected cell; and the packets a pick sends (also the planner's and the
bridge node's tests)."""
from grasp_scorer_ros.fanuc.cell import GraspRequest
from grasp_scorer_ros.fanuc.pick_planner import PickConfig
from grasp_scorer_ros.sim.sim_controller import SimulatedController
from rotation_helpers import top_down

PICK = PickConfig(speed_mm_s=500.0, approach_speed_mm_s=250.0, gripper_settle_s=0.01,
                  place_position_m=(0.40, -0.30, 0.05))

# verified picks (a part-present input)
VERIFIED = PickConfig(speed_mm_s=500.0, approach_speed_mm_s=250.0, gripper_settle_s=0.01,
                      place_position_m=(0.40, -0.30, 0.05), part_present_port=3, part_present_wait_s=0.2)

# The packets of one unverified pick, after the status read: preparing the controller, then plan_pick's
# steps as the executor sends them (command, and its SequenceID or the digital output's value).
PICK_PACKETS = [
    ("FRC_Initialize", None), ("FRC_SetUFrameUTool", None),
    ("FRC_SetOverRide", None), ("FRC_ReadCartesianPosition", None),
    ("FRC_WriteDOUT", "OFF"),
    ("FRC_LinearMotion", 1), ("FRC_LinearMotion", 2),
    ("FRC_WriteDOUT", "ON"),
    ("FRC_LinearMotion", 3), ("FRC_LinearMotion", 4), ("FRC_LinearMotion", 5),
    ("FRC_WriteDOUT", "OFF"),
    ("FRC_LinearMotion", 6),
]


def request(x=0.6, y=0.1, yaw_deg=30.0, width=0.04, frame="base_link"):
    return GraspRequest(frame, (x, y, 0.0), tuple(top_down(yaw_deg)), width, 0.9, "test")


def wait(predicate, timeout=5.0):
    return SimulatedController.wait_until(predicate, timeout)


def connected(cell, sim):
    # Both ends: the simulator takes its side of the session on its own thread, which on a loaded
    # machine may run after the client already counts itself connected.
    assert wait(lambda: cell.status().connected and sim.connected), "the cell never connected"
    return cell

"""The workspace: grasps whose centre or jaws leave the table polygon or the image mask are refused."""
import cv2
import numpy as np
import pytest

from grasp_scorer_ros import bundled
from grasp_scorer_ros.camera.calibration_file import load_calibration_yaml, load_intrinsics_yaml
from grasp_scorer_ros.camera.pixel_to_pose import pixels_to_surface
from grasp_scorer_ros.camera.workspace import Workspace, load_mask, parse_polygon

CALIBRATION = load_calibration_yaml(bundled.demo_calibration_path())
INTRINSICS = load_intrinsics_yaml(bundled.demo_camera_path())


def table_xy(u, v):
    return pixels_to_surface([[u, v]], INTRINSICS, CALIBRATION.camera_pose, CALIBRATION.surface)[0, :2]


def refusal(workspace, grasp):
    return workspace.refusal(grasp, INTRINSICS, CALIBRATION.camera_pose, CALIBRATION.surface)


def test_a_polygon_refuses_a_grasp_whose_centre_or_a_jaw_is_outside():
    # the polygon covers the table under image columns 100..300, rows 100..380 (the demo camera looks down)
    corners = [table_xy(u, v) for u, v in ((100, 100), (300, 100), (300, 380), (100, 380))]
    workspace = Workspace(parse_polygon(" ".join(f"{x},{y}" for x, y in corners)))
    assert refusal(workspace, [200, 240, 60, 20, 0]) is None
    assert refusal(workspace, [270, 240, 80, 20, 0]) == "a jaw outside the workspace polygon"   # reaches 310
    assert refusal(workspace, [400, 240, 40, 20, 0]) == "outside the workspace polygon"
    assert refusal(workspace, [200, 240, 60, 20, 90]) is None                                 # turned: fits
    assert Workspace(workspace.polygon).refusal([200, 240, 60, 20, 0], None, CALIBRATION.camera_pose,
                                                CALIBRATION.surface) == "no camera intrinsics to place it on the table"


def test_a_mask_refuses_grasps_off_its_white_part(tmp_path):
    mask = np.zeros((480, 480), np.uint8)
    mask[:, :240] = 255
    path = tmp_path / "mask.png"
    cv2.imwrite(str(path), mask)
    workspace = Workspace.from_settings(mask_file=str(path))
    assert workspace.active and workspace.mask.shape == (480, 480)
    assert refusal(workspace, [100, 200, 60, 20, 0]) is None
    assert refusal(workspace, [220, 200, 60, 20, 0]) == "a jaw outside the image mask"
    assert refusal(workspace, [300, 200, 60, 20, 0]) == "outside the image mask"
    assert "off the mask's image" in refusal(workspace, [5, 200, 60, 20, 0])


@pytest.mark.parametrize("text, message", [("0,0 1,0", "at least 3"), ("0,0 1,x 1,1", "x,y x,y"),
                                           ("0,0 1,1 1,0 0,1", "not a simple polygon"),
                                           ("0,0 1,nan 1,1", "finite")])
def test_bad_polygons_are_refused_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        parse_polygon(text)
    assert parse_polygon("") is None and not Workspace.from_settings().active


def test_bad_masks_are_refused_with_a_reason(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_mask(str(tmp_path / "absent.png"))
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ValueError, match="not an image"):
        load_mask(str(tmp_path / "text.png"))
    cv2.imwrite(str(tmp_path / "black.png"), np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="allows no pixel"):
        load_mask(str(tmp_path / "black.png"))

"""Tests of grasp_scorer_ros.camera (types, calibration files, pixel to pose) with synthetic
cameras whose answers are known. Covers camera/models.py, camera/calibration_file.py and, mostly,
camera/pixel_to_pose.py (one file: the three parts share their cameras and constants).

Ground truth comes from the other direction: known 3D points on the surface are projected with
cv2.projectPoints (distortion included), the pixel grasp is built from those pixels, and the
recovered pose must give back the 3D points.
"""
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from grasp_scorer_ros.camera.calibration_file import load_calibration_yaml, load_intrinsics_yaml
from grasp_scorer_ros.camera.models import CalibrationError, CameraIntrinsics, CameraPose, WorkSurface
from grasp_scorer_ros.camera.pixel_to_pose import grasp_to_gripper_pose, pixels_to_surface
from grasp_scorer_ros.rotations import matrix_to_quaternion
from rotation_helpers import LOOKING_DOWN, rot_x, rot_z

CONFIG = Path(__file__).resolve().parents[2] / "config" / "calibration.yaml"

K = np.array([[910.0, 0.0, 640.0], [0.0, 905.0, 360.0], [0.0, 0.0, 1.0]])
DISTORTION = np.array([-0.12, 0.05, 0.0008, -0.0005, -0.01])  # a typical mild barrel lens
PINHOLE = CameraIntrinsics(K, [], 1280, 720)
DISTORTED = CameraIntrinsics(K, DISTORTION, 1280, 720)


def camera(position, yaw_deg=0.0, tilt_deg=0.0) -> CameraPose:
    """Overhead camera turned by yaw about base z, its optical axis tilted about its own x axis."""
    rotation = rot_z(math.radians(yaw_deg)) @ LOOKING_DOWN @ rot_x(math.radians(tilt_deg))
    return CameraPose(position, matrix_to_quaternion(rotation))


def project(points_base, intrinsics, pose) -> np.ndarray:
    """Raw pixels (N, 2) of base-frame points, via OpenCV (the reference implementation)."""
    r_camera_base = pose.rotation.T
    rvec, _ = cv2.Rodrigues(r_camera_base)
    tvec = -r_camera_base @ pose.translation
    pixels, _ = cv2.projectPoints(np.asarray(points_base, float).reshape(-1, 3), rvec, tvec,
                                  intrinsics.camera_matrix, intrinsics.distortion)
    return pixels.reshape(-1, 2)


def grasp_from_pixels(a, b, jaw_px=20.0):
    """Pixel grasp whose opening axis runs exactly from pixel a to pixel b."""
    d = b - a
    return np.array([*(a + b) / 2, np.hypot(*d), jaw_px, math.degrees(math.atan2(d[1], d[0]))])


def in_plane_axes(normal):
    """Two orthonormal vectors spanning the plane with this normal."""
    u = np.cross(normal, [0.3, 1.0, 0.1])
    u /= np.linalg.norm(u)
    return u, np.cross(normal, u)


# ---------------------------------------------------------------------------------------------
# intrinsics, pose, surface
# ---------------------------------------------------------------------------------------------

def test_intrinsics_from_camera_info_fields():
    intr = CameraIntrinsics.from_camera_info_fields(K.ravel(), DISTORTION, 1280, 720, "plumb_bob")
    np.testing.assert_array_equal(intr.camera_matrix, K)
    np.testing.assert_array_equal(intr.distortion, DISTORTION)
    assert (intr.width, intr.height) == (1280, 720)
    # Drivers without calibration publish an empty model and no coefficients.
    no_model = CameraIntrinsics.from_camera_info_fields(K.ravel(), [], 640, 480, "")
    assert no_model.distortion.size == 0
    rational = CameraIntrinsics.from_camera_info_fields(
        K.ravel(), np.zeros(8), 640, 480, "rational_polynomial")
    assert rational.distortion.size == 8


@pytest.mark.parametrize("k, d, size, model, message", [
    (np.zeros(9), [], (640, 480), "plumb_bob", "not calibrated"),
    ([910, 0, 640, 0, float("nan"), 360, 0, 0, 1], [], (640, 480), "plumb_bob", "non-finite"),
    ([0, 0, 640, 0, 905, 360, 0, 0, 1], [], (640, 480), "plumb_bob", "focal lengths must be"),
    ([-910, 0, 640, 0, 905, 360, 0, 0, 1], [], (640, 480), "plumb_bob", "focal lengths"),
    ([910, 0, 640, 0, 905, 360, 0, 0, 2], [], (640, 480), "plumb_bob", r"\[0, 0, 1\]"),
    ([910, 0, 640, 0, 905, 360], [], (640, 480), "plumb_bob", "9 values"),
    (K.reshape(-1), [0.1, 0.0, 0.0], (640, 480), "plumb_bob", "3 coefficients"),
    (K.reshape(-1), [0.1, 0, 0, 0, float("inf")], (640, 480), "plumb_bob", "non-finite"),
    (K.reshape(-1), [0.1, 0, 0, 0], (640, 480), "equidistant", "unsupported distortion model"),
    (K.reshape(-1), [0.1, 0, 0, 0, 0], (640, 480), "", "without a model"),
    (K.reshape(-1), [], (0, 480), "plumb_bob", "width must be a positive integer"),
    (K.reshape(-1), [], (640, -1), "plumb_bob", "height must be a positive integer"),
])
def test_intrinsics_reject_bad_camera_info(k, d, size, model, message):
    with pytest.raises(CalibrationError, match=message):
        CameraIntrinsics.from_camera_info_fields(k, d, size[0], size[1], model)


def test_camera_pose_normalises_and_validates():
    pose = CameraPose([0, 0, 1], [0, 0, 0, 0.999])
    np.testing.assert_allclose(pose.quaternion, [0, 0, 0, 1])
    np.testing.assert_allclose(pose.matrix()[:3, 3], [0, 0, 1])
    with pytest.raises(CalibrationError, match="non-finite"):
        CameraPose([0, float("nan"), 1], [0, 0, 0, 1])
    with pytest.raises(CalibrationError, match="norm"):
        CameraPose([0, 0, 1], [0, 0, 0, 0])
    with pytest.raises(CalibrationError, match="not a unit quaternion"):
        CameraPose([0, 0, 1], [0, 0, 0, 2.0])
    with pytest.raises(CalibrationError, match="4 numbers"):
        CameraPose([0, 0, 1], [0, 0, True, 1])


def test_camera_pose_from_body_frame():
    # A body frame (x forward) pitched down by 90 degrees: optical z must point down (-z).
    s = math.sqrt(0.5)
    pose = CameraPose.from_body_frame([0, 0, 1], [0, s, 0, s])
    np.testing.assert_allclose(pose.rotation[:, 2], [0, 0, -1], atol=1e-12)  # optical axis
    np.testing.assert_allclose(pose.rotation[:, 0], [0, -1, 0], atol=1e-12)  # right = body -y
    with pytest.raises(CalibrationError, match="not a unit quaternion"):
        CameraPose.from_body_frame([0, 0, 1], [0, 2 * s, 0, 2 * s])


def test_work_surface():
    surface = WorkSurface([0, 0, 0.1], [0, 0, 5.0])
    np.testing.assert_allclose(surface.normal, [0, 0, 1])
    np.testing.assert_allclose(WorkSurface.horizontal(0.25).point, [0, 0, 0.25])
    np.testing.assert_allclose(WorkSurface().normal, [0, 0, 1])
    with pytest.raises(CalibrationError, match="zero length"):
        WorkSurface([0, 0, 0], [0, 0, 0])


# ---------------------------------------------------------------------------------------------
# YAML
# ---------------------------------------------------------------------------------------------

def test_example_config_is_a_straight_down_camera_0_8_m_above_the_table():
    calibration = load_calibration_yaml(CONFIG)
    assert calibration.base_frame == "base_link"
    assert calibration.camera_frame.endswith("optical_frame")
    assert calibration.intrinsics is None
    np.testing.assert_allclose(calibration.camera_pose.translation, [0.6, 0.0, 0.8])
    np.testing.assert_allclose(calibration.camera_pose.rotation, LOOKING_DOWN, atol=1e-6)
    np.testing.assert_allclose(calibration.surface.point[2], 0.0)
    # The principal point lands on the table right under the camera.
    hit = pixels_to_surface([[640, 360]], PINHOLE, calibration.camera_pose, calibration.surface)
    np.testing.assert_allclose(hit[0], [0.6, 0.0, 0.0], atol=1e-9)


GOOD_YAML = """
base_frame: base_link
camera_frame: cam_optical
camera_pose:
  translation: [0.5, 0.1, 0.9]
  quaternion_xyzw: [0.7071068, -0.7071068, 0.0, 0.0]
work_surface:
  point: [0.0, 0.0, 0.05]
  normal: [0.0, 0.0, 2.0]
intrinsics:
  image_width: 1280
  image_height: 720
  camera_matrix: {rows: 3, cols: 3, data: [910.0, 0.0, 640.0, 0.0, 905.0, 360.0, 0.0, 0.0, 1.0]}
  distortion_model: plumb_bob
  distortion_coefficients: {rows: 1, cols: 5, data: [-0.12, 0.05, 0.0008, -0.0005, -0.01]}
"""


def write(tmp_path, text):
    path = tmp_path / "calibration.yaml"
    path.write_text(text)
    return path


def test_load_full_yaml(tmp_path):
    calibration = load_calibration_yaml(write(tmp_path, GOOD_YAML))
    assert calibration.camera_frame == "cam_optical"
    np.testing.assert_allclose(calibration.camera_pose.translation, [0.5, 0.1, 0.9])
    assert abs(np.linalg.norm(calibration.camera_pose.quaternion) - 1) < 1e-12
    np.testing.assert_allclose(calibration.surface.normal, [0, 0, 1])
    np.testing.assert_allclose(calibration.surface.point, [0, 0, 0.05])
    np.testing.assert_allclose(calibration.intrinsics.camera_matrix, K)
    np.testing.assert_allclose(calibration.intrinsics.distortion, DISTORTION)


def test_load_yaml_body_convention_and_plain_lists(tmp_path):
    s = math.sqrt(0.5)
    mapping = "{rows: 3, cols: 3, data: [910.0, 0.0, 640.0, 0.0, 905.0, 360.0, 0.0, 0.0, 1.0]}"
    nested_list = "[[910.0, 0.0, 640.0], [0.0, 905.0, 360.0], [0.0, 0.0, 1.0]]"
    text = (GOOD_YAML.replace("translation:", "convention: body\n  translation:")
            .replace("[0.7071068, -0.7071068, 0.0, 0.0]", f"[0.0, {s}, 0.0, {s}]")
            .replace(mapping, nested_list))
    calibration = load_calibration_yaml(write(tmp_path, text))
    np.testing.assert_allclose(calibration.camera_pose.rotation[:, 2], [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(calibration.intrinsics.camera_matrix, K)


# What camera_calibration / camera_info_manager write.
CAMERA_INFO_YAML = """
image_width: 1280
image_height: 720
camera_name: overhead
camera_matrix:
  rows: 3
  cols: 3
  data: [910.0, 0.0, 640.0, 0.0, 905.0, 360.0, 0.0, 0.0, 1.0]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.12, 0.05, 0.0008, -0.0005, -0.01]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
projection_matrix:
  rows: 3
  cols: 4
  data: [900.0, 0.0, 640.0, 0.0, 0.0, 900.0, 360.0, 0.0, 0.0, 0.0, 1.0, 0.0]
"""


def test_load_intrinsics_yaml(tmp_path):
    intrinsics = load_intrinsics_yaml(write(tmp_path, CAMERA_INFO_YAML))
    np.testing.assert_allclose(intrinsics.camera_matrix, K)
    np.testing.assert_allclose(intrinsics.distortion, DISTORTION)
    assert (intrinsics.width, intrinsics.height) == (1280, 720)
    assert intrinsics.distortion_model == "plumb_bob"


@pytest.mark.parametrize("old, new, message", [
    ("image_width: 1280\n", "", "missing key 'image_width' in top level"),
    ("910.0, 0.0, 640.0", "910.0, 0.0, .nan", "camera_matrix has non-finite"),
    ("plumb_bob", "equidistant", "unsupported distortion model 'equidistant'"),
    ("camera_name:", "camera_nmae:", r"unknown key\(s\) \['camera_nmae'\]"),
])
def test_load_intrinsics_yaml_errors(tmp_path, old, new, message):
    path = write(tmp_path, CAMERA_INFO_YAML.replace(old, new, 1))
    with pytest.raises(CalibrationError, match=message) as error:
        load_intrinsics_yaml(path)
    assert str(path) in str(error.value)
    with pytest.raises(CalibrationError, match="not found"):
        load_intrinsics_yaml(tmp_path / "missing.yaml")


def test_distortion_model_is_kept_or_inferred():
    assert PINHOLE.distortion_model == "plumb_bob"
    assert DISTORTED.distortion_model == "plumb_bob"
    assert CameraIntrinsics(K, np.zeros(8), 1280, 720).distortion_model == "rational_polynomial"
    from_info = CameraIntrinsics.from_camera_info_fields(K.ravel(), [], 640, 480, "")
    assert from_info.distortion_model == "plumb_bob"


def test_load_yaml_missing_file(tmp_path):
    with pytest.raises(CalibrationError, match="not found"):
        load_calibration_yaml(tmp_path / "nope.yaml")


@pytest.mark.parametrize("edit, message", [
    (("camera_frame: cam_optical\n", ""), "missing key 'camera_frame'"),
    (("  translation: [0.5, 0.1, 0.9]\n", ""), "missing key 'translation' in camera_pose"),
    (("  normal: [0.0, 0.0, 2.0]\n", ""), "missing key 'normal' in work_surface"),
    (("[0.5, 0.1, 0.9]", "[0.5, .nan, 0.9]"), "camera_pose.translation has non-finite"),
    (("[0.5, 0.1, 0.9]", "[0.5, 0.1]"), "must have 3 values"),
    (("[0.5, 0.1, 0.9]", "[0.5, yes, 0.9]"), "must be 3 numbers"),
    (("[0.7071068, -0.7071068, 0.0, 0.0]", "[0.0, 0.0, 0.0, 0.0]"), "norm"),
    (("[0.7071068, -0.7071068, 0.0, 0.0]", "[1.0, 1.0, 0.0, 0.0]"), "not a unit quaternion"),
    (("quaternion_xyzw:", "quaternion:"), r"unknown key\(s\) \['quaternion'\] in camera_pose"),
    (("base_frame: base_link", "base_frame: ''"), "base_frame must be a non-empty string"),
    (("  point: [0.0, 0.0, 0.05]\n", "  height: 0.1\n"), "either height, or point and normal"),
    (("[0.0, 0.0, 2.0]", "[0.0, 0.0, 0.0]"), "zero length"),
    (("translation:", "convention: sideways\n  translation:"), "'optical' or 'body'"),
    (("910.0, 0.0, 640.0, 0.0", "0.0, 0.0, 640.0, 0.0"), "focal lengths"),
    (("work_surface:\n  point: [0.0, 0.0, 0.05]\n  normal: [0.0, 0.0, 2.0]\n",
      "work_surface: 0.1\n"), "work_surface must be a mapping"),
    (("intrinsics:", "extrinsics: 1\nintrinsics:"),
     r"unknown key\(s\) \['extrinsics'\] in top level"),
])
def test_load_yaml_errors_name_the_key(tmp_path, edit, message):
    old, new = edit
    assert old in GOOD_YAML
    path = write(tmp_path, GOOD_YAML.replace(old, new, 1))
    with pytest.raises(CalibrationError, match=message) as error:
        load_calibration_yaml(path)
    assert str(path) in str(error.value)


def test_load_yaml_syntax_error_and_non_mapping(tmp_path):
    with pytest.raises(CalibrationError, match="invalid YAML"):
        load_calibration_yaml(write(tmp_path, "camera_pose: [1, 2\n"))
    with pytest.raises(CalibrationError, match="top level must be a mapping"):
        load_calibration_yaml(write(tmp_path, "- 1\n- 2\n"))


# ---------------------------------------------------------------------------------------------
# grasp_to_gripper_pose: the answer worked out by hand
# ---------------------------------------------------------------------------------------------

def test_straight_down_camera_by_hand():
    """f = 1000 px at 0.8 m: 1 px is 0.8 mm on the table; image right is base -y."""
    intr = CameraIntrinsics([[1000.0, 0, 640], [0, 1000.0, 360], [0, 0, 1]], [], 1280, 720)
    pose = camera([0.6, 0.0, 0.8])
    # 100 px right of the principal point, 100 px wide, jaws 40 px, opening axis along image x.
    result = grasp_to_gripper_pose([740, 360, 100, 40, 0], intr, pose, WorkSurface())
    np.testing.assert_allclose(result.position, [0.6, -0.08, 0.0], atol=1e-12)
    assert result.opening_width_m == pytest.approx(0.08)
    assert result.jaw_size_m == pytest.approx(0.032)
    rotation = result.rotation
    np.testing.assert_allclose(rotation[:, 2], [0, 0, -1], atol=1e-12)   # tool z down
    np.testing.assert_allclose(rotation[:, 1], [0, -1, 0], atol=1e-12)   # closing axis = image x
    assert result.yaw == pytest.approx(0.0)                               # Rz(0) Rx(pi)
    np.testing.assert_allclose(result.quaternion, [1, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(result.matrix()[:3, 3], result.position)


# ---------------------------------------------------------------------------------------------
# grasp_to_gripper_pose: synthetic cameras against cv2.projectPoints
# ---------------------------------------------------------------------------------------------

CAMERAS = {
    "straight down": camera([0.6, 0.0, 0.8]),
    "tilted 30 deg": camera([0.2, 0.0, 0.9], tilt_deg=30.0),
    "rotated 37 deg and tilted 20 deg": camera([0.5, 0.3, 1.1], yaw_deg=37.0, tilt_deg=-20.0),
    "rotated 150 deg": camera([0.7, -0.2, 0.7], yaw_deg=150.0),
}
SURFACES = {
    "table z=0": WorkSurface.horizontal(0.0),
    "raised z=0.12": WorkSurface.horizontal(0.12),
    "tilted 10 deg": WorkSurface([0.5, 0.0, 0.05],
                                 rot_z(0.4) @ rot_x(math.radians(10)) @ [0, 0, 1]),
}


def surface_target(pose, surface):
    """A point on the surface that the camera sees well off-centre (distortion matters there)."""
    origin = pose.translation
    axis = pose.rotation @ [0.25, -0.15, 1.0]  # a ray a few hundred pixels from the centre
    distance = np.dot(surface.point - origin, surface.normal) / np.dot(axis, surface.normal)
    return origin + distance * axis


@pytest.mark.parametrize("intrinsics", [PINHOLE, DISTORTED], ids=["pinhole", "distorted"])
@pytest.mark.parametrize("surface_name", SURFACES)
@pytest.mark.parametrize("camera_name", CAMERAS)
def test_recovers_known_points_widths_and_axes(camera_name, surface_name, intrinsics):
    pose, surface = CAMERAS[camera_name], SURFACES[surface_name]
    centre = surface_target(pose, surface)
    u, v = in_plane_axes(surface.normal)
    closing = math.cos(0.7) * u + math.sin(0.7) * v
    across = np.cross(surface.normal, closing)
    a, b = centre - 0.04 * closing, centre + 0.04 * closing   # 8 cm opening
    c, d = centre - 0.01 * across, centre + 0.01 * across     # 2 cm jaws
    pa, pb, pc, pd, p_centre = project([a, b, c, d, centre], intrinsics, pose)

    # Position: the grasp centre pixel is the projection of the known point.
    grasp = grasp_from_pixels(pa, pb)
    grasp[:2] = p_centre
    result = grasp_to_gripper_pose(grasp, intrinsics, pose, surface)
    np.testing.assert_allclose(result.position, centre, atol=1e-7)

    # Opening width and closing axis: the opening axis runs exactly through the pixels of a and b.
    result = grasp_to_gripper_pose(grasp_from_pixels(pa, pb), intrinsics, pose, surface)
    assert result.opening_width_m == pytest.approx(0.08, abs=1e-7)
    rotation = result.rotation
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    np.testing.assert_allclose(rotation[:, 2], -surface.normal, atol=1e-12)
    assert abs(np.dot(rotation[:, 1], closing)) == pytest.approx(1.0, abs=1e-7)

    # Jaw size: a grasp whose across axis runs through the pixels of c and d.
    # (the across axis (-sin t, cos t) is the opening axis turned by +90 degrees)
    cd = grasp_from_pixels(pc, pd)
    jaw_grasp = [cd[0], cd[1], 10.0, cd[2], cd[4] - 90.0]
    result = grasp_to_gripper_pose(jaw_grasp, intrinsics, pose, surface)
    assert result.jaw_size_m == pytest.approx(0.02, abs=1e-7)


def test_distortion_is_not_ignored():
    pose, surface = CAMERAS["straight down"], SURFACES["table z=0"]
    target = surface_target(pose, surface)
    pixel = project([target], DISTORTED, pose)[0]
    with_model = pixels_to_surface([pixel], DISTORTED, pose, surface)[0]
    without_model = pixels_to_surface([pixel], PINHOLE, pose, surface)[0]
    np.testing.assert_allclose(with_model, target, atol=1e-7)
    assert np.linalg.norm(without_model - target) > 0.002  # > 2 mm off without the lens model


def test_grasp_depth_moves_along_minus_normal():
    pose, surface = CAMERAS["tilted 30 deg"], SURFACES["tilted 10 deg"]
    grasp = [700, 300, 60, 20, 15]
    on_surface = grasp_to_gripper_pose(grasp, DISTORTED, pose, surface).position
    deeper = grasp_to_gripper_pose(grasp, DISTORTED, pose, surface, grasp_depth=0.02).position
    above = grasp_to_gripper_pose(grasp, DISTORTED, pose, surface, grasp_depth=-0.03).position
    np.testing.assert_allclose(deeper - on_surface, -0.02 * surface.normal, atol=1e-12)
    np.testing.assert_allclose(above - on_surface, 0.03 * surface.normal, atol=1e-12)


def test_zero_width_grasp_still_has_an_orientation():
    pose = CAMERAS["straight down"]
    result = grasp_to_gripper_pose([640, 360, 0, 0, 90], PINHOLE, pose, WorkSurface())
    assert result.opening_width_m == 0.0 and result.jaw_size_m == 0.0
    assert abs(result.rotation[0, 1]) == pytest.approx(1.0)  # image y = base -x


# ---------------------------------------------------------------------------------------------
# the half-turn symmetry of a parallel gripper
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("camera_name", CAMERAS)
@pytest.mark.parametrize("theta", [-90.0, -45.0, 0.0, 30.0, 89.0])
def test_theta_and_theta_plus_180_give_the_same_pose(camera_name, theta):
    pose = CAMERAS[camera_name]
    first = grasp_to_gripper_pose([600, 400, 80, 30, theta], DISTORTED, pose, WorkSurface())
    second = grasp_to_gripper_pose([600, 400, 80, 30, theta + 180], DISTORTED, pose, WorkSurface())
    np.testing.assert_allclose(second.rotation, first.rotation, atol=1e-9)
    assert second.yaw == pytest.approx(first.yaw)
    np.testing.assert_allclose(second.position, first.position, atol=1e-12)
    assert second.opening_width_m == pytest.approx(first.opening_width_m)


@pytest.mark.parametrize("reference_yaw",
                         [0.0, 1.0, -1.5, math.pi, 3.0, -3.0, 2 * math.pi + 0.2, 10.0])
@pytest.mark.parametrize("theta", [-80.0, 0.0, 35.0, 60.0])
def test_reference_yaw_picks_the_nearest_of_the_two_poses(reference_yaw, theta):
    pose = CAMERAS["rotated 37 deg and tilted 20 deg"]
    grasp = [700, 330, 80, 30, theta]
    result = grasp_to_gripper_pose(grasp, PINHOLE, pose, WorkSurface(),
                                   reference_yaw=reference_yaw)
    assert reference_yaw - math.pi / 2 <= result.yaw < reference_yaw + math.pi / 2
    # yaw is the heading of tool x, and tool z stays down.
    tool_x = result.rotation[:, 0]
    assert math.cos(result.yaw - math.atan2(tool_x[1], tool_x[0])) == pytest.approx(1.0)
    np.testing.assert_allclose(result.rotation[:, 2], [0, 0, -1], atol=1e-12)
    # The other pose is the half turn about tool z, with yaw further from the reference.
    flipped = grasp_to_gripper_pose(grasp, PINHOLE, pose, WorkSurface(),
                                    reference_yaw=reference_yaw + math.pi)
    half_turn_about_z = np.diag([-1.0, -1.0, 1.0])
    np.testing.assert_allclose(flipped.rotation, result.rotation @ half_turn_about_z, atol=1e-9)
    np.testing.assert_allclose(flipped.position, result.position)


def test_reference_yaw_example_on_the_example_camera():
    """Opening axis along image y (base x): closing axis is base +x or -x; yaw 90 or -90 deg."""
    pose = camera([0.6, 0.0, 0.8])
    grasp = [640, 360, 50, 20, 90]
    assert grasp_to_gripper_pose(grasp, PINHOLE, pose, WorkSurface(), reference_yaw=1.2).yaw == \
        pytest.approx(math.pi / 2)
    assert grasp_to_gripper_pose(grasp, PINHOLE, pose, WorkSurface(), reference_yaw=-1.2).yaw == \
        pytest.approx(-math.pi / 2)


# ---------------------------------------------------------------------------------------------
# inputs that have no answer
# ---------------------------------------------------------------------------------------------

def test_ray_parallel_to_the_surface():
    looking_sideways = camera([0.0, 0.0, 0.5], tilt_deg=90.0)  # optical axis horizontal
    with pytest.raises(CalibrationError, match="parallel"):
        grasp_to_gripper_pose([640, 360, 20, 10, 0], PINHOLE, looking_sideways, WorkSurface())


def test_ray_meeting_the_surface_behind_the_camera():
    looking_up_a_bit = camera([0.0, 0.0, 0.5], tilt_deg=100.0)  # principal ray rises
    with pytest.raises(CalibrationError, match="behind the camera"):
        grasp_to_gripper_pose([640, 360, 20, 10, 0], PINHOLE, looking_up_a_bit, WorkSurface())


def test_camera_below_the_surface_or_normal_flipped():
    pose = camera([0.6, 0.0, 0.8])
    with pytest.raises(CalibrationError, match="behind the work surface"):
        grasp_to_gripper_pose([640, 360, 20, 10, 0], PINHOLE, pose,
                              WorkSurface([0, 0, 0], [0, 0, -1]))
    with pytest.raises(CalibrationError, match="behind the work surface"):
        grasp_to_gripper_pose([640, 360, 20, 10, 0], PINHOLE, pose, WorkSurface.horizontal(1.0))


@pytest.mark.parametrize("grasp, message", [
    ([640, 360, 20, 10], "5 finite numbers"),
    ([640, float("nan"), 20, 10, 0], "5 finite numbers"),
    ([640, 360, -20, 10, 0], ">= 0"),
    ([640, 360, 20, -1, 0], ">= 0"),
])
def test_bad_grasps(grasp, message):
    with pytest.raises(CalibrationError, match=message):
        grasp_to_gripper_pose(grasp, PINHOLE, camera([0.6, 0, 0.8]), WorkSurface())


def test_bad_depth_and_reference_yaw():
    pose = camera([0.6, 0, 0.8])
    with pytest.raises(CalibrationError, match="grasp_depth"):
        grasp_to_gripper_pose([640, 360, 20, 10, 0], PINHOLE, pose, WorkSurface(),
                              grasp_depth=float("inf"))
    with pytest.raises(CalibrationError, match="reference_yaw"):
        grasp_to_gripper_pose([640, 360, 20, 10, 0], PINHOLE, pose, WorkSurface(),
                              reference_yaw=float("nan"))


def test_undistortion_that_does_not_converge_is_an_error():
    # Barrel distortion r (1 - 0.5 r^2) never exceeds 0.544: further pixels have no inverse.
    wild = CameraIntrinsics(K, [-0.5, 0, 0, 0, 0], 1280, 720)
    pixels_to_surface([[1000.0, 360.0]], wild, camera([0.6, 0, 0.8]), WorkSurface())  # r = 0.44
    with pytest.raises(CalibrationError, match="did not converge"):
        pixels_to_surface([[1200.0, 360.0]], wild, camera([0.6, 0, 0.8]), WorkSurface())

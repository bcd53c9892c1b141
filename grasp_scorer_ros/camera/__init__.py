"""Camera geometry: from a grasp in image pixels to a top-down gripper pose in the robot base frame.

Pure numpy/OpenCV: no ROS import, so the geometry is tested with plain pytest and the nodes only
translate messages to and from these types.

* :mod:`.models`            the types: :class:`CameraIntrinsics`, :class:`CameraPose`,
  :class:`WorkSurface`, :class:`Calibration`, :class:`GripperPose`, :class:`CalibrationError`
* :mod:`.calibration_file`  :func:`load_calibration_yaml`, :func:`load_intrinsics_yaml`: the YAML
  files (schema in ``config/calibration.yaml``), every problem named by file and key
* :mod:`.pixel_to_pose`     :func:`pixels_to_surface`, :func:`grasp_to_gripper_pose`: ray casting
  onto the work surface
* :mod:`.image_decoding`    ``sensor_msgs/Image`` fields to an RGB array and back

Frames and units (metres and radians unless a name says otherwise):

* **base frame**: the robot base frame (REP 103: x forward, y left, z up for a floor-mounted arm).
  Every 3D quantity here is expressed in it.
* **camera optical frame** (REP 103 optical): z forward along the optical axis, x right and y down
  in the image. :class:`CameraPose` is the pose of this frame in the base frame, i.e. the transform
  ``T_base_camera`` that maps camera coordinates to base coordinates: ``p_base = R p_cam + t``.
* **pixel coordinates**: x to the right, y down, the raw (distorted) image the grasp was detected
  on; see :mod:`grasp_scorer_ros.grasp` for the 5D grasp ``[x, y, w, h, theta_deg]``.
* **tool frame** of the resulting :class:`GripperPose`: z points down into the work surface
  (``-normal``), y is the closing axis of the jaws (the grasp's opening axis projected onto the
  surface), x = y cross z completes a right-handed frame. A top-down tool with ``yaw = 0`` on a
  horizontal table has ``R = Rz(0) Rx(pi)``, i.e. FANUC ``W, P, R = 180, 0, 0`` deg.

Quaternions are ``[x, y, z, w]`` (ROS order) everywhere (rotation maths:
:mod:`grasp_scorer_ros.rotations`).
"""

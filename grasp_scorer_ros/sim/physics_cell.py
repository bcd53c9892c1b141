"""The physics cell: a MuJoCo table with a :class:`~.cell_scene.CellScene`'s objects, the overhead
camera of a calibration file, and a parallel-plate gripper that moves as the robot's TCP does.

* **Camera.** Built from the same calibration YAML and intrinsics the detection node reads: its pose
  is the calibration's ``T_base_camera`` (MuJoCo cameras look along their -z with +y up; the ROS
  optical frame looks along +z with +y down, a half turn about x apart), its focal lengths and
  principal point those of K (MuJoCo's ``principalpixel`` is the offset of the principal point from
  the image centre, negative towards +x, with pixel centres at ``i + 0.5``). MuJoCo renders no lens
  distortion, so a calibration with distortion is refused rather than rendered wrong. The gripper
  is not drawn in camera frames (they stand for frames taken with the arm out of view).
* **Gripper.** A mocap body carries the TCP (the fingertips' centre, tool z down, tool y the
  closing axis, as :mod:`grasp_scorer_ros.camera` and the pick planner define it); the hand is a
  free body welded to it, so contacts push back on a compliant wrist instead of an infinitely stiff
  one. Two coupled slide joints open the pads to ``max_opening`` and close them with a position
  actuator whose force is capped at ``grip_force_n`` (a force-limited close); their damping keeps
  each pad's closing speed near 0.17 m/s, as a real gripper's, where light pads at full force
  tunnel through a part.
* **Contacts.** A grasp holds in MuJoCo only with settings made for it: elliptic friction cones,
  ``condim`` 4 (torsional friction, so a part does not spin about the jaw axis), friction 1.0,
  ``impratio`` 10 and ``noslip_iterations`` 3; the tests prove that a good grasp carries a part
  and a bad one drops it.

Set ``MUJOCO_GL`` (``egl`` headless) before the first import of :mod:`mujoco`; :func:`ensure_gl`
does it for callers that have not.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Optional, Sequence

import cv2
import numpy as np

from grasp_scorer_ros.camera.models import Calibration, CameraIntrinsics
from grasp_scorer_ros.rotations import matrix_to_quaternion, quaternion_to_matrix
from grasp_scorer_ros.sim.cell_scene import CellScene

GRIPPER_GROUP = 3           # geom group of the gripper: hidden in camera frames
_OPTICAL_TO_MUJOCO = np.diag([1.0, -1.0, -1.0])


def ensure_gl() -> None:
    """Headless offscreen rendering (EGL through Mesa) unless the caller chose a backend."""
    os.environ.setdefault("MUJOCO_GL", "egl")


@dataclass(frozen=True)
class GripperSpec:
    """The parallel-plate gripper, metres and newtons. ``max_opening`` is the bridge's
    ``gripper_max_opening_m``; the pads reach ``pad_length`` up from the fingertips (the TCP)."""
    max_opening: float = 0.10
    jaw_size: float = 0.022          # pad width across the closing axis
    pad_thickness: float = 0.01
    pad_length: float = 0.05
    grip_force_n: float = 25.0
    hand_mass_kg: float = 0.4


def _fmt(values) -> str:
    return " ".join(f"{float(v):.6g}" for v in np.ravel(values))


def _mj_quat(rotation) -> np.ndarray:
    """MuJoCo's quaternion order ``[w, x, y, z]`` of a rotation matrix."""
    x, y, z, w = matrix_to_quaternion(rotation)
    return np.array([w, x, y, z])


def camera_xml(calibration: Calibration, intrinsics: CameraIntrinsics, name: str = "overhead") -> str:
    """The ``<camera>`` element of a calibrated pinhole camera (no distortion)."""
    if np.any(np.abs(intrinsics.distortion) > 0):
        raise ValueError("the simulated camera renders no lens distortion: give intrinsics with zero "
                         f"distortion (got {intrinsics.distortion.tolist()})")
    k = intrinsics.camera_matrix
    if abs(k[0, 1]) > 0:
        raise ValueError("the simulated camera has no skew")
    w, h = intrinsics.width, intrinsics.height
    pose = calibration.camera_pose
    quat = _mj_quat(pose.rotation @ _OPTICAL_TO_MUJOCO)
    principal = ((w - 1) / 2 - k[0, 2], (h - 1) / 2 - k[1, 2])
    return (f'<camera name="{name}" pos="{_fmt(pose.translation)}" quat="{_fmt(quat)}" '
            f'resolution="{w} {h}" sensorsize="{w * 1e-5:.6g} {h * 1e-5:.6g}" '
            f'focalpixel="{k[0, 0]:.6g} {k[1, 1]:.6g}" principalpixel="{principal[0]:.6g} {principal[1]:.6g}"/>')


def _object_xml(obj, table_z: float, assets: dict) -> str:
    common = (f'rgba="{_fmt(obj.rgba)}" density="{obj.density:.6g}" condim="4" '
              f'friction="1.0 0.02 0.002" material="{obj.material}"')
    x, y = obj.position
    if obj.primitive == "ball":
        r = obj.height / 2
        geoms = f'<geom type="sphere" size="{r:.6g}" pos="0 0 {r:.6g}" {common}/>'
    elif obj.primitive == "roller":
        rect = np.asarray(obj.footprint.minimum_rotated_rectangle.exterior.coords)[:4]
        edges = [rect[1] - rect[0], rect[2] - rect[1]]
        long_edge = max(edges, key=np.linalg.norm)
        length, r = float(np.linalg.norm(long_edge)), obj.height / 2
        yaw = math.atan2(long_edge[1], long_edge[0])
        # A cylinder's axis is its z: lay it along the footprint's long axis.
        axis = np.array([math.cos(yaw), math.sin(yaw), 0.0])
        geoms = (f'<geom type="cylinder" size="{r:.6g} {length / 2:.6g}" pos="0 0 {r:.6g}" '
                 f'zaxis="{_fmt(axis)}" {common}/>')
    else:
        parts = []
        for i, piece in enumerate(obj.pieces):
            mesh = f"{obj.name}_piece{i}"
            bottom = np.column_stack([piece, np.zeros(len(piece))])
            top = np.column_stack([piece, np.full(len(piece), obj.height)])
            assets[mesh] = _fmt(np.vstack([bottom, top]))
            parts.append(f'<geom type="mesh" mesh="{mesh}" {common}/>')
        geoms = "".join(parts)
    return (f'<body name="{obj.name}" pos="{x:.6g} {y:.6g} {table_z:.6g}">'
            f'<freejoint name="{obj.name}_joint"/>{geoms}</body>')


def build_mjcf(scene: CellScene, calibration: Calibration, intrinsics: CameraIntrinsics,
               gripper: GripperSpec = GripperSpec(), timestep: float = 0.002) -> tuple[str, dict]:
    """The cell's MJCF text and its assets (the table print as PNG bytes)."""
    table_z = float(calibration.surface.point[2])
    meshes: dict = {}
    objects = "".join(_object_xml(o, table_z, meshes) for o in scene.objects)
    mesh_assets = "".join(f'<mesh name="{n}" vertex="{v}"/>' for n, v in meshes.items())
    corners = scene.table_corners
    centre, half = corners.mean(0), (corners.max(0) - corners.min(0)) / 2
    ok, png = cv2.imencode(".png", cv2.cvtColor(scene.table_image, cv2.COLOR_RGB2BGR))
    assert ok
    light = scene.light_direction / np.linalg.norm(scene.light_direction)
    i = scene.light_intensity
    g = gripper
    half_open = g.max_opening / 2
    pad = f'{g.jaw_size / 2:.6g} {g.pad_thickness / 2:.6g} {g.pad_length / 2:.6g}'
    pad_common = (f'type="box" size="{pad}" condim="4" friction="1.0 0.02 0.002" rgba="0.2 0.2 0.22 1" '
                  f'group="{GRIPPER_GROUP}" mass="0.05"')
    palm_half = np.array([g.jaw_size / 2 + 0.005, half_open + g.pad_thickness + 0.005, 0.012])
    width, height = intrinsics.width, intrinsics.height
    xml = f"""
<mujoco model="grasp_scorer_cell">
  <compiler angle="radian"/>
  <option timestep="{timestep}" cone="elliptic" impratio="10" noslip_iterations="3"/>
  <visual>
    <global offwidth="{max(width, 640)}" offheight="{max(height, 480)}"/>
    <headlight ambient="{0.25 * i:.3g} {0.25 * i:.3g} {0.25 * i:.3g}" diffuse="0.15 0.15 0.15" specular="0 0 0"/>
    <quality shadowsize="2048"/>
  </visual>
  <asset>
    <texture name="print" type="2d" file="print.png"/>
    <material name="print" texture="print" texrepeat="1 1" texuniform="false" specular="0.1"/>
    <material name="matte" specular="0.05" shininess="0.1"/>
    <material name="glossy" specular="0.6" shininess="0.8"/>
    <material name="metallic" specular="0.9" shininess="0.9" reflectance="0.1"/>
    {mesh_assets}
  </asset>
  <worldbody>
    <light directional="true" castshadow="true" dir="{_fmt(light)}" pos="0 0 3"
           diffuse="{0.75 * i:.3g} {0.75 * i:.3g} {0.72 * i:.3g}" specular="0.2 0.2 0.2"/>
    <geom name="table" type="box" pos="0.6 -0.1 {table_z - 0.02:.6g}" size="0.6 0.6 0.02" rgba="0.45 0.45 0.45 1"
          condim="4" friction="1.0 0.02 0.002"/>
    <geom name="table_print" type="box" pos="{centre[0]:.6g} {centre[1]:.6g} {table_z - 0.0005:.6g}"
          size="{half[0]:.6g} {half[1]:.6g} 0.0005" material="print" contype="0" conaffinity="0"/>
    {camera_xml(calibration, intrinsics)}
    <camera name="side" pos="1.3 -0.2 0.55" xyaxes="0 1 0 -0.53 0 0.848"/>
    {objects}
    <body name="tcp_target" mocap="true" pos="0.5 0 0.4"/>
    <body name="hand" pos="0.5 0 0.4" gravcomp="1">
      <freejoint name="hand_joint"/>
      <geom name="palm" type="box" pos="0 0 {-(g.pad_length + palm_half[2]):.6g}" size="{_fmt(palm_half)}"
            mass="{g.hand_mass_kg:.6g}" rgba="0.6 0.6 0.65 1" group="{GRIPPER_GROUP}"/>
      <body name="finger_a" gravcomp="1">
        <joint name="finger_a" type="slide" axis="0 -1 0" limited="true" range="0 {half_open:.6g}" damping="150"/>
        <geom name="pad_a" pos="0 {-g.pad_thickness / 2:.6g} {-g.pad_length / 2:.6g}" {pad_common}/>
      </body>
      <body name="finger_b" gravcomp="1">
        <joint name="finger_b" type="slide" axis="0 1 0" limited="true" range="0 {half_open:.6g}" damping="150"/>
        <geom name="pad_b" pos="0 {g.pad_thickness / 2:.6g} {-g.pad_length / 2:.6g}" {pad_common}/>
      </body>
    </body>
  </worldbody>
  <contact>
    <exclude body1="finger_a" body2="finger_b"/>
  </contact>
  <equality>
    <weld body1="tcp_target" body2="hand" solref="0.004 1"/>
    <joint joint1="finger_a" joint2="finger_b" polycoef="0 1 0 0 0"/>
  </equality>
  <actuator>
    <position name="jaws" joint="finger_a" kp="2000" ctrlrange="0 {half_open:.6g}"
              forcelimited="true" forcerange="{-g.grip_force_n:.6g} {g.grip_force_n:.6g}"/>
  </actuator>
</mujoco>"""
    return xml, {"print.png": png.tobytes()}


class PhysicsCell:
    """One scene in MuJoCo, stepped as fast as the CPU allows (``step``), or by a caller's clock."""

    def __init__(self, scene: CellScene, calibration: Calibration, intrinsics: CameraIntrinsics,
                 gripper: GripperSpec = GripperSpec(), timestep: float = 0.002,
                 home_tcp: Sequence[float] = (0.5, 0.0, 0.4), renderer_cache: Optional[dict] = None):
        ensure_gl()
        import mujoco
        self._mj = mujoco
        self.scene, self.calibration, self.intrinsics, self.gripper = scene, calibration, intrinsics, gripper
        self.xml, assets = build_mjcf(scene, calibration, intrinsics, gripper, timestep)
        self.model = mujoco.MjModel.from_xml_string(self.xml, assets)
        self.data = mujoco.MjData(self.model)
        m = self.model
        name = lambda kind, n: mujoco.mj_name2id(m, kind, n)  # noqa: E731
        self._object_bodies = [name(mujoco.mjtObj.mjOBJ_BODY, o.name) for o in scene.objects]
        self._mocap = m.body_mocapid[name(mujoco.mjtObj.mjOBJ_BODY, "tcp_target")]
        self._hand_qpos = m.jnt_qposadr[name(mujoco.mjtObj.mjOBJ_JOINT, "hand_joint")]
        self._hand_dof = m.jnt_dofadr[name(mujoco.mjtObj.mjOBJ_JOINT, "hand_joint")]
        self._finger_qpos = m.jnt_qposadr[name(mujoco.mjtObj.mjOBJ_JOINT, "finger_a")]
        self._pads = {name(mujoco.mjtObj.mjOBJ_GEOM, "pad_a"), name(mujoco.mjtObj.mjOBJ_GEOM, "pad_b")}
        self._geom_object = {g: self._object_bodies.index(m.geom_bodyid[g])
                             for g in range(m.ngeom) if m.geom_bodyid[g] in self._object_bodies}
        self._renderers = renderer_cache if renderer_cache is not None else {}
        self.set_jaws(closed=False)
        self.data.qpos[self._finger_qpos] = gripper.max_opening / 2
        self.data.qpos[self._finger_qpos + 1] = gripper.max_opening / 2
        self.teleport_tcp(np.asarray(home_tcp, float), np.diag([1.0, -1.0, -1.0]))
        self.step(0.3)   # let the objects settle on the table

    # -- time ------------------------------------------------------------------------------------
    @property
    def time(self) -> float:
        return float(self.data.time)

    def step(self, seconds: float, monitor=None) -> None:
        """Advance the physics by ``seconds``; ``monitor(cell)`` after every 10 steps."""
        steps = max(1, int(round(seconds / self.model.opt.timestep)))
        for i in range(steps):
            self._mj.mj_step(self.model, self.data)
            if monitor is not None and i % 10 == 9:
                monitor(self)

    def save_state(self) -> tuple:
        """Everything the next steps depend on, to run several picks from one settled scene."""
        d = self.data
        return (d.time, d.qpos.copy(), d.qvel.copy(), d.act.copy(), d.ctrl.copy(), d.mocap_pos.copy(),
                d.mocap_quat.copy(), d.qacc_warmstart.copy())

    def restore_state(self, state: tuple) -> None:
        d = self.data
        d.time = state[0]
        for target, value in zip((d.qpos, d.qvel, d.act, d.ctrl, d.mocap_pos, d.mocap_quat, d.qacc_warmstart),
                                 state[1:]):
            target[...] = value
        self._mj.mj_forward(self.model, d)

    # -- the gripper -----------------------------------------------------------------------------
    def tcp(self) -> tuple[np.ndarray, np.ndarray]:
        """The commanded TCP: position (m) and rotation matrix (tool z down, y the closing axis)."""
        q = self.data.mocap_quat[self._mocap]
        return self.data.mocap_pos[self._mocap].copy(), quaternion_to_matrix([q[1], q[2], q[3], q[0]])

    def set_tcp(self, position, rotation) -> None:
        """Command the TCP (the hand follows through its weld as the physics steps)."""
        self.data.mocap_pos[self._mocap] = position
        self.data.mocap_quat[self._mocap] = _mj_quat(rotation)

    def teleport_tcp(self, position, rotation) -> None:
        """Put the TCP and the hand there at once, at rest (a start position, not a motion)."""
        self.set_tcp(position, rotation)
        self.data.qpos[self._hand_qpos:self._hand_qpos + 3] = position
        self.data.qpos[self._hand_qpos + 3:self._hand_qpos + 7] = _mj_quat(rotation)
        self.data.qvel[self._hand_dof:self._hand_dof + 6] = 0
        self._mj.mj_forward(self.model, self.data)

    def move_tcp(self, position, rotation, speed_m_s: float, monitor=None) -> None:
        """A straight move of the TCP at ``speed_m_s`` (orientation interpolated along it), then a
        short settle: as the controller executes a FINE linear move."""
        start, start_rot = self.tcp()
        target = np.asarray(position, float)
        duration = max(np.linalg.norm(target - start) / max(speed_m_s, 1e-6), 0.05)
        self.step_along(start, start_rot, target, rotation, int(math.ceil(duration / self.model.opt.timestep)),
                        monitor)
        self.step(0.1, monitor)

    def step_along(self, start, start_rotation, end, end_rotation, steps: int, monitor=None) -> None:
        """``steps`` physics steps with the TCP commanded along the straight line from one pose to
        the other, a little further each step (orientation by normalised quaternion interpolation);
        ``monitor(cell)`` after every 10 steps."""
        start, end = np.asarray(start, float), np.asarray(end, float)
        q0, q1 = _mj_quat(start_rotation), _mj_quat(end_rotation)
        if np.dot(q0, q1) < 0:
            q1 = -q1
        for i in range(1, steps + 1):
            a = i / steps
            q = (1 - a) * q0 + a * q1
            self.data.mocap_pos[self._mocap] = start + a * (end - start)
            self.data.mocap_quat[self._mocap] = q / np.linalg.norm(q)
            self._mj.mj_step(self.model, self.data)
            if monitor is not None and i % 10 == 0:
                monitor(self)

    def set_jaws(self, closed: bool) -> None:
        self.data.ctrl[0] = 0.0 if closed else self.gripper.max_opening / 2

    # -- the objects -----------------------------------------------------------------------------
    def object_positions(self) -> np.ndarray:
        """Body origins ``(M, 3)`` of the objects (base frame, m)."""
        return self.data.xpos[self._object_bodies].copy()

    def object_poses(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each object's body position ``(3,)`` and rotation matrix ``(3, 3)`` (base frame)."""
        return [(self.data.xpos[b].copy(), self.data.xmat[b].reshape(3, 3).copy()) for b in self._object_bodies]

    def objects_touching_pads(self) -> set[int]:
        """The objects a pad touches now (what the jaws hold)."""
        found = set()
        for c in self.data.contact[:self.data.ncon]:
            for a, b in ((c.geom1, c.geom2), (c.geom2, c.geom1)):
                if a in self._pads and b in self._geom_object:
                    found.add(self._geom_object[b])
        return found

    # -- pictures --------------------------------------------------------------------------------
    def _renderer(self, width: int, height: int):
        key = (id(self.model), width, height)
        if key not in self._renderers:
            for old in list(self._renderers):           # one model at a time: free the old context
                self._renderers.pop(old).close()
            self._renderers[key] = self._mj.Renderer(self.model, height, width)
        return self._renderers[key]

    def _options(self, show_gripper: bool):
        option = self._mj.MjvOption()
        option.geomgroup[GRIPPER_GROUP] = 1 if show_gripper else 0
        return option

    def render_rgb(self, camera: str = "overhead", show_gripper: bool = False,
                   size: Optional[tuple[int, int]] = None) -> np.ndarray:
        """An ``HxWx3`` uint8 RGB frame of ``camera`` (the calibrated one at its resolution)."""
        width, height = size or (self.intrinsics.width, self.intrinsics.height)
        renderer = self._renderer(width, height)
        renderer.disable_depth_rendering()
        renderer.update_scene(self.data, camera=camera, scene_option=self._options(show_gripper))
        return renderer.render().copy()

    def render_depth(self) -> np.ndarray:
        """Metric depth ``HxW`` float32 of the calibrated camera (distance along its optical axis)."""
        renderer = self._renderer(self.intrinsics.width, self.intrinsics.height)
        renderer.enable_depth_rendering()
        renderer.update_scene(self.data, camera="overhead", scene_option=self._options(False))
        depth = renderer.render().astype(np.float32).copy()
        renderer.disable_depth_rendering()
        return depth

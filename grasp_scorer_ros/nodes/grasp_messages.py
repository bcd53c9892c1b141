"""The detection node's messages, built from the frame pipeline's results."""
from __future__ import annotations

import math

from geometry_msgs.msg import Pose
from sensor_msgs.msg import Image
from visualization_msgs.msg import Marker, MarkerArray

from grasp_scorer_ros.camera.image_decoding import rgb_to_image_fields
from grasp_scorer_ros.grasp import H, THETA, W, X, Y
from grasp_scorer_ros.msg import GraspPose, ImageGrasp
from grasp_scorer_ros.pipeline.frame_pipeline import RankedGrasp
from grasp_scorer_ros.visualize import draw_grasps


def header_for(image_header, frame_id: str):
    """The image's stamp in ``frame_id`` (the poses' frame)."""
    header = type(image_header)()
    header.stamp = image_header.stamp
    header.frame_id = frame_id
    return header


def grasp_pose_message(header, grasp: RankedGrasp) -> GraspPose:
    """A ranked grasp as ``GraspPose``: its image grasp always, its pose and sizes when it has one."""
    g = grasp.grasp_px
    out = GraspPose(header=header, score=float(grasp.score), primary_score=float(grasp.primary_score))
    out.image_grasp = ImageGrasp(center_x=float(g[X]), center_y=float(g[Y]), opening_width=float(g[W]),
                                 jaw_size=float(g[H]), angle=math.radians(float(g[THETA])))
    pose = grasp.pose
    if pose is None:
        return out
    out.pose = Pose()
    out.pose.position.x, out.pose.position.y, out.pose.position.z = map(float, pose.position)
    q = pose.quaternion
    out.pose.orientation.x, out.pose.orientation.y = float(q[0]), float(q[1])
    out.pose.orientation.z, out.pose.orientation.w = float(q[2]), float(q[3])
    out.opening_width = pose.opening_width_m
    out.jaw_size = pose.jaw_size_m
    return out


def grasp_markers(best: GraspPose) -> MarkerArray:
    """RViz: the jaws' sweep as a thin box in the tool frame (y along the closing axis, x across
    it), and the approach as an arrow along tool x."""
    box = Marker(header=best.header, ns="grasp", id=0, type=Marker.CUBE, action=Marker.ADD)
    box.pose = best.pose
    box.scale.x = max(best.jaw_size, 1e-3)
    box.scale.y = max(best.opening_width, 1e-3)
    box.scale.z = 0.005
    box.color.r, box.color.g, box.color.a = 0.1, 0.9, 0.8
    approach = Marker(header=best.header, ns="grasp", id=1, type=Marker.ARROW, action=Marker.ADD)
    approach.pose = best.pose
    approach.scale.x, approach.scale.y, approach.scale.z = 0.05, 0.005, 0.005
    approach.color.b, approach.color.a = 1.0, 1.0
    return MarkerArray(markers=[box, approach])


def debug_image(image_header, rgb, shown) -> Image:
    """The frame with the published candidates ``shown`` ``(N, 5)``, the best on top."""
    annotated = draw_grasps(rgb, shown[1:][::-1], color=(255, 210, 0))
    annotated = draw_grasps(annotated, shown[:1], thickness=2)
    return Image(header=image_header, **rgb_to_image_fields(annotated, "rgb8"))

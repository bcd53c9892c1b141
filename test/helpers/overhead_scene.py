"""The scene of the detection-node and depth tests: a straight-down camera 0.8 m above a table, 96 x 96
pixels, fx 120 px; a bar on a textured table as the colour frame, and its messages; depth images with
boxes standing on the table."""
import numpy as np

from grasp_scorer_ros.camera.models import CameraIntrinsics, CameraPose, WorkSurface

# -- the colour frame and its messages (the detection node's tests) ---------------------------------
IMAGE_SIZE = 96
CAMERA = {"fx": 120.0, "cx": IMAGE_SIZE / 2, "height": 0.8}


def scene(seed=0):
    """A simple overhead scene: a bar on a textured table."""
    import cv2
    rng = np.random.default_rng(seed)
    image = rng.integers(60, 90, size=(IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    cv2.rectangle(image, (20, 40), (76, 56), (200, 30, 30), -1)
    return image


def camera_info(width=IMAGE_SIZE, height=IMAGE_SIZE, fx=CAMERA["fx"]):
    from sensor_msgs.msg import CameraInfo
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    info.k = [fx, 0.0, width / 2, 0.0, fx, height / 2, 0.0, 0.0, 1.0]
    info.d = [0.0] * 5
    return info


def image_message(rgb, stamp_sec, encoding="rgb8"):
    from sensor_msgs.msg import Image
    from grasp_scorer_ros.camera.image_decoding import rgb_to_image_fields
    message = Image(**rgb_to_image_fields(rgb, encoding))
    message.header.stamp.sec = stamp_sec
    message.header.frame_id = "camera_optical"
    return message


# -- depth (camera/depth.py, the frame pipeline, the node with a depth topic) ----------------------
SIZE, FX, CAMERA_HEIGHT = 96, 120.0, 0.8
INTRINSICS = CameraIntrinsics(np.array([[FX, 0, SIZE / 2], [0, FX, SIZE / 2], [0, 0, 1]]), np.zeros(5), SIZE, SIZE)
POSE = CameraPose([0.5, 0.1, CAMERA_HEIGHT], [0.7071068, -0.7071068, 0.0, 0.0])   # looking straight down
TABLE = WorkSurface.horizontal(0.0)


def table_with(*boxes):
    """Depth of the table, with boxes (x0, y0, x1, y1, height m) standing on it."""
    depth = np.full((SIZE, SIZE), CAMERA_HEIGHT, dtype=np.float32)
    for x0, y0, x1, y1, height in boxes:
        depth[y0:y1, x0:x1] = CAMERA_HEIGHT - height
    return depth

"""The detection node's parameters: name, default, description and range, as `ros2 param describe`
shows them; ``config/detection.yaml`` sets them for the launch file."""
from __future__ import annotations

from grasp_scorer_ros.nodes.parameters import ParameterSpec

# name: (default, description[, range]), declared by declare_parameters; config/detection.yaml sets them
# for the launch file. Those of LIVE_PARAMETERS ("live" in their description) take effect on the next
# frame when set at run time; the others are declared read-only: rclpy refuses a change.
PARAMETERS: ParameterSpec = {
    "checkpoint": ("", "Model checkpoint (.pt); empty: the checkpoint bundled with the package"),
    "device": ("cpu", "Torch device for inference: cpu or cuda"),
    "num_threads": (0, "CPU threads for inference; 0: auto, before each frame the cores other processes leave free "
                    "(network/cpu_threads.py)", (0, 1024)),
    "precision": ("auto", "Inference precision: auto (bfloat16 where the device computes it natively: CPUs "
                          "with AVX-512 BF16 or AMX, GPUs with bfloat16; float32 elsewhere), float32 or bfloat16"),
    "engine": ("torch", "Where the FE and PGP run: torch, onnxruntime or openvino (optional packages: pip install "
                        "'grasp_scorer_ros[openvino]'; the checkpoint is exported to ONNX once and cached, or see "
                        "onnx_model), or auto (every engine installed here timed at start-up, the fastest taken); the "
                        "scorer runs in torch"),
    "onnx_model": ("", "ONNX graph of the checkpoint for engine onnxruntime/openvino/auto (grasp-scorer-export, "
                       "e.g. an int8 one); int8: the bundled checkpoint's int8 graph, shipped with the package; empty: the "
                       "checkpoint's float32 export"),
    "score_threshold": (0.5, "A grasp is published on grasp/best only when its final score reaches this (a "
                               "probability, calibrated on a validation look for the bundled model: a score of 0.8 is "
                               "right about 8 times in 10; primary^(1-w) x scorer^w, see scorer_weight); live",
                        (0.0, 1.0)),
    "scorer_weight": (-1.0, "How far the final score leans on the scorer, for a model whose final ranking is the "
                            "product: final = primary^(1-w) x scorer^w, w in [0, 1] (0: the primary score alone, "
                            "0.5: the geometric mean); negative: the checkpoint's own; live"),
    "num_candidates": (5, "Length of the ranked list published on grasp/candidates; live", (1, 100)),
    "calibration_file": ("", "Camera pose / work surface YAML; empty: the bundled demo calibration"),
    "base_frame": ("", "Frame of the published poses; empty: base_frame from the calibration file"),
    "grasp_depth": (0.0, "Metres to move the grasp point past the surface hit (positive = deeper); live",
                    (-0.5, 0.5)),
    "reference_yaw": (0.0, "Wrist yaw (rad) the 180-degree gripper symmetry is resolved towards; live",
                      (-6.3, 6.3)),
    "publish_debug_image": (True, "Publish the image annotated with the candidates on grasp/debug_image "
                                  "(when something listens); live"),
    "workspace_polygon": ("", "Grasps whose centre or jaws fall outside this polygon on the work surface are never "
                              "published: 'x,y x,y x,y ...' in metres, base frame; empty: none; live"),
    "workspace_mask": ("", "Grasps whose centre or jaws fall on a zero pixel of this mask image (the camera "
                           "image's size) are never published; empty: none; live"),
    "depth_topic": ("", "Optional depth image registered to the colour camera (sensor_msgs/Image, 16UC1 mm or 32FC1 "
                        "m, e.g. aligned_depth_to_color/image_raw): grasp heights from depth, grasps whose fingers "
                        "would land on something are refused; empty: none, grasps lie on the work surface"),
    "depth_max_age": (0.1, "Seconds between a colour frame's stamp and the depth frame paired with it, at most; "
                           "with no depth that near, the frame's grasps are refused", (0.0, 10.0)),
    "finger_width": (0.01, "Metres, a finger's extent along the opening axis: the landing zone checked in the depth; "
                           "live", (0.001, 0.2)),
    "finger_length": (0.04, "Metres the fingertips may go below an object's top (the palm meets it beyond); with "
                            "depth, a grasp closes at max(landing zones, top - finger_length); live", (0.001, 0.5)),
    "clearance_tolerance": (0.005, "Metres a finger's landing zone may stand above the object's top between the jaws "
                                   "(higher: nothing to close on, the grasp is refused); live", (0.0, 0.2)),
    "jaw_opening": (0.10, "Metres between the fingers as they come down to a grasp: where the depth check puts "
                          "their landing zones when the gripper opens wider than the grasp (the bridge's "
                          "gripper_max_opening_m; 0: the grasp's own width); live", (0.0, 1.0)),
    "image_reliability": ("auto", "QoS reliability of the image and CameraInfo subscriptions: auto (reliable "
                          "when every publisher on the topic is reliable, so that lost fragments of large "
                          "images are resent; best_effort when one is best-effort), reliable (receives "
                          "nothing from best-effort publishers) or best_effort"),
    "image_topic": ("image", "Camera image topic (sensor_msgs/Image: rgb8, bgr8, mono8, rgba8, bgra8, 8UC1/3/4 "
                             "(cv_bridge's BGR orders), yuv422_yuy2, uyvy/yuv422, bayer_rggb8/bggr8/gbrg8/grbg8)"),
    "image_transport": ("raw", "raw: sensor_msgs/Image on image_topic; compressed: sensor_msgs/CompressedImage "
                               "(JPEG or PNG) on image_topic + '/compressed', as image_transport names it"),
    "camera_info_topic": ("camera_info", "CameraInfo topic; the calibration file's intrinsics are the fallback"),
    "best_topic": ("grasp/best", "Output: best grasp (grasp_scorer_ros/GraspPose)"),
    "candidates_topic": ("grasp/candidates", "Output: ranked candidates (grasp_scorer_ros/GraspCandidates)"),
    "debug_image_topic": ("grasp/debug_image", "Output: annotated image (sensor_msgs/Image, rgb8)"),
    "markers_topic": ("grasp/markers", "Output: RViz markers of the best grasp"),
    "detect_service": ("grasp/detect", "Service (grasp_scorer_ros/DetectGrasps): the ranked grasps of the first frame "
                                       "taken at or after a given time, e.g. once the arm has left the view"),
    "request_timeout": (2.0, "Seconds a grasp/detect request waits for such a frame when it names no timeout; live",
                        (0.0, 600.0)),
}

LIVE_PARAMETERS = ("score_threshold", "scorer_weight", "num_candidates", "grasp_depth", "reference_yaw",
                   "publish_debug_image", "workspace_polygon", "workspace_mask", "request_timeout", "finger_width",
                   "finger_length", "clearance_tolerance", "jaw_opening")
SETTINGS_PARAMETERS = {"score_threshold", "num_candidates", "grasp_depth", "reference_yaw", "finger_width",
                       "finger_length", "clearance_tolerance", "jaw_opening"}   # those of the frame pipeline's settings

"""Camera geometry: from a grasp in image pixels to a gripper pose in the robot base frame; no ROS."""

"""Training and evaluation programs (``grasp-scorer-train``, ``grasp-scorer-evaluate``); no ROS."""

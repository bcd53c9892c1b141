"""ROS 2 nodes: thin translators between messages and the ROS-free core."""

"""The grasp network of Depierre et al. (ICRA 2021) and what runs it; imports torch, never ROS."""

"""pip route for the ROS-free core (training, evaluation, inference on a machine without ROS).

In a ROS 2 workspace, colcon builds the package with CMakeLists.txt instead (package.xml says
ament_cmake), which also generates the messages; the metadata lives in setup.cfg for both.
"""
from setuptools import setup

setup()

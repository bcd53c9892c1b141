"""Grasp detection with a graspability scorer (Depierre et al., ICRA 2021) for ROS 2 and FANUC robots.

The folders are the layers (README, "Architecture"; checked by test/test_layout.py): ``nodes``
(ROS 2) and ``app`` (node list, demo) on top; ``network``, ``camera`` and ``fanuc`` below them, and
``training``, ``datasets`` and ``synthetic`` beside, none of which imports ROS; the shared
primitives ``grasp``, ``rotations``, ``visualize`` and ``bundled`` at the bottom. Keep this file
free of heavy imports so that ``import grasp_scorer_ros.<module>`` stays cheap.
"""
import pkgutil

# The generated messages (grasp_scorer_ros.msg, .action) exist only in the colcon install tree.
# When this source tree is first on sys.path (running from the checkout), extend the package path
# so that they are still found there.
__path__ = pkgutil.extend_path(__path__, __name__)

__version__ = "0.1.0"

"""Grasp detection with a graspability scorer (Depierre et al., ICRA 2021) for ROS 2 and FANUC robots.

The model core (grasp, box_coder, anchors, model, losses, metric, detector, datasets, ...) imports
only torch/numpy/opencv/shapely; the ROS 2 nodes live in ``grasp_scorer_ros.nodes``. Keep this file
free of heavy imports so that ``import grasp_scorer_ros.<module>`` stays cheap.
"""
import pkgutil

# The generated messages (grasp_scorer_ros.msg, .action) exist only in the colcon install tree.
# When this source tree is first on sys.path (running from the checkout), extend the package path
# so that they are still found there.
__path__ = pkgutil.extend_path(__path__, __name__)

__version__ = "0.1.0"

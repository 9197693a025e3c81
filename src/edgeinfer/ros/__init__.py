"""ROS 2 deployment: ``EdgeInferNode`` runs an engine on camera images (``edgeinfer ros``).

Importing this package does not import rclpy; :mod:`edgeinfer.ros.node` does. Pure-Python
parts (image codecs, parameters, statistics, result layouts) are usable and tested without ROS.
"""

from __future__ import annotations

from edgeinfer.ros.params import NodeParams

__all__ = ["NodeParams"]

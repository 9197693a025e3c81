"""Launch edgeinfer as a managed ROS 2 node: ros2 launch edgeinfer.launch.py [arguments].

Arguments (name:=value): params_file (default: params.yaml beside this file), namespace
(default: none), node_name (default: edgeinfer), image (the camera topic the node reads;
default: /camera/image_raw).

The node is `edgeinfer ros --lifecycle --autostart`: a managed node that configures (loads
the engine) and activates itself; drop --autostart to leave the transitions to a lifecycle
manager (ros2 lifecycle set /edgeinfer configure). Every parameter is in the params file; its
section `/**:` applies to the node under any name and namespace.
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

HERE = os.path.dirname(os.path.abspath(__file__))


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=os.path.join(HERE, "params.yaml")),
        DeclareLaunchArgument("namespace", default_value=""),
        DeclareLaunchArgument("node_name", default_value="edgeinfer"),
        DeclareLaunchArgument("image", default_value="/camera/image_raw"),
        Node(
            executable="edgeinfer",
            arguments=["ros", "--lifecycle", "--autostart"],
            name=LaunchConfiguration("node_name"),
            namespace=LaunchConfiguration("namespace"),
            parameters=[LaunchConfiguration("params_file")],
            remappings=[("/camera/image_raw", LaunchConfiguration("image"))],
            output="screen",
        ),
    ])

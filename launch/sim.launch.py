"""rigbot on the MuJoCo twin: the same encoder, policy, goal and safety gate nodes as on the robot, with the twin
in place of the camera and arm. Pick goals in RViz (Publish Point, 2D Goal Pose) or with ``rigbot goal set``.

    ros2 launch rigbot_ros sim.launch.py checkpoint:=/path/to/checkpoints/reach rviz:=true

Without ROS's launch tools, ``rigbot sim`` runs the same nodes in one process.
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from rigbot_ros import topics  # the nodes' default topic names: remapped here to the launch arguments

HERE = os.path.dirname(os.path.abspath(__file__))
PARAMS = os.path.join(HERE, "params", "sim.yaml")
RVIZ = os.path.join(HERE, "rigbot.rviz")
IMAGE, ARM_COMMAND = topics.IMAGE, topics.ARM_COMMAND

ARGUMENTS = [
    ("checkpoint", "checkpoints/reach", "trained policy folder (policy.yaml, policy.safetensors, vae/)"),
    ("task", "reach", "twin task: reach or push (must match the checkpoint)"),
    ("real_time", "true", "true: the twin runs on the wall clock; false: lockstep, as fast as possible (then set "
                          "control_hz high in the params file, so the policy answers every frame)"),
    ("camera_topic", IMAGE, "the twin's colour image topic"),
    ("command_topic", ARM_COMMAND, "gated TwistStamped commands the twin obeys"),
    ("limits", "", "robot or deployment YAML for the safety gate (empty: the twin arm's limits)"),
    ("goal_library", "goals", "folder of saved goal images"),
    ("goal", "", "goal to start with: a saved goal's name or an image file"),
    ("params_file", PARAMS, "node parameters YAML"),
    ("rviz", "true", "start RViz with rigbot's view"),
]


def generate_launch_description():
    arg = LaunchConfiguration
    declared = [DeclareLaunchArgument(name, default_value=default, description=doc)
                for name, default, doc in ARGUMENTS]
    params = arg("params_file")
    camera_remaps = [(IMAGE, arg("camera_topic"))]
    command_remaps = [(ARM_COMMAND, arg("command_topic"))]
    twin = Node(
        package="rigbot_ros", executable="twin_node", name="twin", output="screen",
        parameters=[params, {"task": arg("task"), "real_time": arg("real_time")}],
        remappings=camera_remaps + command_remaps)
    encoder = Node(
        package="rigbot_ros", executable="encoder_node", name="encoder", output="screen",
        parameters=[params, {"checkpoint": arg("checkpoint")}], remappings=camera_remaps)
    policy = LifecycleNode(
        package="rigbot_ros", executable="policy_node", name="policy", namespace="", output="screen",
        parameters=[params, {"checkpoint": arg("checkpoint"), "limits_file": arg("limits")}])
    goal = Node(
        package="rigbot_ros", executable="goal_node", name="goal", output="screen",
        parameters=[params, {"checkpoint": arg("checkpoint"), "library": arg("goal_library"), "goal": arg("goal")}],
        remappings=camera_remaps)
    gate = Node(
        package="rigbot_ros", executable="safety_gate_node", name="safety_gate", output="screen",
        parameters=[params, {"limits_file": arg("limits")}], remappings=command_remaps)
    rviz = Node(
        package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", RVIZ],
        condition=IfCondition(arg("rviz")))
    return LaunchDescription([*declared, twin, encoder, policy, goal, gate, rviz])

"""rigbot on a real robot: camera -> encoder -> policy -> safety gate -> arm, with the goal node (and RViz).

    ros2 launch rigbot_ros robot.launch.py checkpoint:=/path/to/checkpoints/reach \
        camera_serial:=123456789012 limits:=/path/to/deployment.yaml rviz:=true

The policy node starts inactive: activate it deliberately with ``ros2 lifecycle set /policy configure`` and
``ros2 lifecycle set /policy activate``. ``ros2 launch rigbot_ros robot.launch.py --show-args`` lists the
arguments. The arm must accept geometry_msgs/TwistStamped (MoveIt Servo by default) and something must publish
the hand's pose on ``ee_pose_topic`` (the safety gate keeps the hand in the workspace box with it).

Learning on the robot (``learn:=true``): ``checkpoint`` must then be a weight store (``rigbot weights init``);
the learner node trains on what the robot does and publishes versions the policy swaps to live, and the episode
manager runs episodes (reset, goal, step budget), paused until ``ros2 service call /episode_manager/resume
std_srvs/srv/Trigger``. See the README, "Learning on your robot".
"""
import os

from launch import Condition, LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from rigbot_ros import topics  # the nodes' default topic names: remapped here to the launch arguments

HERE = os.path.dirname(os.path.abspath(__file__))
PARAMS = os.path.join(HERE, "params", "robot.yaml")
RVIZ = os.path.join(HERE, "rigbot.rviz")
IMAGE, CAMERA_INFO, ARM_COMMAND, EE_POSE = topics.IMAGE, topics.CAMERA_INFO, topics.ARM_COMMAND, topics.EE_POSE

ARGUMENTS = [
    ("checkpoint", "checkpoints/reach", "trained policy folder (policy.yaml, policy.safetensors, vae/)"),
    ("camera_source", "realsense", "realsense, realsense:FILE.bag, opencv:INDEX, opencv:VIDEO, or external "
                                   "(do not start rigbot's camera node: run realsense-ros yourself)"),
    ("camera_serial", "", "RealSense serial number (empty: the first attached; see rigbot cameras list)"),
    ("camera_info_file", "", "camera_info YAML from calibration (empty: the one the limits file names, else "
                             "nominal intrinsics)"),
    ("camera_topic", IMAGE, "colour image topic"),
    ("camera_info_topic", CAMERA_INFO, "camera info topic"),
    ("command_topic", ARM_COMMAND, "where the gated TwistStamped commands go"),
    ("ee_pose_topic", EE_POSE, "PoseStamped of the hand in the robot base frame (for the workspace box)"),
    ("limits", "", "deployment YAML from calibration (workspace low/high, max_linear_speed, roi); "
                   "empty: the twin arm's limits"),
    ("goal_library", "goals", "folder of saved goal images"),
    ("goal", "", "goal to start with: a saved goal's name or an image file"),
    ("params_file", PARAMS, "node parameters YAML"),
    ("rviz", "false", "start RViz with rigbot's view (camera, goal, reconstruction, status)"),
    ("learn", "false", "also start the learner and the episode manager (checkpoint must be a weight store)"),
    ("episode_steps", "50", "learn: policy control ticks per episode (the step budget)"),
    ("goal_source", "prior", "learn: episode goals from the VAE prior, the goal library, or mixed"),
]


def camera_is_ours(context) -> bool:
    """rigbot's camera node runs unless camera_source is "external". Compared as text, never evaluated: a video
    path may hold quotes (a PythonExpression of it was a syntax error that stopped the whole launch)."""
    return LaunchConfiguration("camera_source").perform(context) != "external"


def generate_launch_description():
    arg = LaunchConfiguration
    declared = [DeclareLaunchArgument(name, default_value=default, description=doc)
                for name, default, doc in ARGUMENTS]
    params = arg("params_file")
    camera_remaps = [(IMAGE, arg("camera_topic")), (CAMERA_INFO, arg("camera_info_topic"))]
    camera = Node(
        package="rigbot_ros", executable="camera_node", name="camera", output="screen",
        parameters=[params, {"source": arg("camera_source"), "serial": arg("camera_serial"),
                             "camera_info_file": arg("camera_info_file"), "deployment_file": arg("limits")}],
        remappings=camera_remaps,
        condition=Condition(predicate=camera_is_ours))
    encoder = Node(
        package="rigbot_ros", executable="encoder_node", name="encoder", output="screen",
        parameters=[params, {"checkpoint": arg("checkpoint"), "deployment_file": arg("limits")}],
        remappings=camera_remaps)
    policy = LifecycleNode(
        package="rigbot_ros", executable="policy_node", name="policy", namespace="", output="screen",
        parameters=[params, {"checkpoint": arg("checkpoint"), "limits_file": arg("limits")}])
    goal = Node(
        package="rigbot_ros", executable="goal_node", name="goal", output="screen",
        parameters=[params, {"checkpoint": arg("checkpoint"), "library": arg("goal_library"), "goal": arg("goal")}],
        remappings=camera_remaps)
    gate = Node(
        package="rigbot_ros", executable="safety_gate_node", name="safety_gate", output="screen",
        parameters=[params, {"limits_file": arg("limits")}],
        remappings=[(ARM_COMMAND, arg("command_topic")), (EE_POSE, arg("ee_pose_topic"))])
    learning = IfCondition(arg("learn"))
    learner = Node(
        package="rigbot_ros", executable="learner_node", name="learner", output="screen",
        parameters=[params, {"store": arg("checkpoint")}],
        remappings=[(ARM_COMMAND, arg("command_topic"))],
        condition=learning)
    episodes = Node(
        package="rigbot_ros", executable="episode_manager_node", name="episode_manager", output="screen",
        parameters=[params, {"checkpoint": arg("checkpoint"), "limits_file": arg("limits"), "library": arg("goal_library"),
                             "steps": arg("episode_steps"), "goal_source": arg("goal_source")}],
        remappings=[(EE_POSE, arg("ee_pose_topic"))],
        condition=learning)
    rviz = Node(
        package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", RVIZ],
        condition=IfCondition(arg("rviz")))
    return LaunchDescription([*declared, camera, encoder, policy, goal, gate, learner, episodes, rviz])

"""Default topic names and the QoS each kind of topic uses. Every name can be remapped (``-r FROM:=TO``).

Images and latents are sensor data: best effort, keep only the newest, so a slow reader skips frames instead of
working through a queue of old ones. Commands are reliable with a queue of one: the newest command matters,
and it must arrive. Goals are latched (transient local): a node that starts later still gets the current goal.
"""
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

# realsense-ros's names, so its own node can replace ours
IMAGE = "/camera/camera/color/image_raw"
CAMERA_INFO = "/camera/camera/color/camera_info"
# MoveIt Servo's Cartesian command input
ARM_COMMAND = "/servo_node/delta_twist_cmds"
# rigbot's own
LATENT = "/rigbot/latent"
MODEL_INPUT = "/rigbot/encoder/model_input"
POLICY_COMMAND = "/rigbot/policy/twist"
GOAL_SET = "/rigbot/goal/set_image"
GOAL_IMAGE = "/rigbot/goal/image"
GOAL_LATENT = "/rigbot/goal/latent"
GOAL_RECONSTRUCTION = "/rigbot/goal/reconstruction"
GOAL_STATUS = "/rigbot/goal/status"
GOAL_MARKER = "/rigbot/goal/status_marker"
EE_POSE = "/rigbot/ee_pose"
JOINT_STATES = "/joint_states"
ESTOP = "/rigbot/estop"
GATE_STATUS = "/rigbot/safety_gate/status"
TWIN_GOAL_POINT = "/rigbot/twin/goal_point"
# learning on the robot: versions the learner published, the version the policy runs, episode events
LEARNER_VERSION = "/rigbot/learner/version"
POLICY_WEIGHTS_VERSION = "/rigbot/policy/weights_version"
EPISODE_STATUS = "/rigbot/episode/status"
LEARNER_STATUS = "/rigbot/learner/status"
# RViz's Publish Point and 2D Goal Pose tools
CLICKED_POINT = "/clicked_point"
GOAL_POSE = "/goal_pose"

SENSOR = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT,
                    durability=DurabilityPolicy.VOLATILE)
COMMAND = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.VOLATILE)
LATCHED = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
EVENTS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.VOLATILE)

"""rigbot's ROS 2 nodes: thin adapters between ROS messages and rigbot's ROS-free core.

Each node module has a node class (used alone in its own process, or with the others in one process by
``rigbot sim``) and a ``main`` that runs it. Default topic names and QoS are in ``topics``.
"""
NODES = {
    "camera": "rigbot_ros.camera_node",
    "encoder": "rigbot_ros.encoder_node",
    "policy": "rigbot_ros.policy_node",
    "goal": "rigbot_ros.goal_node",
    "safety_gate": "rigbot_ros.safety_gate_node",
    "twin": "rigbot_ros.twin_node",
    "learner": "rigbot_ros.learner_node",
    "episode_manager": "rigbot_ros.episode_manager_node",
    "recorder": "rigbot_ros.recorder_node",
}

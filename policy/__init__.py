"""Goal-conditioned agents (RIG's TD3 and others), replay with goal relabelling, training and evaluation. No ROS."""

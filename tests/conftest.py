"""Shared test setup. DDS traffic stays on this machine, on a domain of the test run's own."""
import os

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))

import rigbot.sim  # noqa: E402,F401  (chooses the OpenGL backend before anything imports mujoco)

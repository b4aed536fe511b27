"""rigbot: visual goal reaching for real robot arms, learned with RIG in a MuJoCo twin.

Subpackages (each a top-level folder of the repository): ``rigbot.sim`` (the twin), ``rigbot.perception``
(cameras, preprocessing, the VAE), ``rigbot.policy`` (goal-conditioned agents), ``rigbot.calibration``.
None of them imports ROS; the ROS 2 nodes live in ``robot_ws/``.
"""
__version__ = "0.1.0"

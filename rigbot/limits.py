"""The physical and size bounds on what rigbot reads, in one place: robot descriptions, deployment files, pose
files, frame datasets, recordings, image files and image messages all take theirs from here.

Each is far above anything real and far below harm: a value beyond it is a unit slip (millimetres for metres), a
wrong frame or a hostile file. Standard library only (no OpenCV, MuJoCo or PyTorch), so the safety gate and any
node can import it.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

# ---- where things are: metres, per axis, from the robot's base (the MJCF world origin in the twin) -------------------
MAX_COORDINATE_M = 3.0  # a workspace, home or deployment box coordinate: a table-top arm reaches a metre or so
MAX_HAND_DISTANCE_M = MAX_COORDINATE_M  # a recorded hand position: no box rigbot accepts lies farther out, so a hand
#                                         beyond it is in millimetres or in another frame, not data to learn from
MAX_CAMERA_DISTANCE_M = 10.0  # a calibrated camera's position: it may stand across the room, unlike the hand

# ---- how fast the hand may move, per axis ---------------------------------------------------------------------------
MAX_LINEAR_SPEED_M_S = 2.0  # beyond any table-top arm's safe hand speed
LINEAR_SPEED_RANGE_M_S = (1e-3, MAX_LINEAR_SPEED_M_S)  # a robot's or deployment's limit: 0 would never move
DEFAULT_LINEAR_SPEED_M_S = 0.2  # the built-in arm's, and a robot YAML's that states none
MAX_ANGULAR_SPEED_RAD_S = 10.0  # turn rate, rad/s: a hand turning faster than ~1.6 turns a second is a typo
DEFAULT_ANGULAR_SPEED_RAD_S = 0.5

# ---- the twin's physics ---------------------------------------------------------------------------------------------
MAX_TIMESTEP_S = 0.05  # MuJoCo's step: arms are simulated at 1-10 ms, and a step may not outlast a control period

# ---- images: files, ROS image messages, camera_info, a deployment's roi ---------------------------------------------
MAX_IMAGE_SIDE_PX = 8192  # a width or height: above any camera rigbot works with (8K video is 7680 wide)
MAX_IMAGE_PIXELS = 40_000_000  # a hostile header declares 10^8 pixels in a few hundred kB of PNG, 4 * 10^9 in a JPEG
MAX_IMAGE_FILE_BYTES = 128 << 20  # an image file on disk

# ---- the built-in robot, whose description bounds a deployment that names no robot ----------------------------------
# Found without importing rigbot.sim, which loads MuJoCo and probes OpenGL.
_SIM_FOLDER = Path(importlib.util.find_spec("rigbot.sim").submodule_search_locations[0])
DEFAULT_ROBOT_YAML = _SIM_FOLDER / "robots" / "tabletop_arm.yaml"

"""colcon (ament_python) build of rigbot's ROS 2 nodes: executables in lib/rigbot_ros, launch files, params and
the RViz config in share/rigbot_ros/launch (so ``ros2 launch rigbot_ros sim.launch.py`` finds them)."""
import os
from glob import glob
from pathlib import Path

from setuptools import setup

PACKAGE = "rigbot_ros"
HERE = Path(__file__).resolve().parent  # resolved: a symlink into another workspace still finds the repository


def launch_folder() -> Path:
    """The repository's launch/ folder, or $RIGBOT_LAUNCH_DIR. Its files are what ``ros2 launch rigbot_ros ...``
    runs, so a build that cannot find them stops here instead of installing a package without them."""
    folder = Path(os.environ.get("RIGBOT_LAUNCH_DIR") or HERE.parent.parent.parent / "launch")
    if not glob(str(folder / "*.launch.py")):
        raise FileNotFoundError(  # not SystemExit: colcon's setup.py probe swallows that message
            f"rigbot_ros: no launch files (*.launch.py) in {folder}: build robot_ws inside the rigbot repository "
            f"(or symlink robot_ws/src/rigbot_ros into your workspace), or set RIGBOT_LAUNCH_DIR to the "
            f"repository's launch folder")
    return folder


LAUNCH = launch_folder()


def _rel(paths):
    return sorted(os.path.relpath(p, HERE) for p in paths)


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", _rel(glob(str(LAUNCH / "*.launch.py")) + glob(str(LAUNCH / "*.rviz")))),
        (f"share/{PACKAGE}/launch/params", _rel(glob(str(LAUNCH / "params" / "*.yaml")))),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="rigbot developers",
    maintainer_email="rigbot@example.com",
    description="rigbot's ROS 2 nodes: thin adapters over the rigbot package",
    license="MIT",
    entry_points={
        "console_scripts": [
            "camera_node = rigbot_ros.camera_node:main",
            "encoder_node = rigbot_ros.encoder_node:main",
            "policy_node = rigbot_ros.policy_node:main",
            "goal_node = rigbot_ros.goal_node:main",
            "safety_gate_node = rigbot_ros.safety_gate_node:main",
            "twin_node = rigbot_ros.twin_node:main",
            "learner_node = rigbot_ros.learner_node:main",
            "episode_manager_node = rigbot_ros.episode_manager_node:main",
            "recorder_node = rigbot_ros.recorder_node:main",
        ],
    },
)

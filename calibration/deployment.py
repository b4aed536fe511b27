"""The deployment file: one YAML with what calibration found for one robot and camera, read by everything else.

- the safety gate: ``workspace`` (the box the hand is kept in), ``max_linear_speed``, ``max_angular_speed``;
- the preprocessing: ``roi`` (``preprocess_config``), in the camera's raw pixels;
- the twin: the same workspace and speed, and the camera's intrinsics and pose (``twin_alignment``).

It also names the ``camera_info`` file (relative paths are relative to the deployment file) and holds the
camera's pose in the robot's base frame from hand-eye calibration. Each ``rigbot calibrate`` step updates its own
keys and leaves the rest. This module needs neither ROS nor MuJoCo, so any node can read the file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from rigbot import config
from rigbot.config import ConfigError, spec
from rigbot.files import atomic_write_text
from rigbot.calibration.transforms import matrix_to_quaternion, quaternion_to_matrix, transform
from rigbot.limits import (DEFAULT_ANGULAR_SPEED_RAD_S, DEFAULT_LINEAR_SPEED_M_S, DEFAULT_ROBOT_YAML,
                           LINEAR_SPEED_RANGE_M_S, MAX_ANGULAR_SPEED_RAD_S, MAX_CAMERA_DISTANCE_M, MAX_COORDINATE_M,
                           MAX_IMAGE_SIDE_PX)

# A table-top arm's box lies within a few metres of its base (rigbot.limits bounds robot descriptions the same way);
# the robot description then bounds each deployment more tightly (``check_against_robot``).
_COORDINATE = (-MAX_COORDINATE_M, MAX_COORDINATE_M)


@dataclass
class Box:
    """An axis-aligned box of hand positions, metres, in the robot's base frame."""

    low: tuple[float, float, float] = field(metadata=spec("lowest x, y, z the hand may reach", range=_COORDINATE))
    high: tuple[float, float, float] = field(metadata=spec("highest x, y, z the hand may reach", range=_COORDINATE))

    def __post_init__(self):
        for axis, lo, hi in zip("xyz", self.low, self.high):
            if not lo < hi:
                raise ConfigError(f"workspace: low {axis} ({lo}) must be below high {axis} ({hi})")

    def contains(self, p, tol: float = 1e-9) -> bool:
        p = np.asarray(p, dtype=float)
        return bool(np.all(p >= np.asarray(self.low) - tol) and np.all(p <= np.asarray(self.high) + tol))

    def corners(self) -> np.ndarray:
        """The eight corners, 8 x 3."""
        lo, hi = np.asarray(self.low), np.asarray(self.high)
        return np.array([[(lo, hi)[i][0], (lo, hi)[j][1], (lo, hi)[k][2]]
                         for i in (0, 1) for j in (0, 1) for k in (0, 1)])


@dataclass
class CameraPose:
    """The camera's optical frame (x right, y down, z forward) in the robot's base frame."""

    position: tuple[float, float, float] = field(metadata=spec(
        "metres", range=(-MAX_CAMERA_DISTANCE_M, MAX_CAMERA_DISTANCE_M)))
    orientation: tuple[float, float, float, float] = field(metadata=spec("unit quaternion x, y, z, w (ROS order)"))

    def __post_init__(self):
        try:
            quaternion_to_matrix(self.orientation)
        except ValueError as e:
            raise ConfigError(f"camera_pose.orientation: {e}") from None

    def matrix(self) -> np.ndarray:
        return transform(quaternion_to_matrix(self.orientation), self.position)

    @classmethod
    def from_matrix(cls, T: np.ndarray) -> "CameraPose":
        return cls(tuple(float(v) for v in T[:3, 3]), tuple(float(v) for v in matrix_to_quaternion(T[:3, :3])))


@dataclass
class DeploymentConfig:
    """Calibration of one robot with one fixed camera."""

    robot: Optional[str] = field(default=None, metadata=spec(
        "robot YAML of the twin (see 'rigbot config robot'), relative to this file; null: the built-in arm"))
    base_frame: str = field(default="base_link", metadata=spec("name of the robot's base frame, as in its TF tree"))
    workspace: Box = field(default_factory=lambda: Box((0.22, -0.18, 0.02), (0.52, 0.18, 0.25)),
                           metadata=spec("box the safety gate keeps the hand in, metres in the base frame"))
    max_linear_speed: float = field(default=DEFAULT_LINEAR_SPEED_M_S, metadata=spec(
        "hand speed limit per axis, m/s", range=LINEAR_SPEED_RANGE_M_S))
    max_angular_speed: float = field(default=DEFAULT_ANGULAR_SPEED_RAD_S, metadata=spec(
        "hand turn rate limit per axis, rad/s", range=(0.0, MAX_ANGULAR_SPEED_RAD_S)))
    camera_info: Optional[str] = field(default=None, metadata=spec(
        "camera_info YAML from 'rigbot calibrate intrinsics', relative to this file"))
    camera_pose: Optional[CameraPose] = field(default=None, metadata=spec(
        "camera optical frame in the base frame, from 'rigbot calibrate handeye'"))
    roi: Optional[tuple[int, int, int, int]] = field(default=None, metadata=spec(
        "image region of interest x, y, width, height in raw camera pixels; null: the centred square",
        range=(0, MAX_IMAGE_SIDE_PX)))
    source: str = field(default="", init=False, repr=False)

    def __post_init__(self):
        if self.roi is not None and (self.roi[2] <= 0 or self.roi[3] <= 0 or self.roi[0] < 0 or self.roi[1] < 0):
            raise ConfigError(f"roi: {list(self.roi)} must be x, y >= 0 and width, height > 0")

    def path_of(self, relative: str) -> Path:
        p = Path(relative)
        return p if p.is_absolute() or not self.source else Path(self.source).parent / p

    def load_camera_info(self):
        """The calibrated intrinsics this file names; ConfigError if it names none."""
        from rigbot.calibration.camera_info import load_camera_info

        if self.camera_info is None:
            raise ConfigError(f"{self.source or 'deployment'}: camera_info: not set; run 'rigbot calibrate intrinsics' "
                              "with --deployment first")
        return load_camera_info(self.path_of(self.camera_info))

    def T_base_cam(self) -> np.ndarray:
        if self.camera_pose is None:
            raise ConfigError(f"{self.source or 'deployment'}: camera_pose: not set; run 'rigbot calibrate handeye' "
                              "with --deployment first")
        return self.camera_pose.matrix()


HEADER = """\
# rigbot deployment: the calibration of one robot and its fixed camera. Made and updated by 'rigbot calibrate';
# read by the safety gate (workspace, speeds), the preprocessing (roi) and the twin (all of it).
"""


def default_robot_yaml() -> Path:
    """The built-in arm's robot YAML (rigbot.limits finds it without importing rigbot.sim, which loads MuJoCo)."""
    return DEFAULT_ROBOT_YAML


def robot_yaml_of(robot: str | None, deployment_file: str | Path | None) -> Path:
    """The robot description a deployment names (relative to the deployment file), or the built-in arm's."""
    if robot is None:
        return default_robot_yaml()
    p = Path(robot)
    return p if p.is_absolute() or deployment_file is None else Path(deployment_file).parent / p


@dataclass(frozen=True)
class RobotBounds:
    """The most any deployment of a robot, or any safety gate driving it, may allow."""

    workspace: Box
    max_linear_speed: float
    source: Path  # the robot YAML they were read from


@dataclass
class _RobotSpeed:
    max_linear_speed: float = field(default=DEFAULT_LINEAR_SPEED_M_S, metadata=spec(
        "m/s per axis", range=LINEAR_SPEED_RANGE_M_S))


def robot_bounds(robot_yaml: str | Path) -> RobotBounds:
    """The workspace box and linear speed limit of a robot description: the one reader of a robot's bounds, for
    deployments and for the safety gate.

    Only these keys are read, so this needs neither MuJoCo nor the MJCF (``sim.robot.load_robot`` checks the rest,
    with the same ranges: rigbot.limits)."""
    raw = config.read_yaml(robot_yaml)
    if not isinstance(raw, dict) or not isinstance(raw.get("workspace"), dict):
        raise ConfigError(f"{robot_yaml}: workspace: expected a mapping with 'low' and 'high' (x, y, z in m)")
    box = config.from_dict(Box, raw["workspace"], source=str(robot_yaml), prefix="workspace.")
    speed = config.from_dict(_RobotSpeed, {k: raw[k] for k in ("max_linear_speed",) if k in raw},
                             source=str(robot_yaml)).max_linear_speed
    return RobotBounds(box, speed, Path(robot_yaml))


def check_within_robot(low, high, max_linear_speed: float, robot: RobotBounds, source: str | Path) -> None:
    """The hand box ``low``..``high`` inside the robot's workspace, the speed limit no higher than the robot's;
    else a ConfigError naming ``source``, the bound and the robot file."""
    box, speed, tol = robot.workspace, robot.max_linear_speed, 1e-9
    # A real arm whose deployment names no robot is held to the built-in twin's bounds: say how to name its own.
    hint = ("" if Path(robot.source).resolve() != Path(DEFAULT_ROBOT_YAML).resolve() else
            "; the deployment names no 'robot:', so the built-in table-top arm's bounds apply: set 'robot:' to your "
            "arm's description (see 'rigbot config robot')")
    for i, axis in enumerate("xyz"):
        if not low[i] >= box.low[i] - tol:
            raise ConfigError(f"{source}: workspace.low[{i}]: {low[i]:g} m is below the robot's workspace "
                              f"(low {axis} {box.low[i]:g} m in {robot.source}); the box must lie inside the "
                              f"robot's{hint}")
        if not high[i] <= box.high[i] + tol:
            raise ConfigError(f"{source}: workspace.high[{i}]: {high[i]:g} m is above the robot's workspace "
                              f"(high {axis} {box.high[i]:g} m in {robot.source}); the box must lie inside the "
                              f"robot's{hint}")
    if not max_linear_speed <= speed + tol:
        raise ConfigError(f"{source}: max_linear_speed: {max_linear_speed:g} m/s is above the robot's "
                          f"{speed:g} m/s (max_linear_speed in {robot.source}){hint}")


def bounds_of_robot(robot: str | None, deployment_file: str | Path) -> RobotBounds:
    """The bounds of the robot a deployment names (``robot``: its key); a problem names the deployment file."""
    if robot is not None and not isinstance(robot, str):
        raise ConfigError(f"{deployment_file}: robot: expected a path to a robot YAML, got {config.short_repr(robot)}")
    try:
        return robot_bounds(robot_yaml_of(robot, deployment_file))
    except ConfigError as e:  # the robot file names itself; say which deployment key led there
        raise ConfigError(f"{deployment_file}: robot: {e}") from None


def check_against_robot(low, high, max_linear_speed: float, robot: str | None, deployment_file: str | Path) -> None:
    """A deployment's physical bounds must lie within its robot's description: the hand box inside the robot's
    workspace, the speed limit no higher than the robot's. ConfigError naming the file, the bound and the robot.

    Corners recorded at +-4.9 m, or 0.5 m below the base, were otherwise written as the safety gate's box."""
    check_within_robot(low, high, max_linear_speed, bounds_of_robot(robot, deployment_file), deployment_file)


def _check(cfg: DeploymentConfig, path: str | Path, saving: bool = False) -> None:
    """What one file cannot say alone: the bounds against the robot, the roi against the calibrated image.

    ``saving``: a camera_info file that does not exist yet (named before it is written) skips the roi check; the
    file is then refused when it is loaded, as before."""
    check_against_robot(cfg.workspace.low, cfg.workspace.high, cfg.max_linear_speed, cfg.robot, path)
    if cfg.roi is not None and cfg.camera_info is not None:
        info = Path(cfg.camera_info)
        cam_file = info if info.is_absolute() else Path(path).parent / info
        if saving and not cam_file.exists():
            return
        from rigbot.calibration.camera_info import load_camera_info  # imports cv2: only when needed

        try:
            cam = load_camera_info(cam_file)
        except ConfigError as e:
            raise ConfigError(f"{path}: camera_info: {e}") from None
        x, y, w, h = cfg.roi
        if x + w > cam.width or y + h > cam.height:
            raise ConfigError(f"{path}: roi: {list(cfg.roi)} does not fit the calibrated {cam.width} x {cam.height} "
                              f"image ({cam_file}): it must lie inside it")


def _read(path: str | Path) -> DeploymentConfig:
    cfg = config.load(path, DeploymentConfig)
    cfg.source = str(path)
    return cfg


def load_deployment(path: str | Path) -> DeploymentConfig:
    """The deployment file, with its bounds checked against its robot and its roi against its camera."""
    cfg = _read(path)
    _check(cfg, path)
    return cfg


def save_deployment(cfg: DeploymentConfig, path: str | Path) -> Path:
    text = HEADER + "# keys:\n" + "".join(f"#{line}\n" for line in config.describe(DeploymentConfig).splitlines()
                                          if not line.strip().startswith("source"))
    text += config.dump_yaml(config.to_dict(cfg), sort_keys=False, default_flow_style=None)
    config.validate(cfg, source=str(path))
    _check(cfg, path, saving=True)
    return atomic_write_text(path, text)


def update_deployment(path: str | Path, **changes) -> DeploymentConfig:
    """Load the file (or start from defaults if it does not exist), change the keys given, validate, write it back.

    The file as it stands need not pass the cross-checks (a box recorded before they existed): what is written must.
    """
    path = Path(path)
    cfg = _read(path) if path.exists() else DeploymentConfig()
    data = config.to_dict(cfg)
    data.update(config.to_dict(changes))
    new = config.from_dict(DeploymentConfig, data, source=str(path))
    new.source = str(path)
    save_deployment(new, path)
    return new


def relative_to_file(target: str | Path, yaml_file: str | Path) -> str:
    """``target`` as a path relative to the folder of ``yaml_file`` when it lies below it, else absolute."""
    target, folder = Path(target).resolve(), Path(yaml_file).resolve().parent
    try:
        return str(target.relative_to(folder))
    except ValueError:
        return str(target)


def preprocess_config(cfg: DeploymentConfig, size: int = 48):
    """The preprocessing settings this deployment implies (its region of interest) for a model input of ``size``."""
    from rigbot.perception.preprocessing import PreprocessConfig

    return config.validate(PreprocessConfig(size=size, roi=cfg.roi), source=cfg.source or None)


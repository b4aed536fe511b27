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
import yaml

from rigbot import config
from rigbot.config import ConfigError, spec
from rigbot.files import atomic_write_text
from rigbot.calibration.transforms import matrix_to_quaternion, quaternion_to_matrix, transform


@dataclass
class Box:
    """An axis-aligned box of hand positions, metres, in the robot's base frame."""

    low: tuple[float, float, float] = field(metadata=spec("lowest x, y, z the hand may reach"))
    high: tuple[float, float, float] = field(metadata=spec("highest x, y, z the hand may reach"))

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

    position: tuple[float, float, float] = field(metadata=spec("metres"))
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
    max_linear_speed: float = field(default=0.2, metadata=spec("hand speed limit per axis, m/s", range=(1e-3, 2.0)))
    max_angular_speed: float = field(default=0.5, metadata=spec("hand turn rate limit per axis, rad/s",
                                                                range=(0.0, 10.0)))
    camera_info: Optional[str] = field(default=None, metadata=spec(
        "camera_info YAML from 'rigbot calibrate intrinsics', relative to this file"))
    camera_pose: Optional[CameraPose] = field(default=None, metadata=spec(
        "camera optical frame in the base frame, from 'rigbot calibrate handeye'"))
    roi: Optional[tuple[int, int, int, int]] = field(default=None, metadata=spec(
        "image region of interest x, y, width, height in raw camera pixels; null: the centred square"))
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


def load_deployment(path: str | Path) -> DeploymentConfig:
    cfg = config.load(path, DeploymentConfig)
    cfg.source = str(path)
    if cfg.roi is not None and cfg.camera_info is not None:
        cam = cfg.load_camera_info()
        x, y, w, h = cfg.roi
        if x + w > cam.width or y + h > cam.height:
            raise ConfigError(f"{path}: roi: {list(cfg.roi)} does not fit the calibrated {cam.width} x {cam.height} image")
    return cfg


def save_deployment(cfg: DeploymentConfig, path: str | Path) -> Path:
    text = HEADER + "# keys:\n" + "".join(f"#{line}\n" for line in config.describe(DeploymentConfig).splitlines()
                                          if not line.strip().startswith("source"))
    text += yaml.safe_dump(config.to_dict(cfg), sort_keys=False, default_flow_style=None)
    config.validate(cfg, source=str(path))
    return atomic_write_text(path, text)


def update_deployment(path: str | Path, **changes) -> DeploymentConfig:
    """Load the file (or start from defaults if it does not exist), change the keys given, validate, write it back."""
    path = Path(path)
    cfg = load_deployment(path) if path.exists() else DeploymentConfig()
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


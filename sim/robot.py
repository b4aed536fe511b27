"""Bring your own robot: the YAML that describes an arm's MJCF scene, and loading it into a MuJoCo spec.

The built-in arm is only the default (``robots/tabletop_arm.yaml``). Any MJCF with an end-effector site,
1-dof joints that each carry a position actuator, a camera and a table geom can take its place.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from rigbot import config
from rigbot.config import ConfigError, spec
from rigbot.limits import (DEFAULT_LINEAR_SPEED_M_S, DEFAULT_ROBOT_YAML, LINEAR_SPEED_RANGE_M_S, MAX_COORDINATE_M,
                           MAX_TIMESTEP_S)
from rigbot.sim.rendering import mujoco

DEFAULT_ROBOT = DEFAULT_ROBOT_YAML

# Physical ranges of what rigbot drives, a table-top arm (rigbot.limits). They keep a typo (mm for m, a missing dot)
# from becoming a 1000 m workspace that the IK walk crawls across, or a physics step longer than the control period.
_COORDINATE = (-MAX_COORDINATE_M, MAX_COORDINATE_M)  # any workspace or home coordinate, from the MJCF world origin


@dataclass
class WorkspaceBox:
    """An axis-aligned box of hand positions, metres, in the MJCF world frame."""

    low: tuple[float, float, float] = field(metadata=spec("lowest x, y, z the hand may be commanded to",
                                                          range=_COORDINATE))
    high: tuple[float, float, float] = field(metadata=spec("highest x, y, z the hand may be commanded to",
                                                           range=_COORDINATE))

    def __post_init__(self):
        for axis, lo, hi in zip("xyz", self.low, self.high):
            if not lo < hi:
                raise ConfigError(f"workspace: low {axis} ({lo}) must be below high {axis} ({hi})")

    def clip(self, p: np.ndarray) -> np.ndarray:
        return np.clip(p, self.low, self.high)

    def contains(self, p: np.ndarray, tol: float = 1e-6) -> bool:
        return bool(np.all(p >= np.asarray(self.low) - tol) and np.all(p <= np.asarray(self.high) + tol))


@dataclass
class RobotConfig:
    """How rigbot finds its way around an arm's MJCF scene."""

    mjcf: str = field(metadata=spec("MJCF scene file (arm, table, camera); relative to this YAML file"))
    end_effector_site: str = field(metadata=spec("site at the hand's tip; its position is what goals are made of"))
    joints: list[str] = field(metadata=spec("the arm's 1-dof joints, each with a position actuator"))
    camera: str = field(metadata=spec("the fixed RGB camera that looks at the workspace"))
    table_geom: str = field(metadata=spec("the box geom whose top face is the work surface"))
    workspace: WorkspaceBox = field(metadata=spec("box the hand is kept inside"))
    home: tuple[float, float, float] = field(metadata=spec("hand position at reset, inside the workspace",
                                                           range=_COORDINATE))
    tool_axis: Optional[tuple[float, float, float]] = field(
        default=(0.0, 0.0, -1.0), metadata=spec("world direction the hand's z axis is held to; null: free",
                                                range=(-1e3, 1e3)))
    ik_seed: Optional[list[float]] = field(
        default=None, metadata=spec("joint angles (rad, or m for slides) to start inverse kinematics from at reset; "
                                    "null: zeros", range=(-100.0, 100.0)))
    max_linear_speed: float = field(default=DEFAULT_LINEAR_SPEED_M_S, metadata=spec(
        "m/s per axis", range=LINEAR_SPEED_RANGE_M_S))
    control_hz: float = field(default=10.0, metadata=spec("commands per second", range=(1.0, 500.0)))
    source: str = field(default="", metadata=spec("the YAML file this came from (set on load)"))

    def __post_init__(self):
        if not self.workspace.contains(np.asarray(self.home)):
            raise ConfigError(f"home: {list(self.home)} is outside the workspace box")
        if self.tool_axis is not None and np.linalg.norm(self.tool_axis) < 1e-6:
            raise ConfigError("tool_axis: must be a non-zero direction or null")
        if self.ik_seed is not None and len(self.ik_seed) != len(self.joints):
            raise ConfigError(f"ik_seed: has {len(self.ik_seed)} angles for {len(self.joints)} joints")

    @property
    def mjcf_path(self) -> Path:
        p = Path(self.mjcf)
        return p if p.is_absolute() or not self.source else Path(self.source).parent / p


def load_robot(path: str | Path | None = None) -> RobotConfig:
    """The robot YAML at ``path`` (default: the built-in arm), checked against its MJCF."""
    path = Path(path) if path is not None else DEFAULT_ROBOT
    cfg = config.load(path, RobotConfig)
    cfg.source = str(path)
    load_spec(cfg)  # names in the YAML must exist in the MJCF; fail now, not mid-episode
    return cfg


def load_spec(cfg: RobotConfig) -> mujoco.MjSpec:
    """The robot's MJCF as an editable spec, with every name in ``cfg`` checked."""
    where = cfg.source or "robot config"
    path = cfg.mjcf_path
    if not path.is_file():
        raise ConfigError(f"{where}: mjcf: no such file {path}")
    try:
        mj_spec = mujoco.MjSpec.from_file(str(path))
        model = mj_spec.compile()
    except Exception as e:  # mujoco raises ValueError with the parser's message
        raise ConfigError(f"{where}: mjcf: {path} does not load: {e}") from None

    def check(kind: mujoco.mjtObj, name: str, key: str, what: str):
        if mujoco.mj_name2id(model, kind, name) < 0:
            raise ConfigError(f"{where}: {key}: no {what} named {name!r} in {path.name}")

    check(mujoco.mjtObj.mjOBJ_SITE, cfg.end_effector_site, "end_effector_site", "site")
    check(mujoco.mjtObj.mjOBJ_CAMERA, cfg.camera, "camera", "camera")
    check(mujoco.mjtObj.mjOBJ_GEOM, cfg.table_geom, "table_geom", "geom")
    for i, name in enumerate(cfg.joints):
        check(mujoco.mjtObj.mjOBJ_JOINT, name, f"joints[{i}]", "joint")
        jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
        if model.jnt_type[jid] not in (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE)):
            raise ConfigError(f"{where}: joints[{i}]: {name!r} is not a hinge or slide joint")
        if not any(model.actuator_trntype[a] == int(mujoco.mjtTrn.mjTRN_JOINT) and model.actuator_trnid[a, 0] == jid
                   for a in range(model.nu)):
            raise ConfigError(f"{where}: joints[{i}]: joint {name!r} has no actuator; add a <position> actuator")
    if model.geom_type[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, cfg.table_geom)] != int(mujoco.mjtGeom.mjGEOM_BOX):
        raise ConfigError(f"{where}: table_geom: {cfg.table_geom!r} must be a box")
    _check_timestep(float(model.opt.timestep), cfg, where, path)
    return mj_spec


def _check_timestep(timestep: float, cfg: RobotConfig, where: str, path: Path) -> None:
    """The MJCF's physics step must be a real step, no longer than one control period (the controller runs
    round(period / timestep) steps per command, at least one: a 5 s step made every 0.1 s command last 5 s)."""
    if not 0 < timestep <= MAX_TIMESTEP_S:
        raise ConfigError(f'{where}: mjcf: {path.name}: <option timestep="{timestep:g}"> is outside (0, '
                          f"{MAX_TIMESTEP_S:g}] s")
    if timestep > 1.0 / cfg.control_hz + 1e-12:
        raise ConfigError(f'{where}: mjcf: {path.name}: <option timestep="{timestep:g}"> is longer than one control '
                          f"period (1 / control_hz = {1.0 / cfg.control_hz:g} s)")


def make_fast_to_render(mj_spec: mujoco.MjSpec, image_size: int) -> None:
    """Settings that matter far more for render speed than resolution.

    No shadows, an offscreen buffer of the image's size, and up to 128 x 128 no multisampling and coarse
    tessellation of round shapes (at 48 x 48 they look the same and render three times faster).
    """
    q = mj_spec.visual.quality
    mj_spec.visual.global_.offwidth = mj_spec.visual.global_.offheight = max(image_size, 32)
    q.shadowsize = 0
    if image_size <= 128:
        q.offsamples, q.numslices, q.numstacks, q.numquads = 0, 10, 4, 1
    for light in mj_spec.lights:
        light.castshadow = False

"""The safety gate between the policy and the arm: what may reach the robot, as a state machine with no ROS in it.

Every velocity command passes through ``SafetyGate`` before it moves the arm:

- a command with a NaN or infinite component is refused, and the arm is stopped (its sender is not trusted);
- each linear and angular component is clamped to the speed limits (per axis, as the robot YAML states them);
- the hand is kept inside the workspace box: a velocity that would carry it past a face within ``lookahead``
  seconds is cut so it stops at the face; motion back inside is always allowed;
- with no fresh command for ``command_timeout`` seconds the output is zero (ros2_control's forward controllers
  keep the last velocity forever, so silence must become an explicit zero);
- without a fresh hand position the workspace cannot be enforced, so the output is zero;
- an emergency stop latches: zero until ``release_estop()`` is called, whatever arrives meanwhile.

Times are seconds on one monotonic clock chosen by the caller (the node passes its receive times).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rigbot import config
from rigbot.calibration.deployment import bounds_of_robot, check_within_robot, load_deployment, robot_bounds
from rigbot.config import ConfigError, spec
from rigbot.limits import (DEFAULT_ANGULAR_SPEED_RAD_S, DEFAULT_LINEAR_SPEED_M_S, DEFAULT_ROBOT_YAML,
                           MAX_ANGULAR_SPEED_RAD_S, MAX_LINEAR_SPEED_M_S)


@dataclass
class SafetyLimits:
    """What the gate lets through. Workspace and linear speed usually come from the robot's YAML."""

    workspace_low: tuple[float, float, float] = field(metadata=spec("lowest hand x, y, z allowed, m (robot base frame)"))
    workspace_high: tuple[float, float, float] = field(metadata=spec("highest hand x, y, z allowed, m"))
    max_linear_speed: float = field(default=DEFAULT_LINEAR_SPEED_M_S, metadata=spec(
        "per-axis linear speed limit, m/s", range=(0.0, MAX_LINEAR_SPEED_M_S)))
    max_angular_speed: float = field(default=DEFAULT_ANGULAR_SPEED_RAD_S, metadata=spec(
        "per-axis angular speed limit, rad/s", range=(0.0, MAX_ANGULAR_SPEED_RAD_S)))
    command_timeout: float = field(default=0.2, metadata=spec("zero the arm when no command came for this long, s",
                                                              range=(0.01, 10.0)))
    pose_timeout: float = field(default=0.2, metadata=spec("zero the arm when the hand position is older, s",
                                                           range=(0.01, 10.0)))
    lookahead: float = field(default=0.1, metadata=spec("stop this many seconds short of a workspace face, s",
                                                        range=(0.001, 5.0)))
    enforce_workspace: bool = field(default=True, metadata=spec(
        "keep the hand in the box (needs the hand position); false only for arms that enforce it themselves"))

    def __post_init__(self):
        for axis, lo, hi in zip("xyz", self.workspace_low, self.workspace_high):
            if not lo < hi:
                raise ConfigError(f"workspace: low {axis} ({lo}) must be below high {axis} ({hi})")


_BOUNDS = {"workspace_low", "workspace_high", "max_linear_speed", "max_angular_speed"}  # an override may
# tighten these, never widen them: not past the robot's bounds, nor past what the file itself states
_SPEED_UNITS = {"max_linear_speed": "m/s", "max_angular_speed": "rad/s"}


def limits_from_robot_yaml(path: str | Path, **overrides) -> SafetyLimits:
    """Safety limits from a robot description or a calibrated deployment file; ``overrides`` set SafetyLimits fields.

    A robot description (``sim/robots/*.yaml``: it names its ``mjcf``, which no deployment has) gives its workspace
    and linear speed, read by ``deployment.robot_bounds`` (no MuJoCo needed); its angular speed is the default.
    Any other file is a deployment, read by ``load_deployment`` with every check it makes (keys, ranges, the box and
    speed within its robot's, the roi within its camera's image); it gives the angular speed too. Either way the
    file must state its workspace: a default box is not one anyone measured. An override of the box or of a speed
    may only tighten it: it must stay within the robot's bounds and within the file's own, so no parameter can
    lift a limit the file sets (ConfigError otherwise).
    """
    path = Path(path)
    raw = config.read_yaml(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("workspace"), dict):
        raise ConfigError(f"{path}: workspace: expected a mapping with 'low' and 'high' (x, y, z in m): the gate "
                          "keeps the hand in the box the file states")
    if "mjcf" in raw:
        robot = robot_bounds(path)
        data = {"max_linear_speed": robot.max_linear_speed}
        box = robot.workspace
    else:
        deployment = load_deployment(path)
        robot = bounds_of_robot(deployment.robot, path)
        data = {"max_linear_speed": deployment.max_linear_speed, "max_angular_speed": deployment.max_angular_speed}
        box = deployment.workspace
    data = {"workspace_low": box.low, "workspace_high": box.high, **data}
    limits = config.from_dict(SafetyLimits, {**data, **overrides}, source=str(path))
    if _BOUNDS & overrides.keys():
        source = f"the override of {path}"
        check_within_robot(limits.workspace_low, limits.workspace_high, limits.max_linear_speed, robot, source)
        _check_within_file(limits, config.from_dict(SafetyLimits, data, source=str(path)), overrides, source)
    return limits


def _check_within_file(limits: SafetyLimits, stated: SafetyLimits, overrides: dict, source: str) -> None:
    """Each overridden bound of ``limits`` no looser than the file's own (``stated``); else a ConfigError."""
    tol = 1e-9
    for name, unit in _SPEED_UNITS.items():
        mine, files = getattr(limits, name), getattr(stated, name)
        if name in overrides and not mine <= files + tol:
            raise ConfigError(f"{source}: {name}: {mine:g} {unit} is above the file's {files:g} {unit}: an "
                              "override may lower a speed limit, never raise it")
    for i, axis in enumerate("xyz"):
        if "workspace_low" in overrides and not limits.workspace_low[i] >= stated.workspace_low[i] - tol:
            raise ConfigError(f"{source}: workspace.low[{i}]: {limits.workspace_low[i]:g} m is below the file's "
                              f"workspace (low {axis} {stated.workspace_low[i]:g} m): an override may shrink the "
                              "box, never grow it")
        if "workspace_high" in overrides and not limits.workspace_high[i] <= stated.workspace_high[i] + tol:
            raise ConfigError(f"{source}: workspace.high[{i}]: {limits.workspace_high[i]:g} m is above the file's "
                              f"workspace (high {axis} {stated.workspace_high[i]:g} m): an override may shrink the "
                              "box, never grow it")


def check_policy_speed(policy_speed: float, limits_file: str | Path = "") -> None:
    """A policy trained to command faster than the robot or deployment (``limits_file``; empty: the built-in arm)
    allows would be clamped by the gate into motions it never learned: ValueError, naming both speeds."""
    source = limits_file or str(DEFAULT_ROBOT_YAML)
    allowed = limits_from_robot_yaml(source).max_linear_speed
    if policy_speed > allowed + 1e-9:
        raise ValueError(f"it was trained to command up to {policy_speed:g} m/s per axis, but {source} allows "
                         f"{allowed:g} m/s: retrain it at that speed, or raise the limit there")


@dataclass(frozen=True)
class GateOutput:
    """The velocity the arm receives now, and why it is what it is."""

    linear: np.ndarray
    angular: np.ndarray
    reason: str
    """'ok', 'clamped', 'workspace' (cut at a face), 'estop', 'no command', 'stale command', 'rejected', 'no pose',
    'stale pose' or 'shut down'."""

    @property
    def is_zero(self) -> bool:
        return not (np.any(self.linear) or np.any(self.angular))


_ZERO = np.zeros(3)


class SafetyGate:
    def __init__(self, limits: SafetyLimits):
        self.limits = limits
        self._low = np.asarray(limits.workspace_low, float)
        self._high = np.asarray(limits.workspace_high, float)
        self._command: tuple[np.ndarray, np.ndarray] | None = None
        self._command_time = -math.inf
        self._pose: np.ndarray | None = None
        self._pose_time = -math.inf
        self._rejected: str | None = None
        self.estop_reason: str | None = None
        self._shut_down = False

    # ---- inputs ------------------------------------------------------------------------------------------------
    def command(self, linear, angular, now: float) -> str | None:
        """Take a new velocity command; returns None, or why it was refused (then the arm is stopped)."""
        linear, angular = np.asarray(linear, float), np.asarray(angular, float)
        problem = None
        if linear.shape != (3,) or angular.shape != (3,):
            problem = f"a command needs 3 linear and 3 angular components, got {linear.shape} and {angular.shape}"
        elif not (np.all(np.isfinite(linear)) and np.all(np.isfinite(angular))):
            problem = f"command has non-finite components (linear {linear.tolist()}, angular {angular.tolist()})"
        if problem is not None:
            self._command, self._rejected = None, problem
            return problem
        self._command, self._command_time, self._rejected = (linear, angular), now, None
        return None

    def update_pose(self, position, now: float) -> str | None:
        """Take the hand's position (x, y, z, m); returns None, or why it was refused."""
        position = np.asarray(position, float)
        if position.shape != (3,) or not np.all(np.isfinite(position)):
            self._pose = None
            return f"hand position must be 3 finite numbers, got {position.tolist()}"
        self._pose, self._pose_time = position, now
        return None

    def engage_estop(self, reason: str = "emergency stop") -> None:
        if self.estop_reason is None:
            self.estop_reason = reason

    def release_estop(self) -> bool:
        """Release a latched stop; the arm stays still until a command newer than the release arrives."""
        was = self.estop_reason is not None
        self.estop_reason = None
        self._command = None
        return was

    def shutdown(self) -> None:
        """From now on the output is zero for good (the node is going away)."""
        self._shut_down = True
        self._command = None

    # ---- output ------------------------------------------------------------------------------------------------
    def output(self, now: float) -> GateOutput:
        """What to send the arm at time ``now``."""
        if self._shut_down:
            return GateOutput(_ZERO, _ZERO, "shut down")
        if self.estop_reason is not None:
            return GateOutput(_ZERO, _ZERO, "estop")
        if self._command is None:
            return GateOutput(_ZERO, _ZERO, "rejected" if self._rejected else "no command")
        if now - self._command_time > self.limits.command_timeout:
            return GateOutput(_ZERO, _ZERO, "stale command")
        linear, angular = self._command
        vmax, wmax = self.limits.max_linear_speed, self.limits.max_angular_speed
        clamped_linear, clamped_angular = np.clip(linear, -vmax, vmax), np.clip(angular, -wmax, wmax)
        reason = "clamped" if (np.any(clamped_linear != linear) or np.any(clamped_angular != angular)) else "ok"
        if self.limits.enforce_workspace:
            if self._pose is None:
                return GateOutput(_ZERO, _ZERO, "no pose")
            if now - self._pose_time > self.limits.pose_timeout:
                return GateOutput(_ZERO, _ZERO, "stale pose")
            inside = self.keep_inside(self._pose, clamped_linear)
            if np.any(inside != clamped_linear):
                reason = "workspace"
            clamped_linear = inside
        return GateOutput(clamped_linear, clamped_angular, reason)

    def keep_inside(self, position: np.ndarray, linear: np.ndarray) -> np.ndarray:
        """``linear`` cut so the hand stops at the box's faces within ``lookahead`` s; inward motion is free."""
        la = self.limits.lookahead
        lowest = np.minimum(0.0, (self._low - position) / la)   # <= 0: how fast it may still move down
        highest = np.maximum(0.0, (self._high - position) / la)  # >= 0: ... and up
        return np.clip(linear, lowest, highest)

"""The twin as a Gymnasium-Robotics goal environment: the part every task shares.

Observation (a dict): ``image`` (the camera, H x W x 3 uint8), ``observation`` (true hand position, joint
angles and object state: for oracle baselines and evaluation only), ``achieved_goal`` and ``desired_goal``.
``compute_reward`` is vectorised; ``info['is_success']`` says whether the goal is reached; episodes never
terminate on success, and the registered environments end by a time limit (truncation).

Every goal has a goal image: ``render_goal(goal)`` draws the scene as it would look with the goal reached, on a
separate MjData, so the running episode is not disturbed. ``goal_image`` is the current goal's picture.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import gymnasium as gym
import numpy as np

from rigbot import config
from rigbot.config import ConfigError, spec
from rigbot.sim.cartesian_control import CartesianVelocityController
from rigbot.sim.domain_randomization import DomainRandomizer, RandomizationConfig, add_distractor_textures
from rigbot.sim.heldout_appearance import add_heldout_texture
from rigbot.sim.rendering import CameraRenderer, mujoco
from rigbot.sim.robot import RobotConfig, load_robot, load_spec, make_fast_to_render


@dataclass
class TaskConfig:
    """What every task has: image size, episode length, success, reward and goal region."""

    image_size: int = field(default=48, metadata=spec("camera image side, pixels", range=(32, 256)))
    max_episode_steps: int = field(default=50, metadata=spec("time limit, control steps", range=(1, 100000)))
    success_threshold: float = field(default=0.05, metadata=spec("distance counted as reached, m", range=(0.001, 1.0)))
    reward_type: Literal["dense", "sparse"] = field(
        default="dense", metadata=spec("dense: minus the distance; sparse: -1 until reached, then 0"))
    hand_height: Optional[float] = field(
        default=0.06, metadata=spec("hold the hand at this height (m) and act in x, y only; null: act in x, y, z"))
    hand_goal_margin: float = field(default=0.02, metadata=spec("hand goals keep this far inside the workspace, m",
                                                                range=(0.0, 0.5)))
    random_start: bool = field(default=False, metadata=spec(
        "start each episode in a random state (hand, and puck for push) instead of the home state"))
    randomization: RandomizationConfig = field(default_factory=RandomizationConfig,
                                               metadata=spec("domain randomisation"))


def task_config(cls: type, source: str | Path | TaskConfig | None, overrides: dict) -> TaskConfig:
    """A task config from a YAML file, an object or defaults, with keyword overrides, all validated."""
    if isinstance(source, (str, Path)):
        cfg = config.load(source, cls)
    elif source is None:
        cfg = cls()
    else:
        cfg = source
    if overrides:
        data = config.to_dict(cfg)
        for key, value in overrides.items():
            if key == "randomize":  # shorthand for the common case
                data["randomization"]["enabled"] = bool(value)
            elif key == "appearance":  # 'nominal' or 'heldout' (sim/heldout_appearance.py)
                data["randomization"]["appearance"] = value
            else:
                data[key] = value
        cfg = config.from_dict(cls, data, source="environment arguments")
    return cfg


class TabletopGoalEnv(gym.Env):
    """Base class of the twin's tasks. Subclasses define the goal and its distance."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    config_class = TaskConfig

    def __init__(self, robot: str | Path | RobotConfig | None = None, config: str | Path | TaskConfig | None = None,
                 render_mode: str | None = None, **overrides):
        self.cfg = task_config(self.config_class, config, overrides)
        self.robot = robot if isinstance(robot, RobotConfig) else load_robot(robot)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        if self.cfg.hand_height is not None:
            lo, hi = self.robot.workspace.low[2], self.robot.workspace.high[2]
            if not lo <= self.cfg.hand_height <= hi:
                raise ConfigError(f"hand_height: {self.cfg.hand_height} is outside the workspace's z range [{lo}, {hi}]")

        mj_spec = load_spec(self.robot)
        make_fast_to_render(mj_spec, self.cfg.image_size)
        self._add_objects(mj_spec)
        if self.cfg.randomization.enabled:
            add_distractor_textures(mj_spec)
        if self.cfg.randomization.appearance == "heldout":
            add_heldout_texture(mj_spec, self.cfg.randomization.heldout_seed)
        self.model = mj_spec.compile()
        self.data = mujoco.MjData(self.model)
        self._goal_data = mujoco.MjData(self.model)
        self.controller = CartesianVelocityController(self.model, self.robot)
        self.randomizer = DomainRandomizer(self.cfg.randomization, self.model, self.robot.camera, self.robot.table_geom)
        self.renderer = CameraRenderer(self.model, self.cfg.image_size, self.robot.camera)
        table = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, self.robot.table_geom)
        self.table_top = float(self.model.geom_pos[table][2] + self.model.geom_size[table][2])

        # Held axis: the hand stays at hand_height and the agent acts in x, y only (as RIG's reacher and pusher).
        self._hold = {} if self.cfg.hand_height is None else {2: self.cfg.hand_height}
        n_act = 3 - len(self._hold)
        vmax = self.robot.max_linear_speed
        self.action_space = gym.spaces.Box(-vmax, vmax, (n_act,), np.float32)
        ws = self.robot.workspace
        low, high = np.array(ws.low) + self.cfg.hand_goal_margin, np.array(ws.high) - self.cfg.hand_goal_margin
        if self._hold:
            low[2] = high[2] = self.cfg.hand_height
        if np.any(low > high):
            raise ConfigError(f"hand_goal_margin: {self.cfg.hand_goal_margin} leaves no room in the workspace")
        self.hand_goal_low, self.hand_goal_high = low, high
        goal_dim = self.goal_dim()
        img = self.cfg.image_size
        obs_dim = len(self._observation_vector())
        self.observation_space = gym.spaces.Dict({
            "image": gym.spaces.Box(0, 255, (img, img, 3), np.uint8),
            "observation": gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float64),
            "achieved_goal": gym.spaces.Box(-np.inf, np.inf, (goal_dim,), np.float64),
            "desired_goal": gym.spaces.Box(-np.inf, np.inf, (goal_dim,), np.float64),
        })
        self.goal = np.zeros(goal_dim)
        self.goal_image = np.zeros((img, img, 3), np.uint8)
        self._image = None

    # ---- what a task defines -------------------------------------------------------------------------------
    def _add_objects(self, mj_spec: mujoco.MjSpec) -> None:
        """Add the task's objects to the robot's scene before it is compiled."""

    def goal_dim(self) -> int:
        raise NotImplementedError

    def _achieved_goal(self) -> np.ndarray:
        raise NotImplementedError

    def _sample_goal(self) -> np.ndarray:
        raise NotImplementedError

    def _reset_objects(self) -> None:
        """Place the task's objects for a new episode (the arm is already at its start)."""

    def _pose_goal_scene(self, data: mujoco.MjData, goal: np.ndarray) -> None:
        """Arrange ``data`` as the scene looks with ``goal`` reached."""
        raise NotImplementedError

    def goal_distances(self, achieved: np.ndarray, desired: np.ndarray) -> dict[str, np.ndarray]:
        """Named distances (m) between achieved and desired goals, vectorised over leading axes."""
        raise NotImplementedError

    def _object_state(self) -> np.ndarray:
        return np.zeros(0)

    # ---- the goal contract ---------------------------------------------------------------------------------
    def compute_reward(self, achieved_goal, desired_goal, info) -> np.ndarray:
        dists = self.goal_distances(np.asarray(achieved_goal), np.asarray(desired_goal))
        if self.cfg.reward_type == "sparse":
            reached = np.all([d < self.cfg.success_threshold for d in dists.values()], axis=0)
            return -(~reached).astype(np.float64)
        return -np.sum(list(dists.values()), axis=0)

    def compute_success(self, achieved_goal, desired_goal) -> np.ndarray:
        dists = self.goal_distances(np.asarray(achieved_goal), np.asarray(desired_goal))
        return np.all([d < self.cfg.success_threshold for d in dists.values()], axis=0)

    # ---- gymnasium API -------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        self.randomizer.apply(self.np_random)
        mujoco.mj_resetData(self.model, self.data)
        start = self.robot.home
        if self.cfg.random_start:
            start = self.np_random.uniform(self.hand_goal_low, self.hand_goal_high)
        start = np.array(start, float)
        if self._hold:
            start[2] = self.cfg.hand_height
        self.controller.place(self.data, start)
        self.controller.reset(self.data)
        self._reset_objects()
        mujoco.mj_forward(self.model, self.data)
        goal = options.get("goal")
        self.set_goal(self._sample_goal() if goal is None else goal)
        self._image = None
        return self._obs(), self._info()

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be {self.action_space.shape[0]} finite velocities (m/s), got {action!r}")
        velocity = np.zeros(3)
        velocity[[a for a in range(3) if a not in self._hold]] = action
        self.controller.step(self.data, velocity, self._hold)
        self._image = None
        obs = self._obs()
        info = self._info(obs["achieved_goal"])
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], info))
        return obs, reward, False, False, info

    def render(self):
        return self._camera_image().copy()

    def close(self):
        self.renderer.close()

    # ---- goals ---------------------------------------------------------------------------------------------
    def set_goal(self, goal) -> None:
        """Make ``goal`` the episode's desired goal and draw its goal image."""
        goal = np.asarray(goal, dtype=np.float64)
        if goal.shape != (self.goal_dim(),) or not np.all(np.isfinite(goal)):
            raise ValueError(f"goal must be {self.goal_dim()} finite numbers, got {goal!r}")
        self.goal = goal.copy()
        self.goal_image = self.render_goal(goal)

    def render_goal(self, goal) -> np.ndarray:
        """The camera's view of the current scene with ``goal`` reached; the episode is left untouched."""
        d = self._goal_data
        d.qpos[:] = self.data.qpos
        d.qvel[:] = 0.0
        self._pose_goal_scene(d, np.asarray(goal, dtype=np.float64))
        mujoco.mj_forward(self.model, d)
        return self.renderer.render(d)

    def _hand_goal_point(self, hand_goal: np.ndarray) -> np.ndarray:
        """A hand goal (x, y or x, y, z) as a 3-D point."""
        if len(hand_goal) == 3:
            return hand_goal
        return np.array([hand_goal[0], hand_goal[1], self.cfg.hand_height])

    # ---- observation -----------------------------------------------------------------------------------------
    def hand_position(self) -> np.ndarray:
        return self.controller.hand_position(self.data)

    def _camera_image(self) -> np.ndarray:
        if self._image is None:
            self._image = self.renderer.render(self.data)
        return self._image

    def _observation_vector(self) -> np.ndarray:
        return np.concatenate([self.hand_position(), self.controller.joint_positions(self.data), self._object_state()])

    def _obs(self) -> dict:
        return {
            "image": self._camera_image().copy(),
            "observation": self._observation_vector(),
            "achieved_goal": self._achieved_goal(),
            "desired_goal": self.goal.copy(),
        }

    def _info(self, achieved: np.ndarray | None = None) -> dict:
        dists = self.goal_distances(self._achieved_goal() if achieved is None else achieved, self.goal)
        info = {f"{k}_distance": float(v) for k, v in dists.items()}
        info["is_success"] = all(d < self.cfg.success_threshold for d in info.values())
        return info

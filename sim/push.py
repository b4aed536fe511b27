"""push: push a puck to a goal position while the hand also goes to its own goal (RIG's pusher).

The goal is (hand x, y, puck x, y); the hand and puck distances are reported separately, and the dense reward
sums them, as in RIG. Success means both are within the threshold.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rigbot.config import ConfigError, spec
from rigbot.sim.goal_env import TabletopGoalEnv, TaskConfig
from rigbot.sim.rendering import mujoco


@dataclass
class PushConfig(TaskConfig):
    """The pusher's puck and goal region, on top of what every task has."""

    max_episode_steps: int = field(default=100, metadata=spec("time limit, control steps", range=(1, 100000)))
    hand_height: float = field(default=0.025, metadata=spec("hand height while pushing, m (hand acts in x, y)"))
    puck_radius: float = field(default=0.035, metadata=spec("m", range=(0.01, 0.2)))
    puck_half_height: float = field(default=0.02, metadata=spec("m", range=(0.005, 0.1)))
    puck_start: tuple[float, float] = field(default=(0.37, 0.0), metadata=spec("puck x, y at reset, m"))
    puck_goal_low: tuple[float, float] = field(default=(0.29, -0.11), metadata=spec("puck goal x, y lower corner, m"))
    puck_goal_high: tuple[float, float] = field(default=(0.45, 0.11), metadata=spec("puck goal x, y upper corner, m"))
    puck_color: tuple[float, float, float] = field(default=(0.15, 0.35, 0.9), metadata=spec("puck RGB, 0 to 1"))

    def __post_init__(self):
        if any(lo >= hi for lo, hi in zip(self.puck_goal_low, self.puck_goal_high)):
            raise ConfigError("puck_goal_low must be below puck_goal_high on x and y")


class PushEnv(TabletopGoalEnv):
    config_class = PushConfig

    def _add_objects(self, mj_spec):
        c = self.cfg
        table = mj_spec.geom(self.robot.table_geom)
        top = table.pos[2] + table.size[2]
        body = mj_spec.worldbody.add_body(name="puck", pos=[*c.puck_start, top + c.puck_half_height])
        body.add_freejoint(name="puck")
        body.add_geom(name="puck", type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[c.puck_radius, c.puck_half_height, 0],
                      rgba=[*c.puck_color, 1.0], mass=0.15, friction=[0.4, 0.005, 0.0001], contype=1, conaffinity=1)

    @property
    def _puck_adr(self) -> int:
        return self.model.jnt_qposadr[mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, "puck")]

    def _set_puck(self, data, xy) -> None:
        a = self._puck_adr
        data.qpos[a:a + 7] = [xy[0], xy[1], self.table_top + self.cfg.puck_half_height, 1, 0, 0, 0]

    def puck_position(self, data=None) -> np.ndarray:
        a = self._puck_adr
        return (self.data if data is None else data).qpos[a:a + 3].copy()

    def goal_dim(self) -> int:
        return 4

    def _object_state(self) -> np.ndarray:
        return self.puck_position()

    def _achieved_goal(self) -> np.ndarray:
        return np.concatenate([self.hand_position()[:2], self.puck_position()[:2]])

    def _reset_objects(self):
        puck = np.asarray(self.cfg.puck_start, float)
        if self.cfg.random_start:  # anywhere in the goal region, clear of the hand
            hand = self.hand_position()[:2]
            for _ in range(1000):
                puck = self.np_random.uniform(self.cfg.puck_goal_low, self.cfg.puck_goal_high)
                if np.linalg.norm(puck - hand) > self.cfg.puck_radius + 0.03:
                    break
        self._set_puck(self.data, puck)

    def _sample_goal(self) -> np.ndarray:
        clearance = self.cfg.puck_radius + 0.03  # hand goal never inside the goal puck
        for _ in range(1000):
            hand = self.np_random.uniform(self.hand_goal_low[:2], self.hand_goal_high[:2])
            puck = self.np_random.uniform(self.cfg.puck_goal_low, self.cfg.puck_goal_high)
            if np.linalg.norm(hand - puck) > clearance:
                return np.concatenate([hand, puck])
        raise RuntimeError("could not sample a hand goal clear of the puck goal; the goal regions are too small")

    def _pose_goal_scene(self, data, goal):
        self._set_puck(data, goal[2:])
        self.controller.place(data, self._hand_goal_point(goal[:2]), seed=self.controller.joint_positions(self.data))

    def goal_distances(self, achieved, desired):
        return {"hand": np.linalg.norm(achieved[..., :2] - desired[..., :2], axis=-1),
                "puck": np.linalg.norm(achieved[..., 2:] - desired[..., 2:], axis=-1)}

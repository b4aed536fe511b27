"""reach: bring the hand to a goal position. RIG's visual reacher; success is the hand within 5 cm."""
from __future__ import annotations

import numpy as np

from rigbot.sim.goal_env import TabletopGoalEnv


class ReachEnv(TabletopGoalEnv):
    """Goal: the hand position (x, y with the default fixed hand height; x, y, z with ``hand_height: null``)."""

    def goal_dim(self) -> int:
        return 3 - len(self._hold)

    def _achieved_goal(self) -> np.ndarray:
        return self.hand_position()[: self.goal_dim()]

    def _sample_goal(self) -> np.ndarray:
        return self.np_random.uniform(self.hand_goal_low, self.hand_goal_high)[: self.goal_dim()]

    def _pose_goal_scene(self, data, goal):
        self.controller.place(data, self._hand_goal_point(goal), seed=self.controller.joint_positions(self.data))

    def goal_distances(self, achieved, desired):
        return {"hand": np.linalg.norm(achieved - desired, axis=-1)}

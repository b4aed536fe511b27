"""Goals from a point someone picked in the scene (RViz's Publish Point and 2D Goal Pose tools).

A picked point is in the robot base frame (the MJCF world frame). For reach it is the hand's goal. For push,
Publish Point places the puck's goal and 2D Goal Pose the hand's; the other part of the goal is kept. Points
outside the goal region are moved to its nearest edge, so a click slightly off the table still gives a goal
the task can reach.
"""
from __future__ import annotations

import numpy as np


def goal_from_point(twin, point, part: str = "object") -> np.ndarray:
    """The goal of ``twin`` (a TabletopGoalEnv) with ``part`` ('object' or 'hand') moved to ``point`` (x, y, z)."""
    point = np.asarray(point, dtype=float)
    if point.shape != (3,) or not np.all(np.isfinite(point)):
        raise ValueError(f"a picked point is 3 finite numbers, got {point.tolist()}")
    if part not in ("object", "hand"):
        raise ValueError(f"part must be 'object' or 'hand', got {part!r}")
    goal = np.array(twin.goal, dtype=float)
    dim = twin.goal_dim()
    if dim in (2, 3):  # reach: the hand is the only thing there is to place
        return np.clip(point[:dim], twin.hand_goal_low[:dim], twin.hand_goal_high[:dim])
    if part == "hand":
        goal[:2] = np.clip(point[:2], twin.hand_goal_low[:2], twin.hand_goal_high[:2])
    else:
        goal[2:4] = np.clip(point[:2], twin.cfg.puck_goal_low, twin.cfg.puck_goal_high)
    return goal


def hand_goal_point(twin, goal) -> np.ndarray:
    """Where the hand should be (x, y, z) for ``goal``: its hand part, at the held height when there is one."""
    goal = np.asarray(goal, dtype=float)
    hand = goal[:3] if twin.goal_dim() == 3 else goal[:2]
    return hand if len(hand) == 3 else np.array([hand[0], hand[1], twin.cfg.hand_height])

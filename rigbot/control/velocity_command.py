"""Policy actions <-> end-effector velocity commands (the linear and angular parts of a TwistStamped).

A policy's action is the hand's linear velocity in m/s in the robot base frame: x, y (the hand height is held)
or x, y, z. The arm is sent all six twist components; rotation is never commanded by rigbot's policies.
"""
from __future__ import annotations

import numpy as np


def action_to_twist(action) -> tuple[np.ndarray, np.ndarray]:
    """A policy action (2 or 3 numbers, m/s) as (linear xyz, angular xyz); a 2-D action moves in x, y only."""
    action = np.asarray(action, dtype=float).ravel()
    if action.shape not in ((2,), (3,)):
        raise ValueError(f"an action is 2 (x, y) or 3 (x, y, z) velocities in m/s, got {action.shape[0]} numbers")
    linear = np.zeros(3)
    linear[: len(action)] = action
    return linear, np.zeros(3)


def twist_to_action(linear, action_dim: int) -> np.ndarray:
    """The action an ``action_dim``-dimensional twin takes from a twist's linear part (z dropped for 2-D)."""
    if action_dim not in (2, 3):
        raise ValueError(f"action_dim must be 2 or 3, got {action_dim}")
    linear = np.asarray(linear, dtype=float).ravel()
    if linear.shape != (3,):
        raise ValueError(f"a twist's linear part has 3 components, got {linear.shape[0]}")
    return linear[:action_dim].astype(np.float32)

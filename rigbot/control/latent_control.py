"""One control step of a latent goal-reaching policy, with the checks a robot needs before it acts.

The policy acts on the newest observation latent and the goal latent. It does not act when there is no goal,
no observation, an observation older than ``max_age`` seconds (acting on the past steers by a picture that is
no longer true), or latents that are not finite or of the wrong size. ``step`` then returns no action and the
reason, and the safety gate's watchdog stops the arm. ``ControlSchedule`` keeps it at most at the control rate.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


class LatentGoalController:
    def __init__(self, act: Callable[[np.ndarray, np.ndarray], np.ndarray], latent_dim: int, max_age: float):
        if max_age <= 0:
            raise ValueError(f"max_age must be positive, got {max_age}")
        self.act, self.latent_dim, self.max_age = act, latent_dim, max_age
        self.z: np.ndarray | None = None
        self.z_time = 0.0
        self.z_goal: np.ndarray | None = None
        self.acted_on: float | None = None  # time of the observation the last action was computed from

    def _check(self, z, what: str) -> np.ndarray:
        z = np.asarray(z, dtype=np.float32).ravel()
        if z.shape != (self.latent_dim,):
            raise ValueError(f"{what} latent has {z.shape[0]} numbers, the policy takes {self.latent_dim}")
        if not np.all(np.isfinite(z)):
            raise ValueError(f"{what} latent is not finite")
        return z

    def observe(self, z, stamp: float) -> None:
        """A new observation latent, taken at ``stamp`` (seconds, the clock ``step`` is given)."""
        self.z, self.z_time = self._check(z, "observation"), float(stamp)

    def set_goal(self, z_goal) -> None:
        self.z_goal = self._check(z_goal, "goal")

    def clear(self) -> None:
        self.z = self.z_goal = self.acted_on = None

    def step(self, now: float) -> tuple[np.ndarray | None, str]:
        """(action, 'ok') or (None, why not)."""
        if self.z_goal is None:
            return None, "no goal yet"
        if self.z is None:
            return None, "no observation yet"
        age = now - self.z_time
        if age > self.max_age:
            return None, f"newest observation is {age * 1000:.0f} ms old, more than the {self.max_age * 1000:.0f} ms allowed"
        action = np.asarray(self.act(self.z, self.z_goal), dtype=np.float32)
        if not np.all(np.isfinite(action)):
            return None, f"policy produced a non-finite action {action.tolist()}"
        self.acted_on = self.z_time
        return action, "ok"


class ControlSchedule:
    """At most ``hz`` actions a second, as each new observation arrives: one that comes early is skipped, not
    queued. A schedule, not a minimum gap: jitter in the arrivals does not lower the rate."""

    def __init__(self, hz: float):
        self.period = 1.0 / hz
        self.next = 0.0

    def due(self, now: float) -> bool:
        return now >= self.next - 0.25 * self.period

    def acted(self, now: float) -> None:
        self.next = max(self.next + self.period, now)

"""The policy the robot runs: from a checkpoint folder, or a weight store whose new versions it follows. No ROS.

A checkpoint folder is loaded once. From a weight store (``rigbot weights init``) the current version is loaded,
and each version a learner announces is loaded and checked on a background thread (``LiveWeights``: hashes,
config, VAE, finite weights, a forward pass) and swapped in between two control ticks (``take``), so commanding
never stops. A person may roll back to the version in use before; it is then not replaced by the learner's until
``follow`` is called.

``PolicyLoop`` is what the policy node runs between messages: the checked start (``start``: a policy trained
faster than the limits file allows is refused), the control schedule, the observation checks
(rigbot.control.latent_control), and the swap to a new version between two ticks.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from rigbot.control.latent_control import ControlSchedule, LatentGoalController
from rigbot.control.velocity_command import action_to_twist


class RunningPolicy:
    def __init__(self, policy, live=None):
        self.policy = policy
        self.live = live  # LiveWeights, when the policy comes from a weight store
        self.following = True
        self.announced: int | None = None  # the learner's newest version

    @classmethod
    def load(cls, checkpoint: str | Path, log: Callable[[str], None], device=None) -> "RunningPolicy":
        """The checkpoint folder's policy, or the current version of a weight store (``log`` reports refused
        versions), on ``device`` (``rigbot.devices``: auto, cpu, cuda; None: the CPU), later versions too."""
        from rigbot.devices import resolve_device
        from rigbot.policy.weights.checkpoint import load_policy
        from rigbot.policy.weights.live_weights import LiveWeights
        from rigbot.policy.weights.weight_store import STORE, WeightStore

        device = None if device is None else resolve_device(device)
        path = Path(checkpoint).expanduser()
        if not (path / STORE).is_file():
            return cls(load_policy(path, device))
        store = WeightStore(path)
        version = store.current()
        policy = store.load(version, device)
        return cls(policy, LiveWeights(store, version, policy, log=log, device=device))

    def announce(self, version: int) -> bool:
        """The learner published ``version``; True when it is now being loaded and checked to swap to."""
        self.announced = version
        if self.following and version != self.live.version:
            self.live.request(version)
            return True
        return False

    def rollback(self) -> tuple[int, str | None]:
        """Go back to the version in use before (at the next tick) and stop following the learner; returns that
        version and, if the store could not be made to start on it after a restart, why. ValueError if there is
        none to go back to."""
        target = self.live.rollback()
        self.following = False
        try:  # a restart should come up on the rolled-back version too
            self.live.store.set_current(target)
        except ValueError as e:
            return target, f"could not make version {target} current in the store: {e}"
        return target, None

    def follow(self) -> None:
        """Take the learner's versions again, starting with its newest."""
        self.following = True
        if self.announced is not None and self.announced != self.live.version:
            self.live.request(self.announced)

    def take(self) -> int | None:
        """Between two ticks: swap to a checked new version if one is waiting; returns its number, or None."""
        staged = self.live.take() if self.live is not None else None
        if staged is None:
            return None
        version, self.policy = staged
        return version


@dataclass(frozen=True)
class Tick:
    """What an observation led to: a new weights version now in use (or None), and the velocity to command
    (``(linear, angular)``), or None and why not ('' when it was simply not due, or the loop is inactive)."""

    version: int | None
    twist: tuple[np.ndarray, np.ndarray] | None
    why_not: str = ""


class PolicyLoop:
    """``running`` acting on observations at most ``control_hz`` times a second (0: the policy's own rate), never
    on one older than ``max_age`` s."""

    def __init__(self, running: RunningPolicy, control_hz: float, max_age: float):
        policy = running.policy
        self.running = running
        self.control_hz = control_hz or float(policy.control_hz)
        self.schedule = ControlSchedule(self.control_hz)
        self.controller = LatentGoalController(policy.act, policy.encoder.latent_dim, max_age)
        self.actions = 0

    @classmethod
    def start(cls, checkpoint: str | Path, limits_file: str | Path, control_hz: float, max_age: float,
              log: Callable[[str], None], policy=None, device=None) -> "PolicyLoop":
        """The loop of ``policy`` if given, else of ``checkpoint`` on ``device`` (see ``RunningPolicy.load``), once
        its speed is checked against ``limits_file`` (``check_policy_speed``); a ValueError whose text is the whole
        reason."""
        from rigbot.control.safety_gate import check_policy_speed

        try:
            running = (RunningPolicy(policy) if policy is not None
                       else RunningPolicy.load(checkpoint, log=log, device=device))
        except Exception as e:  # whatever a bad checkpoint raises: the caller fails its start with the reason
            raise ValueError(f"cannot load policy checkpoint {str(checkpoint)!r}: {type(e).__name__}: {e}") from e
        try:
            check_policy_speed(running.policy.max_linear_speed, limits_file)
        except ValueError as e:
            raise ValueError(f"refusing policy checkpoint {str(checkpoint)!r}: {e}") from None
        return cls(running, control_hz, max_age)

    def observe(self, z, stamp: float, now: float, clock: float, active: bool = True) -> Tick:
        """An observation latent taken at ``stamp`` (seconds on ``clock``'s clock, now ``clock``), arriving at
        ``now`` (seconds, monotonic); a ValueError if it is refused. A checked new version waiting is swapped in
        first; then, if ``active`` and due, the policy acts."""
        self.controller.observe(z, stamp)
        version = self.running.take()  # between two ticks: a checked new version, if one is waiting
        if version is not None:
            self.controller.act = self.running.policy.act
        if not active or not self.schedule.due(now):  # ahead of the control schedule: skip this observation
            return Tick(version, None)
        action, why = self.controller.step(clock)
        if action is None:
            return Tick(version, None, why)
        self.schedule.acted(now)
        self.actions += 1
        return Tick(version, action_to_twist(action))

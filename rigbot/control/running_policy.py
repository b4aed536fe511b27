"""The policy the robot runs: from a checkpoint folder, or a weight store whose new versions it follows. No ROS.

A checkpoint folder is loaded once. From a weight store (``rigbot weights init``) the current version is loaded,
and each version a learner announces is loaded and checked on a background thread (``LiveWeights``: hashes,
config, VAE, finite weights, a forward pass) and swapped in between two control ticks (``take``), so commanding
never stops. A person may roll back to the version in use before; it is then not replaced by the learner's until
``follow`` is called.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable


class RunningPolicy:
    def __init__(self, policy, live=None):
        self.policy = policy
        self.live = live  # LiveWeights, when the policy comes from a weight store
        self.following = True
        self.announced: int | None = None  # the learner's newest version

    @classmethod
    def load(cls, checkpoint: str | Path, log: Callable[[str], None]) -> "RunningPolicy":
        """The checkpoint folder's policy, or the current version of a weight store (``log`` reports refused
        versions)."""
        from rigbot.policy.weights.checkpoint import load_policy
        from rigbot.policy.weights.live_weights import LiveWeights
        from rigbot.policy.weights.weight_store import STORE, WeightStore

        path = Path(checkpoint).expanduser()
        if not (path / STORE).is_file():
            return cls(load_policy(path))
        store = WeightStore(path)
        version = store.current()
        policy = store.load(version)
        return cls(policy, LiveWeights(store, version, policy, log=log))

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

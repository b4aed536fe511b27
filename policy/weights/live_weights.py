"""Swapping a running policy's weights without stopping it: load and check in the background, swap between ticks.

The control loop calls ``take()`` once per tick; it returns a new, already checked policy at most once, and the
caller swaps its reference before computing the tick's action. Everything slow (reading and hashing files,
building the network, checking it) happens on a background thread, so the loop never waits for it. A version
is swapped in only if every check passes (``check_swappable``); otherwise the running policy stays and
``refused`` says why. ``take`` and ``request`` may be called from different threads.
"""
from __future__ import annotations

import threading

import numpy as np

from rigbot.policy.weights.weight_store import POLICY_KEYS, WeightStore, WeightStoreError


def _vae_digest(policy) -> str | None:
    from rigbot.policy.weights.weight_store import _sha256

    path = policy.directory / "vae" / "vae.safetensors"
    return _sha256(path) if path.is_file() else None


def check_swappable(candidate, running, probes: int = 16, seed: int = 0) -> None:
    """Raise WeightStoreError unless ``candidate`` can replace ``running`` mid-run: the same config where it
    matters (sizes, speed limit, rate, task), the same VAE (the encoder node keeps encoding with the running
    one), and a forward pass on prior samples that gives finite actions within the speed limit. (Its files were
    verified and its weights refused if not finite when it was loaded: ``WeightStore.load``.)"""
    for key in POLICY_KEYS:
        a, b = running.meta.get(key), candidate.meta.get(key)
        if a != b:
            raise WeightStoreError(f"{key} is {b!r}, the running policy's is {a!r}")
    if _vae_digest(candidate) != _vae_digest(running):
        raise WeightStoreError("it comes with a different (fine-tuned) VAE, but the encoder node encodes with the "
                               "running one; restart the graph on the weight store to use it")
    rng = np.random.default_rng(seed)
    if candidate.encoder is not None:
        z = candidate.encoder.prior.sample(probes, rng).astype(np.float32)
        g = candidate.encoder.prior.sample(probes, rng).astype(np.float32)
    else:
        z = rng.standard_normal((probes, candidate.agent.obs_dim)).astype(np.float32)
        g = rng.standard_normal((probes, candidate.agent.goal_dim)).astype(np.float32)
    for i in range(probes):
        action = np.asarray(candidate.act(z[i], g[i]))
        if action.shape != (candidate.action_dim,) or not np.all(np.isfinite(action)):
            raise WeightStoreError(f"the sanity forward pass gave {action.tolist()}")
        if np.any(np.abs(action) > candidate.max_linear_speed * (1 + 1e-5)):
            raise WeightStoreError(f"the sanity forward pass exceeded the speed limit: {action.tolist()}")


class LiveWeights:
    """The policy in use and at most one checked successor waiting for the next tick."""

    def __init__(self, store: WeightStore, version: int, policy, log=print, device=None):
        """``device``: where new versions are loaded (the running policy's; None: the CPU)."""
        self.store, self.version, self.policy, self.log = store, int(version), policy, log
        self.device = device
        self.history = [self.version]  # versions in use, oldest first
        self.refused: dict[int, str] = {}
        self._staged = None
        self._lock = threading.Lock()
        self._loading: threading.Thread | None = None

    def request(self, version: int, wait: bool = False) -> None:
        """Start loading and checking ``version`` in the background (a newer request supersedes a waiting one)."""
        version = int(version)
        if version == self.version and self._staged is None:
            return
        thread = threading.Thread(target=self._load, args=(version,), name=f"rigbot-load-v{version}", daemon=True)
        self._loading = thread
        thread.start()
        if wait:
            thread.join()

    def _load(self, version: int) -> None:
        try:
            candidate = self.store.load(version, self.device)
            check_swappable(candidate, self.policy)
        except Exception as e:  # every failure is a refusal; the running policy stays
            reason = str(e) if isinstance(e, (WeightStoreError, ValueError)) else f"{type(e).__name__}: {e}"
            self.refused[version] = reason
            self.log(f"refused weights version {version}, keeping version {self.version}: {reason}")
            return
        with self._lock:
            self._staged = (version, candidate)

    def take(self):
        """At a tick: the newly checked ``(version, policy)`` to swap to (it becomes the one in use), or None."""
        if self._staged is None:
            return None
        with self._lock:
            staged, self._staged = self._staged, None
        if staged is None:
            return None
        self.version, self.policy = staged
        if self.history[-1] != self.version:
            self.history.append(self.version)
        return staged

    def rollback(self) -> int:
        """Start going back to the version in use before the current one; returns its number."""
        if len(self.history) < 2:
            raise WeightStoreError(f"no earlier version has been in use (current: {self.version})")
        self.history.pop()
        target = self.history[-1]
        with self._lock:  # a newer version checked meanwhile must not win over the rollback
            self._staged = None
        self.request(target)
        return target

    def busy(self) -> bool:
        return self._loading is not None and self._loading.is_alive()

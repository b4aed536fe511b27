"""Learning on the robot: RIG's updates, continued on transitions that arrive live and on recordings from disk.

The learner starts from the current version of a weight store (``policy.weights.weight_store``), the twin-trained policy
at first, and keeps the same algorithm as ``training.rig``: episodes go into the hindsight replay once, each
sampled transition gets its episode's goal, an imagined goal (a VAE prior sample) or a later latent of the same
episode, and TD3 (or whichever agent the policy holds) takes gradient steps on them. What changes on a robot:

- **Transitions come from outside.** The learner node builds them from the topics (latent, arm command, goal:
  ``LiveEpisode``, ``RobotEpisodes``);
  recordings and frame datasets on disk (``rigbot collect``, converted robot recordings) are read too, with
  actions derived from the hand's motion as ``training.offline`` does.
- **Episodes have no fixed length.** A robot episode may be cut short by a pause or an e-stop. The replay needs a
  fixed horizon, so each trajectory is cut into consecutive windows of ``horizon`` transitions; the remainder is
  dropped, and every window is an episode of its own for relabelling.
- **Updates are paced by data**: ``updates_per_step`` gradient steps per transition received (RIG's ratio), not
  as fast as the CPU allows, so a learner beside the running graph does not starve it.
- **Weights are published**, every ``publish_every`` updates, as a new store version that the policy node swaps
  to. With ``vae_finetune_every`` the VAE is fine-tuned on the replay's images as ``training.rig`` does, and the
  version carries the new VAE (the encoder must then load it too: see the README).

Every trajectory is also written to ``episodes/`` in the store (atomically, ``episode_NNNNNN.npz``), so a
restarted learner continues from everything it has seen.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rigbot.config import spec
from rigbot.files import atomic_write
from rigbot.policy.training.replay_buffer import HindsightReplayBuffer, RelabelConfig


@dataclass
class OnlineLearnerConfig:
    """How the learner turns arriving transitions into gradient steps and new versions."""

    horizon: int = field(default=20, metadata=spec("transitions per replay window (trajectories are cut into these)",
                                                   range=(2, 10000)))
    updates_per_step: float = field(default=1.0, metadata=spec("gradient updates per transition received",
                                                               range=(0.0, 1000.0)))
    warmup_transitions: int = field(default=100, metadata=spec("transitions in the replay before updates begin",
                                                               range=(0, 10**8)))
    publish_every: int = field(default=500, metadata=spec("gradient updates between published versions",
                                                          range=(1, 10**8)))
    replay_capacity: int = field(default=100000, metadata=spec("transitions kept", range=(100, 10**8)))
    relabel: RelabelConfig = field(default_factory=RelabelConfig, metadata=spec("goal relabelling (as rig.py)"))
    vae_finetune_every: int = field(default=0, metadata=spec("episodes between VAE fine-tuning on the replay's "
                                                             "images (0: never)", range=(0, 10**6)))
    vae_finetune_epochs: int = field(default=1, metadata=spec("epochs per fine-tuning", range=(1, 1000)))


def action_from_velocity(linear: np.ndarray, action_dim: int, max_speed: float) -> np.ndarray:
    """The agent's action in [-1, 1] for a commanded hand velocity (m/s): what the arm was told to do."""
    a = np.asarray(linear, np.float32).ravel()[:action_dim] / max_speed
    return np.clip(a, -1.0, 1.0)


class OnlineLearner:
    def __init__(self, store, cfg: OnlineLearnerConfig | None = None, seed: int = 0, version: int | None = None,
                 device=None):
        """``device``: where the agent (and the VAE) learn (``rigbot.devices``: auto, cpu, cuda; None: the CPU);
        the replay stays on the CPU and published weights are CPU tensors."""
        import torch

        from rigbot.devices import resolve_device

        device = None if device is None else resolve_device(device)
        self.store, self.cfg = store, cfg or OnlineLearnerConfig()
        self.version = store.current() if version is None else int(version)
        policy = store.load(self.version, device)
        self.meta = dict(policy.meta)
        self.agent = policy.agent.train()
        self.encoder = policy.encoder
        self.action_dim, self.vmax = policy.action_dim, policy.max_linear_speed
        self.rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        prior = self.encoder.prior if self.encoder is not None else None
        image_shape = None
        if self.cfg.vae_finetune_every:
            if self.encoder is None:
                raise ValueError("vae_finetune_every needs a latent policy (one with a VAE)")
            s = self.encoder.vae.cfg.image_size
            image_shape = (s, s, 3)
        self.buffer = HindsightReplayBuffer(self.cfg.replay_capacity, self.cfg.horizon, self.agent.obs_dim,
                                            self.agent.goal_dim, self.action_dim, self.cfg.relabel, image_shape,
                                            goal_prior=prior)
        self.lock = threading.Lock()  # the node adds episodes from its executor while a thread trains
        self.transitions = self.updates = self.episodes = 0
        self.updates_at_publish = 0
        self.vae_changed = False
        self.episode_dir = store.root / "episodes"

    # ---- data in -----------------------------------------------------------------------------------------------
    def add_trajectory(self, latents: np.ndarray, actions: np.ndarray, goal: np.ndarray,
                       images: np.ndarray | None = None, save: bool = True, whole: bool = True) -> int:
        """One trajectory: ``latents`` (n+1 x d, encoder means), ``actions`` (n x action_dim, in [-1, 1]), the goal
        latent it was run for, and (for VAE fine-tuning) the n+1 model-sized images. Returns the windows stored.
        ``save``: also write it to ``episodes/``; ``whole``: it is a whole episode (counted), not a part of one
        fed while the episode runs (see ``record_episode``)."""
        latents, actions = np.asarray(latents, np.float32), np.asarray(actions, np.float32)
        goal = np.asarray(goal, np.float32).ravel()
        n = len(actions)
        if latents.shape != (n + 1, self.agent.obs_dim):
            raise ValueError(f"a trajectory of {n} actions needs {n + 1} x {self.agent.obs_dim} latents, "
                             f"got {latents.shape}")
        if actions.shape[1:] != (self.action_dim,) or goal.shape != (self.agent.goal_dim,):
            raise ValueError(f"actions must be n x {self.action_dim} and the goal {self.agent.goal_dim} numbers")
        for name, v in (("latents", latents), ("actions", actions), ("goal", goal)):
            if not np.all(np.isfinite(v)):
                raise ValueError(f"trajectory {name} contain NaN or Inf; not stored")
        if np.any(np.abs(actions) > 1.0 + 1e-6):
            raise ValueError("trajectory actions must lie in [-1, 1] (fractions of the speed limit)")
        if self.buffer.keeps_images and images is None:
            raise ValueError("VAE fine-tuning is on: trajectories need their images")
        if save:
            self._save(latents, actions, goal, images)
        H = self.cfg.horizon
        stored = 0
        with self.lock:
            for start in range(0, n - H + 1, H):
                ep = {"obs": latents[start:start + H + 1], "achieved": latents[start:start + H + 1],
                      "action": actions[start:start + H], "goal": goal}
                if self.buffer.keeps_images:
                    ep["image"], ep["goal_image"] = images[start:start + H + 1], images[start + H]
                self.buffer.add_episode(ep)
                stored += 1
            self.transitions += stored * H
            self.episodes += int(whole)
        return stored

    def record_episode(self, latents: np.ndarray, actions: np.ndarray, goal: np.ndarray) -> Path:
        """Count and save an episode whose windows were already fed, part by part, while it ran."""
        self.episodes += 1
        return self._save(np.asarray(latents, np.float32), np.asarray(actions, np.float32),
                          np.asarray(goal, np.float32), None)

    def _save(self, latents, actions, goal, images) -> Path:
        self.episode_dir.mkdir(parents=True, exist_ok=True)
        number = len(list(self.episode_dir.glob("episode_*.npz"))) + 1
        arrays = {"latents": latents, "actions": actions, "goal": goal}
        if images is not None:
            arrays["images"] = np.asarray(images, np.uint8)
        return atomic_write(self.episode_dir / f"episode_{number:06d}.npz",
                            lambda tmp: np.savez_compressed(tmp, **arrays))

    def load_episodes(self, folder: str | Path | None = None) -> int:
        """Re-read trajectories saved by an earlier run (``episodes/`` of the store); returns how many."""
        count = 0
        for path in sorted(Path(folder or self.episode_dir).glob("episode_*.npz")):
            with np.load(path, allow_pickle=False) as f:
                images = f["images"] if "images" in f else None
                if self.buffer.keeps_images and images is None:
                    continue
                self.add_trajectory(f["latents"], f["actions"], f["goal"], images, save=False)
            count += 1
        return count

    def add_frames(self, folder: str | Path) -> int:
        """A frame dataset (``rigbot collect``, or robot recordings converted by ``rigbot dataset``): its images
        are encoded, actions derived from the hand's motion, each run of steps cut into windows whose rollout goal
        is the window's last latent. Returns the transitions stored."""
        from rigbot.perception.frame_dataset import load_frames
        from rigbot.policy.training.offline import OfflineDataset

        if self.encoder is None:
            raise ValueError("reading frame datasets needs a latent policy (one with a VAE)")
        frames = load_frames(folder)
        latents = np.concatenate([self.encoder.encode(frames["images"][i:i + 512])
                                  for i in range(0, len(frames["images"]), 512)])
        axes = [0, 1, 2][: self.action_dim]
        data = OfflineDataset.from_frames(frames, latents, latents, axes, self.vmax, float(self.meta["control_hz"]))
        order = np.lexsort((frames["steps"], frames["episodes"]))
        images = frames["images"][order]
        before = self.transitions
        H = self.cfg.horizon
        i = 0
        while i < len(data.end):
            end = int(data.end[i])
            for s in range(i, end - H + 1, H):
                imgs = images[s:s + H + 1] if self.buffer.keeps_images else None
                self.add_trajectory(data.obs[s:s + H + 1], data.action[s:s + H], data.obs[s + H], imgs, save=False)
            i = end + 1
        return self.transitions - before

    # ---- learning ----------------------------------------------------------------------------------------------
    def owed_updates(self) -> int:
        """Gradient steps the data received so far entitles the learner to, not yet taken."""
        if self.buffer.stored == 0 or self.transitions < self.cfg.warmup_transitions:
            return 0
        return max(0, int(self.cfg.updates_per_step * self.transitions) - self.updates)

    def train(self, n: int) -> dict:
        """``n`` gradient steps; the stats of the last."""
        stats: dict = {}
        batch_size = self.agent.cfg.batch_size
        for _ in range(n):
            with self.lock:
                batch = self.buffer.sample(batch_size, self.rng)
            stats = self.agent.update(batch)
            self.updates += 1
        return stats

    def publish_due(self) -> bool:
        return self.updates - self.updates_at_publish >= self.cfg.publish_every

    def finetune_vae(self) -> float:
        """Fine-tune the VAE on the replay's images, refit its prior, re-encode the stored latents."""
        from rigbot.perception.vae_training import finetune

        with self.lock:
            d = self.buffer.data
            images = d["image"][: self.buffer.stored].reshape(-1, *d["image"].shape[2:])
            loss = finetune(self.encoder, images, epochs=self.cfg.vae_finetune_epochs, rng=self.rng)
            self.buffer.goal_prior = self.encoder.prior
            for key in ("obs", "achieved"):
                self.buffer.refresh(key, self.encoder.encode)
            self.vae_changed = True
        return loss

    def publish(self, note: str = "") -> int:
        """The agent (and its VAE, if fine-tuned) as the next store version, made current; returns its number."""
        from rigbot.weights import non_finite_tensor  # the check every reader of the version makes

        bad = non_finite_tensor(self.agent.state_dict())
        if bad is not None:
            raise ValueError(f"the agent's weights are not finite (tensor {bad} holds NaN or Inf); not publishing "
                             "them")
        meta = {**self.meta, "online": {"updates": self.updates, "transitions": self.transitions,
                                        "episodes": self.episodes, "parent": self.version}}
        info = {"updates": self.updates, "transitions": self.transitions, "episodes": self.episodes,
                "vae_finetuned": self.vae_changed, "note": note}
        with self.lock:
            self.version = self.store.publish(self.agent, meta, self.encoder if self.vae_changed else None,
                                              parent=self.version, info=info)
        self.updates_at_publish = self.updates
        return self.version

    def step(self, max_updates: int = 50) -> int | None:
        """Take up to ``max_updates`` of the owed gradient steps; publish when due. Returns a new version or None."""
        n = min(self.owed_updates(), max_updates)
        if n:
            self.train(n)
        if self.cfg.vae_finetune_every and self.episodes and self.episodes % self.cfg.vae_finetune_every == 0 \
                and getattr(self, "_finetuned_at", -1) != self.episodes and self.buffer.stored:
            self._finetuned_at = self.episodes
            self.finetune_vae()
        if self.publish_due():
            return self.publish()
        return None


class LiveEpisode:
    """An episode arriving frame by frame (the learner node's): each window of ``horizon`` transitions goes into
    the replay as soon as it is complete, so learning does not wait for the episode's end; ``finish`` counts and
    saves the whole episode. The goal is given with each call: it is the one in force when the data arrives."""

    def __init__(self, learner: OnlineLearner):
        self.learner = learner
        self.latents: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.fed = 0  # transitions already in the replay

    def step(self, latent: np.ndarray, velocity: np.ndarray, goal: np.ndarray) -> None:
        """The latent of a new frame; ``velocity`` is the hand velocity (m/s) the arm was commanded since the
        previous frame (ignored for the first). Raises ValueError when a window completed by it is refused (it is
        then left out of the replay, and the episode goes on)."""
        lr = self.learner
        if self.latents:
            self.actions.append(action_from_velocity(velocity, lr.action_dim, lr.vmax))
        self.latents.append(latent)
        H, a = lr.cfg.horizon, self.fed
        if len(self.actions) - a >= H:
            self.fed += H
            lr.add_trajectory(np.stack(self.latents[a:a + H + 1]), np.stack(self.actions[a:a + H]), goal, save=False,
                              whole=False)

    def finish(self, goal: np.ndarray | None) -> Path | None:
        """Count and save the episode (see ``OnlineLearner.record_episode``); None when it has no transition or
        no goal."""
        if not self.actions or goal is None:
            return None
        return self.learner.record_episode(np.stack(self.latents), np.stack(self.actions), goal)


class RobotEpisodes:
    """The learner node's bookkeeping, no ROS in it: which frames make an episode, and the arm command each carries.

    Episodes are delimited by the episode manager's events (``event``: ``started``, ``complete``, ``aborted``)
    once one has been heard; without an episode manager, by goal changes (``new_goal``). A frame's action is the
    arm command in force when it arrives (``command``), or zero if that is older than ``command_max_age`` s (the
    arm has stopped). ``info`` and ``error`` take the lines to log."""

    def __init__(self, learner: OnlineLearner, command_max_age: float, info=print, error=print):
        self.learner, self.command_max_age, self.info, self.error = learner, command_max_age, info, error
        self.goal: np.ndarray | None = None
        self._command, self._command_time = np.zeros(3), -np.inf
        self.managed = False  # an episode manager has spoken: it delimits the episodes
        self.recording = False
        self.episode = LiveEpisode(learner)

    @property
    def wants_frames(self) -> bool:
        return self.recording and self.goal is not None

    def command(self, linear: np.ndarray, now: float) -> None:
        self._command, self._command_time = linear, now

    def new_goal(self, goal: np.ndarray) -> None:
        if not self.managed:  # no episode manager: a new goal starts a new episode
            self.end("goal changed")
            self.recording = True
        self.goal = goal

    def event(self, kind: str) -> None:
        self.managed = True
        if kind == "started":
            self.end("a new episode started")
            self.recording = True
        elif kind in ("complete", "aborted"):
            self.end(kind)

    def frame(self, latent: np.ndarray, now: float) -> None:
        """A frame's latent (arrived at ``now``), if ``wants_frames``; a window the replay refuses is logged."""
        if not self.wants_frames:
            return
        fresh = now - self._command_time <= self.command_max_age
        try:
            self.episode.step(latent, self._command if fresh else np.zeros(3), self.goal)
        except ValueError as e:
            self.error(f"window not stored: {e}")

    def end(self, why: str) -> None:
        """End the episode (saved if it has transitions and a goal); frames wait for the next one."""
        episode, self.episode, self.recording = self.episode, LiveEpisode(self.learner), False
        try:
            path = episode.finish(self.goal)
        except (ValueError, OSError) as e:
            self.error(f"episode not saved: {e}")
            return
        if path is not None:
            self.info(f"episode ended ({why}): {len(episode.actions)} transitions, {episode.fed} of them in replay "
                      f"windows; {self.learner.transitions} transitions in all; saved {path.name}")


class TrainingThread:
    """Runs ``learner.step`` in the background until stopped; ``on_version(n)`` is called for each new version."""

    def __init__(self, learner: OnlineLearner, on_version, on_error, max_updates: int = 20):
        self.learner, self.on_version, self.on_error, self.max_updates = learner, on_version, on_error, max_updates
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rigbot-learner", daemon=True)

    def start(self) -> "TrainingThread":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                version = self.learner.step(self.max_updates)
            except Exception as e:  # report and keep the thread's owner alive; learning stops
                self.on_error(e)
                return
            if version is not None:
                self.on_version(version)
            if not self.learner.owed_updates():
                time.sleep(0.05)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

"""Hindsight replay: each transition stored once, goals relabelled and rewards recomputed when a batch is drawn.

RIG relabels every sampled transition with one of three goals, in fixed proportions (Nair, Pong et al. 2018):
the episode's own *rollout* goal, a goal *imagined* by sampling the VAE prior, or a state the same episode
reached later (*future*, HER's strategy; Andrychowicz et al. 2017). The proportions are data, in
``RelabelConfig`` (its ``goal_mix.GoalMix``); there is one sampling path. The reward is recomputed for the chosen
goal, on the stored vectors: minus the distance between the next state's achieved-goal vector (RIG: the encoder
mean) and the goal. With ``reward: pixel_distance`` it is minus the distance between the next camera image and the
goal image instead: the weak pixel-space baseline of the RIG paper, which has no imagined goals (no image to
compare with). ``reward: squared_goal_distance`` is minus the squared distance, -||E(s') - g||^2, the reward of
latent-goal SAC.

Storage is episode-major with a fixed horizon T: obs and achieved vectors for t = 0..T, actions for t < T, and
the episode's goal. Camera images are kept only when something needs them (pixel rewards, VAE fine-tuning).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from rigbot.config import ConfigError, spec
from rigbot.files import atomic_write
from rigbot.policy.training.goal_mix import GoalMix


@dataclass
class RelabelConfig:
    """Where the goals of sampled transitions come from (fractions summing to 1)."""

    rollout: float = field(default=0.2, metadata=spec("the goal the episode was collected for", range=(0.0, 1.0)))
    prior: float = field(default=0.5, metadata=spec("imagined: sampled from the latent prior", range=(0.0, 1.0)))
    future: float = field(default=0.3, metadata=spec("achieved later in the same episode (HER 'future')",
                                                     range=(0.0, 1.0)))
    reward: Literal["goal_distance", "squared_goal_distance", "pixel_distance"] = field(
        default="goal_distance", metadata=spec("minus the distance of achieved and goal vectors, its square, or "
                                               "minus the distance of images"))

    @cached_property
    def mix(self) -> GoalMix:
        """The fractions as a GoalMix, made (and checked) once, as the config is made."""
        return GoalMix("relabel", rollout=self.rollout, prior=self.prior, future=self.future)

    def __post_init__(self):
        self.mix  # noqa: B018 (refuses fractions that do not sum to 1)
        if self.reward == "pixel_distance" and self.prior > 0:
            raise ConfigError("relabel.prior must be 0 with pixel_distance rewards: an imagined latent has no image")


class HindsightReplayBuffer:
    def __init__(self, capacity: int, horizon: int, obs_dim: int, goal_dim: int, action_dim: int,
                 relabel: RelabelConfig, image_shape: tuple[int, ...] | None = None, goal_prior=None):
        """``capacity`` in transitions; ``image_shape`` to keep camera images; ``goal_prior.sample(n, rng)``
        imagines goals (needed when ``relabel.prior > 0``)."""
        if relabel.prior > 0 and goal_prior is None:
            raise ValueError("relabel.prior > 0 needs a goal prior to sample imagined goals from")
        if relabel.reward == "pixel_distance" and image_shape is None:
            raise ValueError("pixel_distance rewards need the buffer to keep images (image_shape)")
        self.relabel, self.goal_prior, self.horizon = relabel, goal_prior, horizon
        self.episodes = max(1, capacity // horizon)
        E, T = self.episodes, horizon
        self.data = {
            "obs": np.zeros((E, T + 1, obs_dim), np.float32),
            "achieved": np.zeros((E, T + 1, goal_dim), np.float32),
            "action": np.zeros((E, T, action_dim), np.float32),
            "goal": np.zeros((E, goal_dim), np.float32),
        }
        if image_shape is not None:
            self.data["image"] = np.zeros((E, T + 1, *image_shape), np.uint8)
            self.data["goal_image"] = np.zeros((E, *image_shape), np.uint8)
        self.next_slot, self.stored = 0, 0

    @property
    def keeps_images(self) -> bool:
        return "image" in self.data

    @property
    def transitions(self) -> int:
        return self.stored * self.horizon

    def add_episode(self, episode: dict[str, np.ndarray]) -> None:
        """One whole episode: the arrays of ``self.data`` without the leading episode axis."""
        for key, store in self.data.items():
            value = np.asarray(episode[key])
            if value.shape != store.shape[1:]:
                raise ValueError(f"episode {key} has shape {value.shape}, the buffer stores {store.shape[1:]}")
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise ValueError(f"episode {key} contains NaN or Inf; not stored")
            store[self.next_slot] = value
        self.next_slot = (self.next_slot + 1) % self.episodes
        self.stored = min(self.stored + 1, self.episodes)

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """``n`` transitions with relabelled goals and recomputed rewards, as float32 tensors."""
        if self.stored == 0:
            raise RuntimeError("the replay buffer is empty")
        d, r = self.data, self.relabel
        ep = rng.integers(0, self.stored, n)
        t = rng.integers(0, self.horizon, n)
        source = r.mix.draw(n, rng)
        future_t = rng.integers(t + 1, self.horizon + 1)  # a later state of the same episode, up to the last
        goal = d["goal"][ep].copy()  # the rollout goal, unless another source is drawn
        fut = source["future"]
        goal[fut] = d["achieved"][ep[fut], future_t[fut]]
        imagined = source["prior"]
        if imagined.any():
            goal[imagined] = self.goal_prior.sample(int(imagined.sum()), rng)
        if r.reward == "goal_distance":
            reward = -np.linalg.norm(d["achieved"][ep, t + 1] - goal, axis=-1)
        elif r.reward == "squared_goal_distance":
            reward = -np.sum((d["achieved"][ep, t + 1] - goal) ** 2, axis=-1)
        else:
            goal_image = d["goal_image"][ep].astype(np.float32)
            goal_image[fut] = d["image"][ep[fut], future_t[fut]]
            diff = (d["image"][ep, t + 1].astype(np.float32) - goal_image) / 255.0
            reward = -np.linalg.norm(diff.reshape(n, -1), axis=-1)
        batch = {"obs": d["obs"][ep, t], "next_obs": d["obs"][ep, t + 1], "action": d["action"][ep, t],
                 "goal": goal, "reward": reward.astype(np.float32)}
        return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in batch.items()}

    def refresh(self, key: str, fn) -> None:
        """Recompute a stored vector array from the images, e.g. latents after the VAE was fine-tuned:
        ``data[key] = fn(images)`` batch by batch, for the stored episodes."""
        images = self.data["image"]
        flat = images[: self.stored].reshape(-1, *images.shape[2:])
        out = np.concatenate([fn(flat[i:i + 1024]) for i in range(0, len(flat), 1024)])
        self.data[key][: self.stored] = out.reshape(self.stored, self.horizon + 1, -1)

    # ---- resuming ------------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        arrays = {k: v[: self.stored] for k, v in self.data.items()}
        arrays["_counters"] = np.array([self.next_slot, self.stored])
        return atomic_write(path, lambda tmp: np.savez(tmp, **arrays))

    def load(self, path: str | Path) -> None:
        with np.load(path, allow_pickle=False) as f:
            next_slot, stored = (int(x) for x in f["_counters"])
            for key, store in self.data.items():
                if key not in f or f[key].shape[1:] != store.shape[1:] or len(f[key]) != stored:
                    raise ValueError(f"{path}: replay array {key!r} does not match this buffer's layout")
                if stored > self.episodes:
                    raise ValueError(f"{path}: holds {stored} episodes, the buffer has room for {self.episodes}")
                store[:stored] = f[key]
        self.next_slot, self.stored = next_slot % self.episodes, stored

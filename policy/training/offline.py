"""Offline goal-conditioned training (HIQL) from recorded episodes, evaluated in the twin.

The data is a frame dataset (``perception.frame_dataset``: what ``rigbot collect`` writes, and what recordings
from the robot are converted into). It stores frames and true states but no actions, so the action of each
transition is *derived from the hand's motion*: (hand_{t+1} - hand_t) * control rate / max speed on the axes
the policy commands, clipped to [-1, 1]. We chose this over adding an ``actions`` array to the format because
it reads every dataset ever collected, and any robot recording that logs hand positions, without a format
change; and because on a velocity-tracking arm the achieved velocity is the action that produced the next frame
(in the twin the commanded and achieved velocities differ by 1.8 cm/s per axis in the median, of 20 cm/s).
The hand position is the first three entries of a frame's ``observations``, as the collector writes them.

Episodes are cut into trajectories of consecutive steps. Goals are sampled as HIQL samples them, by fractions
(data, not code paths): for the value, the current state (reward 0, the episode of the value ends), a future
state of the same trajectory at a geometric offset, or a random state of the dataset; for the policies, a
uniformly drawn future state of the same trajectory, and the subgoal is the state k steps ahead (or the
trajectory's end).

The run is checkpointed like an online one (``training/step_NNNNNNNN``, ``latest.yaml``) and resumes with
``--resume``; its learning curve is against gradient updates.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import torch

from rigbot import config
from rigbot.config import spec
from rigbot.devices import resolve_device
from rigbot.perception.frame_dataset import DatasetError, load_frames, read_meta
from rigbot.perception.vae import load_checkpoint
from rigbot.policy.agents import AGENTS
from rigbot.policy.agents.hiql import HIQLConfig
from rigbot.policy.training.goal_mix import GoalMix
from rigbot.policy.training.observations import make_view
from rigbot.policy.training.pipeline import log_stage, prepare_vae
from rigbot.policy.training.run import Trainer


@dataclass
class ValueGoalConfig:
    """Where the value function's goals come from (fractions summing to 1; HIQL's defaults)."""

    current: float = field(default=0.2, metadata=spec("the state itself (reward 0)", range=(0.0, 1.0)))
    future: float = field(default=0.5, metadata=spec("a later state of the same trajectory, geometric offset",
                                                     range=(0.0, 1.0)))
    random: float = field(default=0.3, metadata=spec("any state of the dataset", range=(0.0, 1.0)))

    @cached_property
    def mix(self) -> GoalMix:
        """The fractions as a GoalMix, made (and checked) once, as the config is made."""
        return GoalMix("value goal", current=self.current, future=self.future, random=self.random)

    def __post_init__(self):
        self.mix  # noqa: B018 (refuses fractions that do not sum to 1)


@dataclass
class OfflineConfig:
    """One offline (HIQL) training run."""

    task: Literal["reach", "push"] = field(default="reach", metadata=spec("twin task (the data's task)"))
    observation: Literal["latent", "state"] = field(
        default="latent", metadata=spec("latent: VAE latents of the recorded images; state: recorded true positions"))
    updates: int = field(default=20000, metadata=spec("gradient updates (the most, with stop_at_success)",
                                                      range=(1, 10**8)))
    stop_at_success: Optional[float] = field(default=None, metadata=spec(
        "stop early once this success rate is reached at stop_evaluations evaluations in a row (null: run all "
        "updates)", range=(0.0, 1.0)))
    stop_evaluations: int = field(default=2, metadata=spec("evaluations in a row at stop_at_success or above that "
                                                           "end the run", range=(1, 1000)))
    eval_every: int = field(default=2000, metadata=spec("updates between evaluations in the twin", range=(1, 10**8)))
    eval_episodes: int = field(default=20, metadata=spec("episodes per evaluation", range=(1, 10000)))
    checkpoint_every: int = field(default=5000, metadata=spec("updates between resumable checkpoints",
                                                              range=(1, 10**8)))
    value_goals: ValueGoalConfig = field(default_factory=ValueGoalConfig, metadata=spec("value goal sampling"))
    hiql: HIQLConfig = field(default_factory=HIQLConfig, metadata=spec("HIQL hyperparameters"))


class OfflineDataset:
    """Recorded trajectories as arrays: obs, achieved (goal-space vectors), action (of the step from each frame to
    the next; rows without a next frame are unused) and ``end``, the index of each frame's trajectory's last frame."""

    def __init__(self, obs: np.ndarray, achieved: np.ndarray, action: np.ndarray, end: np.ndarray):
        self.obs, self.achieved, self.action, self.end = obs, achieved, action, end
        self.starts = np.flatnonzero(np.arange(len(end)) < end)  # frames with a next frame
        if len(self.starts) == 0:
            raise ValueError("the dataset has no transitions (no two consecutive steps of one episode)")

    @property
    def transitions(self) -> int:
        return len(self.starts)

    @classmethod
    def from_frames(cls, frames: dict, obs: np.ndarray, achieved: np.ndarray, action_axes: list[int],
                    max_speed: float, control_hz: float) -> "OfflineDataset":
        """``frames``: ``load_frames`` output; ``obs``/``achieved``: the agent's vectors of those frames."""
        order = np.lexsort((frames["steps"], frames["episodes"]))
        ep, step = frames["episodes"][order], frames["steps"][order]
        obs, achieved = np.asarray(obs, np.float32)[order], np.asarray(achieved, np.float32)[order]
        hand = frames["observations"][order][:, :3]
        n = len(order)
        follows = np.zeros(n, bool)  # frame i+1 is the next step of frame i's episode
        follows[:-1] = (ep[1:] == ep[:-1]) & (step[1:] == step[:-1] + 1)
        # the last frame of each run of consecutive steps, for every frame of the run
        last = np.flatnonzero(~follows)
        end = last[np.searchsorted(last, np.arange(n))]
        action = np.zeros((n, len(action_axes)), np.float32)
        motion = (hand[1:] - hand[:-1])[:, action_axes] * control_hz / max_speed
        action[:-1] = np.clip(motion, -1.0, 1.0)
        for name, v in (("observation", obs), ("achieved goal", achieved), ("hand motion", action)):
            if not np.all(np.isfinite(v)):
                raise ValueError(f"the dataset's {name} vectors contain NaN or Inf")
        return cls(obs, achieved, action, end)

    def sample(self, n: int, goals: ValueGoalConfig, discount: float, subgoal_steps: int,
               rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """A batch for ``HIQL.update`` (see there for the keys)."""
        i = rng.choice(self.starts, n)
        end = self.end[i]
        source = goals.mix.draw(n, rng)
        offset = rng.geometric(1.0 - discount, n) if discount < 1 else np.full(n, 1 << 30)
        value_goal = np.where(source["current"], i, np.minimum(i + offset, end))
        value_goal = np.where(source["random"], rng.integers(0, len(self.end), n), value_goal)
        reached = value_goal == i
        goal = i + np.ceil(rng.uniform(size=n) * (end - i)).astype(int)  # uniform over the later states
        goal = np.clip(goal, i + 1, end)
        sub = np.minimum(i + subgoal_steps, end)
        batch = {"obs": self.obs[i], "next_obs": self.obs[i + 1], "action": self.action[i],
                 "value_goal": self.achieved[value_goal], "reward": reached - 1.0, "mask": 1.0 - reached,
                 "goal": self.achieved[goal], "subgoal": self.achieved[sub], "subgoal_obs": self.obs[sub]}
        return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in batch.items()}


def action_axes(twin) -> list[int]:
    """The hand axes the policy commands (x, y when the task holds the hand's height)."""
    return [0, 1] if twin.cfg.hand_height is not None else [0, 1, 2]


class OfflineTrainer(Trainer):
    """HIQL on a recorded dataset: set up with a config, an output folder, a view with its input statistics
    (``observations.make_view``), and the dataset's frames (``load_frames``). Progress is counted in gradient
    updates; the data is read again on resuming, so only the agent and the counters are saved."""

    unit, progress_key = "update", "updates"

    def __init__(self, cfg: OfflineConfig, out: str | Path, view, input_mean: np.ndarray, input_std: np.ndarray,
                 frames: dict, seed: int = 0, progress: bool = True, env_options: dict | None = None,
                 data_source: str = "", device="cpu"):
        super().__init__(cfg, out, view, seed, progress, env_options, device)
        twin = self.eval_env.unwrapped
        t0 = time.perf_counter()
        if view.kind == "latent":
            images = frames["images"]
            z = np.concatenate([view.encoder.encode(images[i:i + 1024]) for i in range(0, len(images), 1024)])
            obs, achieved = z, z
        else:
            obs, achieved = frames["observations"], frames["achieved_goals"]
        self.data = OfflineDataset.from_frames(frames, obs, achieved, action_axes(twin), self.vmax,
                                               twin.robot.control_hz)
        self._make_agent("hiql", cfg.hiql, input_mean, input_std,
                         training={"data": data_source, "transitions": self.data.transitions})
        self.timing = {"prepare": time.perf_counter() - t0, "update": 0.0, "evaluate": 0.0, "checkpoint": 0.0}

    @property
    def done(self) -> int:
        return self.agent.updates

    @property
    def total(self) -> int:
        return self.cfg.updates

    def _advance(self) -> None:
        cfg, h = self.cfg, self.cfg.hiql
        t0 = time.perf_counter()
        self.agent.update(self.data.sample(h.batch_size, cfg.value_goals, h.discount, h.subgoal_steps, self.rng))
        self.timing["update"] += time.perf_counter() - t0

    def _curve_counters(self) -> dict:
        return {"updates": self.agent.updates, "env_steps": self.data.transitions}

    def _progress_counters(self) -> dict:
        return {"updates": self.agent.updates}

    def _curve_title(self) -> str:
        return f"{self.cfg.task}: HIQL, offline, {self.cfg.observation} observation"


def train_offline(task: str, out: str | Path, data: str | Path, seed: int = 0, updates: int | None = None,
                  vae_epochs: int = 15, vae: str | Path | None = None, resume: bool = False, progress: bool = True,
                  overrides: dict | None = None, latent_dim: int = 16, device="cpu") -> Path:
    """``rigbot train --agent hiql --data DIR``: (the VAE, for latents, trained on the data's images) then HIQL on
    the data's trajectories, both on ``device`` (``rigbot.devices``); returns the policy folder ``out``."""
    device = resolve_device(device)  # before any work: a missing GPU is refused at once
    out, data = Path(out), Path(data)
    if (out / "training" / "latest.yaml").is_file() and not resume:
        raise ValueError(f"{out} already holds a training run; pass --resume to continue it, or choose another "
                         "--out")
    recorded = read_meta(data).get("task")
    if recorded != task:
        raise DatasetError(f"{data}: holds frames of task {recorded!r}, not {task!r}; pass --task {recorded}")
    settings = config.merge(config.to_dict(OfflineConfig()), AGENTS["hiql"].preset, overrides or {},
                            {"task": task, **({"updates": updates} if updates else {})})
    cfg = config.from_dict(OfflineConfig, settings, source="agent 'hiql'")
    frames = load_frames(data)
    log_stage(f"[1/3] recorded frames: {len(frames['steps'])} in {data}")
    encoder = None
    if cfg.observation == "latent":
        encoder = load_checkpoint(prepare_vae(data, out, vae_epochs, seed, progress, vae, latent_dim, device))
    else:
        log_stage("[2/3] VAE: not needed (this agent sees true positions)")
    view, mean, std = make_view(cfg.observation, encoder, frames)
    trainer = OfflineTrainer(cfg, out, view, mean, std, frames, seed=seed, progress=progress,
                             env_options={"image_size": encoder.vae.cfg.image_size if encoder else 48},
                             data_source=str(data), device=device)
    if resume and trainer.resume():
        log_stage(f"[3/3] resuming hiql at update {trainer.agent.updates} of {cfg.updates}")
    else:
        log_stage(f"[3/3] training hiql offline on {trainer.data.transitions} recorded transitions of {data} "
                  f"for {cfg.updates} updates")
    final = trainer.train()
    log_stage(f"done: success {final['success_rate']:.0%} on {cfg.eval_episodes} rendered goal images in the "
              f"twin; policy in {out}; learning curve in {out / 'learning_curve.png'}")
    return out

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
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from rigbot import config
from rigbot.config import ConfigError, spec
from rigbot.policy.agents import make_agent
from rigbot.policy.training.evaluation import evaluate
from rigbot.policy.agents.hiql import HIQLConfig
from rigbot.policy.training.training_state import load_training_state, random_baseline, save_training_state


@dataclass
class ValueGoalConfig:
    """Where the value function's goals come from (fractions summing to 1; HIQL's defaults)."""

    current: float = field(default=0.2, metadata=spec("the state itself (reward 0)", range=(0.0, 1.0)))
    future: float = field(default=0.5, metadata=spec("a later state of the same trajectory, geometric offset",
                                                     range=(0.0, 1.0)))
    random: float = field(default=0.3, metadata=spec("any state of the dataset", range=(0.0, 1.0)))

    def __post_init__(self):
        total = self.current + self.future + self.random
        if abs(total - 1.0) > 1e-6:
            raise ConfigError(f"value goal fractions current + future + random must sum to 1, they sum to {total:g}")


@dataclass
class OfflineConfig:
    """One offline (HIQL) training run."""

    task: Literal["reach", "push"] = field(default="reach", metadata=spec("twin task (the data's task)"))
    observation: Literal["latent", "state"] = field(
        default="latent", metadata=spec("latent: VAE latents of the recorded images; state: recorded true positions"))
    updates: int = field(default=20000, metadata=spec("gradient updates", range=(1, 10**8)))
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
        source = rng.choice(3, size=n, p=[goals.current, goals.future, goals.random])
        offset = rng.geometric(1.0 - discount, n) if discount < 1 else np.full(n, 1 << 30)
        value_goal = np.where(source == 0, i, np.minimum(i + offset, end))
        value_goal = np.where(source == 2, rng.integers(0, len(self.end), n), value_goal)
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


class OfflineTrainer:
    """HIQL on a recorded dataset: set up with a config, an output folder, a view with its input statistics
    (``rig.make_view``), and the dataset's frames (``load_frames``)."""

    def __init__(self, cfg: OfflineConfig, out: str | Path, view, input_mean: np.ndarray, input_std: np.ndarray,
                 frames: dict, seed: int = 0, progress: bool = True, env_options: dict | None = None,
                 data_source: str = ""):
        import rigbot.sim as sim

        if cfg.observation != view.kind:
            raise ConfigError(f"observation: {cfg.observation!r} needs a {cfg.observation} view, got {view.kind}")
        self.cfg, self.out, self.view, self.seed, self.progress = cfg, Path(out), view, seed, progress
        env_options = {"image_size": 48, **(env_options or {})}
        self.eval_env = sim.make(cfg.task, **env_options)
        twin = self.eval_env.unwrapped
        self.vmax = twin.robot.max_linear_speed
        self.action_dim = self.eval_env.action_space.shape[0]
        t0 = time.perf_counter()
        if view.kind == "latent":
            images = frames["images"]
            z = np.concatenate([view.encoder.encode(images[i:i + 1024]) for i in range(0, len(images), 1024)])
            obs, achieved = z, z
        else:
            obs, achieved = frames["observations"], frames["achieved_goals"]
        self.data = OfflineDataset.from_frames(frames, obs, achieved, action_axes(twin), self.vmax,
                                               twin.robot.control_hz)
        self.meta = {"task": cfg.task, "observation": cfg.observation, "obs_dim": view.obs_dim,
                     "goal_dim": view.goal_dim, "action_dim": self.action_dim,
                     "max_linear_speed": self.vmax, "control_hz": twin.robot.control_hz,
                     "image_size": twin.cfg.image_size, "learner": "hiql", "hiql": config.to_dict(cfg.hiql),
                     "training": {"config": config.to_dict(cfg), "seed": seed, "env": env_options,
                                  "data": data_source, "transitions": self.data.transitions}}
        torch.set_num_threads(1)  # as the online trainer: spinning OpenMP threads stall on a busy machine
        torch.manual_seed(seed)
        self.agent = make_agent("hiql", cfg.hiql, view.obs_dim, view.goal_dim, self.action_dim, input_mean,
                                input_std)
        self.rng = np.random.default_rng(seed)
        self.curve: list[dict] = []
        self.timing = {"prepare": time.perf_counter() - t0, "update": 0.0, "evaluate": 0.0, "checkpoint": 0.0}
        self.random_baseline: dict | None = None

    def act(self, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return self.agent.act(state, goal) * self.vmax

    def evaluate(self, episodes: int | None = None, record: int = 0) -> dict:
        t0 = time.perf_counter()
        result = evaluate(self.act, self.eval_env, self.view, episodes or self.cfg.eval_episodes, record=record)
        self.timing["evaluate"] += time.perf_counter() - t0
        return result

    def _log_eval(self, wall: float) -> dict:
        from rigbot.policy.training.rig import write_curve

        result = self.evaluate()
        row = {"updates": self.agent.updates, "env_steps": self.data.transitions, "wall_s": round(wall, 1),
               **{k: v for k, v in result.items() if k not in ("frames", "episodes")}}
        self.curve.append(row)
        write_curve(self.out, self.curve, self.random_baseline, title=f"{self.cfg.task}: HIQL, offline, "
                    f"{self.cfg.observation} observation", success_threshold=self.eval_env.unwrapped.cfg.success_threshold,
                    timing=self.timing, x_key="updates")
        return row

    # ---- checkpoints (policy.training_state, as the online trainer's) -------------------------------------------
    def save(self) -> Path:
        t0 = time.perf_counter()
        progress = {"updates": self.agent.updates, "rng": self.rng.bit_generator.state, "curve": self.curve,
                    "random_baseline": self.random_baseline, "timing": self.timing}
        self.meta["trained_updates"] = self.agent.updates
        step_dir = save_training_state(self.out, self.agent.updates, self.agent, self.meta, progress)
        self.timing["checkpoint"] += time.perf_counter() - t0
        return step_dir

    def resume(self) -> bool:
        state = load_training_state(self.out, self.meta)
        if state is None:
            return False
        self.agent, _, progress = state
        self.rng.bit_generator.state = progress["rng"]
        self.curve, self.random_baseline = progress["curve"], progress["random_baseline"]
        self.timing = progress["timing"]
        return True

    def train(self) -> dict:
        cfg = self.cfg
        if self.random_baseline is None:
            self.random_baseline = random_baseline(self.eval_env, self.view, self.seed, cfg.eval_episodes)
        if not self.curve:
            self._log_eval(0.0)
        start_wall = time.perf_counter() - self.curve[-1]["wall_s"]
        bar = tqdm(total=cfg.updates, initial=self.agent.updates, unit="update", desc=f"HIQL {cfg.task}",
                   disable=not self.progress, dynamic_ncols=True)
        h = cfg.hiql
        try:
            while self.agent.updates < cfg.updates:
                t0 = time.perf_counter()
                self.agent.update(self.data.sample(h.batch_size, cfg.value_goals, h.discount, h.subgoal_steps,
                                                   self.rng))
                self.timing["update"] += time.perf_counter() - t0
                bar.update(1)
                u = self.agent.updates
                if u % cfg.eval_every == 0 or u >= cfg.updates:
                    row = self._log_eval(time.perf_counter() - start_wall)
                    bar.set_postfix(success=f"{row['success_rate']:.0%}",
                                    hand_cm=f"{100 * row['hand_distance_median']:.1f}")
                if u % cfg.checkpoint_every == 0 or u >= cfg.updates:
                    self.save()
        finally:
            bar.close()
        return self.curve[-1]


def train_offline(task: str, out: str | Path, data: str | Path, seed: int = 0, updates: int | None = None,
                  vae_epochs: int = 15, vae: str | Path | None = None, resume: bool = False, progress: bool = True,
                  overrides: dict | None = None, latent_dim: int = 16) -> Path:
    """``rigbot train --agent hiql --data DIR``: (the VAE, for latents, trained on the data's images) then HIQL on
    the data's trajectories; returns the policy folder ``out``."""
    from rigbot.perception.frame_dataset import DatasetError, load_frames, read_meta
    from rigbot.perception.vae import load_checkpoint
    from rigbot.policy.training.pipeline import _log, prepare_vae
    from rigbot.policy.training.rig import make_view

    out, data = Path(out), Path(data)
    if (out / "training" / "latest.yaml").is_file() and not resume:
        raise ValueError(f"{out} already holds a training run; pass --resume to continue it, or choose another "
                         "--out")
    recorded = read_meta(data).get("task")
    if recorded != task:
        raise DatasetError(f"{data}: holds frames of task {recorded!r}, not {task!r}; pass --task {recorded}")
    settings = config.to_dict(OfflineConfig())
    for key, value in {**(overrides or {}), "task": task, **({"updates": updates} if updates else {})}.items():
        nested = isinstance(value, dict) and isinstance(settings.get(key), dict)
        settings[key] = {**settings[key], **value} if nested else value
    cfg = config.from_dict(OfflineConfig, settings, source="agent 'hiql'")
    frames = load_frames(data)
    _log(progress, f"[1/3] recorded frames: {len(frames['steps'])} in {data}")
    encoder = None
    if cfg.observation == "latent":
        encoder = load_checkpoint(prepare_vae(data, out, vae_epochs, seed, progress, vae, latent_dim))
    else:
        _log(progress, "[2/3] VAE: not needed (this agent sees true positions)")
    view, mean, std = make_view(cfg.observation, encoder, frames)
    trainer = OfflineTrainer(cfg, out, view, mean, std, frames, seed=seed, progress=progress,
                             env_options={"image_size": encoder.vae.cfg.image_size if encoder else 48},
                             data_source=str(data))
    if resume and trainer.resume():
        _log(progress, f"[3/3] resuming hiql at update {trainer.agent.updates} of {cfg.updates}")
    else:
        _log(progress, f"[3/3] training hiql offline on {trainer.data.transitions} recorded transitions of {data} "
                       f"for {cfg.updates} updates")
    final = trainer.train()
    _log(progress, f"done: success {final['success_rate']:.0%} on {cfg.eval_episodes} rendered goal images in the "
                   f"twin; policy in {out}; learning curve in {out / 'learning_curve.png'}")
    return out

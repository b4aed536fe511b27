"""RIG: Reinforcement learning with Imagined Goals (Nair, Pong, Dalal, Bahl, Lin, Levine; NeurIPS 2018).

The loop, as in the paper's Algorithm 1:
  1. every episode, imagine a goal z_g by sampling the VAE prior;
  2. act with the goal-conditioned policy (plus exploration noise) on z = encoder mean of the camera image;
  3. store the episode once; each sampled transition gets a rollout, imagined or future goal (see
     ``replay_buffer``), and the reward -||z' - z_g|| is recomputed for that goal;
  4. several TD3 updates per environment step; optionally fine-tune the VAE on the images seen so far.
Evaluation never uses imagined goals: the twin renders goal images, the encoder turns them into z_g, and
success is the true hand (and puck) distance at the end of the episode.

The two baselines of the paper run through the same loop, changed only by configuration (``AGENTS``):
``oracle`` sees true positions and true goals; ``pixel-her`` rewards -||image - goal image|| and relabels
with future states only, as HER on pixels would.

Training resumes after a crash: every ``checkpoint_every`` steps the whole state (agent, optimisers, replay,
random generators, curve) goes into a new folder ``training/step_NNNNNNNN/``, and only when it is complete is
``training/latest.yaml`` pointed at it. A kill loses at most one checkpoint interval.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from rigbot import config, media
from rigbot.config import ConfigError, spec
from rigbot.files import atomic_write_text
from rigbot.perception.latent_prior import LatentPrior
from rigbot.policy.agents import make_agent
from rigbot.policy.training.evaluation import evaluate
from rigbot.policy.training.observations import LatentView, StateView, goal_columns
from rigbot.policy.training.replay_buffer import HindsightReplayBuffer, RelabelConfig
from rigbot.policy.agents.ris import RISConfig
from rigbot.policy.agents.sac import SACConfig
from rigbot.policy.agents.td3 import TD3Config
from rigbot.policy.training.training_state import load_training_state, random_baseline, save_training_state


@dataclass
class RIGConfig:
    """One RIG training run (the defaults are the paper's reacher set-up, scaled to this twin)."""

    task: Literal["reach", "push"] = field(default="reach", metadata=spec("twin task"))
    observation: Literal["latent", "state"] = field(
        default="latent", metadata=spec("latent: VAE latents of images (RIG); state: true positions (oracle)"))
    exploration_goals: Literal["prior", "env"] = field(
        default="prior", metadata=spec("goals to explore with: imagined (sampled from the prior) or the twin's"))
    env_steps: int = field(default=10000, metadata=spec("environment steps of RL", range=(1, 10**8)))
    random_steps: int = field(default=1000, metadata=spec("first steps taken with random actions",
                                                          range=(0, 10**8)))
    updates_per_step: int = field(default=4, metadata=spec("TD3 gradient updates per environment step",
                                                           range=(1, 1000)))
    exploration_noise: float = field(default=0.3, metadata=spec("std of Gaussian action noise, fraction of max speed",
                                                                range=(0.0, 10.0)))
    replay_capacity: int = field(default=200000, metadata=spec("transitions kept", range=(100, 10**8)))
    eval_every: int = field(default=1000, metadata=spec("environment steps between evaluations", range=(1, 10**8)))
    eval_episodes: int = field(default=20, metadata=spec("episodes per evaluation", range=(1, 10000)))
    checkpoint_every: int = field(default=2000, metadata=spec("environment steps between resumable checkpoints",
                                                              range=(1, 10**8)))
    vae_finetune_every: int = field(default=0, metadata=spec("episodes between online VAE fine-tuning (0: never)",
                                                             range=(0, 10**6)))
    vae_finetune_epochs: int = field(default=1, metadata=spec("epochs over the replay's images per fine-tuning",
                                                              range=(1, 1000)))
    relabel: RelabelConfig = field(default_factory=RelabelConfig, metadata=spec("goal relabelling"))
    td3: TD3Config = field(default_factory=TD3Config, metadata=spec("TD3 hyperparameters"))
    learner: Literal["td3", "sac", "ris"] = field(
        default="td3", metadata=spec("the off-policy agent: td3 (RIG), sac (latent-goal SAC), ris (imagined subgoals)"))
    sac: SACConfig = field(default_factory=SACConfig, metadata=spec("SAC hyperparameters (learner: sac)"))
    ris: RISConfig = field(default_factory=RISConfig, metadata=spec("RIS hyperparameters (learner: ris)"))


AGENTS = {
    "rig": {},
    "oracle": {"observation": "state"},
    "pixel-her": {"exploration_goals": "env",
                  "relabel": {"rollout": 0.2, "prior": 0.0, "future": 0.8, "reward": "pixel_distance"}},
    # the other seed papers' agents in the same loop (agents/sac.py, agents/ris.py); HIQL is offline (offline.py)
    "sac": {"learner": "sac", "relabel": {"reward": "squared_goal_distance"}},
    "ris": {"learner": "ris"},
}

AGENT_NAMES = {"td3": "RIG", "sac": "SAC", "ris": "RIS"}  # for progress bars


def rig_config(agent: str = "rig", **overrides) -> RIGConfig:
    """The config of ``agent`` (a key of ``AGENTS``) with ``overrides`` (nested dicts merge)."""
    if agent not in AGENTS:
        raise ConfigError(f"unknown agent {agent!r}; agents: {', '.join(AGENTS)}")
    data = config.to_dict(RIGConfig())
    for layer in (AGENTS[agent], overrides):
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
    return config.from_dict(RIGConfig, data, source=f"agent {agent!r}")


def make_view(observation: str, encoder=None, frames: dict | None = None):
    """The agent's view of the twin and its input statistics (mean, std of state and goal vectors).

    latent: the encoder's latents; their statistics are the fitted prior's. state (the oracle): true positions
    from exploration ``frames``, with a Gaussian fitted to their achieved goals as the imagined-goal prior.
    """
    if observation == "latent":
        if encoder is None:
            raise ValueError("a latent observation needs a VAE encoder")
        view = LatentView(encoder)
        mean, std = encoder.prior.mean, np.sqrt(np.diag(encoder.prior.cov))
        return view, np.concatenate([mean, mean]), np.concatenate([std, std])
    if frames is None:
        raise ValueError("the state observation (oracle) needs exploration frames for its goal prior")
    obs, ach = frames["observations"], frames["achieved_goals"]
    view = StateView(obs.shape[1], ach.shape[1], LatentPrior.fit(ach), goal_index=goal_columns(obs, ach))
    both = np.concatenate([obs, ach], 1)
    return view, both.mean(0), both.std(0)


class RIGTrainer:
    """Set up with a config, an output folder and a view with its input statistics (from ``make_view``)."""

    def __init__(self, cfg: RIGConfig, out: str | Path, view, input_mean: np.ndarray, input_std: np.ndarray,
                 seed: int = 0, progress: bool = True, env_options: dict | None = None):
        import rigbot.sim as sim

        if cfg.observation != view.kind:
            raise ConfigError(f"observation: {cfg.observation!r} needs a {cfg.observation} view, got {view.kind}")
        self.cfg, self.out, self.view, self.seed, self.progress = cfg, Path(out), view, seed, progress
        env_options = {"image_size": 48, **(env_options or {})}
        self.env = sim.make(cfg.task, **env_options)
        self.eval_env = sim.make(cfg.task, **env_options)
        self.horizon = self.env.spec.max_episode_steps
        twin = self.env.unwrapped
        self.vmax = twin.robot.max_linear_speed
        self.action_dim = self.env.action_space.shape[0]
        self.meta = {"task": cfg.task, "observation": cfg.observation, "obs_dim": view.obs_dim,
                     "goal_dim": view.goal_dim, "action_dim": self.action_dim,
                     "max_linear_speed": self.vmax, "control_hz": twin.robot.control_hz,
                     "image_size": twin.cfg.image_size, "learner": cfg.learner,
                     cfg.learner: config.to_dict(getattr(cfg, cfg.learner)),
                     "training": {"config": config.to_dict(cfg), "seed": seed, "env": env_options}}
        # One thread: with two, OpenMP's spinning workers stall whenever another process wants the CPU (measured
        # 1.3 against 17 updates/s on a busy 2-core machine); on a quiet one the second thread gains little.
        torch.set_num_threads(1)
        torch.manual_seed(seed)
        self.agent = make_agent(cfg.learner, getattr(cfg, cfg.learner), view.obs_dim, view.goal_dim, self.action_dim,
                                input_mean, input_std, goal_index=getattr(view, "goal_index", None))
        keep_images = cfg.relabel.reward == "pixel_distance" or cfg.vae_finetune_every > 0
        img = twin.cfg.image_size
        self.buffer = HindsightReplayBuffer(cfg.replay_capacity, self.horizon, view.obs_dim, view.goal_dim,
                                            self.action_dim, cfg.relabel, (img, img, 3) if keep_images else None,
                                            goal_prior=view.prior)
        self.rng = np.random.default_rng(seed)
        self.steps = self.episodes = 0
        self.curve: list[dict] = []
        self.timing = {"env": 0.0, "encode": 0.0, "update": 0.0, "evaluate": 0.0, "checkpoint": 0.0}
        self.random_baseline: dict | None = None

    # ---- acting ---------------------------------------------------------------------------------------------
    def act(self, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """The deterministic policy in m/s (for evaluation)."""
        return self.agent.act(state, goal) * self.vmax

    def _run_episode(self) -> dict:
        cfg, env, view = self.cfg, self.env, self.view
        t0 = time.perf_counter()
        obs, _ = env.reset(seed=int(self.rng.integers(1 << 31)))
        goal_image = env.unwrapped.goal_image
        self.timing["env"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        goal = view.prior.sample(1, self.rng)[0] if cfg.exploration_goals == "prior" else view.goal_of(env)
        state, achieved = view.observe(obs)
        self.timing["encode"] += time.perf_counter() - t0
        T = self.horizon
        ep = {"obs": [state], "achieved": [achieved], "action": [], "goal": goal}
        images = [obs["image"]]
        for t in range(T):
            if self.steps < cfg.random_steps:
                a = self.rng.uniform(-1, 1, self.action_dim)
            elif cfg.learner == "td3":
                a = self.agent.act(state, goal) + cfg.exploration_noise * self.rng.standard_normal(self.action_dim)
                a = np.clip(a, -1, 1)
            else:  # stochastic policies explore by sampling themselves
                a = self.agent.explore(state, goal, self.rng)
            t0 = time.perf_counter()
            obs, _, terminated, truncated, info = env.step(a * self.vmax)
            t1 = time.perf_counter()
            state, achieved = view.observe(obs)
            self.timing["env"] += t1 - t0
            self.timing["encode"] += time.perf_counter() - t1
            ep["obs"].append(state)
            ep["achieved"].append(achieved)
            ep["action"].append(a)
            images.append(obs["image"])
            self.steps += 1
            if self.buffer.stored and self.steps > cfg.random_steps // 2:
                t0 = time.perf_counter()
                for _ in range(cfg.updates_per_step):
                    self.agent.update(self.buffer.sample(self.agent.cfg.batch_size, self.rng))
                self.timing["update"] += time.perf_counter() - t0
            if terminated or truncated:
                break
        if t != T - 1:
            raise RuntimeError(f"episode ended after {t + 1} steps; RIG's replay needs the fixed horizon {T}")
        if self.buffer.keeps_images:
            ep["image"], ep["goal_image"] = np.stack(images), goal_image
        self.buffer.add_episode({k: np.asarray(v) for k, v in ep.items()})
        self.episodes += 1
        return info

    # ---- evaluation and the learning curve --------------------------------------------------------------------
    def evaluate(self, episodes: int | None = None, record: int = 0) -> dict:
        t0 = time.perf_counter()
        result = evaluate(self.act, self.eval_env, self.view, episodes or self.cfg.eval_episodes, record=record)
        self.timing["evaluate"] += time.perf_counter() - t0
        return result

    def _log_eval(self, wall: float) -> dict:
        result = self.evaluate()
        row = {"env_steps": self.steps, "episodes": self.episodes, "updates": self.agent.updates,
               "wall_s": round(wall, 1), **{k: v for k, v in result.items() if k not in ("frames", "episodes")}}
        self.curve.append(row)
        write_curve(self.out, self.curve, self.random_baseline, title=f"{self.cfg.task}: "
                    f"{self.meta['training']['config']['observation']} observation",
                    success_threshold=self.eval_env.unwrapped.cfg.success_threshold, timing=self.timing)
        return row

    # ---- checkpoints ----------------------------------------------------------------------------------------
    def save(self) -> Path:
        """The deployable policy and a complete resumable state; the state is made current only once whole."""
        t0 = time.perf_counter()

        def add(step_dir: Path) -> None:
            self.buffer.save(step_dir / "replay.npz")
            if self.cfg.vae_finetune_every:
                self._save_vae(step_dir / "vae")

        progress = {"env_steps": self.steps, "episodes": self.episodes, "rng": self.rng.bit_generator.state,
                    "curve": self.curve, "random_baseline": self.random_baseline, "timing": self.timing}
        self.meta["trained_env_steps"] = self.steps
        step_dir = save_training_state(self.out, self.steps, self.agent, self.meta, progress, add)
        self.timing["checkpoint"] += time.perf_counter() - t0
        return step_dir

    def _save_vae(self, directory: Path) -> None:
        from rigbot.perception.vae import save_checkpoint

        enc = self.view.encoder
        save_checkpoint(directory, enc.vae, enc.prior, enc.preprocess, info={"finetuned_at_env_steps": self.steps})

    def resume(self) -> bool:
        """Load the latest complete state from ``out/training``; False when there is none."""
        state = load_training_state(self.out, self.meta)
        if state is None:
            return False
        self.agent, step_dir, progress = state
        self.buffer.load(step_dir / "replay.npz")
        if self.cfg.vae_finetune_every:
            from rigbot.perception.vae import load_checkpoint

            enc = load_checkpoint(step_dir / "vae")
            self.view.encoder.vae.load_state_dict(enc.vae.state_dict())
            self.view.encoder.prior = self.view.prior = self.buffer.goal_prior = enc.prior
        self.steps, self.episodes = progress["env_steps"], progress["episodes"]
        self.rng.bit_generator.state = progress["rng"]
        self.curve, self.random_baseline = progress["curve"], progress["random_baseline"]
        self.timing = progress["timing"]
        return True

    # ---- the loop -------------------------------------------------------------------------------------------
    def train(self) -> dict:
        cfg = self.cfg
        if self.random_baseline is None:
            self.random_baseline = random_baseline(self.eval_env, self.view, self.seed, cfg.eval_episodes)
        if not self.curve:
            self._log_eval(0.0)
        start_wall = time.perf_counter() - (self.curve[-1]["wall_s"] if self.curve else 0.0)
        next_eval = (self.steps // cfg.eval_every + 1) * cfg.eval_every
        next_ckpt = (self.steps // cfg.checkpoint_every + 1) * cfg.checkpoint_every
        bar = tqdm(total=cfg.env_steps, initial=self.steps, unit="step", desc=f"{AGENT_NAMES[cfg.learner]} {cfg.task}",
                   disable=not self.progress, dynamic_ncols=True)
        try:
            while self.steps < cfg.env_steps:
                before = self.steps
                self._run_episode()
                bar.update(self.steps - before)
                if cfg.vae_finetune_every and self.episodes % cfg.vae_finetune_every == 0:
                    self._finetune_vae()
                if self.steps >= next_eval or self.steps >= cfg.env_steps:
                    row = self._log_eval(time.perf_counter() - start_wall)
                    next_eval += cfg.eval_every
                    bar.set_postfix(success=f"{row['success_rate']:.0%}",
                                    hand_cm=f"{100 * row['hand_distance_median']:.1f}")
                if self.steps >= next_ckpt or self.steps >= cfg.env_steps:
                    self.save()
                    next_ckpt += cfg.checkpoint_every
        finally:
            bar.close()
        return self.curve[-1]

    def _finetune_vae(self) -> None:
        from rigbot.perception.vae_training import finetune

        t0 = time.perf_counter()
        d = self.buffer.data
        images = d["image"][: self.buffer.stored].reshape(-1, *d["image"].shape[2:])
        enc = self.view.encoder
        finetune(enc, images, epochs=self.cfg.vae_finetune_epochs, rng=self.rng)
        self.view.prior = self.buffer.goal_prior = enc.prior
        for key in ("obs", "achieved"):  # the stored latents were made by the old encoder
            self.buffer.refresh(key, enc.encode)
        self._save_vae(self.out / "vae")
        self.timing["update"] += time.perf_counter() - t0


def write_curve(out: Path, curve: list[dict], random_baseline: dict | None, title: str,
                success_threshold: float = 0.05, timing: dict | None = None, x_key: str = "env_steps") -> None:
    """curve.csv, curve.json and learning_curve.png (success rate and final distances against ``x_key``:
    environment steps, or gradient updates for offline agents)."""
    from rigbot.plots import line_plot

    out.mkdir(parents=True, exist_ok=True)
    keys = list(curve[0])
    lines = [",".join(keys)] + [",".join(str(r.get(k, "")) for k in keys) for r in curve]
    atomic_write_text(out / "curve.csv", "\n".join(lines) + "\n")
    atomic_write_text(out / "curve.json", json.dumps({"curve": curve, "random_policy": random_baseline,
                                                            "timing_s": timing, "x_key": x_key}, indent=1))
    x = np.array([r[x_key] for r in curve])
    xlabel = x_key.replace("env_steps", "environment steps").replace("_", " ")
    success = line_plot({"success rate": (x, [r["success_rate"] for r in curve])}, f"{title}: success rate",
                        xlabel, "success rate", y_range=(0, 1),
                        hlines={"random policy": random_baseline["success_rate"]} if random_baseline else None)
    dists = {k.replace("_distance_median", " distance (median), cm"): (x, [100 * r[k] for r in curve])
             for k in keys if k.endswith("_distance_median")}
    ref = {f"random: {k.split('_')[0]}": 100 * v for k, v in (random_baseline or {}).items()
           if k.endswith("_distance_median")}
    distance = line_plot(dists, f"{title}: final distance to goal", xlabel, "cm",
                         hlines={**ref, "success threshold": 100 * success_threshold})
    media.write_png(out / "learning_curve.png", np.vstack([success, distance]))


def read_curve(out: str | Path) -> dict:
    path = Path(out) / "curve.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no learning curve; was {out} made by 'rigbot train'?")
    return json.loads(path.read_text())

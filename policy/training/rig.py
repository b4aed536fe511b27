"""RIG: Reinforcement learning with Imagined Goals (Nair, Pong, Dalal, Bahl, Lin, Levine; NeurIPS 2018).

The loop, as in the paper's Algorithm 1:
  1. every episode, imagine a goal z_g by sampling the VAE prior;
  2. act with the goal-conditioned policy (plus exploration noise) on z = encoder mean of the camera image;
  3. store the episode once; each sampled transition gets a rollout, imagined or future goal (see
     ``replay_buffer``), and the reward -||z' - z_g|| is recomputed for that goal;
  4. several TD3 updates per environment step; optionally fine-tune the VAE on the images seen so far.
Evaluation never uses imagined goals: the twin renders goal images, the encoder turns them into z_g, and
success is the true hand (and puck) distance at the end of the episode.

The two baselines of the paper run through the same loop, changed only by configuration (their presets in
``rigbot.policy.agents.AGENTS``): ``oracle`` sees true positions and true goals; ``pixel-her`` rewards
-||image - goal image|| and relabels with future states only, as HER on pixels would. So do latent-goal SAC and
RIS, with their own learner in place of TD3.

Training resumes after a crash: every ``checkpoint_every`` steps the whole state (agent, optimisers, replay,
random generators, curve) goes into a new folder ``training/step_NNNNNNNN/``, and only when it is complete is
``training/latest.yaml`` pointed at it. A kill loses at most one checkpoint interval.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import numpy as np

from rigbot import config
from rigbot.config import ConfigError, spec
from rigbot.perception import vae_training
from rigbot.perception.vae import load_checkpoint, save_checkpoint
from rigbot.policy.agents import AGENTS, agent_names
from rigbot.policy.agents.ris import RISConfig
from rigbot.policy.agents.sac import SACConfig
from rigbot.policy.agents.td3 import EXPLORATION_NOISE, TD3Config
from rigbot.policy.training.replay_buffer import HindsightReplayBuffer, RelabelConfig
from rigbot.policy.training.run import Trainer

# the learners of the online agents; each has its config below, under its own name
ONLINE_LEARNERS = tuple(dict.fromkeys(AGENTS[name].learner for name in agent_names("online")))


@dataclass
class RIGConfig:
    """One RIG training run (the defaults are the paper's reacher set-up, scaled to this twin)."""

    task: Literal["reach", "push"] = field(default="reach", metadata=spec("twin task"))
    observation: Literal["latent", "state"] = field(
        default="latent", metadata=spec("latent: VAE latents of images (RIG); state: true positions (oracle)"))
    exploration_goals: Literal["prior", "env"] = field(
        default="prior", metadata=spec("goals to explore with: imagined (sampled from the prior) or the twin's"))
    env_steps: int = field(default=10000, metadata=spec("environment steps of RL (the most, with stop_at_success)",
                                                        range=(1, 10**8)))
    stop_at_success: Optional[float] = field(default=None, metadata=spec(
        "stop RL early once this success rate is reached at stop_evaluations evaluations in a row (null: run all "
        "env_steps)", range=(0.0, 1.0)))
    stop_evaluations: int = field(default=2, metadata=spec("evaluations in a row at stop_at_success or above that "
                                                           "end the run", range=(1, 1000)))
    random_steps: int = field(default=1000, metadata=spec("first steps taken with random actions",
                                                          range=(0, 10**8)))
    updates_per_step: int = field(default=4, metadata=spec("TD3 gradient updates per environment step",
                                                           range=(1, 1000)))
    exploration_noise: float = field(default=EXPLORATION_NOISE, metadata=spec(
        "std of Gaussian action noise, fraction of max speed", range=(0.0, 10.0)))
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
    learner: Literal[ONLINE_LEARNERS] = field(
        default="td3", metadata=spec("the off-policy agent: td3 (RIG), sac (latent-goal SAC), ris (imagined subgoals)"))
    sac: SACConfig = field(default_factory=SACConfig, metadata=spec("SAC hyperparameters (learner: sac)"))
    ris: RISConfig = field(default_factory=RISConfig, metadata=spec("RIS hyperparameters (learner: ris)"))


def rig_config(agent: str = "rig", **overrides) -> RIGConfig:
    """The config of online ``agent`` (a name of ``rigbot.policy.agents.AGENTS``): its learner and preset, with
    ``overrides`` (nested dicts merge)."""
    if agent not in agent_names("online"):
        raise ConfigError(f"unknown agent {agent!r}; agents: {', '.join(agent_names('online'))}")
    preset = AGENTS[agent]
    data = config.merge(config.to_dict(RIGConfig()), {"learner": preset.learner}, preset.preset, overrides)
    return config.from_dict(RIGConfig, data, source=f"agent {agent!r}")


class RIGTrainer(Trainer):
    """Set up with a config, an output folder and a view with its input statistics (``observations.make_view``).
    Progress is counted in environment steps; the replay (and a fine-tuned VAE) is saved beside the agent."""

    unit, progress_key = "step", "env_steps"

    def __init__(self, cfg: RIGConfig, out: str | Path, view, input_mean: np.ndarray, input_std: np.ndarray,
                 seed: int = 0, progress: bool = True, env_options: dict | None = None, device="cpu"):
        super().__init__(cfg, out, view, seed, progress, env_options, device)
        self.env = self._make_env()
        self.horizon = self.env.spec.max_episode_steps
        self._make_agent(cfg.learner, getattr(cfg, cfg.learner), input_mean, input_std,
                         goal_index=getattr(view, "goal_index", None), exploration_noise=cfg.exploration_noise)
        keep_images = cfg.relabel.reward == "pixel_distance" or cfg.vae_finetune_every > 0
        img = self.env.unwrapped.cfg.image_size
        self.buffer = HindsightReplayBuffer(cfg.replay_capacity, self.horizon, view.obs_dim, view.goal_dim,
                                            self.action_dim, cfg.relabel, (img, img, 3) if keep_images else None,
                                            goal_prior=view.prior)
        self.steps = self.episodes = 0
        self.timing = {"env": 0.0, "encode": 0.0, "update": 0.0, "evaluate": 0.0, "checkpoint": 0.0}

    # ---- progress: one episode at a time ------------------------------------------------------------------------
    @property
    def done(self) -> int:
        return self.steps

    @property
    def total(self) -> int:
        return self.cfg.env_steps

    def _advance(self) -> None:
        self._run_episode()
        if self.cfg.vae_finetune_every and self.episodes % self.cfg.vae_finetune_every == 0:
            self._finetune_vae()

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
            else:
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

    # ---- the learning curve and checkpoints (the rest is ``run.Trainer``'s) ---------------------------------------
    def _curve_counters(self) -> dict:
        return {"env_steps": self.steps, "episodes": self.episodes, "updates": self.agent.updates}

    def _progress_counters(self) -> dict:
        return {"env_steps": self.steps, "episodes": self.episodes}

    def _curve_title(self) -> str:
        return f"{self.cfg.task}: {self.cfg.observation} observation"

    def _save_parts(self, step_dir: Path) -> None:
        self.buffer.save(step_dir / "replay.npz")
        if self.cfg.vae_finetune_every:
            self._save_vae(step_dir / "vae")

    def _save_vae(self, directory: Path) -> None:
        enc = self.view.encoder
        save_checkpoint(directory, enc.vae, enc.prior, enc.preprocess, info={"finetuned_at_env_steps": self.steps})

    def _resume_parts(self, step_dir: Path, progress: dict) -> None:
        self.buffer.load(step_dir / "replay.npz")
        if self.cfg.vae_finetune_every:
            enc = load_checkpoint(step_dir / "vae")
            self.view.encoder.vae.load_state_dict(enc.vae.state_dict())
            self.view.encoder.prior = self.view.prior = self.buffer.goal_prior = enc.prior
        self.steps, self.episodes = progress["env_steps"], progress["episodes"]

    def _finetune_vae(self) -> None:
        t0 = time.perf_counter()
        d = self.buffer.data
        images = d["image"][: self.buffer.stored].reshape(-1, *d["image"].shape[2:])
        enc = self.view.encoder
        vae_training.finetune(enc, images, epochs=self.cfg.vae_finetune_epochs, rng=self.rng)
        self.view.prior = self.buffer.goal_prior = enc.prior
        for key in ("obs", "achieved"):  # the stored latents were made by the old encoder
            self.buffer.refresh(key, enc.encode)
        self._save_vae(self.out / "vae")
        self.timing["update"] += time.perf_counter() - t0

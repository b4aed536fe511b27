"""Goal-conditioned TD3 (Fujimoto et al. 2018), the learner inside RIG.

Twin critics Q1, Q2(s, g, a) with the minimum of the two target critics in the Bellman target (clipped double
Q-learning); target policy smoothing (clipped Gaussian noise on the target action); the actor and the target
networks are updated every ``policy_delay`` critic updates. Inputs are the state and the goal vectors side by
side (UVFA), each standardised by a fixed mean and scale measured on exploration data. Actions live in [-1, 1]
here; the caller scales them to the robot's velocity limits.

Exploration adds Gaussian noise of a fixed scale to the deterministic action (``explore``).
Episodes are cut by a time limit, never by reaching a goal, so every target bootstraps (no 'done' mask).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from rigbot.config import spec
from rigbot.policy.agents.networks import Critics, GoalConditionedAgent, mlp, noisy_actions, polyak_update

EXPLORATION_NOISE = 0.3  # std of the action noise, fraction of max speed (RIG's; RIGConfig.exploration_noise)


@dataclass
class TD3Config:
    """TD3's hyperparameters (RIG's values by default)."""

    hidden: list[int] = field(default_factory=lambda: [400, 300], metadata=spec("hidden layer sizes, actor and critics"))
    discount: float = field(default=0.99, metadata=spec("discount factor gamma", range=(0.0, 1.0)))
    tau: float = field(default=0.005, metadata=spec("Polyak rate of the target networks", range=(0.0, 1.0)))
    actor_lr: float = field(default=1e-3, metadata=spec("actor Adam learning rate", range=(1e-6, 1.0)))
    critic_lr: float = field(default=1e-3, metadata=spec("critic Adam learning rate", range=(1e-6, 1.0)))
    batch_size: int = field(default=128, metadata=spec(
        "transitions per gradient update; a GPU may take more (--device)",
        range=(1, 65536)))
    policy_delay: int = field(default=2, metadata=spec("critic updates per actor update", range=(1, 100)))
    target_noise: float = field(default=0.2, metadata=spec("std of the target policy smoothing noise",
                                                           range=(0.0, 10.0)))
    target_noise_clip: float = field(default=0.5, metadata=spec("clip of that noise", range=(0.0, 10.0)))
    action_l2: float = field(default=0.0, metadata=spec("penalty on the actor's squared (pre-scaling) actions",
                                                        range=(0.0, 100.0)))


class TD3(GoalConditionedAgent):
    """``act(obs, goal)`` for acting, ``explore`` for collecting; ``update(batch)`` for learning. The normaliser is
    part of the weights. ``exploration_noise``: the std of ``explore``'s action noise (the run's
    ``exploration_noise``); ``goal_index`` is unused (every agent takes it)."""

    def __init__(self, cfg: TD3Config, obs_dim: int, goal_dim: int, action_dim: int,
                 input_mean: np.ndarray | None = None, input_std: np.ndarray | None = None, *,
                 goal_index: np.ndarray | None = None, exploration_noise: float | None = None):
        super().__init__(obs_dim, goal_dim, action_dim, input_mean, input_std)
        self.cfg = cfg
        self.exploration_noise = EXPLORATION_NOISE if exploration_noise is None else exploration_noise
        n_in = obs_dim + goal_dim
        self.actor = mlp(n_in, cfg.hidden, action_dim, nn.Tanh())
        self.critics = Critics(n_in + action_dim, cfg.hidden)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critics_target = copy.deepcopy(self.critics).requires_grad_(False)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr, fused=True)
        self.critic_opt = torch.optim.Adam(self.critics.parameters(), lr=cfg.critic_lr, fused=True)
        self.updates = 0

    @torch.inference_mode()
    def act(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Deterministic actions in [-1, 1] for one (obs, goal) or a batch of them."""
        return self.actor(self._inputs(self._tensor(obs), self._tensor(goal))).cpu().numpy()

    def explore(self, obs: np.ndarray, goal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``act`` plus Gaussian noise of std ``exploration_noise`` from ``rng``, clipped to [-1, 1]."""
        return noisy_actions(self.act(obs, goal), self.exploration_noise, rng)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One critic step (and, every ``policy_delay`` calls, one actor step and a target update).

        ``batch``: obs, goal, action (in [-1, 1]), reward, next_obs; float32 tensors, leading batch axis.
        """
        batch = self._on_device(batch)
        cfg = self.cfg
        x = self._inputs(batch["obs"], batch["goal"])
        x_next = self._inputs(batch["next_obs"], batch["goal"])
        with torch.no_grad():
            noise = (torch.randn_like(batch["action"]) * cfg.target_noise).clamp(-cfg.target_noise_clip,
                                                                                  cfg.target_noise_clip)
            a_next = (self.actor_target(x_next) + noise).clamp(-1.0, 1.0)
            q1_t, q2_t = self.critics_target(x_next, a_next)
            target = batch["reward"] + cfg.discount * torch.min(q1_t, q2_t)
        q1, q2 = self.critics(x, batch["action"])
        critic_loss = ((q1 - target) ** 2).mean() + ((q2 - target) ** 2).mean()
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()
        self.updates += 1
        stats = {"critic_loss": critic_loss.item(), "q": q1.mean().item()}
        if self.updates % cfg.policy_delay == 0:
            a = self.actor(x)
            q = self.critics.q1(torch.cat([x, a], -1))
            actor_loss = -q.mean() + cfg.action_l2 * (a ** 2).mean()
            self.actor_opt.zero_grad(set_to_none=True)
            actor_loss.backward()
            self.actor_opt.step()
            polyak_update(((self.actor, self.actor_target), (self.critics, self.critics_target)), cfg.tau)
            stats["actor_loss"] = actor_loss.item()
        return stats

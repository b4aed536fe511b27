"""Latent goal-conditioned SAC: Soft Actor-Critic (Haarnoja et al. 2018) with automatic entropy tuning.

The goal-conditioned set-up of the seed papers' latent-goal agent: states and goals are vectors in the learned
encoder space (VAE latents), the policy pi(a | z, z_g) is a tanh-squashed Gaussian, and the reward is
-||E(s') - z_g||^2 (``relabel.reward: squared_goal_distance`` in the shared hindsight replay buffer, which also
gives this agent HER's 'future' goals and RIG's imagined ones). Twin critics with the minimum in the target;
the temperature alpha is learned so that the policy's entropy stays near ``target_entropy`` (SAC v2):

    critic:  Q_i(s, g, a) -> r * reward_scale + gamma * (min_j Q'_j(s', g, a') - alpha * log pi(a' | s', g))
    actor:   minimise alpha * log pi(a | s, g) - min_j Q_j(s, g, a),  a ~ pi(. | s, g)
    alpha:   minimise -log(alpha) * (log pi(a | s, g) + target_entropy)

Actions live in [-1, 1]; ``act`` is the deterministic tanh(mean), ``explore`` a sample. No 'done' mask: episodes
end by a time limit only. ``GaussianActor`` is shared with RIS, which is built on this agent.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rigbot.config import spec
from rigbot.policy.agents.networks import Critics, GoalConditionedAgent, mlp, polyak_update

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


@dataclass
class SACConfig:
    """SAC's hyperparameters (the SAC paper's values, with RIG's network sizes for a like-for-like comparison)."""

    hidden: list[int] = field(default_factory=lambda: [400, 300], metadata=spec("hidden layer sizes, actor and critics"))
    discount: float = field(default=0.99, metadata=spec("discount factor gamma", range=(0.0, 1.0)))
    tau: float = field(default=0.005, metadata=spec("Polyak rate of the target critics", range=(0.0, 1.0)))
    actor_lr: float = field(default=3e-4, metadata=spec("actor Adam learning rate", range=(1e-6, 1.0)))
    critic_lr: float = field(default=3e-4, metadata=spec("critic Adam learning rate", range=(1e-6, 1.0)))
    alpha_lr: float = field(default=3e-4, metadata=spec("temperature Adam learning rate", range=(1e-6, 1.0)))
    batch_size: int = field(default=128, metadata=spec(
        "transitions per gradient update; a GPU may take more (--device)",
        range=(1, 65536)))
    initial_alpha: float = field(default=0.1, metadata=spec("starting temperature alpha", range=(1e-6, 100.0)))
    target_entropy: Optional[float] = field(
        default=None, metadata=spec("entropy the temperature aims for (null: -action_dim, the SAC paper's rule)"))
    reward_scale: float = field(default=1.0, metadata=spec(
        "multiplies rewards; squared distances are small in metres and large in latent units", range=(1e-6, 1e6)))


class GaussianActor(nn.Module):
    """pi(a | x): a Gaussian in pre-squash space, squashed by tanh into [-1, 1]."""

    def __init__(self, inputs: int, hidden: list[int], action_dim: int):
        super().__init__()
        self.net = mlp(inputs, hidden, 2 * action_dim)

    def distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(x).chunk(2, -1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised sample in [-1, 1] and its log-density."""
        mean, log_std = self.distribution(x)
        u = mean + log_std.exp() * torch.randn_like(mean)
        return torch.tanh(u), squashed_log_prob(mean, log_std, u)

    def log_prob(self, x: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """log pi(action | x) for actions in (-1, 1) (clipped slightly inside, where atanh is finite)."""
        mean, log_std = self.distribution(x)
        u = torch.atanh(action.clamp(-0.999999, 0.999999))
        return squashed_log_prob(mean, log_std, u)

    def mode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.distribution(x)[0])


def squashed_log_prob(mean: torch.Tensor, log_std: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """log-density of a = tanh(u), u ~ N(mean, std): the Gaussian's minus log |d tanh(u) / du| per axis."""
    gauss = -0.5 * ((u - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
    # log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), stable for large |u|
    log_det = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
    return (gauss - log_det).sum(-1)


class GaussianPolicyAgent(GoalConditionedAgent):
    """Acting of an agent whose ``actor`` is a GaussianActor (SAC, RIS): the squashed mean, or a sample."""

    actor: GaussianActor

    @torch.inference_mode()
    def act(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Deterministic actions in [-1, 1] (the squashed mean) for one (obs, goal) or a batch."""
        return self.actor.mode(self._inputs(self._tensor(obs), self._tensor(goal))).cpu().numpy()

    @torch.inference_mode()
    def explore(self, obs: np.ndarray, goal: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """A sample of the policy (it explores with its own stochasticity; ``rng`` is unused)."""
        return self.actor.sample(self._inputs(self._tensor(obs), self._tensor(goal)))[0].cpu().numpy()


class SAC(GaussianPolicyAgent):
    """``act(obs, goal)`` for acting, ``explore`` for collecting; ``update(batch)`` for learning.
    ``goal_index`` and ``exploration_noise`` are unused (every agent takes them; SAC explores by sampling)."""

    def __init__(self, cfg: SACConfig, obs_dim: int, goal_dim: int, action_dim: int,
                 input_mean: np.ndarray | None = None, input_std: np.ndarray | None = None, *,
                 goal_index: np.ndarray | None = None, exploration_noise: float | None = None):
        super().__init__(obs_dim, goal_dim, action_dim, input_mean, input_std)
        self.cfg = cfg
        n_in = obs_dim + goal_dim
        self.actor = GaussianActor(n_in, cfg.hidden, action_dim)
        self.critics = Critics(n_in + action_dim, cfg.hidden)
        self.critics_target = copy.deepcopy(self.critics).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(cfg.initial_alpha)))
        self.target_entropy = -float(action_dim) if cfg.target_entropy is None else float(cfg.target_entropy)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critics.parameters(), lr=cfg.critic_lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=cfg.alpha_lr)
        self.updates = 0

    @property
    def alpha(self) -> float:
        return float(self.log_alpha.detach().exp())

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One critic, actor and temperature step. ``batch``: obs, goal, action, reward, next_obs (float32)."""
        batch = self._on_device(batch)
        cfg = self.cfg
        x = self._inputs(batch["obs"], batch["goal"])
        x_next = self._inputs(batch["next_obs"], batch["goal"])
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            a_next, logp_next = self.actor.sample(x_next)
            q_next = torch.min(*self.critics_target(x_next, a_next)) - alpha * logp_next
            target = cfg.reward_scale * batch["reward"] + cfg.discount * q_next
        q1, q2 = self.critics(x, batch["action"])
        critic_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()

        a, logp = self.actor.sample(x)
        q = torch.min(*self.critics(x, a))
        actor_loss = (alpha * logp - q).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt.step()
        alpha_loss = self.entropy_tuning_step(logp.detach())
        polyak_update(((self.critics, self.critics_target),), cfg.tau)
        self.updates += 1
        return {"critic_loss": critic_loss.item(), "actor_loss": actor_loss.item(), "alpha": self.alpha,
                "alpha_loss": alpha_loss, "entropy": -logp.mean().item(), "q": q1.mean().item()}

    def entropy_tuning_step(self, log_prob: torch.Tensor) -> float:
        """One step on alpha: it grows while the policy's entropy (-log_prob) is below the target, else shrinks."""
        loss = -(self.log_alpha * (log_prob + self.target_entropy)).mean()
        self.alpha_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.alpha_opt.step()
        return loss.item()

"""RIS: Reinforcement learning with Imagined Subgoals (Chane-Sane, Schmid, Laptev; ICML 2021).

A goal-conditioned actor-critic (SAC's actor and twin critics, ``agents.sac``) whose policy is pulled towards a
*prior* built from imagined subgoals, during training only:

  * the value as a distance: V(s, g) = min_i Q_i(s, g, mean action of pi(. | s, g)); rewards are negative, so
    |V(s, g)| grows with how far g is from s;
  * a high-level policy pi_H(s_g | s, g), a Gaussian over *states*, proposes subgoals halfway to the goal. It is
    trained by advantage-weighted regression on subgoal candidates, states drawn at random from the replay buffer
    (here: the batch's next states, shuffled): the cost of a subgoal is C(s_g) = max(|V(s, s_g)|, |V(s_g, g)|)
    (halfway and reachable on both legs), the advantage of a candidate is C(pi_H's mean) - C(candidate), and the
    weights are a softmax of advantage / temperature over the batch;
  * the prior pi_prior(a | s, g) = E_{s_g ~ pi_H(s, g)}[pi'(a | s, s_g)] with pi' the target (slow) policy: acting
    towards a nearer subgoal is easier, so the prior is a better guess than the policy for far goals;
  * the actor minimises kl_weight * KL(pi(. | s, g) || pi_prior(. | s, g)) - Q(s, g, a), the KL estimated with
    a ~ pi and the prior's density averaged over ``prior_subgoals`` sampled subgoals. RIS has no entropy bonus:
    the KL to a stochastic prior takes its place.
Test time runs pi(a | s, g) alone (``act``); no subgoal is ever computed there.

States and goals must live in one space for V(s_g, g) and V(s, s_g). With VAE latents they do; with true
states (the oracle view) subgoals are full state vectors and ``goal_index`` names the state entries that form
the goal (hand x, y; puck x, y), as given by the view.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rigbot.config import spec
from rigbot.policy.agents.networks import Critics, mlp, polyak_update
from rigbot.policy.agents.sac import GaussianActor, GaussianPolicyAgent


@dataclass
class RISConfig:
    """RIS's hyperparameters."""

    hidden: list[int] = field(default_factory=lambda: [400, 300], metadata=spec("hidden layer sizes, all networks"))
    discount: float = field(default=0.99, metadata=spec("discount factor gamma", range=(0.0, 1.0)))
    tau: float = field(default=0.005, metadata=spec("Polyak rate of the target critics and target policy",
                                                    range=(0.0, 1.0)))
    actor_lr: float = field(default=1e-3, metadata=spec("actor Adam learning rate", range=(1e-6, 1.0)))
    critic_lr: float = field(default=1e-3, metadata=spec("critic Adam learning rate", range=(1e-6, 1.0)))
    subgoal_lr: float = field(default=1e-4, metadata=spec("high-level policy Adam learning rate", range=(1e-6, 1.0)))
    batch_size: int = field(default=128, metadata=spec(
        "transitions per gradient update; a GPU may take more (--device)",
        range=(2, 65536)))
    kl_weight: float = field(default=0.1, metadata=spec("alpha: weight of KL(policy || prior) in the actor loss",
                                                        range=(0.0, 100.0)))
    prior_subgoals: int = field(default=8, metadata=spec("subgoals sampled to estimate the prior's density",
                                                         range=(1, 1000)))
    temperature: float = field(default=0.5, metadata=spec(
        "lambda: softmax temperature of the subgoal advantages, in standard deviations of the batch's costs",
        range=(1e-6, 1e6)))
    max_cost: float = field(default=100.0, metadata=spec("costs |V| are clipped here (an unreachable subgoal)",
                                                         range=(1e-6, 1e9)))
    reward_scale: float = field(default=1.0, metadata=spec("multiplies rewards", range=(1e-6, 1e6)))


class SubgoalPolicy(nn.Module):
    """pi_H(s_g | s, g): a diagonal Gaussian over (standardised) states."""

    def __init__(self, inputs: int, hidden: list[int], state_dim: int):
        super().__init__()
        self.net = mlp(inputs, hidden, 2 * state_dim)

    def forward(self, x: torch.Tensor) -> torch.distributions.Normal:
        mean, log_std = self.net(x).chunk(2, -1)
        return torch.distributions.Normal(mean, log_std.clamp(-5.0, 2.0).exp())


def subgoal_advantage_weights(cost: torch.Tensor, baseline_cost: torch.Tensor, temperature: float) -> torch.Tensor:
    """AWR weights of subgoal candidates: softmax over the batch of (baseline cost - cost) / lambda, scaled to
    mean 1 so that the loss's size does not depend on the batch size.

    lambda is ``temperature`` times the spread of the candidates' costs: RIS's rewards are -1 per step, so its
    values count steps; ours are distances in metres or latent units, and a fixed lambda would mean something
    different for every view."""
    advantage = baseline_cost - cost
    scale = temperature * cost.std().clamp(min=1e-6)
    return F.softmax(advantage / scale, dim=0) * len(cost)


class RIS(GaussianPolicyAgent):  # acts with the policy alone: subgoals are for training
    """``act(obs, goal)`` for acting (the policy alone), ``explore`` for collecting; ``update(batch)`` learns.
    ``goal_index``: the state entries that form a goal (module docstring); ``exploration_noise`` is unused (every
    agent takes it; RIS explores by sampling)."""

    def __init__(self, cfg: RISConfig, obs_dim: int, goal_dim: int, action_dim: int,
                 input_mean: np.ndarray | None = None, input_std: np.ndarray | None = None, *,
                 goal_index: np.ndarray | None = None, exploration_noise: float | None = None):
        if goal_index is None and obs_dim != goal_dim:
            raise ValueError(f"RIS compares states with goals: with {obs_dim}-dimensional states and "
                             f"{goal_dim}-dimensional goals it needs goal_index, the state entries that form a goal")
        super().__init__(obs_dim, goal_dim, action_dim, input_mean, input_std)
        self.cfg = cfg
        n_in = obs_dim + goal_dim
        index = np.arange(goal_dim) if goal_index is None else np.asarray(goal_index)
        if index.shape != (goal_dim,) or index.min() < 0 or index.max() >= obs_dim:
            raise ValueError(f"goal_index {index.tolist()} must name {goal_dim} of the {obs_dim} state entries")
        self.register_buffer("goal_index", torch.as_tensor(index, dtype=torch.long))
        self.actor = GaussianActor(n_in, cfg.hidden, action_dim)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critics = Critics(n_in + action_dim, cfg.hidden)
        self.critics_target = copy.deepcopy(self.critics).requires_grad_(False)
        self.subgoal_policy = SubgoalPolicy(n_in, cfg.hidden, obs_dim)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critics.parameters(), lr=cfg.critic_lr)
        self.subgoal_opt = torch.optim.Adam(self.subgoal_policy.parameters(), lr=cfg.subgoal_lr)
        self.updates = 0

    # ---- vectors ------------------------------------------------------------------------------------------------
    def as_goal(self, state: torch.Tensor) -> torch.Tensor:
        """The goal that a state is (its goal entries)."""
        return state[..., self.goal_index]

    def _state_scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.input_mean[: self.obs_dim], self.input_std[: self.obs_dim]

    # ---- acting ---------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def propose_subgoal(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """pi_H's mean subgoal (a state vector) for (obs, goal): for inspecting what the agent imagines."""
        return self._subgoal_mean(self._inputs(self._tensor(obs), self._tensor(goal))).cpu().numpy()

    def _subgoal_mean(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._state_scale()
        return self.subgoal_policy(x).mean * std + mean

    # ---- the value as a distance ----------------------------------------------------------------------------------
    def value(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        x = self._inputs(obs, goal)
        return torch.min(*self.critics(x, self.actor.mode(x)))

    def subgoal_cost(self, obs: torch.Tensor, subgoal: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """C(s_g) = max(|V(s, s_g)|, |V(s_g, g)|), each clipped at ``max_cost``."""
        first = self.value(obs, self.as_goal(subgoal)).abs().clamp(max=self.cfg.max_cost)
        second = self.value(subgoal, goal).abs().clamp(max=self.cfg.max_cost)
        return torch.max(first, second)

    # ---- learning -----------------------------------------------------------------------------------------------
    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """Critic, high-level policy and actor steps. ``batch``: obs, goal, action, reward, next_obs (float32);
        the subgoal candidates are the batch's next states in shuffled order (random replay states)."""
        batch = self._on_device(batch)
        cfg = self.cfg
        obs, goal = batch["obs"], batch["goal"]
        x = self._inputs(obs, goal)
        x_next = self._inputs(batch["next_obs"], goal)
        with torch.no_grad():
            a_next, _ = self.actor.sample(x_next)
            target = cfg.reward_scale * batch["reward"] + cfg.discount * torch.min(*self.critics_target(x_next, a_next))
        q1, q2 = self.critics(x, batch["action"])
        critic_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()

        subgoal_loss = self._subgoal_step(obs, goal, x, batch["next_obs"])

        # The prior: the target policy's density towards subgoals imagined by pi_H, averaged over samples.
        a, logp = self.actor.sample(x)
        with torch.no_grad():
            k = cfg.prior_subgoals
            mean, std = self._state_scale()
            subgoals = self.subgoal_policy(x).sample((k,)) * std + mean  # k x B x obs_dim
            x_prior = self._inputs(obs.expand(k, *obs.shape), self.as_goal(subgoals))
        prior_logp = self.actor_target.log_prob(x_prior, a.detach().expand(k, *a.shape))
        prior_logp = torch.logsumexp(prior_logp, 0) - math.log(k)
        kl = logp - prior_logp
        q = torch.min(*self.critics(x, a))
        actor_loss = (cfg.kl_weight * kl - q).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt.step()

        polyak_update(((self.actor, self.actor_target), (self.critics, self.critics_target)), cfg.tau)
        self.updates += 1
        return {"critic_loss": critic_loss.item(), "actor_loss": actor_loss.item(), "kl": kl.mean().item(),
                "subgoal_loss": subgoal_loss, "q": q1.mean().item()}

    def _subgoal_step(self, obs: torch.Tensor, goal: torch.Tensor, x: torch.Tensor, states: torch.Tensor) -> float:
        candidates = states[torch.randperm(len(states), device=states.device)]
        with torch.no_grad():
            proposed = self._subgoal_mean(x)
            weights = subgoal_advantage_weights(self.subgoal_cost(obs, candidates, goal),
                                                self.subgoal_cost(obs, proposed, goal), self.cfg.temperature)
        mean, std = self._state_scale()
        log_prob = self.subgoal_policy(x).log_prob((candidates - mean) / std).sum(-1)
        loss = -(weights * log_prob).mean()
        self.subgoal_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.subgoal_opt.step()
        return loss.item()

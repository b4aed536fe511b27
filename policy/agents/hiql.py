"""HIQL: offline goal-conditioned RL with latent states as actions (Park, Ghosh, Eysenbach, Levine; NeurIPS 2023).

Learns from recorded episodes alone (no interaction; see ``training.offline`` for the data and the loop):

  * one goal-conditioned value function V(s, g), trained by expectile regression (tau = 0.7) towards
    r + gamma * m * V'(s', g), with r = 0 and m = 0 when s is the goal and r = -1 otherwise: -V counts the
    steps to the goal. Two value heads and slow target copies, as in IQL;
  * a high-level policy pi_h(w | s, g) that outputs a subgoal w, the goal-space vector of the state k steps
    ahead, by advantage-weighted regression with advantage V(s_{t+k}, g) - V(s, g);
  * a low-level policy pi_l(a | s, w) that reaches the subgoal, by advantage-weighted regression with advantage
    V(s_{t+1}, w) - V(s_t, w).
Both policies are Gaussians with a fixed unit standard deviation, so their log-likelihood is a squared error and
AWR is a regression weighted by exp(beta * advantage) (clipped at ``max_weight``). Acting: w = pi_h's mean,
a = pi_l's mean.

The paper learns the subgoal representation phi(s) through the value function because its observations are raw
pixels. Here the goal space is already a learned representation (the VAE's 16-dimensional latents) or the true
goal state (the oracle view), so subgoals are vectors of that space.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from rigbot.config import spec
from rigbot.policy.agents.networks import GoalConditionedAgent, mlp, noisy_actions, polyak_update


@dataclass
class HIQLConfig:
    """HIQL's hyperparameters (the paper's, with a subgoal step suited to this twin's short recorded episodes)."""

    hidden: list[int] = field(default_factory=lambda: [256, 256], metadata=spec("hidden layer sizes, all networks"))
    discount: float = field(default=0.99, metadata=spec("discount factor gamma", range=(0.0, 1.0)))
    tau: float = field(default=0.005, metadata=spec("Polyak rate of the target value heads", range=(0.0, 1.0)))
    lr: float = field(default=3e-4, metadata=spec("Adam learning rate, all networks", range=(1e-6, 1.0)))
    batch_size: int = field(default=256, metadata=spec(
        "samples per gradient update; a GPU may take more (--device)",
        range=(1, 65536)))
    expectile: float = field(default=0.7, metadata=spec("expectile tau of the value regression", range=(0.5, 0.999)))
    low_beta: float = field(default=3.0, metadata=spec("inverse temperature of the low-level AWR", range=(0.0, 1e3)))
    high_beta: float = field(default=3.0, metadata=spec("inverse temperature of the high-level AWR",
                                                        range=(0.0, 1e3)))
    max_weight: float = field(default=100.0, metadata=spec("AWR weights are clipped here", range=(1.0, 1e6)))
    subgoal_steps: int = field(default=5, metadata=spec("k: how many steps ahead a subgoal lies", range=(1, 10000)))
    exploration_noise: float = field(default=0.1, metadata=spec(
        "std of Gaussian action noise of ``explore`` (HIQL itself never explores)", range=(0.0, 10.0)))


def expectile_loss(diff: torch.Tensor, expectile: float) -> torch.Tensor:
    """Asymmetric squared error |tau - 1(diff < 0)| * diff^2 with diff = target - prediction: tau > 0.5 weighs
    under-estimates more, so the fit tends to an upper expectile of the targets (an optimistic, max-like value)."""
    weight = torch.where(diff < 0, 1.0 - expectile, expectile)
    return (weight * diff ** 2).mean()


def awr_weights(advantage: torch.Tensor, beta: float, max_weight: float) -> torch.Tensor:
    """exp(beta * advantage), clipped at ``max_weight`` (large advantages would otherwise swamp the batch)."""
    return torch.exp(beta * advantage).clamp(max=max_weight)


class ValueHeads(nn.Module):
    def __init__(self, inputs: int, hidden: list[int]):
        super().__init__()
        self.v1, self.v2 = mlp(inputs, hidden, 1), mlp(inputs, hidden, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.v1(x).squeeze(-1), self.v2(x).squeeze(-1)


class HIQL(GoalConditionedAgent):
    """``act(obs, goal)`` for acting; ``update(batch)`` for learning (batches from ``training.offline``).
    ``exploration_noise``: the std of ``explore``'s action noise (default: the config's); ``goal_index`` is unused
    (every agent takes it)."""

    def __init__(self, cfg: HIQLConfig, obs_dim: int, goal_dim: int, action_dim: int,
                 input_mean: np.ndarray | None = None, input_std: np.ndarray | None = None, *,
                 goal_index: np.ndarray | None = None, exploration_noise: float | None = None):
        super().__init__(obs_dim, goal_dim, action_dim, input_mean, input_std)
        self.cfg = cfg
        self.exploration_noise = cfg.exploration_noise if exploration_noise is None else exploration_noise
        n_in = obs_dim + goal_dim
        self.value = ValueHeads(n_in, cfg.hidden)
        self.value_target = copy.deepcopy(self.value).requires_grad_(False)
        self.high_policy = mlp(n_in, cfg.hidden, goal_dim)  # the subgoal, in standardised goal units
        self.low_policy = mlp(n_in, cfg.hidden, action_dim, nn.Tanh())
        self.value_opt = torch.optim.Adam(self.value.parameters(), lr=cfg.lr)
        self.high_opt = torch.optim.Adam(self.high_policy.parameters(), lr=cfg.lr)
        self.low_opt = torch.optim.Adam(self.low_policy.parameters(), lr=cfg.lr)
        self.updates = 0

    def _goal_scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.input_mean[self.obs_dim:], self.input_std[self.obs_dim:]

    def subgoal(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        mean, std = self._goal_scale()
        return self.high_policy(self._inputs(obs, goal)) * std + mean

    @torch.inference_mode()
    def act(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Deterministic actions in [-1, 1]: the low-level policy towards the high-level policy's subgoal."""
        obs, goal = self._tensor(obs), self._tensor(goal)
        return self.low_policy(self._inputs(obs, self.subgoal(obs, goal))).cpu().numpy()

    def explore(self, obs: np.ndarray, goal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``act`` plus Gaussian noise of std ``exploration_noise`` from ``rng``, clipped to [-1, 1]."""
        return noisy_actions(self.act(obs, goal), self.exploration_noise, rng).astype(np.float32)

    def values(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """V(s, g): the mean of the two heads."""
        v1, v2 = self.value(self._inputs(obs, goal))
        return (v1 + v2) / 2

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One step on the value and on both policies.

        ``batch`` (float32): obs, next_obs, action; value_goal, reward, mask (for V); goal (the policies' goal),
        subgoal (goal-space vector of the state k steps ahead) and subgoal_obs (that state).
        """
        batch = self._on_device(batch)
        cfg = self.cfg
        obs, next_obs = batch["obs"], batch["next_obs"]
        with torch.no_grad():
            t1, t2 = self.value_target(self._inputs(next_obs, batch["value_goal"]))
            bootstrap = cfg.discount * batch["mask"]
            q1, q2 = batch["reward"] + bootstrap * t1, batch["reward"] + bootstrap * t2
        v1, v2 = self.value(self._inputs(obs, batch["value_goal"]))
        value_loss = expectile_loss(q1 - v1, cfg.expectile) + expectile_loss(q2 - v2, cfg.expectile)
        self.value_opt.zero_grad(set_to_none=True)
        value_loss.backward()
        self.value_opt.step()

        subgoal, goal = batch["subgoal"], batch["goal"]
        with torch.no_grad():
            low_adv = self.values(next_obs, subgoal) - self.values(obs, subgoal)
            high_adv = self.values(batch["subgoal_obs"], goal) - self.values(obs, goal)
            low_w = awr_weights(low_adv, cfg.low_beta, cfg.max_weight)
            high_w = awr_weights(high_adv, cfg.high_beta, cfg.max_weight)
        action = self.low_policy(self._inputs(obs, subgoal))
        low_loss = (low_w * ((action - batch["action"]) ** 2).sum(-1)).mean()
        self.low_opt.zero_grad(set_to_none=True)
        low_loss.backward()
        self.low_opt.step()
        mean, std = self._goal_scale()
        predicted = self.high_policy(self._inputs(obs, goal))
        high_loss = (high_w * ((predicted - (subgoal - mean) / std) ** 2).sum(-1)).mean()
        self.high_opt.zero_grad(set_to_none=True)
        high_loss.backward()
        self.high_opt.step()

        polyak_update(((self.value, self.value_target),), cfg.tau)
        self.updates += 1
        return {"value_loss": value_loss.item(), "low_loss": low_loss.item(), "high_loss": high_loss.item(),
                "v": v1.mean().item(), "low_weight": low_w.mean().item(), "high_weight": high_w.mean().item()}

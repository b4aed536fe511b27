"""The pieces every agent is built from: MLPs, target-network updates, twin critics, and the goal-conditioned base.

``GoalConditionedAgent`` holds what all agents share: their sizes, a fixed standardisation of the (state, goal)
input (measured on exploration data and saved with the weights as ``input_mean``, ``input_std``), the device its
networks are on (numpy in and out of ``act``/``explore``, CPU batches moved there by ``update``), and the saving
and restoring of their optimisers for resuming a run.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def mlp(inputs: int, hidden: list[int], outputs: int, out_act: nn.Module | None = None) -> nn.Sequential:
    layers, size = [], inputs
    for h in hidden:
        layers += [nn.Linear(size, h), nn.ReLU()]
        size = h
    layers.append(nn.Linear(size, outputs))
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)


@torch.no_grad()
def polyak_update(pairs, tau: float) -> None:
    """Move each target network a fraction ``tau`` towards its online network: ``pairs`` of (online, target)."""
    for net, target in pairs:
        for p, p_t in zip(net.parameters(), target.parameters()):
            p_t.lerp_(p, tau)


class Critics(nn.Module):
    """Twin critics Q1, Q2(x, a) (clipped double Q-learning takes the minimum of the two)."""

    def __init__(self, inputs: int, hidden: list[int]):
        super().__init__()
        self.q1, self.q2 = mlp(inputs, hidden, 1), mlp(inputs, hidden, 1)

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xa = torch.cat([x, a], -1)
        return self.q1(xa).squeeze(-1), self.q2(xa).squeeze(-1)


def noisy_actions(actions: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """``actions`` plus Gaussian noise of ``std``, clipped to the action range [-1, 1] (float64)."""
    return np.clip(actions + std * rng.standard_normal(actions.shape), -1.0, 1.0)


class GoalConditionedAgent(nn.Module):
    """What every agent shares: its sizes and a fixed standardisation of the (state, goal) input, measured on
    exploration data and saved with the weights (``input_mean``, ``input_std``)."""

    def __init__(self, obs_dim: int, goal_dim: int, action_dim: int, input_mean: np.ndarray | None = None,
                 input_std: np.ndarray | None = None):
        super().__init__()
        self.obs_dim, self.goal_dim, self.action_dim = obs_dim, goal_dim, action_dim
        n_in = obs_dim + goal_dim
        mean = np.zeros(n_in) if input_mean is None else np.asarray(input_mean)
        std = np.ones(n_in) if input_std is None else np.asarray(input_std)
        self.register_buffer("input_mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("input_std", torch.as_tensor(np.maximum(std, 1e-6), dtype=torch.float32))

    @property
    def device(self) -> torch.device:
        """Where the networks are (``make_agent``'s ``device``, or ``.to()``); acting and updates run there."""
        return self.input_mean.device

    def _inputs(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        return (torch.cat([obs, goal], -1) - self.input_mean) / self.input_std

    def _tensor(self, v) -> torch.Tensor:
        """A numpy input (``act``'s, ``explore``'s) as a float32 tensor on the agent's device."""
        return torch.as_tensor(np.asarray(v, np.float32), device=self.device)

    def _on_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A replay batch (CPU tensors) on the agent's device: the one place ``update`` moves data; on the CPU it
        is the batch itself."""
        device = self.device
        return {k: v.to(device, non_blocking=True) for k, v in batch.items()}

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {k: v for k, v in vars(self).items() if isinstance(v, torch.optim.Optimizer)}

    def optimizer_state(self) -> dict:
        """Every optimiser's state and the update count, for resuming (``torch.load(weights_only=True)`` reads it)."""
        return {**{k: opt.state_dict() for k, opt in self._optimizers().items()}, "updates": self.updates}

    def load_optimizer_state(self, state: dict) -> None:
        for key, opt in self._optimizers().items():
            opt.load_state_dict(state[key])
        self.updates = int(state["updates"])

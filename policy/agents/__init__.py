"""The goal-conditioned agents rigbot can train: the one registry of their names.

Every agent has the same small surface: ``Agent(cfg, obs_dim, goal_dim, action_dim, input_mean, input_std,
goal_index=None, exploration_noise=None)`` (``goal_index``: the state entries that form a goal, for agents that
compare states with goals, RIS; ``exploration_noise``: the std of the action noise, for agents that explore by
noise, TD3 and HIQL; the others ignore them), ``act(obs, goal)`` (deterministic, in [-1, 1]),
``explore(obs, goal, rng)`` (for collecting: the policy's own sample, or ``act`` plus noise drawn from ``rng``),
``update(batch) -> stats`` (a batch of CPU tensors, moved to the agent's ``device``), ``updates``,
``state_dict()`` (weights and input normaliser, what policy.safetensors holds) and ``optimizer_state()`` /
``load_optimizer_state()`` (for resuming). ``make_agent`` builds one on a device (``rigbot.devices``).

Two tables name them. ``LEARNERS``: each learning algorithm by the name a policy.yaml gives as ``learner``, with
its agent class, config class and the name progress bars show. ``AGENTS``: what a person picks with
``rigbot train --agent``, each a learner, the trainer that runs it (online in the twin, or offline from
recordings) and its preset, the trainer-config keys it changes. Everything else (the CLI's choices, the
trainers' presets, loading a policy folder) derives from these two.

The classes are imported when first asked for, so the command line can list the names without importing torch.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class Learner:
    """A learning algorithm: its agent and config classes (in ``rigbot.policy.agents.<module>``) and its name on
    progress bars."""

    module: str
    agent_class: str
    config_class: str
    display: str

    @property
    def agent(self) -> type:
        return getattr(importlib.import_module(f"rigbot.policy.agents.{self.module}"), self.agent_class)

    @property
    def config(self) -> type:
        return getattr(importlib.import_module(f"rigbot.policy.agents.{self.module}"), self.config_class)


LEARNERS = {
    "td3": Learner("td3", "TD3", "TD3Config", "RIG"),
    "sac": Learner("sac", "SAC", "SACConfig", "SAC"),
    "ris": Learner("ris", "RIS", "RISConfig", "RIS"),
    "hiql": Learner("hiql", "HIQL", "HIQLConfig", "HIQL"),
}


@dataclass(frozen=True)
class AgentPreset:
    """An agent a person can train: a learner, the trainer that runs it, and the trainer-config keys it changes
    (``training.rig.RIGConfig`` for online agents, ``training.offline.OfflineConfig`` for offline ones;
    nested mappings merge over the defaults)."""

    learner: str
    trainer: Literal["online", "offline"]
    preset: dict = field(default_factory=dict)


AGENTS = {
    "rig": AgentPreset("td3", "online"),
    # RIG's two baselines, the same loop changed only by configuration: true positions and goals; pixel-space HER
    "oracle": AgentPreset("td3", "online", {"observation": "state"}),
    "pixel-her": AgentPreset("td3", "online", {
        "exploration_goals": "env",
        "relabel": {"rollout": 0.2, "prior": 0.0, "future": 0.8, "reward": "pixel_distance"}}),
    # the other seed papers' agents: SAC and RIS in the same online loop, HIQL offline from recordings
    "sac": AgentPreset("sac", "online", {"relabel": {"reward": "squared_goal_distance"}}),
    "ris": AgentPreset("ris", "online"),
    "hiql": AgentPreset("hiql", "offline"),
}


def agent_names(trainer: str | None = None) -> list[str]:
    """The names of ``AGENTS`` (of one trainer, ``online`` or ``offline``, when given)."""
    return [name for name, a in AGENTS.items() if trainer is None or a.trainer == trainer]


def make_agent(learner: str, cfg, obs_dim: int, goal_dim: int, action_dim: int,
               input_mean: np.ndarray | None = None, input_std: np.ndarray | None = None,
               goal_index: np.ndarray | None = None, exploration_noise: float | None = None, device=None):
    """A new agent of kind ``learner`` (a key of ``LEARNERS``) with config ``cfg`` (see the module docstring for
    ``goal_index`` and ``exploration_noise``), on ``device`` (a ``torch.device``; None: where it was built).

    The networks are initialised on the CPU and then moved, so a seed gives the same initial weights on every
    device; the optimisers hold the same parameters after the move, and make their state where they are."""
    if learner not in LEARNERS:
        raise ValueError(f"unknown learner {learner!r}; learners: {', '.join(LEARNERS)}")
    entry = LEARNERS[learner]
    if not isinstance(cfg, entry.config):
        raise TypeError(f"learner {learner!r} needs a {entry.config.__name__}, got {type(cfg).__name__}")
    agent = entry.agent(cfg, obs_dim, goal_dim, action_dim, input_mean, input_std, goal_index=goal_index,
                        exploration_noise=exploration_noise)
    return agent if device is None else agent.to(device)

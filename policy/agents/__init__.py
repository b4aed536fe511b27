"""The goal-conditioned agents rigbot can train, by the name a policy.yaml gives as ``learner``.

Every agent has the same small surface: ``Agent(cfg, obs_dim, goal_dim, action_dim, input_mean, input_std)``,
``act(obs, goal)`` (deterministic, in [-1, 1]), ``explore(obs, goal, rng)`` (TD3 explores by the trainer's
noise instead), ``update(batch) -> stats``, ``updates``, ``state_dict()`` (weights and input normaliser, what
policy.safetensors holds) and ``optimizer_state()`` / ``load_optimizer_state()`` (for resuming).
"""
from __future__ import annotations

import numpy as np

from rigbot.policy.agents.hiql import HIQL, HIQLConfig
from rigbot.policy.agents.ris import RIS, RISConfig
from rigbot.policy.agents.sac import SAC, SACConfig
from rigbot.policy.agents.td3 import TD3, TD3Config

LEARNERS = {"td3": (TD3, TD3Config), "sac": (SAC, SACConfig), "ris": (RIS, RISConfig), "hiql": (HIQL, HIQLConfig)}


def make_agent(learner: str, cfg, obs_dim: int, goal_dim: int, action_dim: int,
               input_mean: np.ndarray | None = None, input_std: np.ndarray | None = None,
               goal_index: np.ndarray | None = None):
    """A new agent of kind ``learner`` (a key of ``LEARNERS``) with config ``cfg``.

    ``goal_index``: the state entries that form a goal, for agents that compare states with goals (RIS).
    """
    if learner not in LEARNERS:
        raise ValueError(f"unknown learner {learner!r}; learners: {', '.join(LEARNERS)}")
    cls, cfg_cls = LEARNERS[learner]
    if not isinstance(cfg, cfg_cls):
        raise TypeError(f"learner {learner!r} needs a {cfg_cls.__name__}, got {type(cfg).__name__}")
    if learner == "ris":
        return cls(cfg, obs_dim, goal_dim, action_dim, input_mean, input_std, goal_index=goal_index)
    return cls(cfg, obs_dim, goal_dim, action_dim, input_mean, input_std)

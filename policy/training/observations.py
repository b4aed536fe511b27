"""What the agent sees of the twin: VAE latents of camera images (RIG), or the true state (the oracle baseline).

A view turns an environment observation into the agent's state vector and achieved-goal vector, and the
environment's goal into a goal vector. RIG sees latents only: the state and the achieved goal are both the
encoder mean of the camera image, and the goal is the encoder mean of the goal image. The oracle sees the true
hand (and puck) positions and the true goal: what RIG would reach with a perfect representation.
``make_view`` builds either, with the input statistics the agent is standardised by.
"""
from __future__ import annotations

import numpy as np

from rigbot.perception.latent_prior import LatentPrior
from rigbot.perception.vae import Encoder


class LatentView:
    kind = "latent"
    goal_index = None  # the state is a goal: latents of images in both roles

    def __init__(self, encoder: Encoder):
        self.encoder = encoder
        self.obs_dim = self.goal_dim = encoder.latent_dim
        self.prior = encoder.prior

    def observe(self, obs: dict) -> tuple[np.ndarray, np.ndarray]:
        z = self.encoder.encode(obs["image"])[0]
        return z, z

    def goal_of(self, env) -> np.ndarray:
        return self.encoder.encode(env.unwrapped.goal_image)[0]


class StateView:
    kind = "state"

    def __init__(self, obs_dim: int, goal_dim: int, prior: LatentPrior, goal_index: np.ndarray | None = None):
        """``prior``: a Gaussian over achieved goals (fitted to exploration data), the oracle's imagined goals;
        ``goal_index``: the state entries that are the achieved goal, for agents that use states as goals (RIS)."""
        self.obs_dim, self.goal_dim, self.prior, self.goal_index = obs_dim, goal_dim, prior, goal_index

    def observe(self, obs: dict) -> tuple[np.ndarray, np.ndarray]:
        return obs["observation"].astype(np.float32), obs["achieved_goal"].astype(np.float32)

    def goal_of(self, env) -> np.ndarray:
        return env.unwrapped.goal.astype(np.float32)


def goal_columns(observations: np.ndarray, achieved_goals: np.ndarray) -> np.ndarray | None:
    """The state entries equal to each achieved-goal entry over recorded frames (None if one has no match)."""
    index = []
    for g in range(achieved_goals.shape[1]):
        match = [i for i in range(observations.shape[1]) if np.allclose(observations[:, i], achieved_goals[:, g])]
        if not match:
            return None
        index.append(match[0])
    return np.array(index)


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

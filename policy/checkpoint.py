"""A trained goal-reaching policy on disk, and loading it for deployment (the policy node, ``rigbot eval``).

A policy folder (e.g. ``checkpoints/reach/``) holds::

    policy.safetensors   the agent's weights and input normaliser (tensors only), with its architecture config
    policy.yaml          what the policy acts on and how: task, observation kind, sizes, speed limit, rate
    vae/                 the image encoder it was trained with (for observation: latent)

``load_policy`` checks the YAML against the weights and refuses a mismatch with a message that says which.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from rigbot import config
from rigbot.config import ConfigError
from rigbot.files import atomic_write_text
from rigbot.perception.vae import Encoder, load_checkpoint
from rigbot.policy.agents import LEARNERS, make_agent
from rigbot.weights import load_weights, save_weights

WEIGHTS, CONFIG, TAG = "policy.safetensors", "policy.yaml", "rigbot_policy_config"
ARCHITECTURE_KEYS = ("observation", "obs_dim", "goal_dim", "action_dim")


def learner_of(meta: dict) -> str:
    """The agent kind of a policy.yaml (``learner``; RIG's TD3 when absent, as in policies saved before it)."""
    return meta.get("learner", "td3")


def _architecture(meta: dict) -> dict:
    learner = learner_of(meta)  # the learner's config sits under its own name: 'td3', 'sac', 'ris', 'hiql'
    return {**{k: meta[k] for k in ARCHITECTURE_KEYS}, learner: meta[learner]}


def save_agent(path: str | Path, agent, meta: dict) -> Path:
    """The agent's full state (actor, critics, targets, normaliser) as safetensors, tagged with its architecture."""
    return save_weights(path, agent.state_dict(), _architecture(meta), TAG)


def load_agent(path: str | Path, meta: dict, cfg_source: str):
    learner = learner_of(meta)
    if learner not in LEARNERS:
        raise ConfigError(f"{cfg_source}: learner {learner!r} is not one of {', '.join(LEARNERS)}")
    agent_cfg = config.from_dict(LEARNERS[learner][1], meta[learner], source=cfg_source, prefix=f"{learner}.")
    goal_index = None if learner != "ris" else list(range(meta["goal_dim"]))  # a placeholder; the weights hold it
    agent = make_agent(learner, agent_cfg, meta["obs_dim"], meta["goal_dim"], meta["action_dim"],
                       goal_index=goal_index)
    tensors = load_weights(path, _architecture(meta), TAG, agent.state_dict(), cfg_source=cfg_source)
    agent.load_state_dict({k: tensors[k] for k in agent.state_dict()})
    return agent


def save_policy(directory: str | Path, agent, meta: dict) -> Path:
    """Write the deployable policy (weights, then YAML) into ``directory``; each file atomically."""
    directory = Path(directory)
    save_agent(directory / WEIGHTS, agent, meta)
    atomic_write_text(directory / CONFIG, yaml.safe_dump(meta, sort_keys=False))
    return directory


class GoalReachingPolicy:
    """What a deployment needs: latents (or states) in, end-effector velocities (m/s) out."""

    def __init__(self, agent, encoder: Encoder | None, meta: dict, directory: Path):
        self.agent, self.encoder, self.meta, self.directory = agent.eval(), encoder, meta, directory
        self.task: str = meta["task"]
        self.observation: str = meta["observation"]
        self.action_dim: int = meta["action_dim"]
        self.max_linear_speed: float = float(meta["max_linear_speed"])
        self.control_hz: float = float(meta["control_hz"])
        self.image_size: int = meta["image_size"]

    def act(self, z: np.ndarray, z_goal: np.ndarray) -> np.ndarray:
        """Velocity (float32, m/s, within +-max_linear_speed per axis) for state vector ``z`` and goal ``z_goal``."""
        z, z_goal = np.asarray(z, np.float32), np.asarray(z_goal, np.float32)
        for name, v, n in (("state", z, self.agent.obs_dim), ("goal", z_goal, self.agent.goal_dim)):
            if v.shape != (n,):
                raise ValueError(f"{name} vector must have shape ({n},), got {v.shape}")
            if not np.all(np.isfinite(v)):
                raise ValueError(f"{name} vector contains NaN or Inf; refusing to act on it")
        return (self.agent.act(z, z_goal) * self.max_linear_speed).astype(np.float32)


def load_policy(directory: str | Path) -> GoalReachingPolicy:
    """The policy in ``directory`` (see the module docstring), with its encoder when it acts on latents."""
    directory = Path(directory)
    cfg_path = directory / CONFIG
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{cfg_path}: missing; is {directory} a policy folder made by 'rigbot train'?")
    meta = config.read_yaml(cfg_path)
    learner = learner_of(meta) if isinstance(meta, dict) else "td3"
    required = (*ARCHITECTURE_KEYS, learner, "task", "max_linear_speed", "control_hz", "image_size")
    missing = [k for k in required if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise ConfigError(f"{cfg_path}: not a rigbot policy config (missing: {', '.join(missing)})")
    agent = load_agent(directory / WEIGHTS, meta, str(cfg_path))
    encoder = None
    if meta["observation"] == "latent":
        encoder = load_checkpoint(directory / "vae")
        if encoder.latent_dim != meta["obs_dim"]:
            raise ValueError(f"{directory / 'vae'}: latent size {encoder.latent_dim}, but the policy was trained "
                             f"on {meta['obs_dim']}-dimensional latents")
    return GoalReachingPolicy(agent, encoder, meta, directory)

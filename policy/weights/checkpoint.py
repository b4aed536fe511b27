"""A trained goal-reaching policy on disk, and loading it for deployment (the policy node, ``rigbot eval``).

A policy folder (e.g. ``checkpoints/reach/``) holds::

    policy.safetensors   the agent's weights and input normaliser (tensors only), with its architecture config
    policy.yaml          what the policy acts on and how: task, observation kind, sizes, speed limit, rate
    vae/                 the image encoder it was trained with (for observation: latent)

``load_policy`` reads policy.yaml into a typed, range-checked ``PolicyConfig`` (a speed <= 0, a rate of 0 or an
image size of 100000 are refused, naming the key), checks it against the config the weights were saved with (the
architecture, and the task, speed, rate and image size since they are recorded there too, so an edited
policy.yaml cannot make a reach network run as push, or faster), then the tensor shapes in the weights' header
against the network's, all before the network is built; then tensors that hold NaN or Inf are refused by name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from rigbot import config
from rigbot.config import ConfigError, spec
from rigbot.files import atomic_write_text
from rigbot.perception.vae import Encoder, load_checkpoint
from rigbot.policy.agents import LEARNERS, make_agent
from rigbot.weights import expected_shapes, load_weights, save_weights

WEIGHTS, CONFIG, TAG = "policy.safetensors", "policy.yaml", "rigbot_policy_config"
ARCHITECTURE_KEYS = ("observation", "obs_dim", "goal_dim", "action_dim")
# saved in the weights since rigbot recorded them there; files written before lack them and load without the check
RUNTIME_KEYS = ("task", "max_linear_speed", "control_hz", "image_size")


@dataclass
class PolicyConfig:
    """The part of policy.yaml a deployment acts on, typed and range-checked (the ranges are the twin's own:
    ``RobotConfig`` for speed and rate, ``TaskConfig`` for the image size). The rest of the file (the learner's
    config, under its name, and how it was trained) is checked where it is used."""

    task: Literal["reach", "push"] = field(metadata=spec("the twin task it was trained on"))
    observation: Literal["latent", "state"] = field(metadata=spec("what it acts on: VAE latents or twin state"))
    obs_dim: int = field(metadata=spec("size of the state vector it takes", range=(1, 1024)))
    goal_dim: int = field(metadata=spec("size of the goal vector it takes", range=(1, 1024)))
    action_dim: int = field(metadata=spec("hand velocity axes it commands", range=(1, 3)))
    max_linear_speed: float = field(metadata=spec("m/s per axis its actions are scaled to", range=(1e-3, 2.0)))
    control_hz: float = field(metadata=spec("actions per second it was trained at", range=(1.0, 500.0)))
    image_size: int = field(metadata=spec("camera image side it was trained on, pixels", range=(32, 256)))
    # every key of LEARNERS (tests/test_policy.py checks it)
    learner: Literal[tuple(LEARNERS)] = field(default="td3", metadata=spec("the agent kind"))


FIELDS = tuple(PolicyConfig.__dataclass_fields__)


def learner_of(meta: dict) -> str:
    """The agent kind of a policy.yaml (``learner``; RIG's TD3 when absent, as in policies saved before it)."""
    return meta.get("learner", "td3")


def read_policy_config(meta, source: str):
    """``(PolicyConfig, learner config)`` of a policy.yaml's contents ``meta``; ConfigError naming ``source`` and
    the key for anything missing, mistyped or out of range."""
    if not isinstance(meta, dict):
        raise ConfigError(f"{source}: not a rigbot policy config (expected a mapping)")
    learner = learner_of(meta)
    missing = [k for k in (*ARCHITECTURE_KEYS, *RUNTIME_KEYS) if k not in meta]
    if missing:
        raise ConfigError(f"{source}: not a rigbot policy config (missing: {', '.join(missing)})")
    runtime = config.from_dict(PolicyConfig, {k: meta[k] for k in FIELDS if k in meta}, source=source)
    if learner not in meta:
        raise ConfigError(f"{source}: not a rigbot policy config (missing: {learner}, the {learner} config)")
    agent_cfg = config.from_dict(LEARNERS[learner].config, meta[learner], source=source, prefix=f"{learner}.")
    return runtime, agent_cfg


def _architecture(meta: dict) -> dict:
    """What the weights file records of its config: the network's architecture and, since they became part of
    it, the runtime fields a deployment acts on (so an edited policy.yaml cannot run them differently)."""
    learner = learner_of(meta)  # the learner's config sits under its own name: 'td3', 'sac', 'ris', 'hiql'
    return {**{k: meta[k] for k in (*ARCHITECTURE_KEYS, *RUNTIME_KEYS)}, learner: meta[learner]}


def save_agent(path: str | Path, agent, meta: dict) -> Path:
    """The agent's full state (actor, critics, targets, normaliser) as safetensors, tagged with its config."""
    return save_weights(path, agent.state_dict(), _architecture(meta), TAG)


def load_agent(path: str | Path, meta: dict, cfg_source: str, device=None):
    """The agent in the weights file ``path``, for the policy config ``meta`` (read from ``cfg_source``), on
    ``device`` (a ``torch.device``; None: the CPU). The file's header is checked against ``meta`` (its saved
    config, then its tensor shapes against the network's, found without allocating it) before the network is
    built, so no config can make it build a huge one."""
    return _load_agent(path, meta, cfg_source, *read_policy_config(meta, cfg_source), device=device)


def _load_agent(path: str | Path, meta: dict, cfg_source: str, runtime: PolicyConfig, agent_cfg, device=None):
    """``load_agent`` for a ``meta`` already read by ``read_policy_config`` (as ``runtime`` and ``agent_cfg``)."""
    learner = runtime.learner

    def build():  # goal_index: a placeholder for agents that hold one (RIS); the weights hold the real one
        return make_agent(learner, agent_cfg, runtime.obs_dim, runtime.goal_dim, runtime.action_dim,
                          goal_index=np.arange(runtime.goal_dim))

    def shapes():
        try:
            return expected_shapes(build)
        except (ValueError, RuntimeError, TypeError) as e:  # e.g. a hidden layer of size 0
            raise ConfigError(f"{cfg_source}: {learner}: not a network that can be built ({e})") from None

    tensors = load_weights(path, _architecture(meta), TAG, shapes, cfg_source, optional=RUNTIME_KEYS)
    agent = build()  # the file's tensors are CPU tensors (as every device saves them): loaded, then moved
    agent.load_state_dict({k: tensors[k] for k in agent.state_dict()})
    return agent if device is None else agent.to(device)


def save_policy(directory: str | Path, agent, meta: dict) -> Path:
    """Write the deployable policy (weights, then YAML) into ``directory``; each file atomically."""
    directory = Path(directory)
    save_agent(directory / WEIGHTS, agent, meta)
    atomic_write_text(directory / CONFIG, config.dump_yaml(meta, sort_keys=False))
    return directory


class GoalReachingPolicy:
    """What a deployment needs: latents (or states) in, end-effector velocities (m/s) out."""

    def __init__(self, agent, encoder: Encoder | None, meta: dict, directory: Path, runtime: PolicyConfig):
        """``runtime``: ``meta`` (the folder's policy.yaml) as ``read_policy_config`` read it."""
        self.agent, self.encoder, self.meta, self.directory = agent.eval(), encoder, meta, directory
        self.config = runtime
        self.task: str = runtime.task
        self.observation: str = runtime.observation
        self.action_dim: int = runtime.action_dim
        self.max_linear_speed: float = runtime.max_linear_speed
        self.control_hz: float = runtime.control_hz
        self.image_size: int = runtime.image_size

    @property
    def device(self):
        """The ``torch.device`` its networks run on (``load_policy``'s ``device``); ``act`` takes and gives numpy."""
        return self.agent.device

    def act(self, z: np.ndarray, z_goal: np.ndarray) -> np.ndarray:
        """Velocity (float32, m/s, within +-max_linear_speed per axis) for state vector ``z`` and goal ``z_goal``."""
        z, z_goal = np.asarray(z, np.float32), np.asarray(z_goal, np.float32)
        for name, v, n in (("state", z, self.agent.obs_dim), ("goal", z_goal, self.agent.goal_dim)):
            if v.shape != (n,):
                raise ValueError(f"{name} vector must have shape ({n},), got {v.shape}")
            if not np.all(np.isfinite(v)):
                raise ValueError(f"{name} vector contains NaN or Inf; refusing to act on it")
        return (self.agent.act(z, z_goal) * self.max_linear_speed).astype(np.float32)


def load_policy(directory: str | Path, device=None) -> GoalReachingPolicy:
    """The policy in ``directory`` (see the module docstring), with its encoder when it acts on latents, both on
    ``device`` (a ``torch.device`` or a name of ``rigbot.devices.DEVICES``; None: the CPU).

    A weight store, or a folder inside one, is verified first (``weight_store.resolve_checkpoint``: every file
    against its published hash, the config against the store's), as ``rigbot weights check`` does."""
    from rigbot.policy.weights.weight_store import resolve_checkpoint

    return load_policy_folder(resolve_checkpoint(directory), device)


def load_policy_folder(directory: str | Path, device=None) -> GoalReachingPolicy:
    """``load_policy`` of a folder already resolved (and, if it is in a store, verified)."""
    from rigbot.devices import resolve_device

    device = None if device is None else resolve_device(device)
    directory = Path(directory)
    cfg_path = directory / CONFIG
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{cfg_path}: missing; is {directory} a policy folder made by 'rigbot train'?")
    meta = config.read_yaml(cfg_path)
    runtime, agent_cfg = read_policy_config(meta, str(cfg_path))  # once: the agent and the policy share it
    agent = _load_agent(directory / WEIGHTS, meta, str(cfg_path), runtime, agent_cfg, device)
    encoder = None
    if runtime.observation == "latent":
        encoder = load_checkpoint(directory / "vae", device)
        if encoder.latent_dim != runtime.obs_dim:
            raise ValueError(f"{directory / 'vae'}: latent size {encoder.latent_dim}, but the policy was trained "
                             f"on {runtime.obs_dim}-dimensional latents")
    return GoalReachingPolicy(agent, encoder, meta, directory, runtime)

"""The resumable state of a training run, shared by the online (``rig``) and offline (``offline``) trainers.

A checkpoint is a folder ``out/training/step_N`` holding the agent, its optimisers and torch's RNG, whatever the
trainer adds (its replay, a fine-tuned VAE) and ``progress.yaml`` (counters, the learning curve, the random
policy's baseline, timings, numpy's RNG). It is made current by rewriting ``out/training/latest.yaml`` only once
complete, so a crash leaves the previous checkpoint current; older folders are then removed, and the deployable
policy folder ``out`` is rewritten.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import torch

from rigbot import config
from rigbot.files import atomic_write_text
from rigbot.policy.weights.checkpoint import load_agent, save_agent, save_policy
from rigbot.policy.training.evaluation import evaluate, random_policy


def save_training_state(out: Path, step: int, agent, meta: dict, progress: dict,
                        add: Callable[[Path], None] | None = None) -> Path:
    """Write checkpoint ``step`` (``add`` writes the trainer's own parts into its folder), make it current, and
    rewrite the policy folder; returns the checkpoint folder."""
    training = out / "training"
    step_dir = training / f"step_{step:08d}"
    if step_dir.exists():
        shutil.rmtree(step_dir)
    step_dir.mkdir(parents=True)
    save_agent(step_dir / "agent.safetensors", agent, meta)
    rng = {"torch_rng": torch.get_rng_state()}
    if agent.device.type == "cuda":  # the GPU's generator too (target noise, SAC's samples are drawn there)
        rng["cuda_rng"] = torch.cuda.get_rng_state(agent.device)
    torch.save({**agent.optimizer_state(), **rng}, step_dir / "optim.pt")
    if add is not None:
        add(step_dir)
    atomic_write_text(step_dir / "progress.yaml", config.dump_yaml(progress, sort_keys=False))
    atomic_write_text(training / "latest.yaml", config.dump_yaml({"step_dir": step_dir.name}))
    for old in training.glob("step_*"):
        if old != step_dir:
            shutil.rmtree(old, ignore_errors=True)
    save_policy(out, agent, meta)
    return step_dir


def load_training_state(out: Path, meta: dict, device=None):
    """The current checkpoint as (agent with its optimisers, on ``device``; folder; progress), torch's RNG
    restored; None when there is none. A run saved on a GPU resumes on the CPU, and the other way round."""
    pointer = out / "training" / "latest.yaml"
    if not pointer.is_file():
        return None
    step_dir = out / "training" / config.read_yaml(pointer)["step_dir"]
    progress = config.read_yaml(step_dir / "progress.yaml")
    agent = load_agent(step_dir / "agent.safetensors", meta, str(out / "policy.yaml"), device)
    # read onto the CPU (the optimisers' state may have been saved from a GPU); loading moves it to the agent's
    state = torch.load(step_dir / "optim.pt", weights_only=True, map_location="cpu")
    agent.load_optimizer_state(state)
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and agent.device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"], agent.device)
    return agent, step_dir, progress


def random_baseline(eval_env, view, seed: int, episodes: int) -> dict:
    """A random policy's evaluation on the same goals: the reference line of every learning curve."""
    rnd = evaluate(random_policy(eval_env.action_space, seed), eval_env, view, episodes)
    return {k: v for k, v in rnd.items() if k != "frames"}

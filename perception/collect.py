"""Exploration data for the VAE, as RIG collected it: random actions from random starting states in the twin.

Each episode resets the twin to a random state (hand anywhere in the goal region; the puck too, for push),
then takes uniformly random velocity commands for a few steps, recording every camera frame with its true state.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from rigbot.perception.frame_dataset import FrameWriter


def collect(task: str, frames: int, out: str | Path, seed: int = 0, episode_steps: int = 10,
            image_size: int = 48, randomize: bool = False, robot: str | None = None,
            chunk_size: int = 1000, progress: bool = True, appearance: str = "nominal") -> FrameWriter:
    """Record ``frames`` frames of random exploration of ``task`` into the dataset folder ``out``.

    ``appearance``: 'heldout' renders the twin's held-out look (sim/heldout_appearance.py), a stand-in for a
    real camera in transfer experiments."""
    import rigbot.sim as sim

    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    env = sim.make(task, robot=robot, image_size=image_size, randomize=randomize, random_start=True,
                   appearance=appearance).unwrapped
    meta = {"task": task, "image_size": image_size, "robot": robot or "built-in", "randomize": randomize,
            "appearance": appearance,
            "policy": f"uniform random velocities, {episode_steps} steps from a random start", "seed": seed}
    rng = np.random.default_rng(seed)
    bar = tqdm(total=frames, desc=f"collect {task}", unit="frame", disable=not progress)
    try:
        with FrameWriter(out, meta, chunk_size=chunk_size) as writer:
            episode, done = writer.next_episode, 0
            while done < frames:
                obs, _ = env.reset(seed=int(rng.integers(1 << 31)))
                for step in range(episode_steps + 1):
                    writer.add(obs["image"], obs["observation"], obs["achieved_goal"], episode, step)
                    done += 1
                    bar.update(1)
                    if done >= frames or step == episode_steps:
                        break
                    obs, *_ = env.step(rng.uniform(env.action_space.low, env.action_space.high))
                episode += 1
    finally:
        bar.close()
        env.close()
    return writer

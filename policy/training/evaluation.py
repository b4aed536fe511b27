"""Evaluating a goal-reaching policy in the twin: goals are rendered goal images, success is measured in metres.

Each evaluation episode starts from the environment's reset with a fixed seed (the same seeds for every agent
and every checkpoint), renders its goal image, and lets the policy act until the time limit. What counts is the
true distance at the end of the episode: the hand's for reach, the hand's and the puck's for push.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from rigbot import media

EVAL_SEED = 1_000_000  # evaluation episodes use seeds EVAL_SEED + i, never seen in training


def evaluate(act: Callable[[np.ndarray, np.ndarray], np.ndarray], env, view, episodes: int,
             seed: int = EVAL_SEED, record: int = 0) -> dict:
    """Run ``episodes`` episodes with ``act(state_vector, goal_vector) -> velocity (m/s)``.

    Returns success rate, final distances (per name: 'hand', 'puck'), and, for the first ``record`` episodes,
    frames of the camera view beside the goal image (for a GIF).
    """
    finals, frames = [], []
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        goal = view.goal_of(env)
        goal_image = env.unwrapped.goal_image
        t = 0
        while True:
            if i < record:
                frames.append(media.panel([obs["image"], goal_image],
                                          [f"episode {i + 1}, step {t}", "goal image"], height=192))
            state, _ = view.observe(obs)
            obs, _, terminated, truncated, info = env.step(np.asarray(act(state, goal), np.float64))
            t += 1
            if terminated or truncated:
                break
        if i < record:
            frames += [media.panel([obs["image"], goal_image], [f"episode {i + 1}, end: "
                                   + ("reached" if info["is_success"] else "not reached"), "goal image"],
                                   height=192)] * 5
        finals.append(info)
    result = {"episodes": episodes, "success_rate": float(np.mean([f["is_success"] for f in finals]))}
    for key in finals[0]:
        if key.endswith("_distance"):
            values = np.array([f[key] for f in finals])
            name = key.removesuffix("_distance")
            result[f"{name}_distance_median"] = float(np.median(values))
            result[f"{name}_distance_mean"] = float(values.mean())
    result["frames"] = frames
    return result


def random_policy(action_space, seed: int) -> Callable:
    """Uniformly random velocities: the floor every learned policy must clear."""
    rng = np.random.default_rng(seed)
    return lambda state, goal: rng.uniform(action_space.low, action_space.high)

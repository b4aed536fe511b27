"""Twin speed: environment steps per second, by image size and with 2 worker processes.

    python bench/bench_twin.py [--steps 2000] [--repeats 5]

Prints medians over repeats (these machines are noisy) and the 2-worker scaling ratio. Target on a 2-core
machine: >= 1,000 steps/s at 48 x 48 in one process, and near-linear scaling to 2 workers (ratio near 2).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import gymnasium as gym
import numpy as np

import rigbot.sim as sim


def steps_per_second(env, n: int, rng: np.random.Generator) -> float:
    env.reset(seed=int(rng.integers(1 << 30)))
    low, high = env.action_space.low, env.action_space.high
    actions = rng.uniform(low, high, (n, *env.action_space.shape)).astype(np.float32)
    start = time.perf_counter()
    for a in actions:
        *_, terminated, truncated, _ = env.step(a)
        if np.any(terminated) or np.any(truncated):
            if not isinstance(env, gym.vector.VectorEnv):  # vector envs reset their own sub-envs
                env.reset()
    elapsed = time.perf_counter() - start
    return n * getattr(env, "num_envs", 1) / elapsed


def median_rate(make, n: int, repeats: int, seed: int) -> float:
    env = make()
    rng = np.random.default_rng(seed)
    steps_per_second(env, min(n, 200), rng)  # warm-up
    rates = [steps_per_second(env, n, rng) for _ in range(repeats)]
    env.close()
    return statistics.median(rates)


def _reach48():
    return sim.make("reach", image_size=48)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="steps per timing (default 2000)")
    parser.add_argument("--repeats", type=int, default=5, help="timings per row; the median is shown (default 5)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args()

    rows = []
    for task in ("reach", "push"):
        for size in (48, 84, 128):
            rate = median_rate(lambda: sim.make(task, image_size=size), args.steps, args.repeats, seed=size)
            rows.append({"setup": f"{task}, {size}x{size}, 1 process", "steps_per_s": rate})
            print(f"{rows[-1]['setup']:<34} {rate:8.0f} steps/s", flush=True)
    single = rows[0]["steps_per_s"]
    vec = median_rate(lambda: gym.vector.AsyncVectorEnv([_reach48, _reach48], context="spawn"),
                      args.steps // 2, args.repeats, seed=1)
    rows.append({"setup": "reach, 48x48, 2 workers (async)", "steps_per_s": vec})
    print(f"{rows[-1]['setup']:<34} {vec:8.0f} steps/s   scaling x{vec / single:.2f} of 1 process")
    print(f"\ntarget: >= 1000 steps/s at 48x48 in one process: {'met' if single >= 1000 else 'NOT met'} "
          f"({single:.0f}); 2-worker scaling {vec / single:.2f} (2.0 is linear)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "scaling_2_workers": vec / single}, f, indent=2)


if __name__ == "__main__":
    main()

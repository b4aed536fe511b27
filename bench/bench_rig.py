"""RIG against its baselines on the twin: the same seeds, the same evaluation goals, side by side.

For each seed: collect exploration frames and train the VAE once (``rigbot train``'s first two stages), then
train RIG, the oracle (true positions) and pixel-HER (pixel-distance reward) for the same number of environment
steps, evaluating each on the same rendered goal images every ``--eval-every`` steps. Prints a table of success
rates and final hand (and puck) distances at each checkpoint, the wall time of each run, TD3 updates per second,
and where training time goes; writes bench/results/rig_TASK/comparison.png and comparison.json.

    python bench/bench_rig.py                           # reach, 3 seeds, 10,000 steps (the issue's target)
    python bench/bench_rig.py --task push --env-steps 200000 --seeds 0 --agents rig
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import rigbot.sim  # noqa: F401  (chooses the OpenGL backend first)
from rigbot import media
from rigbot.plots import line_plot
from rigbot.policy.training.pipeline import train_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="reach", choices=["reach", "push"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--agents", nargs="+", default=["rig", "oracle", "pixel-her"])
    parser.add_argument("--env-steps", type=int, default=10000)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--updates-per-step", type=int, default=2)
    parser.add_argument("--out", default=None, help="default: bench/results/rig_TASK")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the VAE too: two OpenMP threads stall when anything else runs
    out = Path(args.out or f"bench/results/rig_{args.task}")
    results: dict[str, dict[int, dict]] = {a: {} for a in args.agents}
    for seed in args.seeds:
        shared = out / f"seed{seed}_rig"
        for agent in args.agents:
            run = out / f"seed{seed}_{agent}"
            overrides = {"updates_per_step": args.updates_per_step, "eval_every": args.eval_every}
            t0 = time.perf_counter()
            shared_vae = shared / "vae" if agent == "pixel-her" and (shared / "vae").is_dir() else None
            train_pipeline(args.task, run, agent=agent, seed=seed, env_steps=args.env_steps, vae=shared_vae,
                           resume=(run / "training" / "latest.yaml").is_file(), rig_overrides=overrides,
                           progress=False)
            report = json.loads((run / "curve.json").read_text())
            report["wall_s"] = time.perf_counter() - t0
            results[agent][seed] = report
    summary = summarise(results, args)
    (out / "comparison.json").write_text(json.dumps(summary, indent=1))
    print(f"\nwrote {out / 'comparison.json'} and {out / 'comparison.png'}")


def summarise(results: dict, args) -> dict:
    out = Path(args.out or f"bench/results/rig_{args.task}")
    agents = list(results)
    steps = [row["env_steps"] for row in next(iter(results[agents[0]].values()))["curve"]]
    dist_keys = [k for k in next(iter(results[agents[0]].values()))["curve"][0] if k.endswith("_distance_mean")]
    print(f"\n{args.task}: success rate (mean over seeds {args.seeds}; per seed in brackets)")
    print("steps   " + "".join(f"{a:>28}" for a in agents))
    table = {}
    for i, s in enumerate(steps):
        cells = []
        for a in agents:
            rates = [results[a][seed]["curve"][i]["success_rate"] for seed in args.seeds]
            table.setdefault(a, []).append(float(np.mean(rates)))
            cells.append(f"{np.mean(rates):5.0%} [" + " ".join(f"{r:.0%}" for r in rates) + "]")
        print(f"{s:<8}" + "".join(f"{c:>28}" for c in cells))
    print("\nfinal distances, cm (mean over episodes, then over seeds)")
    for a in agents:
        finals = {k: np.mean([results[a][seed]["curve"][-1][k] for seed in args.seeds]) * 100 for k in dist_keys}
        rnd = {k: np.mean([results[a][seed]["random_policy"][k] for seed in args.seeds]) * 100 for k in dist_keys}
        wall = np.median([results[a][seed]["wall_s"] for seed in args.seeds])
        timing = results[a][args.seeds[0]]["timing_s"]
        total = sum(timing.values())
        updates = results[a][args.seeds[0]]["curve"][-1]["updates"]
        print(f"  {a:10} " + ", ".join(f"{k.split('_')[0]} {v:.1f} (random {rnd[k]:.1f})" for k, v in finals.items())
              + f"; run {wall / 60:.1f} min; {updates / max(timing['update'], 1e-9):.0f} updates/s; time: "
              + ", ".join(f"{k} {v / total:.0%}" for k, v in timing.items()))
    plot = line_plot({a: (np.array(steps), table[a]) for a in agents},
                     f"{args.task}: success rate, mean of seeds {args.seeds}", "environment steps", "success rate",
                     y_range=(0, 1))
    media.write_png(out / "comparison.png", plot)
    return {"task": args.task, "seeds": args.seeds, "steps": steps, "success_rate": table,
            "runs": {a: {str(s): {k: v for k, v in r.items()} for s, r in results[a].items()} for a in agents}}


if __name__ == "__main__":
    main()

"""Every agent on the same twin, latents, seeds, budget and evaluation goals: RIG, RIS, latent-goal SAC, HIQL.

For each seed: collect exploration frames and train the VAE once; then train each online agent (RIG's TD3,
RIS, SAC; optionally the oracle and pixel-HER baselines) for the same number of environment steps with the same
updates per step, each evaluated every ``--eval-every`` steps on the same rendered goal images; and HIQL offline on
the very frames the VAE was trained on (random exploration, no reward, no interaction), evaluated in the twin.
Every agent sees VAE latents of 48 x 48 images. Writes bench/results/agents_TASK/comparison.{json,png,md}:
the table of final success rates and distances, and the curves against environment steps (HIQL's result is drawn
as a level line: it takes no environment steps beyond its recorded frames).

    python bench/bench_agents.py --env-steps 5000 --frames 5000 --seeds 0           # reach, modest
    python bench/bench_agents.py --task push --env-steps 200000 --frames 30000       # push, the issue's budget
    python bench/bench_agents.py --reuse bench/results/rig_reach --updates-per-step 2 # on bench_rig.py's frames,
                                                                                      # VAEs and RIG runs
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import rigbot.sim  # noqa: F401  (chooses the OpenGL backend first)
from rigbot import media
from rigbot.plots import line_plot
from rigbot.policy.agents import AGENTS, agent_names
from rigbot.policy.training.offline import train_offline
from rigbot.policy.training.pipeline import DEFAULTS, prepare_data, prepare_vae, train_pipeline


def is_offline(agent: str) -> bool:
    return AGENTS[agent].trainer == "offline"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="reach", choices=["reach", "push"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--agents", nargs="+", default=["rig", "ris", "sac", "hiql"], choices=agent_names())
    parser.add_argument("--env-steps", type=int, default=10000, help="RL environment steps of the online agents")
    parser.add_argument("--frames", type=int, help="exploration frames (VAE, and HIQL's data); default: per task")
    parser.add_argument("--vae-epochs", type=int, help="default: per task")
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--updates-per-step", type=int, default=1)
    parser.add_argument("--hiql-updates", type=int, default=5000)
    parser.add_argument("--out", default=None, help="default: bench/results/agents_TASK")
    parser.add_argument("--reuse", type=Path, help="a bench_rig.py results folder of the same task and seeds: each "
                        "seed's frames and VAE come from its seedN_rig run, and an agent's run found there that "
                        "reached --env-steps is read (its curve cut at --env-steps) instead of trained again")
    args = parser.parse_args()
    out = Path(args.out or f"bench/results/agents_{args.task}")
    d = DEFAULTS[args.task]
    frames, vae_epochs = args.frames or d["frames"], args.vae_epochs or d["vae_epochs"]
    results: dict[str, dict[int, dict]] = {a: {} for a in args.agents}
    for seed in args.seeds:
        if args.reuse:
            data, vae = args.reuse / f"seed{seed}_rig" / "data", args.reuse / f"seed{seed}_rig" / "vae"
        else:
            shared = out / f"seed{seed}_shared"
            data = prepare_data(args.task, shared, frames, seed, progress=False)
            vae = prepare_vae(data, shared, vae_epochs, seed, progress=False)
        for agent in args.agents:
            report = reused_run(args.reuse / f"seed{seed}_{agent}", args.env_steps) if args.reuse else None
            if report is None:
                report = train(agent, out / f"seed{seed}_{agent}", seed, data, vae, frames, args)
            results[agent][seed] = report
            print(f"seed {seed} {agent}: success {report['curve'][-1]['success_rate']:.0%} "
                  f"in {report['curve'][-1]['wall_s'] / 60:.1f} min", flush=True)
    summary = summarise(results, args, out, frames)
    (out / "comparison.json").write_text(json.dumps(summary, indent=1))
    print(f"\nwrote {out / 'comparison.json'}, comparison.md and comparison.png")


def train(agent: str, run: Path, seed: int, data: Path, vae: Path, frames: int, args) -> dict:
    """Train one agent on one seed (resuming a run that was cut short) and return its curve.json."""
    resume = (run / "training" / "latest.yaml").is_file()
    if is_offline(agent):
        train_offline(args.task, run, data, seed=seed, updates=args.hiql_updates, vae=vae, resume=resume,
                      progress=False, overrides={"eval_every": max(1, args.hiql_updates // 5),
                                                 "eval_episodes": args.eval_episodes})
    else:
        run.mkdir(parents=True, exist_ok=True)
        if not (run / "data").exists():  # the shared frames: the same VAE prior and oracle statistics
            (run / "data").symlink_to(data.resolve(), target_is_directory=True)
        overrides = {"updates_per_step": args.updates_per_step, "eval_every": args.eval_every,
                     "eval_episodes": args.eval_episodes}
        train_pipeline(args.task, run, agent=agent, seed=seed, env_steps=args.env_steps, frames=frames,
                       vae=vae, resume=resume, rig_overrides=overrides, progress=False)
    return json.loads((run / "curve.json").read_text())


def reused_run(run: Path, env_steps: int) -> dict | None:
    """An online run of ``bench_rig.py`` that reached ``env_steps``, its curve cut there (nothing in the training
    is scheduled by the total budget, so a longer run's first ``env_steps`` are a run of that budget)."""
    if not (run / "curve.json").is_file():
        return None
    report = json.loads((run / "curve.json").read_text())
    if report["curve"][-1]["env_steps"] < env_steps:
        return None
    report["curve"] = [row for row in report["curve"] if row["env_steps"] <= env_steps]
    return report


def summarise(results: dict, args, out: Path, frames: int) -> dict:
    agents = list(results)
    first = next(iter(results[agents[0]].values()))
    dist_keys = [k for k in first["curve"][0] if k.endswith("_distance_mean")]
    names = [k.removesuffix("_distance_mean") for k in dist_keys]
    header = ("| agent | data | success | " + " | ".join(f"{n} cm (mean / median)" for n in names)
              + " | random policy success | training min (after frames, VAE) |")
    lines = [f"{args.task}, seeds {args.seeds}: mean over seeds of the last evaluation ({args.eval_episodes} rendered "
             f"goal images each); every agent on VAE latents of the same {frames} exploration frames", "",
             header, "|" + " --- |" * (header.count("|") - 1)]
    table = {}
    for a in agents:
        runs = [results[a][s] for s in args.seeds]
        last = [r["curve"][-1] for r in runs]
        row = {"success_rate": float(np.mean([r["success_rate"] for r in last])),
               "success_per_seed": [r["success_rate"] for r in last],
               "random_success_rate": float(np.mean([r["random_policy"]["success_rate"] for r in runs])),
               "wall_min": float(np.median([r["curve"][-1]["wall_s"] for r in runs]) / 60)}
        for n in names:
            row[f"{n}_cm_mean"] = float(np.mean([r[f"{n}_distance_mean"] for r in last]) * 100)
            row[f"{n}_cm_median"] = float(np.mean([r[f"{n}_distance_median"] for r in last]) * 100)
        data = (f"{frames} recorded frames, {last[0]['updates']} updates (offline)" if is_offline(a) else
                f"{last[0]['env_steps']} env steps, {last[0]['updates']} updates")
        table[a] = {**row, "data": data}
        lines.append(f"| {a} | {data} | {row['success_rate']:.0%} | "
                     + " | ".join(f"{row[f'{n}_cm_mean']:.1f} / {row[f'{n}_cm_median']:.1f}" for n in names)
                     + f" | {row['random_success_rate']:.0%} | {row['wall_min']:.1f} |")
    text = "\n".join(lines)
    print("\n" + text)
    (out / "comparison.md").write_text(text + "\n")

    def curves(key: str, scale: float) -> tuple[dict, dict]:
        series, levels = {}, {}
        for a in agents:
            runs = [results[a][s] for s in args.seeds]
            if is_offline(a):
                levels[f"{a} (offline, {frames} frames)"] = float(np.mean([r["curve"][-1][key] for r in runs])) * scale
            else:
                x = np.array([row["env_steps"] for row in runs[0]["curve"]])
                series[a] = (x, np.mean([[row[key] * scale for row in r["curve"]] for r in runs], 0))
        return series, levels

    series, levels = curves("success_rate", 1.0)
    panels = [line_plot(series, f"{args.task}: success rate, mean of seeds {args.seeds}", "environment steps",
                        "success rate", y_range=(0, 1), hlines=levels or None)]
    for n in names:
        series, levels = curves(f"{n}_distance_median", 100.0)
        panels.append(line_plot(series, f"{args.task}: final {n} distance (median), cm", "environment steps", "cm",
                                hlines=levels or None))
    media.write_png(out / "comparison.png", np.vstack(panels))
    return {"task": args.task, "seeds": args.seeds, "frames": frames, "env_steps": args.env_steps,
            "updates_per_step": args.updates_per_step, "hiql_updates": args.hiql_updates, "table": table,
            "runs": {a: {str(s): r for s, r in results[a].items()} for a in agents}}


if __name__ == "__main__":
    main()

"""``rigbot train`` and ``rigbot eval``: the policy's verbs on the command line."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from rigbot import config
from rigbot.config import ConfigError, unit_fraction
from rigbot.devices import DEVICES, resolve_device
from rigbot.policy.agents import AGENTS, agent_names
from rigbot.policy.training.pipeline import DEFAULTS


def cmd_train(args) -> int:
    from rigbot.policy.training.pipeline import train_pipeline
    from rigbot.policy.training.rig import RIGConfig, rig_config

    args.device = resolve_device(args.device)  # first: a missing GPU is refused before any stage starts
    if AGENTS[args.agent].trainer == "offline":
        return _train_offline(args)
    if args.data or args.updates:
        raise ValueError(f"--data and --updates are for the offline agent ({', '.join(agent_names('offline'))}); "
                         f"{args.agent} collects its own data")
    overrides = {}
    if args.config:
        preset = config.to_dict(rig_config(args.agent, task=args.task))
        overrides = file_overrides(args.config, RIGConfig, preset, args.task)
    env_steps = args.env_steps or overrides.pop("env_steps", None)  # the flag wins over the file
    if args.updates_per_step:
        overrides["updates_per_step"] = args.updates_per_step
    if args.stop_at_success is not None:
        overrides["stop_at_success"] = args.stop_at_success
    out = args.out or f"checkpoints/{args.task}" + ("" if args.agent == "rig" else f"_{args.agent}")
    train_pipeline(args.task, out, agent=args.agent, seed=args.seed, env_steps=env_steps, frames=args.frames,
                   vae_epochs=args.vae_epochs, vae=args.vae, resume=args.resume, progress=not args.quiet,
                   rig_overrides=overrides, randomize=args.randomize, device=args.device)
    print(f"next: rigbot eval --checkpoint {out}")
    return 0


def _train_offline(args) -> int:
    from rigbot.policy.training.offline import OfflineConfig, train_offline

    if not args.data:
        raise ValueError(f"{args.agent} learns offline from recorded episodes: pass --data DIR (a dataset folder "
                         "from 'rigbot collect TASK --out DIR', or converted robot recordings)")
    if args.env_steps or args.frames or args.updates_per_step or args.randomize:
        raise ValueError(f"--env-steps, --frames, --updates-per-step and --randomize are for online agents; "
                         f"{args.agent} takes --updates (and learns the looks its --data shows: "
                         "'rigbot collect --randomize')")
    overrides = {}
    if args.config:
        preset = config.merge(config.to_dict(OfflineConfig(task=args.task)), AGENTS[args.agent].preset)
        overrides = file_overrides(args.config, OfflineConfig, preset, args.task)
    updates = args.updates or overrides.pop("updates", None)  # the flag wins over the file
    if args.stop_at_success is not None:
        overrides["stop_at_success"] = args.stop_at_success
    out = args.out or f"checkpoints/{args.task}_{args.agent}"
    train_offline(args.task, out, args.data, seed=args.seed, updates=updates, vae_epochs=args.vae_epochs or 15,
                  vae=args.vae, resume=args.resume, progress=not args.quiet, overrides=overrides, device=args.device)
    print(f"next: rigbot eval --checkpoint {out}")
    return 0


def file_overrides(path: str, cls: type, preset: dict, task: str) -> dict:
    """The keys a --config file states, checked on top of the agent's ``preset`` (a ``cls`` as a dict).

    Only the stated keys: a fully-defaulted file would put every default back over the preset (and so train
    --agent sac as TD3, oracle on latents, pixel-her with a latent reward). Errors name the file."""
    stated = config.read_yaml(path)
    stated = {} if stated is None else stated
    if not isinstance(stated, dict):
        raise ConfigError(f"{path}: expected a mapping of {cls.__name__} keys, got {type(stated).__name__}")
    if stated.get("task", task) != task:
        raise ConfigError(f"{path}: task: {stated['task']!r} here, but the run's task is {task!r} (--task); "
                          "the task comes from --task: drop it from the file or pass --task "
                          f"{stated['task']}")
    merged = config.merge(preset, stated)  # nested mappings merge one level, as the presets do
    config.from_dict(cls, merged, source=str(path))  # every stated key and value, checked as the run will see it
    stated = dict(stated)
    stated.pop("task", None)
    return stated


def cmd_eval(args) -> int:
    import numpy as np

    import rigbot.sim as sim
    from rigbot import media
    from rigbot.policy.weights.checkpoint import load_policy
    from rigbot.policy.training.curves import read_curve, write_curve
    from rigbot.policy.training.evaluation import evaluate, random_policy
    from rigbot.policy.training.observations import LatentView, StateView

    device = resolve_device(args.device)
    policy = load_policy(args.checkpoint, device)
    out = Path(args.out or args.checkpoint)
    env = sim.make(policy.task, image_size=policy.image_size, randomize=args.randomize, appearance=args.appearance)
    try:
        if policy.observation == "latent":
            view = LatentView(policy.encoder)
        else:
            view = StateView(policy.agent.obs_dim, policy.agent.goal_dim, prior=None)
        seed = args.seed
        print(f"evaluating {args.checkpoint} ({policy.task}, {policy.observation} observation) on {args.episodes} "
              f"rendered goal images ...", flush=True)
        result = evaluate(policy.act, env, view, args.episodes, seed=seed, record=args.gif_episodes)
        rnd = evaluate(random_policy(env.action_space, 0), env, view, args.episodes, seed=seed)
    finally:
        env.close()
    frames = result.pop("frames")
    rnd.pop("frames")
    names = [k.removesuffix("_distance_median") for k in result if k.endswith("_distance_median")]
    print(f"{'':14}{'success':>9}" + "".join(f"{n + ' cm (median)':>20}" for n in names))
    for label, r in (("policy", result), ("random policy", rnd)):
        print(f"{label:14}{r['success_rate']:>9.0%}" + "".join(f"{100 * r[n + '_distance_median']:>20.1f}"
                                                                for n in names))
    report = {"checkpoint": str(args.checkpoint), "task": policy.task, "seed": seed, "randomize": args.randomize,
              "appearance": args.appearance,
              "policy": result, "random_policy": rnd}
    out.mkdir(parents=True, exist_ok=True)
    from rigbot.files import atomic_write_text

    atomic_write_text(out / "eval.json", json.dumps(report, indent=1))
    print(f"results: {out / 'eval.json'}")
    if frames:
        print(f"episodes: {media.write_gif(out / 'eval_episodes.gif', frames, fps=policy.control_hz)}")
    try:
        curve = read_curve(args.checkpoint)
        write_curve(out, curve["curve"], curve["random_policy"], title=policy.task,
                    x_key=curve.get("x_key", "env_steps"))
        print(f"learning curve: {out / 'learning_curve.png'} (and curve.csv, curve.json)")
    except FileNotFoundError:
        pass
    return 0 if np.isfinite(result["success_rate"]) else 1


def register(sub) -> None:
    p = sub.add_parser(
        "train", help="train a goal-reaching policy in the twin: collect frames, train the VAE, then RIG",
        description="The whole pipeline: random exploration frames -> beta-VAE -> RIG (goal-conditioned TD3 on VAE "
                    "latents, with imagined and hindsight goals). Every stage is checkpointed; run the same command "
                    "with --resume after an interruption. Baselines of the RIG paper: --agent oracle (true "
                    "positions) and --agent pixel-her (pixel-distance reward). Other agents on the same latents: "
                    "--agent sac (latent-goal SAC), --agent ris (imagined subgoals), and --agent hiql, which learns "
                    "offline from a recorded dataset (--data DIR) and is evaluated in the twin.",
        epilog="defaults per task: " + "; ".join(f"{t}: {d['frames']} frames, {d['vae_epochs']} VAE epochs, "
                                                 f"at most {d['env_steps']} RL steps" for t, d in DEFAULTS.items())
               + ". The default RL budget stops once the success rate reaches "
               + f"{DEFAULTS['reach']['stop_at_success']:.0%} at two evaluations in a row; --env-steps N runs N "
               "steps whole (add --stop-at-success R to stop early too).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=list(DEFAULTS), default="reach", help="twin task (default: reach)")
    p.add_argument("--agent", choices=agent_names(), default="rig",
                   help="agent or baseline (default: rig); see the README's 'choosing an agent'")
    p.add_argument("--data", metavar="DIR", help="hiql only: the recorded dataset to learn from (rigbot collect)")
    p.add_argument("--updates", type=int, metavar="N", help="hiql only: gradient updates (default: 20000)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: checkpoints/TASK, or checkpoints/TASK_AGENT)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--env-steps", type=int, metavar="N", help="RL environment steps, run whole (default: per task, "
                   "stopping early once done)")
    p.add_argument("--stop-at-success", type=unit_fraction, metavar="R", help="stop RL once the success rate is at "
                   "least R (0 to 1) at two evaluations in a row (default: 0.95 with the default budget; none "
                   "with --env-steps)")
    p.add_argument("--frames", type=int, metavar="N", help="exploration frames for the VAE (default: per task)")
    p.add_argument("--vae-epochs", type=int, metavar="N", help="VAE training epochs (default: per task)")
    p.add_argument("--vae", metavar="DIR", help="use this trained VAE instead of training one")
    p.add_argument("--config", metavar="YAML", help="hyperparameters: keys of rigbot.policy.training.rig.RIGConfig "
                   f"({', '.join(agent_names('online'))}), or of rigbot.policy.training.offline.OfflineConfig "
                   f"({', '.join(agent_names('offline'))})")
    p.add_argument("--updates-per-step", type=int, metavar="N", help="TD3 updates per environment step")
    p.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    p.add_argument("--randomize", action="store_true", help="domain randomisation (lights, colours, camera, "
                   "table textures) in every stage, for a policy to carry to a real camera (see 'rigbot finetune')")
    add_device_argument(p, "the VAE trains and the agent learns")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "eval", help="evaluate a trained policy on rendered goal images (success, distances, GIF, curve)",
        description="Run the policy on goal images the twin renders (seeds never used in training) and report the "
                    "success rate and final true distances beside a random policy's. Writes eval.json, "
                    "eval_episodes.gif (camera view beside the goal image) and the learning curve.",
    )
    p.add_argument("--checkpoint", default="checkpoints/reach", metavar="DIR",
                   help="policy folder from rigbot train (default: checkpoints/reach)")
    p.add_argument("--episodes", type=int, default=20, metavar="N", help="evaluation episodes (default: 20)")
    p.add_argument("--gif-episodes", type=int, default=3, metavar="N", help="episodes recorded in the GIF (default: 3)")
    p.add_argument("--randomize", action="store_true", help="evaluate under domain randomisation")
    p.add_argument("--appearance", choices=["nominal", "heldout"], default="nominal",
                   help="the twin's look: nominal, or heldout (a fixed look outside the randomisation, standing in "
                        "for a real camera; the same goals as nominal)")
    p.add_argument("--seed", type=int, default=1_000_000,
                   help="first evaluation seed (default: 1000000, the seeds training evaluates on)")
    p.add_argument("--out", metavar="DIR", help="where to write the results (default: the checkpoint folder)")
    add_device_argument(p, "the policy and its encoder run")
    p.set_defaults(func=cmd_eval)


def add_device_argument(p: argparse.ArgumentParser, what: str) -> None:
    """``--device auto|cpu|cuda`` (``rigbot.devices``), for the verbs that run networks."""
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help=f"where {what}: auto (default) is the GPU when torch sees one, else the CPU; cuda is "
                        "refused at once when torch sees no GPU")

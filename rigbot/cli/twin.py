"""rigbot show, rigbot config, rigbot collect: look at the twin, start a config, record exploration frames."""
from __future__ import annotations

import argparse
from pathlib import Path


def _add_env_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", choices=["reach", "push"], help="which twin task")
    p.add_argument("--robot", metavar="YAML", help="robot description (default: the built-in table-top arm)")
    p.add_argument("--config", metavar="YAML", help="task config (see 'rigbot config TASK'); flags below override it")
    p.add_argument("--image-size", type=int, metavar="N", help="camera image side in pixels, 32 to 256 (default 48)")
    p.add_argument("--randomize", action="store_true", help="turn on domain randomisation (lights, colours, camera)")
    p.add_argument("--appearance", choices=["nominal", "heldout"], help="the twin's look: nominal (default) or "
                   "heldout, a fixed look outside the randomisation that stands in for a real camera")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0); the same seed gives the same images")


def _make_env(args):
    import rigbot.sim as sim

    overrides = {}
    if args.image_size is not None:
        overrides["image_size"] = args.image_size
    if args.randomize:
        overrides["randomize"] = True
    if args.appearance:
        overrides["appearance"] = args.appearance
    return sim.make(args.task, robot=args.robot, config=args.config, **overrides)


def cmd_show(args) -> int:
    """Render the task's goal image and a short random-action rollout."""

    from rigbot import media

    env = _make_env(args)
    try:
        obs, info = env.reset(seed=args.seed)
        goal_image = env.unwrapped.goal_image
        out = Path(args.out)
        png = media.write_png(out / f"{args.task}_goal.png",
                              media.panel([obs["image"], goal_image], ["camera view", "goal image"]))
        frames = []
        env.action_space.seed(args.seed)
        for t in range(args.steps):
            frames.append(media.panel([obs["image"], goal_image], [f"camera, step {t}", "goal image"]))
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            if terminated or truncated:
                break
        frames.append(media.panel([obs["image"], goal_image], [f"camera, step {t + 1}", "goal image"]))
        gif = media.write_gif(out / f"{args.task}_rollout.gif", frames, fps=env.unwrapped.robot.control_hz)
        dists = ", ".join(f"{k.replace('_distance', '')} {v * 100:.1f} cm" for k, v in info.items() if k.endswith("_distance"))
        print(f"goal image:  {png}")
        print(f"rollout GIF: {gif} ({len(frames)} frames of random actions; final distance to goal: {dists})")
    finally:
        env.close()
    return 0


def cmd_config(args) -> int:
    """Print a config with every key documented."""
    from rigbot import config

    if args.what == "robot":
        from rigbot.sim.robot import DEFAULT_ROBOT
        print(f"# the built-in robot: {DEFAULT_ROBOT}\n" + DEFAULT_ROBOT.read_text(), end="")
        return 0
    from rigbot.sim.push import PushConfig
    from rigbot.sim.goal_env import TaskConfig

    cls = {"reach": TaskConfig, "push": PushConfig}[args.what]
    print(f"# {args.what} task config; keys:\n" + "\n".join("#" + ln for ln in config.describe(cls).splitlines()))
    print(config.dump_yaml(config.to_dict(cls()), sort_keys=False), end="")
    return 0


def cmd_collect(args) -> int:
    """Random exploration of a twin task, stored as a frame dataset."""
    from rigbot.perception.collect import collect

    writer = collect(args.task, args.frames, args.out, seed=args.seed, episode_steps=args.episode_steps,
                     image_size=args.image_size, randomize=args.randomize, robot=args.robot,
                     appearance=args.appearance or "nominal")
    print(f"{writer.frames_written} frames written to {args.out} (format: rigbot.perception.frame_dataset)")
    return 0


def register(sub) -> None:
    p = sub.add_parser("show", help="render a task's goal image and a random rollout (PNG + GIF)",
                       description="Reset a twin task, write its camera view beside its goal image as a PNG, and a "
                                   "short rollout of random actions as a GIF.")
    _add_env_args(p)
    p.add_argument("--out", default="rigbot_out", metavar="DIR", help="folder for the files (default: rigbot_out)")
    p.add_argument("--steps", type=int, default=30, metavar="N", help="rollout length in control steps (default 30)")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("config", help="print a documented default config (task or robot) to start from",
                       description="Print a YAML config with every key, its type, range and meaning. Save it, edit "
                                   "it, and pass it back with --config (tasks) or --robot (robot).")
    p.add_argument("what", choices=["reach", "push", "robot"])
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("collect", help="record random exploration of a twin task, for VAE training",
                       description="Reset the twin to random states and take random velocity commands, recording "
                                   "every camera frame with its true state into an append-only dataset folder.")
    _add_env_args(p)
    p.set_defaults(image_size=48)
    p.add_argument("--frames", type=int, default=10000, help="frames to record (default 10000)")
    p.add_argument("--episode-steps", type=int, default=10, help="random steps after each reset (default 10)")
    p.add_argument("--out", default="data/reach", metavar="DIR", help="dataset folder; appended to if it exists")
    p.set_defaults(func=cmd_collect)

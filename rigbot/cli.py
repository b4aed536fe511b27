"""The ``rigbot`` command line: one subcommand per thing a person does."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rigbot.config import ConfigError

EPILOG = """examples:
  rigbot show reach                  goal image + a random rollout of the reach task, as PNG and GIF
  rigbot show push --randomize       the same for push, with domain randomisation
  rigbot config push > push.yaml     a task config with every key documented, to edit and pass back
  rigbot doctor                      what works on this machine (rendering, ROS 2, cameras, torch)
"""


def _add_env_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", choices=["reach", "push"], help="which twin task")
    p.add_argument("--robot", metavar="YAML", help="robot description (default: the built-in table-top arm)")
    p.add_argument("--config", metavar="YAML", help="task config (see 'rigbot config TASK'); flags below override it")
    p.add_argument("--image-size", type=int, metavar="N", help="camera image side in pixels, 32 to 256 (default 48)")
    p.add_argument("--randomize", action="store_true", help="turn on domain randomisation (lights, colours, camera)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0); the same seed gives the same images")


def _make_env(args):
    import rigbot.sim as sim

    overrides = {}
    if args.image_size is not None:
        overrides["image_size"] = args.image_size
    if args.randomize:
        overrides["randomize"] = True
    return sim.make(args.task, robot=args.robot, config=args.config, **overrides)


def cmd_show(args) -> int:
    """Render the task's goal image and a short random-action rollout."""
    import numpy as np

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
    import yaml

    from rigbot import config

    if args.what == "robot":
        from rigbot.sim.robot import DEFAULT_ROBOT
        print(f"# the built-in robot: {DEFAULT_ROBOT}\n" + DEFAULT_ROBOT.read_text(), end="")
        return 0
    from rigbot.sim.push import PushConfig
    from rigbot.sim.goal_env import TaskConfig

    cls = {"reach": TaskConfig, "push": PushConfig}[args.what]
    print(f"# {args.what} task config; keys:\n" + "\n".join("#" + ln for ln in config.describe(cls).splitlines()))
    print(yaml.safe_dump(config.to_dict(cls()), sort_keys=False), end="")
    return 0


def cmd_doctor(args) -> int:
    """Report what works here: rendering, ROS 2, cameras, torch."""
    import importlib
    import os

    ok = True

    def check(name: str, fn) -> None:
        nonlocal ok
        try:
            detail = fn()
            print(f"  ok    {name}: {detail}")
        except Exception as e:  # report every failure and go on: this is a diagnosis
            ok = False
            print(f"  FAIL  {name}: {type(e).__name__}: {e}")

    def rendering():
        from rigbot.sim.rendering import select_gl_backend
        backend = select_gl_backend()
        import rigbot.sim as sim
        env = sim.make("reach")
        env.reset(seed=0)
        env.close()
        return f"MuJoCo renders with {backend} (MUJOCO_GL={os.environ.get('MUJOCO_GL')})"

    def version(module):
        return lambda: getattr(importlib.import_module(module), "__version__", "installed")

    print("rigbot doctor")
    check("rendering", rendering)  # first: it must choose the OpenGL backend before anything imports mujoco
    check("mujoco", version("mujoco"))
    check("torch", version("torch"))
    check("opencv", version("cv2"))
    check("pyrealsense2", lambda: f"{len(importlib.import_module('pyrealsense2').context().query_devices())} "
                                  "RealSense device(s) attached")
    check("rclpy (ROS 2)", lambda: importlib.import_module("rclpy") and
          f"ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', '0 (default)')}, "
          f"ROS_AUTOMATIC_DISCOVERY_RANGE={os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE', 'SUBNET (default)')}")
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rigbot", description="Visual goal reaching for robot arms: a MuJoCo twin, RIG, and ROS 2 nodes.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    from rigbot import __version__
    parser.add_argument("--version", action="version", version=f"rigbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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

    p = sub.add_parser("doctor", help="check rendering, ROS 2, cameras and torch on this machine",
                       description="Try each part rigbot relies on and say what works and what does not.")
    p.set_defaults(func=cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print(f"rigbot {args.command}: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:  # e.g. no rendering backend
        print(f"rigbot {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

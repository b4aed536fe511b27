"""The ``rigbot`` command line: one subcommand per thing a person does, one module per group of verbs.

twin (show, config, collect), machine (doctor, cameras), vae (vae train), train (train, eval), calibrate,
finetune, weights, record (record, dataset) and ros (sim, node, goal: rclpy is imported only when they run).
Each module has a ``register(subparsers)``; the core packages hold no command-line code.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from rigbot.config import ConfigError

EPILOG = """examples:
  rigbot show reach                  goal image + a random rollout of the reach task, as PNG and GIF
  rigbot show push --randomize       the same for push, with domain randomisation
  rigbot config push > push.yaml     a task config with every key documented, to edit and pass back
  rigbot cameras list                the RealSense and USB cameras attached, with the names to open them by
  rigbot collect reach --frames 10000 --out data/reach      exploration frames for the VAE
  rigbot vae train --data data/reach --out checkpoints/vae  train the image encoder; see vae_grid.png
  rigbot calibrate --help            camera intrinsics, hand-eye, workspace, twin alignment, step by step
  rigbot train --task reach          exploration frames -> VAE -> RIG policy, in checkpoints/reach (resumable)
  rigbot eval                        success rate and distances on rendered goal images, GIF, learning curve
  rigbot train --agent hiql --data data/reach   other agents: ris, sac (online), hiql (offline from recordings)
  rigbot doctor                      what works on this machine (rendering, ROS 2, cameras, torch)
  rigbot sim                         the ROS 2 node graph on the twin, in one process: reach a goal image
  rigbot goal set goal.png           make an image the goal of a running goal node (robot or twin)
  rigbot record --out recordings/run1          record a run's topics to MCAP (ros2 bag play opens it)
  rigbot dataset convert recordings/run1 data/run1   recording -> training frames (vae train, hiql)
  rigbot weights init checkpoints/live --from checkpoints/reach   versioned weights to learn on the robot
  rigbot finetune --checkpoint checkpoints/reach_dr --data data/run1   adapt a twin-trained VAE to your camera
"""

GROUPS = ("twin", "machine", "vae", "train", "calibrate", "finetune", "weights", "record", "ros")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rigbot", description="Visual goal reaching for robot arms: a MuJoCo twin, RIG, and ROS 2 nodes.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    from rigbot import __version__
    parser.add_argument("--version", action="version", version=f"rigbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for module in GROUPS:
        importlib.import_module(f"rigbot.cli.{module}").register(sub)
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


def run() -> None:
    """The ``rigbot`` program: ``main`` in a process of its own (see rigbot.process for why it ends this way)."""
    from rigbot.process import finish

    sys.exit(finish(main()))


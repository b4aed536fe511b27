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


def cmd_cameras(args) -> int:
    """List the cameras attached, each with the spec that opens it (see rigbot.perception.camera.open_camera)."""
    from rigbot.perception.opencv_camera import list_video_devices

    try:
        from rigbot.perception.realsense_camera import list_realsense_devices
        realsense = list_realsense_devices()
        print(f"RealSense cameras: {len(realsense) or 'no RealSense camera attached'}")
    except (ImportError, RuntimeError) as e:  # e.g. libusb missing: say so, and still list the others
        realsense = []
        print(f"RealSense cameras: pyrealsense2 cannot be used ({type(e).__name__}: {e})")
    for d in realsense:
        usb_note = "  (USB 2: a USB 3 port gives full resolution and frame rate)" if d.usb_type.startswith("2") else ""
        print(f"  realsense:{d.serial}  {d.name}, firmware {d.firmware}, USB {d.usb_type}{usb_note}")
    video = list_video_devices()
    print(f"OpenCV video devices: {len(video) or 'none attached (no /dev/video*)'}")
    for d in video:
        print(f"  opencv:{d.index}  {d.path}  {d.name}")
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

    def locked_versions():
        from rigbot.lock import compare, lock_path, read_lock

        path = lock_path()
        if path is None:
            return "no requirements.lock beside this install (a package install): versions not compared"
        pins = read_lock(path)
        mismatched, missing = compare(pins)
        if mismatched or missing:
            raise RuntimeError(f"{len(mismatched) + len(missing)} package(s) differ from {path} (run ./install.sh "
                               "to install the locked versions):\n        " + "\n        ".join(
                                   mismatched + [f"{name}: not installed" for name in missing]))
        return f"every package matches {path.name} ({len(pins)} exact versions)"

    print("rigbot doctor")
    check("locked versions", locked_versions)
    check("rendering", rendering)  # before anything imports mujoco: it chooses the OpenGL backend
    check("mujoco", version("mujoco"))
    check("torch", version("torch"))
    check("opencv", version("cv2"))
    check("pyrealsense2", lambda: f"{len(importlib.import_module('pyrealsense2').context().query_devices())} "
                                  "RealSense device(s) attached")
    check("rclpy (ROS 2)", lambda: importlib.import_module("rclpy") and
          f"ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', '0 (default)')}, "
          f"ROS_AUTOMATIC_DISCOVERY_RANGE={os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE', 'SUBNET (default)')}")
    return 0 if ok else 1


def cmd_collect(args) -> int:
    """Random exploration of a twin task, stored as a frame dataset."""
    from rigbot.perception.collect import collect

    writer = collect(args.task, args.frames, args.out, seed=args.seed, episode_steps=args.episode_steps,
                     image_size=args.image_size, randomize=args.randomize, robot=args.robot,
                     appearance=args.appearance or "nominal")
    print(f"{writer.frames_written} frames written to {args.out} (format: rigbot.perception.frame_dataset)")
    return 0


def cmd_vae_train(args) -> int:
    """Train the beta-VAE on a frame dataset."""
    import numpy as np

    from rigbot import config
    from rigbot.perception.frame_dataset import load_frames, read_meta
    from rigbot.perception.latent_geometry import distance_rank_correlation
    from rigbot.perception.vae import VAEConfig, load_checkpoint
    from rigbot.perception.vae_training import train_vae

    meta = read_meta(args.data)
    cfg = config.validate(VAEConfig(image_size=meta["image_size"], latent_dim=args.latent_dim, beta=args.beta,
                                    decoder=args.decoder), source="command line")
    data = load_frames(args.data, max_frames=args.max_frames)
    print(f"training a beta-VAE (latent {cfg.latent_dim}, beta {cfg.beta}, {cfg.decoder} decoder) on "
          f"{len(data['images'])} frames of {args.data}")
    history = train_vae(data["images"], args.out, cfg, epochs=args.epochs, batch_size=args.batch_size,
                        lr=args.lr, seed=args.seed)
    print(f"held-out reconstruction MSE {history['val_mse'][-1]:.5f}; checkpoint in {args.out}; "
          f"look at {Path(args.out) / 'vae_grid.png'}")
    pick = np.random.default_rng(args.seed).permutation(len(data["images"]))[:2000]
    rho = distance_rank_correlation(load_checkpoint(args.out).encode(data["images"][pick]),
                                    data["observations"][pick, :3])
    print(f"latent distance against hand distance: Spearman {rho:.2f} over pairs of these frames (1: ranked alike; "
          "RIG rewards latent distance, so it needs this high)")
    return 0


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

    p = sub.add_parser("cameras", help="list the cameras attached (RealSense, USB video devices)",
                       description="Cameras rigbot can read: Intel RealSense through pyrealsense2, and video devices "
                                   "through OpenCV. Each line starts with the name that opens it.")
    cameras = p.add_subparsers(dest="cameras_command", metavar="ACTION", required=True)
    cameras.add_parser("list", help="list what is attached",
                       description="List the RealSense cameras (name, serial, firmware, USB type) and the "
                                   "/dev/video* devices attached now, and say so when there are none.")
    p.set_defaults(func=cmd_cameras)

    p = sub.add_parser("config", help="print a documented default config (task or robot) to start from",
                       description="Print a YAML config with every key, its type, range and meaning. Save it, edit "
                                   "it, and pass it back with --config (tasks) or --robot (robot).")
    p.add_argument("what", choices=["reach", "push", "robot"])
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("doctor", help="check rendering, ROS 2, cameras and torch on this machine",
                       description="Try each part rigbot relies on and say what works and what does not.")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("collect", help="record random exploration of a twin task, for VAE training",
                       description="Reset the twin to random states and take random velocity commands, recording "
                                   "every camera frame with its true state into an append-only dataset folder.")
    _add_env_args(p)
    p.set_defaults(image_size=48)
    p.add_argument("--frames", type=int, default=10000, help="frames to record (default 10000)")
    p.add_argument("--episode-steps", type=int, default=10, help="random steps after each reset (default 10)")
    p.add_argument("--out", default="data/reach", metavar="DIR", help="dataset folder; appended to if it exists")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("vae", help="train the beta-VAE that encodes camera images",
                       description="Train the image encoder on a dataset made by 'rigbot collect'.")
    vae = p.add_subparsers(dest="vae_command", metavar="ACTION", required=True)
    t = vae.add_parser("train", help="train on a frame dataset; writes a checkpoint and vae_grid.png",
                       description="Train a convolutional beta-VAE with a held-out split; writes vae.safetensors, "
                                   "vae.yaml and vae_grid.png (originals / reconstructions / prior samples).")
    t.add_argument("--data", required=True, metavar="DIR", help="dataset folder from 'rigbot collect'")
    t.add_argument("--out", default="checkpoints/vae", metavar="DIR", help="checkpoint folder")
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    t.add_argument("--latent-dim", type=int, default=16, help="latent size, 4 to 64 (default 16)")
    t.add_argument("--beta", type=float, default=0.5, help="weight of the KL term (default 0.5)")
    t.add_argument("--decoder", choices=["broadcast", "deconv"], default="broadcast",
                   help="broadcast (default): spatial broadcast decoder, whose latent distance follows scene distance; "
                        "deconv: transposed convolutions mirroring the encoder")
    t.add_argument("--max-frames", type=int, help="use at most this many frames")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=cmd_vae_train)
    from rigbot.policy.cli import register as register_policy  # rigbot train, rigbot eval
    register_policy(sub)
    from rigbot.calibration.cli import register as register_calibrate  # rigbot calibrate (no ROS)
    register_calibrate(sub)
    from rigbot.policy.transfer_cli import register as register_finetune  # rigbot finetune (twin to robot)
    register_finetune(sub)
    from rigbot.policy.weights_cli import register as register_weights  # rigbot weights (versioned weight store)
    register_weights(sub)
    from rigbot.recording.cli import register as register_recording  # rigbot record, rigbot dataset
    register_recording(sub)
    from rigbot_ros.cli import register as register_ros  # rigbot sim, rigbot node, rigbot goal (ROS 2)
    register_ros(sub)
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


if __name__ == "__main__":
    run()

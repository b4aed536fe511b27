"""Latency from a camera image being published to the gated TwistStamped leaving the safety gate, across processes.

    python bench/bench_ros_latency.py [--checkpoint DIR] [--seconds 10] [--size 640x480]

This process plays the camera (it publishes 640 x 480 rgb8 images on the realsense-ros topic at 30 and at 90 Hz)
and listens to the arm's command topic. The encoder, goal, policy and safety gate run as separate processes, as
``ros2 launch`` starts them. Every command the policy sends carries the stamp of the image it was computed from and
the gate passes it through, so latency = receive time - stamp. The policy runs at the camera rate (control_hz set
to it) so it tries to act on every frame. The goal is a goal image the twin renders for the policy's task (a
trained VAE refuses images unlike its workspace; a refusal is reported with the goal node's reason). At 90 Hz the check for a growing backlog compares the latency of the
first and last thirds of the run, and counts how many frames were acted on (the rest were dropped as stale, never
queued). Results go to bench/results/ros_latency.json.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))

import rigbot.sim  # noqa: E402,F401  (GL backend before mujoco)

ROOT = Path(__file__).resolve().parents[1]


def untrained_checkpoint(out: Path) -> Path:
    """Latency does not depend on training: an untrained VAE and actor of the real sizes (latent 16, [400, 300])."""
    import torch

    from rigbot import config
    from rigbot.perception.latent_prior import LatentPrior
    from rigbot.perception.preprocessing import PreprocessConfig
    from rigbot.perception.vae import ConvVAE, VAEConfig, save_checkpoint
    from rigbot.policy.weights.checkpoint import save_policy
    from rigbot.policy.agents.td3 import TD3, TD3Config

    torch.manual_seed(0)
    save_checkpoint(out / "vae", ConvVAE(VAEConfig()), LatentPrior.standard(16), PreprocessConfig(size=48))
    td3 = TD3Config()
    meta = {"task": "reach", "observation": "latent", "obs_dim": 16, "goal_dim": 16, "action_dim": 2,
            "max_linear_speed": 0.2, "control_hz": 10.0, "image_size": 48, "td3": config.to_dict(td3)}
    return save_policy(out, TD3(td3, 16, 16, 2), meta)


def twin_goal_image(checkpoint: Path, seed: int = 0) -> np.ndarray:
    """A goal the policy's VAE accepts: a goal image the twin renders for the policy's task, at its image size.

    A trained VAE's goal check refuses images that look nothing like its workspace (a uniform grey one, say); an
    untrained VAE records no held-out error, so its goal node checks nothing and takes this image as well."""
    import rigbot.sim as sim
    from rigbot import config
    from rigbot.policy.weights.weight_store import resolve_checkpoint

    meta = config.read_yaml(resolve_checkpoint(checkpoint) / "policy.yaml")
    env = sim.make(meta["task"], image_size=int(meta["image_size"]))
    try:
        env.reset(seed=seed)
        return env.unwrapped.goal_image.copy()
    finally:
        env.close()


class GoalRefused(RuntimeError):
    """The goal node refused the bench's goal image (its message says why)."""


def set_goal(probe, image: np.ndarray, timeout: float = 60.0) -> str:
    """Publish ``image`` as the goal until the goal node gives its verdict on it (its status names the goal's
    stamp); returns the goal node's status message, or raises GoalRefused with its reason."""
    from diagnostic_msgs.msg import DiagnosticStatus
    from sensor_msgs.msg import Image

    from rigbot_ros import conversions as conv
    from rigbot_ros import topics
    from rigbot_ros.goal_node import stamp_key

    node, executor = probe
    verdicts: list[dict] = []
    pub = node.create_publisher(Image, topics.GOAL_SET, topics.EVENTS)
    sub = node.create_subscription(DiagnosticStatus, topics.GOAL_STATUS,
                                   lambda m: verdicts.append({kv.key: kv.value for kv in m.values} | {
                                       "message": m.message}), topics.EVENTS)
    msg = conv.rgb_to_image(image, time.time(), "camera_color_optical_frame")
    key = stamp_key(msg.header.stamp)
    try:
        deadline, next_send = time.monotonic() + timeout, 0.0
        while time.monotonic() < deadline:
            if time.monotonic() >= next_send:  # again until the goal node is up and has heard it
                pub.publish(msg)
                next_send = time.monotonic() + 1.0
            executor.spin_once(timeout_sec=0.05)
            mine = [v for v in verdicts if v.get("goal_stamp") == key]
            if mine and mine[-1].get("error"):
                raise GoalRefused(f"the goal node refused the bench's goal image: {mine[-1]['error']}")
            if mine:
                return mine[-1]["message"]
        raise RuntimeError(f"the goal node gave no verdict on the bench's goal image within {timeout:g} s (no "
                           f"status on {topics.GOAL_STATUS} naming its stamp)")
    finally:
        node.destroy_publisher(pub)
        node.destroy_subscription(sub)


def start(name: str, logs: Path, **params) -> subprocess.Popen:
    args = [sys.executable, "-m", "rigbot.cli", "node", name, "--ros-args"]
    for k, v in params.items():
        args += ["-p", f"{k}:={str(v).lower() if isinstance(v, bool) else v}"]
    return subprocess.Popen(args, stdout=open(logs / f"{name}.log", "w"), stderr=subprocess.STDOUT)


def measure(probe, rate: float, seconds: float, size: tuple[int, int]) -> dict:
    from geometry_msgs.msg import TwistStamped
    from sensor_msgs.msg import Image

    from rigbot_ros import conversions as conv
    from rigbot_ros import topics

    node, executor = probe
    w, h = size
    latencies: list[tuple[float, float]] = []  # (receive time, latency)
    sent: set[tuple[int, int]] = set()

    def on_cmd(msg: TwistStamped) -> None:
        key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        if key in sent:  # the gate's own zeros are stamped now, and its repeats are not new
            sent.discard(key)
            now = time.time()
            latencies.append((now, now - conv.to_seconds(msg.header.stamp)))

    pub = node.create_publisher(Image, topics.IMAGE, topics.SENSOR)
    sub = node.create_subscription(TwistStamped, topics.ARM_COMMAND, on_cmd, topics.COMMAND)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(8)]
    period, published = 1.0 / rate, 0
    t0 = time.monotonic()
    next_t = t0
    while time.monotonic() - t0 < seconds:
        now = time.monotonic()
        if now >= next_t:
            stamp = time.time()
            msg = conv.rgb_to_image(frames[published % len(frames)], stamp, "camera_color_optical_frame")
            sent.add((msg.header.stamp.sec, msg.header.stamp.nanosec))
            pub.publish(msg)
            published += 1
            next_t += period
        executor.spin_once(timeout_sec=max(0.0, min(next_t - time.monotonic(), 0.005)))
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.01)
    node.destroy_publisher(pub)
    node.destroy_subscription(sub)
    lat = np.array([l for _, l in latencies]) * 1000
    if len(lat) == 0:
        return {"rate_hz": rate, "frames": published, "acted": 0}
    third = max(len(lat) // 3, 1)
    return {"rate_hz": rate, "frames": published, "acted": int(len(lat)),
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "max_ms": float(lat.max()),
            "p50_first_third_ms": float(np.median(lat[:third])), "p50_last_third_ms": float(np.median(lat[-third:]))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="policy folder (default: an untrained one of the real sizes)")
    ap.add_argument("--seconds", type=float, default=10.0, help="per rate (default 10)")
    ap.add_argument("--size", default="640x480", help="camera image size WxH (default 640x480)")
    ap.add_argument("--rates", default="30,90", help="camera rates, Hz (default 30,90)")
    args = ap.parse_args()
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    size = tuple(int(v) for v in args.size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="rigbot_bench_ros_"))
    checkpoint = Path(args.checkpoint) if args.checkpoint else untrained_checkpoint(tmp / "policy")
    goal = twin_goal_image(checkpoint)
    rclpy.init()
    node = rclpy.create_node("bench_camera")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    results = []
    for rate in (float(r) for r in args.rates.split(",")):
        procs = [start("encoder", tmp, checkpoint=checkpoint, max_age=0.5),
                 start("goal", tmp, checkpoint=checkpoint),
                 start("policy", tmp, checkpoint=checkpoint, autostart=True, control_hz=rate, max_age=0.2),
                 start("safety_gate", tmp, enforce_workspace=False, publish_hz=20.0)]
        try:
            # a goal the VAE accepts, so the policy acts (a refusal says so); then wait until the graph answers
            try:
                set_goal((node, executor), goal, timeout=120.0)
            except RuntimeError as e:
                raise RuntimeError(f"{e}; logs in {tmp}") from None
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                r = measure((node, executor), rate, 1.0, size)
                if r["acted"] > 0:
                    break
            else:
                raise RuntimeError(f"the goal was accepted, but no gated command answered a camera frame within "
                                   f"120 s; logs in {tmp}")
            result = measure((node, executor), rate, args.seconds, size)
            results.append(result)
            print(f"{rate:4.0f} Hz: {result['acted']}/{result['frames']} frames acted on; latency p50 "
                  f"{result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, max {result['max_ms']:.1f} ms; "
                  f"p50 first/last third {result['p50_first_third_ms']:.1f}/{result['p50_last_third_ms']:.1f} ms",
                  flush=True)
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(20)
    executor.remove_node(node)
    node.destroy_node()
    rclpy.shutdown()
    out = ROOT / "bench" / "results" / "ros_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"size": args.size, "seconds": args.seconds, "results": results}, indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as e:  # a refused goal, a silent graph: said as such, not as a traceback
        print(f"bench_ros_latency: error: {e}", file=sys.stderr)
        sys.exit(1)

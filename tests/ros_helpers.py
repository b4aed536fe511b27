"""Helpers for the tests over real DDS: node processes started and stopped by pid, and a probe node in the test.

Child processes inherit ROS_DOMAIN_ID and ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST from conftest.py, so the
traffic stays on this machine and on this test run's domain.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import PoseStamped, TwistStamped
from lifecycle_msgs.srv import GetState
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Image

from rigbot import media
from rigbot_ros import conversions as conv
from rigbot_ros import topics


def stop_process(proc: subprocess.Popen, sig: int, grace: float) -> None:
    """Send ``sig`` to a process this test started (by its pid), and SIGKILL it if it has not ended in ``grace`` s."""
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


class NodeProcess:
    """``rigbot node NAME`` in a child process, its output in a log file."""

    def __init__(self, name: str, log_dir: Path, params: dict | None = None, remaps: dict | None = None,
                 node_name: str | None = None):
        args = [sys.executable, "-m", "rigbot.cli", "node", name, "--ros-args"]
        for k, v in (params or {}).items():
            v = str(v).lower() if isinstance(v, bool) else v
            args += ["-p", f"{k}:={v}"]
        for k, v in (remaps or {}).items():
            args += ["-r", f"{k}:={v}"]
        if node_name:
            args += ["-r", f"__node:={node_name}"]
        self.name = node_name or name
        self.log_path = Path(log_dir) / f"{self.name}.log"
        self._log = open(self.log_path, "w")
        env = dict(os.environ, PYTHONUNBUFFERED="1", RCUTILS_LOGGING_BUFFERED_STREAM="0")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.pid = self.proc.pid

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def wait_log(self, text: str, timeout: float = 30.0, probe: "Probe | None" = None) -> str:
        """Wait until the node logs ``text`` (spinning ``probe`` meanwhile, so its subscriptions keep up)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            log = self.log()
            if text in log:
                return log
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.proc.returncode}) before logging {text!r}:\n{log}")
            probe.spin(0.05) if probe is not None else time.sleep(0.05)
        raise AssertionError(f"{self.name} did not log {text!r} within {timeout} s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        stop_process(self.proc, sig, timeout)
        self._log.close()
        return self.proc.returncode


class Probe:
    """A node in the test process that records what arrives and publishes what the test sends."""

    def __init__(self, name: str = "probe"):
        self.node = rclpy.create_node(name)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)

    def listen(self, msg_type, topic: str, qos) -> list:
        """A list that fills with (receive time, message) pairs."""
        box: list = []
        self.node.create_subscription(msg_type, topic, lambda m: box.append((time.monotonic(), m)), qos)
        return box

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=min(0.02, max(end - time.monotonic(), 0.0)))

    def spin_until(self, cond, timeout: float, what: str = "condition") -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return
            self.executor.spin_once(timeout_sec=0.02)
        if not cond():
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def call(self, srv_type, name: str, request=None, timeout: float = 10.0):
        client = self.node.create_client(srv_type, name)
        self.spin_until(client.service_is_ready, timeout, f"service {name}")
        future = client.call_async(request or srv_type.Request())
        self.spin_until(future.done, timeout, f"answer from {name}")
        return future.result()

    def close(self) -> None:
        self.executor.remove_node(self.node)
        self.node.destroy_node()


def twist_linear(msg) -> np.ndarray:
    lin = msg.twist.linear
    return np.array([lin.x, lin.y, lin.z])


def make_plumbing_checkpoint(out: Path, frames: int = 1200, vae_epochs: int = 4) -> Path:
    """A policy folder with a briefly trained VAE (so goal images can be checked against its held-out error) and an
    untrained TD3 actor: enough for plumbing (lifecycle, max age, e-stop, refusals), not for reaching goals."""
    import torch

    from rigbot import config
    from rigbot.perception.collect import collect
    from rigbot.perception.frame_dataset import load_frames
    from rigbot.perception.vae import VAEConfig
    from rigbot.perception.vae_training import train_vae
    from rigbot.policy.weights.checkpoint import save_policy
    from rigbot.policy.agents.td3 import TD3, TD3Config

    out = Path(out)
    if (out / "policy.yaml").is_file():
        return out
    collect("reach", frames, out / "data", seed=0, progress=False)
    train_vae(load_frames(out / "data")["images"], out / "vae", VAEConfig(latent_dim=8), epochs=vae_epochs,
              progress=False)
    torch.manual_seed(0)
    td3 = TD3Config(hidden=[64, 64])
    meta = {"task": "reach", "observation": "latent", "obs_dim": 8, "goal_dim": 8, "action_dim": 2,
            "max_linear_speed": 0.2, "control_hz": 10.0, "image_size": 48, "td3": config.to_dict(td3)}
    return save_policy(out, TD3(td3, 8, 8, 2), meta)


def trained_reach_checkpoint() -> Path | None:
    """A trained reach policy for the reaching tests: $RIGBOT_TEST_REACH_CHECKPOINT, else checkpoints/reach."""
    for candidate in (os.environ.get("RIGBOT_TEST_REACH_CHECKPOINT"), Path(__file__).parents[1] / "checkpoints" / "reach"):
        if candidate and (Path(candidate) / "policy.yaml").is_file():
            return Path(candidate)
    return None


def bench_module(name: str):
    """A script of bench/ (e.g. ``bench_ros_latency``) as a module (bench/ is no package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def goal_png(path, target) -> str:
    """The twin's reach scene with the hand at ``target`` (x, y), as a PNG file, as a user would have it."""
    import rigbot.sim as sim

    env = sim.make("reach")
    env.reset(seed=0)
    image = env.unwrapped.render_goal(np.asarray(target, float))
    env.close()
    return str(media.write_png(path, image))


def set_goal_cli(image: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rigbot.cli", "goal", "set", image, "--timeout", "20"],
                          capture_output=True, text=True, timeout=timeout)


class Graph:
    def __init__(self, checkpoint, log_dir, autostart: bool):
        ck = {"checkpoint": str(checkpoint)}
        self.nodes = {
            "twin": NodeProcess("twin", log_dir, params={"task": "reach"}),
            "encoder": NodeProcess("encoder", log_dir, params=ck),
            "goal": NodeProcess("goal", log_dir, params=ck),
            "policy": NodeProcess("policy", log_dir, params={**ck, "autostart": autostart}),
            "safety_gate": NodeProcess("safety_gate", log_dir),
        }
        self.probe = Probe("graph_probe")
        p = self.probe
        self.poses = p.listen(PoseStamped, topics.EE_POSE, topics.SENSOR)
        self.policy_out = p.listen(TwistStamped, topics.POLICY_COMMAND, topics.COMMAND)
        self.arm = p.listen(TwistStamped, topics.ARM_COMMAND, topics.COMMAND)
        self.status = p.listen(DiagnosticStatus, topics.GOAL_STATUS, topics.EVENTS)
        self.goal_images = p.listen(Image, topics.GOAL_IMAGE, topics.LATCHED)
        self.latents = p.listen(Image, topics.LATENT, topics.SENSOR)
        p.spin_until(lambda: len(self.poses) > 5 and self.arm and self.latents, 90, "the graph running")
        p.call(GetState, "/policy/get_state", timeout=60)  # the policy node is up

    def hand(self) -> np.ndarray:
        return conv.position(self.poses[-1][1])

    def stop(self):
        for n in self.nodes.values():
            n.stop()
        self.probe.close()

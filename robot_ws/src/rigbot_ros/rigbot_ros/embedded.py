"""``rigbot sim``: the twin, encoder, policy, goal and safety gate nodes in one process, on one rclpy executor.

They are the node classes ``ros2 launch`` starts in separate processes, talking over the same DDS topics, so
``ros2 topic echo`` and RViz see this graph as they would see the launched one.
"""
from __future__ import annotations

import shlex
import time
from pathlib import Path

import numpy as np


def ensure_checkpoint(task: str, checkpoint: str | Path | None, seed: int) -> Path:
    """The checkpoint to use; trains one into checkpoints/TASK (with progress) when none is given or found."""
    path = Path(checkpoint) if checkpoint else Path("checkpoints") / task
    if (path / "policy.yaml").is_file():
        return path
    if checkpoint:
        # the command last, as a shell reads it (a quoted path), so it can be pasted as it stands
        train = shlex.join(["rigbot", "train", "--task", task, "--out", str(path)])
        raise FileNotFoundError(f"{path}: no trained policy here (policy.yaml missing); leave out --checkpoint, "
                                f"or train one with: {train}")
    from rigbot.policy.training.pipeline import train_pipeline

    print(f"no trained checkpoint in {path}: training one first (exploration frames, VAE, then RIG; this takes "
          "a while, and a rerun continues where it stopped)", flush=True)
    return Path(train_pipeline(task=task, out=path, seed=seed, progress=True, resume=True))


def run_embedded(task: str = "reach", checkpoint: str | Path | None = None, seed: int = 0,
                 goal_file: str | None = None, timeout: float = 30.0, real_time: bool = True,
                 out: str | Path = "rigbot_out", settle_steps: int = 5, log=print) -> dict:
    """Reach one goal in the twin through the node graph; returns the final distances and whether it was reached."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.signals import SignalHandlerOptions

    from rigbot import media
    from rigbot.policy.weights.checkpoint import load_policy
    from rigbot_ros.encoder_node import EncoderNode
    from rigbot_ros.goal_node import GoalNode
    from rigbot_ros.node_runtime import StopSignals
    from rigbot_ros.policy_node import PolicyNode
    from rigbot_ros.safety_gate_node import SafetyGateNode
    from rigbot_ros.twin_node import TwinNode

    checkpoint = ensure_checkpoint(task, checkpoint, seed)
    policy = load_policy(checkpoint)
    if policy.task != task:
        raise ValueError(f"{checkpoint} holds a {policy.task} policy, not {task}; pass --task {policy.task}")
    ckpt = Parameter("checkpoint", value=str(checkpoint))
    rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO)
    nodes = []
    try:
        twin = TwinNode(parameter_overrides=[Parameter("task", value=task), Parameter("seed", value=seed),
                                             Parameter("image_size", value=int(policy.image_size)),
                                             Parameter("real_time", value=real_time)])
        nodes = [twin,
                 EncoderNode(encoder=policy.encoder, parameter_overrides=[ckpt]),
                 GoalNode(encoder=policy.encoder, parameter_overrides=[ckpt]),
                 # lockstep: act on every frame (the twin waits for the answer), not on the wall-clock schedule
                 PolicyNode(policy=policy, parameter_overrides=[ckpt, Parameter("autostart", value=True)] + (
                     [] if real_time else [Parameter("control_hz", value=1000.0)])),
                 SafetyGateNode(parameter_overrides=[Parameter("limits_file", value=str(twin.twin.robot.source))])]
        goal = nodes[2].tracker  # the goal node's current goal and distance
        env = twin.twin
        if goal_file:
            goal_image, true_goal, source = media.read_image(goal_file), None, goal_file
        else:
            goal_image, true_goal, source = env.goal_image, env.goal.copy(), f"the twin (seed {seed})"
        ok, message = nodes[2].set_goal(goal_image, source)
        if not ok:
            raise ValueError(message)
        log(f"rigbot sim: {task} policy from {checkpoint}; goal image from {source}"
            + ("" if true_goal is None else f" (hand goal {np.round(true_goal[:2], 3).tolist()} m)"))
        executor = SingleThreadedExecutor()
        for n in nodes:
            executor.add_node(n)
        start = last_print = time.monotonic()
        reached_for = 0
        last_step = -1
        with StopSignals() as signals:
            while not signals.received and time.monotonic() - start < timeout:
                executor.spin_once(timeout_sec=0.05)
                if twin.steps != last_step and twin.info:
                    last_step = twin.steps
                    reached_for = reached_for + 1 if twin.info.get("is_success") else 0
                    if true_goal is not None and reached_for >= settle_steps:
                        break
                if time.monotonic() - last_print >= 1.0:
                    last_print = time.monotonic()
                    log(_progress(time.monotonic() - start, twin, goal))
        result = {"steps": twin.steps, "seconds": time.monotonic() - start,
                  "latent_distance": goal.distance, "reached": False,
                  **{k: v for k, v in twin.info.items() if k.endswith("_distance")}}
        if true_goal is not None:
            result["reached"] = bool(twin.info.get("is_success"))
        elif goal.distance is not None:
            result["reached"] = goal.reached
        log(_progress(result["seconds"], twin, goal))
        picture = media.write_png(Path(out) / "sim_result.png", media.panel(
            [env.render(), goal.goal.image, goal.goal.reconstruction],
            ["camera at the end", "goal image", "goal as the VAE sees it"]))
        dists = ", ".join(f"{k.replace('_distance', '')} {v * 100:.1f} cm" for k, v in result.items()
                          if k.endswith("_distance") and k != "latent_distance")
        log(f"{'reached' if result['reached'] else 'NOT reached'} after {result['steps']} steps "
            f"({result['seconds']:.1f} s): final distance to goal: {dists or 'unknown (goal from a file)'}; "
            f"latent distance {result['latent_distance'] or float('nan'):.3f}; picture: {picture}")
        return result
    finally:
        for n in reversed(nodes):
            goodbye = getattr(n, "on_exit", None)
            if goodbye is not None:
                goodbye()
            n.destroy_node()
        rclpy.try_shutdown()


def _progress(t: float, twin, goal) -> str:
    dists = "  ".join(f"{k.replace('_distance', '')} {v * 100:5.1f} cm" for k, v in twin.info.items()
                      if k.endswith("_distance"))
    latent = "" if goal.distance is None else f"  latent distance {goal.distance:.3f}"
    return f"  t {t:5.1f} s  step {twin.steps:4d}  {dists}{latent}"

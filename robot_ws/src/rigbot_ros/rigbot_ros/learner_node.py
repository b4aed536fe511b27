"""learner node: keeps training the policy on what the robot does, and publishes improved weights as versions.

in:  /rigbot/latent (sensor QoS), /servo_node/delta_twist_cmds (the gated commands the arm executed),
     /rigbot/goal/latent (latched), /rigbot/episode/status (episode starts and ends)
out: /rigbot/learner/version (UInt32, latched: the newest version published to the weight store),
     /rigbot/learner/status (diagnostic_msgs/DiagnosticStatus, once a second)

Transitions: each latent that arrives during an episode is a step; its action is the gated command the arm was
executing when the next latent arrived (what the arm did, not what the policy asked: the gate may have clamped
it), as a fraction of the speed limit. Episodes are delimited by the episode manager's status (``started``,
``complete``/``aborted``); without an episode manager, by goal changes (rigbot.policy.training.online_learner's
RobotEpisodes). The algorithm is
rigbot.policy.training.online_learner's, on a background thread paced by the data (``updates_per_step``).

The weight store (``store``) is made from ``checkpoint`` when it does not exist yet. The policy node runs the
store too (its ``checkpoint`` parameter is the store folder) and swaps to each version announced here.
"""
from __future__ import annotations

import time
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import TwistStamped
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import UInt32

from rigbot_ros import conversions as conv
from rigbot_ros import topics
from rigbot_ros.node_runtime import StartupError, declare, declare_config, one_torch_thread, run


class LearnerNode(Node):
    def __init__(self, name: str = "learner", **kwargs):
        super().__init__(name, **kwargs)
        from rigbot.policy.training.online_learner import (OnlineLearner, OnlineLearnerConfig, RobotEpisodes,
                                                           TrainingThread)
        from rigbot.policy.weights.weight_store import STORE, WeightStore

        store_dir = declare(self, "store", "checkpoints/live", "weight store folder (made from 'checkpoint' if "
                            "missing); the policy node's checkpoint parameter should name the same folder")
        checkpoint = declare(self, "checkpoint", "", "trained policy folder to start a new weight store from")
        # relabelling and VAE fine-tuning keep the core's defaults here (a fine-tuned VAE must reach the encoder too)
        cfg = declare_config(self, OnlineLearnerConfig, skip=("relabel", "vae_finetune_every", "vae_finetune_epochs"))
        datasets = declare(self, "datasets", "", "comma-separated frame dataset folders (rigbot collect, converted "
                           "recordings) to learn from as well, read at start")
        resume = declare(self, "load_episodes", True, "re-read the episodes an earlier run saved in the store")
        seed = declare(self, "seed", 0, "random seed of the learner", (0, 2**31 - 1))
        command_max_age = declare(self, "command_max_age", 0.3, "an arm command older than this when the "
                                       "next frame arrives counts as zero (the arm stopped), s", (0.01, 10.0))
        device = declare(self, "device", "auto", "where the agent learns: auto (the GPU when torch sees one, else "
                         "the CPU), cpu, or cuda (refused at start when torch sees no GPU)")
        one_torch_thread()
        try:
            from rigbot.devices import resolve_device

            device = resolve_device(device)  # first: a missing GPU is refused before the store is touched
            if (Path(store_dir).expanduser() / STORE).is_file():
                store = WeightStore(store_dir)
            elif checkpoint:
                store = WeightStore.create(store_dir, checkpoint)
                self.get_logger().info(f"made weight store {store_dir} from {checkpoint} (version 1)")
            else:
                raise StartupError(f"parameter store: {store_dir!r} is not a weight store; give 'checkpoint' to "
                                   "make one from a trained policy")
            self.learner = OnlineLearner(store, cfg, seed=seed, device=device)
        except ValueError as e:
            raise StartupError(str(e)) from None
        if resume:
            n = self.learner.load_episodes()
            if n:
                self.get_logger().info(f"re-read {n} episodes ({self.learner.transitions} transitions) from {store_dir}")
        for folder in filter(None, (f.strip() for f in datasets.split(","))):
            n = self.learner.add_frames(folder)
            self.get_logger().info(f"read {n} transitions from dataset {folder}")

        self.version_pub = self.create_publisher(UInt32, topics.LEARNER_VERSION, topics.LATCHED)
        self.status_pub = self.create_publisher(DiagnosticStatus, topics.LEARNER_STATUS, topics.EVENTS)
        self.create_subscription(Image, topics.LATENT, self.on_latent, topics.SENSOR)
        self.create_subscription(TwistStamped, topics.ARM_COMMAND, self.on_command, topics.COMMAND)
        self.create_subscription(Image, topics.GOAL_LATENT, self.on_goal, topics.LATCHED)
        self.create_subscription(DiagnosticStatus, topics.EPISODE_STATUS, self.on_episode, topics.EVENTS)
        self.create_timer(1.0, self.publish_status)
        self.episodes = RobotEpisodes(self.learner, command_max_age, info=self.get_logger().info,
                                      error=self.get_logger().error)
        self.last_error = ""
        self.version_pub.publish(UInt32(data=self.learner.version))
        self.thread = TrainingThread(self.learner, self.on_version, self.on_training_error).start()
        self.get_logger().info(f"learner on store {store.root} ({device}): version {self.learner.version}, "
                               f"{self.learner.transitions} transitions in replay; publishing every "
                               f"{self.learner.cfg.publish_every} updates")

    # ---- inputs -----------------------------------------------------------------------------------------------
    def on_command(self, msg: TwistStamped) -> None:
        self.episodes.command(conv.twist_arrays(msg)[0], time.monotonic())

    def on_goal(self, msg: Image) -> None:
        try:
            goal = conv.image_to_latent(msg, self.learner.agent.goal_dim)
        except ValueError as e:
            self.get_logger().error(f"refused a goal latent: {e}")
            return
        self.episodes.new_goal(goal)

    def on_episode(self, msg: DiagnosticStatus) -> None:
        self.episodes.event({kv.key: kv.value for kv in msg.values}.get("event", ""))

    def on_latent(self, msg: Image) -> None:
        if not self.episodes.wants_frames:
            return
        try:
            z = conv.image_to_latent(msg, self.learner.agent.obs_dim)
        except ValueError as e:
            self.get_logger().error(f"refused a latent: {e}", throttle_duration_sec=2.0)
            return
        self.episodes.frame(z, time.monotonic())

    # ---- learning thread --------------------------------------------------------------------------------------
    def on_version(self, version: int) -> None:
        self.version_pub.publish(UInt32(data=version))
        self.get_logger().info(f"published weights version {version} after {self.learner.updates} updates")

    def on_training_error(self, e: Exception) -> None:
        self.last_error = f"{type(e).__name__}: {e}"
        self.get_logger().error(f"learning stopped: {self.last_error}")

    def publish_status(self) -> None:
        lr = self.learner
        level = DiagnosticStatus.ERROR if self.last_error else DiagnosticStatus.OK
        values = {"version": lr.version, "updates": lr.updates, "transitions": lr.transitions,
                  "episodes": lr.episodes, "recording": self.episodes.recording, "error": self.last_error}
        self.status_pub.publish(DiagnosticStatus(
            level=level, name="rigbot learner", hardware_id="rigbot",
            message=self.last_error or f"version {lr.version}, {lr.updates} updates on {lr.transitions} transitions",
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()]))

    def on_exit(self) -> None:
        self.thread.stop()


def main(args=None) -> int:
    return run(LearnerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

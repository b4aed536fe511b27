"""policy node (a lifecycle node): observation latent + goal latent -> TwistStamped for the safety gate.

in:  /rigbot/latent (sensor QoS), /rigbot/goal/latent (latched)
out: /rigbot/policy/twist (TwistStamped, stamped with the camera image the action was computed from)

Lifecycle: it loads the checkpoint on ``configure`` and sends nothing until ``activate`` (``ros2 lifecycle set
/policy activate``; ``autostart: true`` does both at start). It acts as each new observation arrives, at most
``control_hz`` times a second (observations in between are skipped, not queued), and never on an observation
older than ``max_age`` (rigbot.control.latent_control): then it sends nothing and the gate stops the arm.
On deactivate it sends one zero.

Live weights (rigbot.control.running_policy): when ``checkpoint`` is a weight store (``rigbot weights init``), the
node runs its current version and follows the learner: a version number on /rigbot/learner/version is loaded and
checked on a background thread (hashes, config, VAE, finite weights, a forward pass: rigbot.policy.weights.live_weights)
and swapped in between two control ticks, so commanding never stops; a version that fails a check is refused,
logged, and the running one stays. out: /rigbot/policy/weights_version (UInt32, latched: the version in use).
services: ~/rollback_weights (Trigger: back to the version in use before, and stop following the learner),
~/follow_learner (Trigger: take new versions again). These live-weights endpoints are rigbot_ros.weights_endpoints'.
"""
from __future__ import annotations

import time

import numpy as np
from geometry_msgs.msg import TwistStamped
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import Image

from rigbot_ros import conversions as conv
from rigbot_ros import topics
from rigbot_ros.node_runtime import declare, one_torch_thread, run
from rigbot_ros.weights_endpoints import WeightsEndpoints


class PolicyNode(LifecycleNode):
    def __init__(self, name: str = "policy", policy=None, **kwargs):
        super().__init__(name, **kwargs)
        self.checkpoint = declare(self, "checkpoint", "checkpoints/reach", "policy checkpoint folder")
        self.control_hz_param = declare(self, "control_hz", 0.0, "most actions per second; 0: the checkpoint's "
                                        "control rate", (0.0, 1000.0))
        self.max_age = declare(self, "max_age", 0.2, "never act on an observation older than this, s",
                               (0.001, 10.0))
        self.frame_id = declare(self, "frame_id", "base_link", "frame of the commands (the robot base)")
        self.limits_file = declare(self, "limits_file", "", "robot or deployment YAML (as the safety gate's): a "
                                   "policy trained faster than its max_linear_speed is refused; empty: the built-in "
                                   "twin arm")
        self.device = declare(self, "device", "auto", "where the policy runs: auto (the GPU when torch sees one, "
                              "else the CPU), cpu, or cuda (configure fails when torch sees no GPU)")
        self.autostart = declare(self, "autostart", False, "configure and activate at start (sim); on a robot, "
                                 "leave false and activate deliberately")
        self._given_policy = policy
        self.loop = self.cmd_pub = None  # a rigbot.control.running_policy.PolicyLoop once configured
        self._subs, self.weights = [], None  # subscriptions; WeightsEndpoints when running a weight store
        self.active = False
        if self.autostart:
            self.trigger_configure()
            self.trigger_activate()

    # ---- lifecycle --------------------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from rigbot.control.running_policy import PolicyLoop

        one_torch_thread()
        try:
            self.loop = PolicyLoop.start(self.checkpoint, self.limits_file, self.control_hz_param, self.max_age,
                                         log=lambda text: self.get_logger().error(text), policy=self._given_policy,
                                         device=self.device)
        except ValueError as e:  # a bad checkpoint fails the transition, with the reason, instead of the process
            self.get_logger().error(str(e))
            return TransitionCallbackReturn.FAILURE
        self.cmd_pub = self.create_lifecycle_publisher(TwistStamped, topics.POLICY_COMMAND, topics.COMMAND)
        self._subs = [self.create_subscription(Image, topics.LATENT, self.on_latent, topics.SENSOR),
                      self.create_subscription(Image, topics.GOAL_LATENT, self.on_goal, topics.LATCHED)]
        if self.loop.running.live is not None:
            self.weights = WeightsEndpoints(self, self.loop.running)
        self.get_logger().info(f"configured: {self.loop.running.policy.task} policy, {self.loop.control_hz:g} Hz, "
                               f"max observation age {self.max_age * 1000:.0f} ms; inactive until activated")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = True
        self.get_logger().info("active: sending commands")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.cmd_pub.publish(conv.twist(np.zeros(3), np.zeros(3), self.get_clock().now().to_msg(), self.frame_id))
        self.active = False
        self.get_logger().info("inactive: sent zero, sending nothing more")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for sub in self._subs:
            self.destroy_subscription(sub)
        if self.weights is not None:
            self.weights.destroy()
        self._subs, self.weights = [], None
        if self.cmd_pub is not None:
            self.destroy_lifecycle_publisher(self.cmd_pub)
        self.cmd_pub = self.loop = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = False
        return TransitionCallbackReturn.SUCCESS

    # ---- acting -----------------------------------------------------------------------------------------------
    def on_goal(self, msg: Image) -> None:
        try:
            self.loop.controller.set_goal(conv.image_to_latent(msg))
        except ValueError as e:  # BadMessageError too
            self.loop.controller.z_goal = None
            self.get_logger().error(f"refused the goal latent: {e}; not acting")

    def on_latent(self, msg: Image) -> None:
        try:
            tick = self.loop.observe(conv.image_to_latent(msg), conv.to_seconds(msg.header.stamp), time.monotonic(),
                                     self.get_clock().now().nanoseconds * 1e-9, self.active)
        except ValueError as e:
            self.get_logger().error(f"refused an observation latent: {e}", throttle_duration_sec=1.0)
            return
        if tick.version is not None:
            self.weights.now_running(tick.version)
        if tick.why_not:
            self.get_logger().warning(f"not acting: {tick.why_not}", throttle_duration_sec=2.0)
        if tick.twist is not None:
            self.cmd_pub.publish(conv.twist(*tick.twist, msg.header.stamp, self.frame_id))


def main(args=None) -> int:
    return run(PolicyNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

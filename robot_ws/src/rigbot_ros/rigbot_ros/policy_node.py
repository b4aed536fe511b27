"""policy node (a lifecycle node): observation latent + goal latent -> TwistStamped for the safety gate.

in:  /rigbot/latent (sensor QoS), /rigbot/goal/latent (latched)
out: /rigbot/policy/twist (TwistStamped, stamped with the camera image the action was computed from)

Lifecycle: it loads the checkpoint on ``configure`` and sends nothing until ``activate`` (``ros2 lifecycle set
/policy activate``; ``autostart: true`` does both at start). It acts as each new observation arrives, at most
``control_hz`` times a second (observations in between are skipped, not queued), and never on an observation
older than ``max_age`` (rigbot.policy.latent_control): then it sends nothing and the gate stops the arm.
On deactivate it sends one zero.
"""
from __future__ import annotations

import time

from geometry_msgs.msg import TwistStamped
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import Image

from rigbot_ros import conversions as conv
from rigbot_ros import topics
from rigbot_ros.node_runtime import declare, run


class PolicyNode(LifecycleNode):
    def __init__(self, name: str = "policy", policy=None, **kwargs):
        super().__init__(name, **kwargs)
        self.checkpoint = declare(self, "checkpoint", "checkpoints/reach", "policy checkpoint folder")
        self.control_hz_param = declare(self, "control_hz", 0.0, "most actions per second; 0: the checkpoint's "
                                        "control rate", (0.0, 1000.0))
        self.max_age = declare(self, "max_age", 0.2, "never act on an observation older than this, s",
                               (0.001, 10.0))
        self.frame_id = declare(self, "frame_id", "base_link", "frame of the commands (the robot base)")
        self.autostart = declare(self, "autostart", False, "configure and activate at start (sim); on a robot, "
                                 "leave false and activate deliberately")
        self._given_policy = policy
        self.policy = self.controller = None
        self.cmd_pub = None
        self._subs = []
        self.active = False
        self._next_action = 0.0
        self.actions = 0
        if self.autostart:
            self.trigger_configure()
            self.trigger_activate()

    # ---- lifecycle --------------------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from rigbot.policy.latent_control import LatentGoalController
        from rigbot_ros.node_runtime import one_torch_thread

        one_torch_thread()

        try:
            if self._given_policy is not None:
                self.policy = self._given_policy
            else:
                from rigbot.policy.checkpoint import load_policy
                self.policy = load_policy(self.checkpoint)
        except Exception as e:  # a bad checkpoint fails the transition, with the reason, instead of the process
            self.get_logger().error(f"cannot load policy checkpoint {self.checkpoint!r}: {type(e).__name__}: {e}")
            return TransitionCallbackReturn.FAILURE
        self.control_hz = self.control_hz_param or float(self.policy.control_hz)
        self.controller = LatentGoalController(self.policy.act, self.policy.encoder.latent_dim, self.max_age)
        self.cmd_pub = self.create_lifecycle_publisher(TwistStamped, topics.POLICY_COMMAND, topics.COMMAND)
        self._subs = [self.create_subscription(Image, topics.LATENT, self.on_latent, topics.SENSOR),
                      self.create_subscription(Image, topics.GOAL_LATENT, self.on_goal, topics.LATCHED)]
        self.get_logger().info(f"configured: {self.policy.task} policy, {self.control_hz:g} Hz, "
                               f"max observation age {self.max_age * 1000:.0f} ms; inactive until activated")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = True
        self.get_logger().info("active: sending commands")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        import numpy as np

        self.cmd_pub.publish(conv.twist(np.zeros(3), np.zeros(3), self.get_clock().now().to_msg(), self.frame_id))
        self.active = False
        self.get_logger().info("inactive: sent zero, sending nothing more")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for s in self._subs:
            self.destroy_subscription(s)
        self._subs = []
        if self.cmd_pub is not None:
            self.destroy_lifecycle_publisher(self.cmd_pub)
        self.cmd_pub = self.policy = self.controller = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = False
        return TransitionCallbackReturn.SUCCESS

    # ---- acting -----------------------------------------------------------------------------------------------
    def on_goal(self, msg: Image) -> None:
        try:
            self.controller.set_goal(conv.image_to_latent(msg))
        except ValueError as e:  # BadMessageError too
            self.controller.z_goal = None
            self.get_logger().error(f"refused the goal latent: {e}; not acting")

    def on_latent(self, msg: Image) -> None:
        try:
            self.controller.observe(conv.image_to_latent(msg), conv.to_seconds(msg.header.stamp))
        except ValueError as e:
            self.get_logger().error(f"refused an observation latent: {e}", throttle_duration_sec=1.0)
            return
        if not self.active:
            return
        now = time.monotonic()
        period = 1.0 / self.control_hz
        if now < self._next_action - 0.25 * period:  # ahead of the control schedule: skip this observation
            return
        action, why = self.controller.step(self.get_clock().now().nanoseconds * 1e-9)
        if action is None:
            self.get_logger().warning(f"not acting: {why}", throttle_duration_sec=2.0)
            return
        from rigbot.policy.velocity_command import action_to_twist

        linear, angular = action_to_twist(action)
        self.cmd_pub.publish(conv.twist(linear, angular, msg.header.stamp, self.frame_id))
        self._next_action = max(self._next_action + period, now)  # a schedule: jitter does not lower the rate
        self.actions += 1


def main(args=None) -> int:
    return run(PolicyNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

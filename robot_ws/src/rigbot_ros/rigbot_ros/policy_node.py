"""policy node (a lifecycle node): observation latent + goal latent -> TwistStamped for the safety gate.

in:  /rigbot/latent (sensor QoS), /rigbot/goal/latent (latched)
out: /rigbot/policy/twist (TwistStamped, stamped with the camera image the action was computed from)

Lifecycle: it loads the checkpoint on ``configure`` and sends nothing until ``activate`` (``ros2 lifecycle set
/policy activate``; ``autostart: true`` does both at start). It acts as each new observation arrives, at most
``control_hz`` times a second (observations in between are skipped, not queued), and never on an observation
older than ``max_age`` (rigbot.control.latent_control): then it sends nothing and the gate stops the arm.
On deactivate it sends one zero.

Live weights: when ``checkpoint`` is a weight store (``rigbot weights init``, rigbot.policy.weights.weight_store), the
node runs its current version and follows the learner: a version number on /rigbot/learner/version is loaded and
checked on a background thread (hashes, config, VAE, finite weights, a forward pass: rigbot.policy.weights.live_weights)
and swapped in between two control ticks, so commanding never stops; a version that fails a check is refused,
logged, and the running one stays. out: /rigbot/policy/weights_version (UInt32, latched: the version in use).
services: ~/rollback_weights (Trigger: back to the version in use before, and stop following the learner),
~/follow_learner (Trigger: take new versions again).
"""
from __future__ import annotations

import time
from pathlib import Path

from geometry_msgs.msg import TwistStamped
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import Image
from std_msgs.msg import UInt32
from std_srvs.srv import Trigger

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
        self.limits_file = declare(self, "limits_file", "", "robot or deployment YAML (as the safety gate's): a "
                                   "policy trained faster than its max_linear_speed is refused; empty: the built-in "
                                   "twin arm")
        self.autostart = declare(self, "autostart", False, "configure and activate at start (sim); on a robot, "
                                 "leave false and activate deliberately")
        self._given_policy = policy
        self.policy = self.controller = None
        self.cmd_pub = None
        self._subs = []
        self.active = False
        self._next_action = 0.0
        self.actions = 0
        self.live = None  # LiveWeights when the checkpoint is a weight store
        self.following = True
        self._weights = []  # the version publisher, subscription and services
        if self.autostart:
            self.trigger_configure()
            self.trigger_activate()

    # ---- lifecycle --------------------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from rigbot.control.latent_control import LatentGoalController
        from rigbot_ros.node_runtime import one_torch_thread

        one_torch_thread()

        try:
            if self._given_policy is not None:
                self.policy = self._given_policy
            else:
                self.policy = self._load_checkpoint()
        except Exception as e:  # a bad checkpoint fails the transition, with the reason, instead of the process
            self.get_logger().error(f"cannot load policy checkpoint {self.checkpoint!r}: {type(e).__name__}: {e}")
            return TransitionCallbackReturn.FAILURE
        try:
            self._check_against_deployment()
        except ValueError as e:
            self.get_logger().error(f"refusing policy checkpoint {self.checkpoint!r}: {e}")
            return TransitionCallbackReturn.FAILURE
        self.control_hz = self.control_hz_param or float(self.policy.control_hz)
        self.controller = LatentGoalController(self.policy.act, self.policy.encoder.latent_dim, self.max_age)
        self.cmd_pub = self.create_lifecycle_publisher(TwistStamped, topics.POLICY_COMMAND, topics.COMMAND)
        self._subs = [self.create_subscription(Image, topics.LATENT, self.on_latent, topics.SENSOR),
                      self.create_subscription(Image, topics.GOAL_LATENT, self.on_goal, topics.LATCHED)]
        if self.live is not None:
            self._start_following()
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
        for destroy, thing in self._weights:
            destroy(thing)
        self._weights, self.live = [], None
        if self.cmd_pub is not None:
            self.destroy_lifecycle_publisher(self.cmd_pub)
        self.cmd_pub = self.policy = self.controller = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = False
        return TransitionCallbackReturn.SUCCESS

    def _check_against_deployment(self) -> None:
        """A policy trained to command faster than the robot or deployment allows would be clamped by the gate into
        motions it never learned: refused, naming both speeds."""
        from rigbot.limits import DEFAULT_ROBOT_YAML
        from rigbot.control.safety_gate import limits_from_robot_yaml

        source = self.limits_file or str(DEFAULT_ROBOT_YAML)
        allowed = limits_from_robot_yaml(source).max_linear_speed
        if self.policy.max_linear_speed > allowed + 1e-9:
            raise ValueError(f"it was trained to command up to {self.policy.max_linear_speed:g} m/s per axis, but "
                             f"{source} allows {allowed:g} m/s: retrain it at that speed, or raise the limit there")

    # ---- live weights -------------------------------------------------------------------------------------------
    def _load_checkpoint(self):
        from rigbot.policy.weights.checkpoint import load_policy
        from rigbot.policy.weights.live_weights import LiveWeights
        from rigbot.policy.weights.weight_store import STORE, WeightStore

        path = Path(self.checkpoint).expanduser()
        if not (path / STORE).is_file():
            return load_policy(path)
        store = WeightStore(path)
        version = store.current()
        policy = store.load(version)
        self.live = LiveWeights(store, version, policy, log=lambda text: self.get_logger().error(text))
        return policy

    def _start_following(self) -> None:
        self.version_pub = self.create_publisher(UInt32, topics.POLICY_WEIGHTS_VERSION, topics.LATCHED)
        self._weights = [
            (self.destroy_publisher, self.version_pub),
            (self.destroy_subscription,
             self.create_subscription(UInt32, topics.LEARNER_VERSION, self.on_version, topics.LATCHED)),
            (self.destroy_service, self.create_service(Trigger, "~/rollback_weights", self.on_rollback)),
            (self.destroy_service, self.create_service(Trigger, "~/follow_learner", self.on_follow))]
        self.version_pub.publish(UInt32(data=self.live.version))
        self.get_logger().info(f"weights: version {self.live.version} of store {self.live.store.root}; following "
                               f"{topics.LEARNER_VERSION}")

    def on_version(self, msg: UInt32) -> None:
        self._announced = msg.data
        if self.following and msg.data != self.live.version:
            self.get_logger().info(f"learner published weights version {msg.data}: loading and checking it")
            self.live.request(msg.data)

    def on_rollback(self, request, response):
        try:
            target = self.live.rollback()
        except ValueError as e:
            response.success, response.message = False, str(e)
            return response
        self.following = False
        try:  # a restart should come up on the rolled-back version too
            self.live.store.set_current(target)
        except ValueError as e:
            self.get_logger().error(f"could not make version {target} current in the store: {e}")
        response.success = True
        response.message = (f"rolling back to weights version {target} at the next tick; not following the learner "
                            "until ~/follow_learner is called")
        self.get_logger().warning(response.message)
        return response

    def on_follow(self, request, response):
        self.following = True
        latest = getattr(self, "_announced", None)
        if latest is not None and latest != self.live.version:
            self.live.request(latest)
        response.success, response.message = True, "following the learner's new versions again"
        return response

    def _swap_weights(self) -> None:
        """Between two ticks: take a checked new version, if one is waiting."""
        staged = self.live.take()
        if staged is None:
            return
        version, self.policy = staged
        self.controller.act = self.policy.act
        self.version_pub.publish(UInt32(data=version))
        self.get_logger().info(f"now running weights version {version}")

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
        if self.live is not None:
            self._swap_weights()
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
        from rigbot.control.velocity_command import action_to_twist

        linear, angular = action_to_twist(action)
        self.cmd_pub.publish(conv.twist(linear, angular, msg.header.stamp, self.frame_id))
        self._next_action = max(self._next_action + period, now)  # a schedule: jitter does not lower the rate
        self.actions += 1


def main(args=None) -> int:
    return run(PolicyNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

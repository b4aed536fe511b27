"""The policy node's live-weights endpoints: which version runs, the learner's announcements, rollback and follow.

They exist while the policy node is configured on a weight store (the rules are rigbot.control.running_policy's):
out: /rigbot/policy/weights_version (UInt32, latched: the version in use)
in:  /rigbot/learner/version (UInt32, latched: the learner's newest version, loaded and checked to swap to)
services: ~/rollback_weights (Trigger: back to the version in use before, and stop following the learner),
~/follow_learner (Trigger: take new versions again).
"""
from __future__ import annotations

from rclpy.node import Node
from std_msgs.msg import UInt32
from std_srvs.srv import Trigger

from rigbot_ros import topics


class WeightsEndpoints:
    def __init__(self, node: Node, running):
        """``running``: the node's RunningPolicy (with its LiveWeights)."""
        self.node, self.running, live = node, running, running.live
        self.version_pub = node.create_publisher(UInt32, topics.POLICY_WEIGHTS_VERSION, topics.LATCHED)
        self._made = [
            (node.destroy_publisher, self.version_pub),
            (node.destroy_subscription,
             node.create_subscription(UInt32, topics.LEARNER_VERSION, self.on_version, topics.LATCHED)),
            (node.destroy_service, node.create_service(Trigger, "~/rollback_weights", self.on_rollback)),
            (node.destroy_service, node.create_service(Trigger, "~/follow_learner", self.on_follow))]
        self.version_pub.publish(UInt32(data=live.version))
        node.get_logger().info(f"weights: version {live.version} of store {live.store.root}; following "
                               f"{topics.LEARNER_VERSION}")

    def now_running(self, version: int) -> None:
        """The node swapped to ``version``: say so."""
        self.version_pub.publish(UInt32(data=version))
        self.node.get_logger().info(f"now running weights version {version}")

    def on_version(self, msg: UInt32) -> None:
        if self.running.announce(msg.data):
            self.node.get_logger().info(f"learner published weights version {msg.data}: loading and checking it")

    def on_rollback(self, request, response):
        try:
            target, problem = self.running.rollback()
        except ValueError as e:
            response.success, response.message = False, str(e)
            return response
        if problem is not None:
            self.node.get_logger().error(problem)
        response.success = True
        response.message = (f"rolling back to weights version {target} at the next tick; not following the learner "
                            "until ~/follow_learner is called")
        self.node.get_logger().warning(response.message)
        return response

    def on_follow(self, request, response):
        self.running.follow()
        response.success, response.message = True, "following the learner's new versions again"
        return response

    def destroy(self) -> None:
        for destroy, thing in self._made:
            destroy(thing)
        self._made = []

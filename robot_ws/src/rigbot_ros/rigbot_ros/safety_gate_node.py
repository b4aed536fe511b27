"""safety_gate node: every command to the arm passes here. The rules are rigbot.control.safety_gate's; this node
only moves messages in and out of it.

in:  /rigbot/policy/twist (TwistStamped), /rigbot/ee_pose (PoseStamped), /rigbot/estop (Bool: true engages)
out: /servo_node/delta_twist_cmds (TwistStamped), /rigbot/safety_gate/status (String: why the output is what it is)
services: ~/estop, ~/release_estop (std_srvs/Trigger)

The speed parameters (max_linear_speed, max_angular_speed) may lower the limits file's speeds, never raise them:
0 keeps the file's; a value above it stops the gate at start with the reason.

The output is sent when a command arrives (no added latency) and at ``publish_hz`` (so silence, a stale pose or
an e-stop become explicit zeros). On shutdown the last messages sent are zeros.
"""
from __future__ import annotations

import time

from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.node import Node
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger

from rigbot.control.safety_gate import SafetyGate, SafetyLimits, limits_from_robot_yaml
from rigbot.limits import DEFAULT_ANGULAR_SPEED_RAD_S, MAX_ANGULAR_SPEED_RAD_S, MAX_LINEAR_SPEED_M_S
from rigbot.sim.robot import DEFAULT_ROBOT
from rigbot_ros import conversions as conv
from rigbot_ros import topics
from rigbot_ros.node_runtime import declare, declare_fields, linger, run


class SafetyGateNode(Node):
    def __init__(self, name: str = "safety_gate", **kwargs):
        super().__init__(name, **kwargs)
        limits_file = declare(self, "limits_file", "", "robot or deployment YAML with workspace.low/high and "
                              "max_linear_speed; empty: the built-in twin arm (sim/robots/tabletop_arm.yaml)")
        # the box comes from the file; its speeds too, unless a speed parameter (0: the file's) tightens one: a
        # value above the file's stops the gate at start (limits_from_robot_yaml), so none can lift the file's limit
        overrides = declare_fields(self, SafetyLimits, skip=("workspace_low", "workspace_high", "max_linear_speed",
                                                             "max_angular_speed"))
        speeds = {
            "max_linear_speed": declare(self, "max_linear_speed", 0.0, "per-axis linear limit, m/s; 0: the limits "
                                        "file's max_linear_speed; a value may only lower the file's limit, never "
                                        "raise it", (0.0, MAX_LINEAR_SPEED_M_S)),
            "max_angular_speed": declare(self, "max_angular_speed", 0.0, "per-axis angular limit, rad/s; 0: the "
                                         "limits file's (a deployment's max_angular_speed; "
                                         f"{DEFAULT_ANGULAR_SPEED_RAD_S:g} for a robot description, which states "
                                         "none); a value may only lower the file's limit, never raise it",
                                         (0.0, MAX_ANGULAR_SPEED_RAD_S))}
        overrides.update({name: value for name, value in speeds.items() if value > 0})
        self.publish_hz = declare(self, "publish_hz", 50.0, "rate of the output when no command arrives, Hz",
                                  (1.0, 1000.0))
        self.frame_id = declare(self, "frame_id", "base_link", "frame of the zero commands the gate makes itself")
        self.limits_file = limits_file or str(DEFAULT_ROBOT)
        self.gate = SafetyGate(limits_from_robot_yaml(self.limits_file, **overrides))
        lim = self.gate.limits
        self.get_logger().info(
            f"limits from {self.limits_file}: workspace {list(lim.workspace_low)} .. {list(lim.workspace_high)} m, "
            f"{lim.max_linear_speed} m/s, {lim.max_angular_speed} rad/s, timeout {lim.command_timeout} s")

        self.out = self.create_publisher(TwistStamped, topics.ARM_COMMAND, topics.COMMAND)
        self.status = self.create_publisher(String, topics.GATE_STATUS, topics.EVENTS)
        self.create_subscription(TwistStamped, topics.POLICY_COMMAND, self.on_command, topics.COMMAND)
        self.create_subscription(PoseStamped, topics.EE_POSE, self.on_pose, topics.SENSOR)
        self.create_subscription(Bool, topics.ESTOP, self.on_estop_topic, topics.EVENTS)
        self.create_service(Trigger, "~/estop", self.on_estop_service)
        self.create_service(Trigger, "~/release_estop", self.on_release_service)
        self.create_timer(1.0 / self.publish_hz, self.publish)
        self._last_reason = None
        self._last_stamp, self._in_frame = None, ""

    # ---- inputs -----------------------------------------------------------------------------------------------
    def on_command(self, msg: TwistStamped) -> None:
        linear, angular = conv.twist_arrays(msg)
        problem = self.gate.command(linear, angular, time.monotonic())
        if problem is not None:
            self.get_logger().error(f"refused a command on {topics.POLICY_COMMAND}: {problem}; stopping the arm")
        self._last_stamp, self._in_frame = msg.header.stamp, msg.header.frame_id
        self.publish()

    def on_pose(self, msg: PoseStamped) -> None:
        problem = self.gate.update_pose(conv.position(msg), time.monotonic())
        if problem is not None:
            self.get_logger().error(f"refused a hand pose: {problem}", throttle_duration_sec=1.0)

    def on_estop_topic(self, msg: Bool) -> None:
        if msg.data:
            self.engage(f"{topics.ESTOP} topic")

    def on_estop_service(self, request, response):
        self.engage("~/estop service")
        response.success, response.message = True, "emergency stop engaged; call ~/release_estop to release"
        return response

    def on_release_service(self, request, response):
        was = self.gate.release_estop()
        self.get_logger().warning("emergency stop released" if was else "release requested, but no stop was engaged")
        response.success = True
        response.message = "released; the arm moves again on the next fresh command" if was else "no stop was engaged"
        self.publish()
        return response

    def engage(self, source: str) -> None:
        if self.gate.estop_reason is None:
            self.get_logger().error(f"EMERGENCY STOP from {source}: zero velocity until released")
        self.gate.engage_estop(source)
        self.publish()

    # ---- output -----------------------------------------------------------------------------------------------
    def publish(self) -> None:
        out = self.gate.output(time.monotonic())
        passing = not out.is_zero or out.reason in ("ok", "clamped", "workspace")
        if passing and self._last_stamp is not None:  # a command's own stamp: how old its information is
            msg = conv.twist(out.linear, out.angular, self._last_stamp, self._in_frame or self.frame_id)
        else:
            msg = conv.twist(out.linear, out.angular, self.get_clock().now().to_msg(), self.frame_id)
        self.out.publish(msg)
        if out.reason != self._last_reason:
            if out.reason in ("stale command", "no pose", "stale pose") and self._last_reason in ("ok", "clamped", "workspace"):
                self.get_logger().warning(f"sending zero velocity: {out.reason}")
            self.status.publish(String(data=out.reason))
            self._last_reason = out.reason

    def on_exit(self) -> None:
        """Zero the arm before going away."""
        self.gate.shutdown()
        for _ in range(3):
            self.publish()
        self.get_logger().info("shut down: sent zero velocity")
        linger(self, 0.1)


def main(args=None) -> int:
    return run(SafetyGateNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

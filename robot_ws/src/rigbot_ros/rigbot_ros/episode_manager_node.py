"""episode_manager node: runs episodes on the robot for the learner: reset, goal, step budget, pause.

The rules are rigbot.control.episode_manager's; this node moves messages and drives the policy's lifecycle:
- reset: the policy is deactivated (``/policy/change_state``) and this node sends reset velocities on
  /rigbot/policy/twist, so they pass through the safety gate like the policy's (clamped, workspace, e-stop);
- goal: an imagined goal (a VAE prior sample, decoded to an image) or a saved goal image goes to the goal node
  (/rigbot/goal/set_image), which checks and encodes it; zero velocity is held until it is accepted;
- run: the policy is activated for ``steps`` control ticks (latents seen while it is in charge), then deactivated.
A pause (~/pause, or the gate's e-stop seen on /rigbot/safety_gate/status) aborts the episode at once and takes
the policy out of charge; ~/resume (and the e-stop's release) go on with a reset.

in:  /rigbot/ee_pose, /rigbot/latent, /rigbot/goal/status, /rigbot/safety_gate/status
out: /rigbot/policy/twist (reset and hold velocities), /rigbot/goal/set_image,
     /rigbot/episode/status (diagnostic_msgs/DiagnosticStatus per event: key 'event' is started, complete,
     aborted, paused, resumed or reset)
services: ~/pause, ~/resume (std_srvs/Trigger)
"""
from __future__ import annotations

import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String
from std_srvs.srv import Trigger

from rigbot.control.episode_manager import WARNING_KINDS, EpisodeConfig, episodes_on_robot
from rigbot_ros import conversions as conv
from rigbot_ros import topics
from rigbot_ros.lifecycle_peer import LifecyclePeer
from rigbot_ros.node_runtime import StartupError, declare, declare_config, load_encoder, one_torch_thread, run


class EpisodeManagerNode(Node):
    def __init__(self, name: str = "episode_manager", encoder=None, **kwargs):
        super().__init__(name, **kwargs)
        from rigbot.perception.goal_images import GoalLibrary
        from rigbot.sim.robot import DEFAULT_ROBOT

        checkpoint = declare(self, "checkpoint", "checkpoints/reach", "policy checkpoint folder or weight store "
                             "(its VAE imagines goals; its policy.yaml gives the control rate and axes)")
        limits_file = declare(self, "limits_file", "", "robot or deployment YAML: workspace box and home (empty: "
                              "the built-in twin arm)") or str(DEFAULT_ROBOT)
        self.library = GoalLibrary(declare(self, "library", "goals", "folder of saved goal images (NAME.png)"))
        cfg = declare_config(self, EpisodeConfig)
        home = declare(self, "home", [0.0], "start pose x, y, z in m ([0.0]: the limits file's home, else the "
                       "workspace centre)")
        self.policy_node = declare(self, "policy_node", "/policy", "the policy node whose lifecycle this drives")
        self.frame_id = declare(self, "frame_id", "base_link", "frame of the reset commands (the robot base)")
        start_paused = declare(self, "start_paused", True, "wait for ~/resume before the first episode (on a "
                               "robot, start deliberately); false: begin at once")
        seed = declare(self, "seed", 0, "random seed of goals and start poses", (0, 2**31 - 1))
        one_torch_thread()
        try:
            self.encoder = encoder if encoder is not None else load_encoder(checkpoint)
            self.manager, self.control_hz = episodes_on_robot(cfg, checkpoint, limits_file, home,
                                                              np.random.default_rng(seed), prior=self.encoder.prior,
                                                              library=self.library.names())
        except (ValueError, OSError) as e:
            raise StartupError(str(e)) from None

        self.cmd_pub = self.create_publisher(TwistStamped, topics.POLICY_COMMAND, topics.COMMAND)
        self.goal_pub = self.create_publisher(Image, topics.GOAL_SET, topics.EVENTS)
        self.status_pub = self.create_publisher(DiagnosticStatus, topics.EPISODE_STATUS, topics.EVENTS)
        self.create_subscription(PoseStamped, topics.EE_POSE, self.on_pose, topics.SENSOR)
        self.create_subscription(Image, topics.LATENT, self.on_latent, topics.SENSOR)
        self.create_subscription(DiagnosticStatus, topics.GOAL_STATUS, self.on_goal_status, topics.EVENTS)
        self.create_subscription(String, topics.GATE_STATUS, self.on_gate_status, topics.EVENTS)
        self.create_service(Trigger, "~/pause", self.on_pause)
        self.create_service(Trigger, "~/resume", self.on_resume)
        self.policy = LifecyclePeer(self, self.policy_node)
        self.hand, self.hand_time = None, -np.inf
        if start_paused:
            self.report(self.manager.pause("waiting for ~/resume"))
        self.create_timer(1.0 / self.control_hz, self.on_tick)
        self.get_logger().info(
            f"episodes: {cfg.steps} steps, goals from {cfg.goal_source}, start {cfg.start} "
            f"({np.round(self.manager.home, 3).tolist()}), at {self.control_hz:g} Hz; "
            + ("paused until ~/resume" if start_paused else "starting"))

    # ---- inputs -----------------------------------------------------------------------------------------------
    def on_pose(self, msg: PoseStamped) -> None:
        self.hand, self.hand_time = conv.position(msg), time.monotonic()

    def on_latent(self, msg: Image) -> None:
        if self.policy.active:
            self.manager.policy_step()  # one control tick with the policy in charge

    def on_goal_status(self, msg: DiagnosticStatus) -> None:
        values = {kv.key: kv.value for kv in msg.values}
        self.report(self.manager.goal_answer(values.get("goal_stamp"), values.get("error", "")))

    def on_gate_status(self, msg: String) -> None:
        self.report(self.manager.estop(msg.data == "estop"))

    def on_pause(self, request, response):
        self.report(self.manager.pause("paused by ~/pause"))
        response.success, response.message = True, "paused: the policy is out of charge; ~/resume goes on"
        return response

    def on_resume(self, request, response):
        # both reasons ~/resume lifts; whichever call lifts the last pause returns the 'resumed' event: keep both
        events = self.manager.resume("paused by ~/pause") + self.manager.resume("waiting for ~/resume")
        self.report(events)
        waiting = sorted(self.manager.pause_reasons)
        response.success = not waiting
        response.message = "resumed: resetting" if not waiting else f"still paused: {', '.join(waiting)}"
        return response

    # ---- the clock --------------------------------------------------------------------------------------------
    def on_tick(self) -> None:
        hand = self.hand if time.monotonic() - self.hand_time < 0.5 else None
        tick = self.manager.tick(time.monotonic(), hand)
        self.report(tick.events)
        self.policy.drive(tick.policy_in_charge)
        if tick.goal is not None:
            self.send_goal(*tick.goal)
        if tick.command is not None:
            now = self.get_clock().now().to_msg()
            self.cmd_pub.publish(conv.twist(tick.command, np.zeros(3), now, self.frame_id))

    def send_goal(self, kind: str, value) -> None:
        image = self.encoder.decode(np.asarray(value)[None])[0] if kind == "prior" else self.library.load(value)
        stamp = self.get_clock().now().to_msg()
        self.manager.goal_sent(conv.stamp_key(stamp))
        self.goal_pub.publish(conv.rgb_to_image(image, stamp, "camera_color_optical_frame"))

    def report(self, events) -> None:
        """Each EpisodeEvent as a status message (its kind under key 'event') and a log line."""
        m = self.manager
        for event in events:
            warn = event.kind in WARNING_KINDS
            values = {"event": event.kind, "episode": m.episode, "phase": m.phase, "steps": m.steps}
            self.status_pub.publish(DiagnosticStatus(
                level=DiagnosticStatus.WARN if warn else DiagnosticStatus.OK, name="rigbot episode",
                hardware_id="rigbot", message=str(event),
                values=[KeyValue(key=k, value=str(v)) for k, v in values.items()]))
            if warn:  # rclpy wants one severity per call site
                self.get_logger().warning(event)
            else:
                self.get_logger().info(event)

    def on_exit(self) -> None:
        self.policy.deactivate_now()


def main(args=None) -> int:
    return run(EpisodeManagerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

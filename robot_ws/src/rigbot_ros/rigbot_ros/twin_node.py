"""twin node: the MuJoCo twin speaking the real robot's topics.

out: /camera/camera/color/image_raw + camera_info (sensor QoS), /joint_states, /rigbot/ee_pose (PoseStamped),
     /rigbot/goal/set_image (the goal image rendered for a point picked in RViz), /rigbot/twin/goal_point
in:  /servo_node/delta_twist_cmds (TwistStamped: the hand's linear velocity, m/s, base frame),
     /clicked_point (PointStamped), /goal_pose (PoseStamped)
services: ~/reset (std_srvs/Trigger: back to the home pose)

``real_time: true`` steps the physics at the robot's control rate on the wall clock, obeying the newest command
(zero when it is older than ``command_timeout``, as MoveIt Servo does). ``real_time: false`` runs in lockstep,
as fast as the graph allows: after each camera frame it steps as soon as the command computed from that frame
arrives (the gate passes the frame's stamp through), or after ``lockstep_timeout`` with zero velocity.
"""
from __future__ import annotations

import time

import numpy as np
from geometry_msgs.msg import PointStamped, PoseStamped, TwistStamped
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_srvs.srv import Trigger

from rigbot_ros import conversions as conv
from rigbot_ros import topics
from rigbot_ros.node_runtime import StartupError, declare, run


class TwinNode(Node):
    def __init__(self, name: str = "twin", **kwargs):
        super().__init__(name, **kwargs)
        import rigbot.sim as sim
        from rigbot.control.velocity_command import twist_to_action

        self._twist_to_action = twist_to_action
        task = declare(self, "task", "reach", "twin task: reach or push")
        robot = declare(self, "robot", "", "robot YAML (empty: the built-in table-top arm)")
        image_size = declare(self, "image_size", 48, "camera image side, pixels", (32, 256))
        seed = declare(self, "seed", 0, "random seed of the scene", (0, 2**31 - 1))
        randomize = declare(self, "randomize", False, "domain randomisation (lights, colours, camera)")
        self.real_time = declare(self, "real_time", True, "true: step on the wall clock at the control rate; "
                                 "false: lockstep, as fast as the graph answers")
        self.command_timeout = declare(self, "command_timeout", 0.2, "commands older than this are treated as "
                                       "zero, s", (0.01, 10.0))
        self.lockstep_timeout = declare(self, "lockstep_timeout", 1.0, "lockstep: step with zero velocity when "
                                        "no command for the last frame came within this, s", (0.01, 60.0))
        self.frame_id = declare(self, "frame_id", "base_link", "frame of poses and commands (the MJCF world)")
        self.camera_frame_id = declare(self, "camera_frame_id", "camera_color_optical_frame", "camera frame")
        if task not in sim.TASKS:
            raise StartupError(f"parameter task: {task!r} is not a twin task ({', '.join(sim.TASKS)})")
        env = sim.make(task, robot=robot or None, image_size=image_size, randomize=randomize)
        self.env = env
        self.twin = env.unwrapped
        self.seed = seed
        self.twin.reset(seed=seed)
        self.action_dim = self.twin.action_space.shape[0]
        self.control_hz = self.twin.robot.control_hz
        from rigbot.sim.rendering import mujoco
        cam = mujoco.mj_name2id(self.twin.model, mujoco.mjtObj.mjOBJ_CAMERA, self.twin.robot.camera)
        self._intrinsics = conv.pinhole_from_fov(image_size, image_size, float(self.twin.model.cam_fovy[cam]))
        self._command = np.zeros(3)
        self._command_time = -np.inf
        self._frame_stamp = None  # lockstep: stamp of the frame whose command is awaited
        self._frame_time = 0.0

        self.image_pub = self.create_publisher(Image, topics.IMAGE, topics.SENSOR)
        self.info_pub = self.create_publisher(CameraInfo, topics.CAMERA_INFO, topics.SENSOR)
        self.joint_pub = self.create_publisher(JointState, topics.JOINT_STATES, topics.SENSOR)
        self.pose_pub = self.create_publisher(PoseStamped, topics.EE_POSE, topics.SENSOR)
        self.goal_pub = self.create_publisher(Image, topics.GOAL_SET, topics.EVENTS)
        self.goal_point_pub = self.create_publisher(PointStamped, topics.TWIN_GOAL_POINT, topics.LATCHED)
        self.create_subscription(TwistStamped, topics.ARM_COMMAND, self.on_command, topics.COMMAND)
        self.create_subscription(PointStamped, topics.CLICKED_POINT, self.on_clicked_point, topics.EVENTS)
        self.create_subscription(PoseStamped, topics.GOAL_POSE, self.on_goal_pose, topics.EVENTS)
        self.create_service(Trigger, "~/reset", self.on_reset)
        period = 1.0 / self.control_hz if self.real_time else min(self.lockstep_timeout, 0.05)
        self.create_timer(period, self.on_timer)
        self.steps = 0
        self.info: dict = {}
        self.get_logger().info(f"twin {task}: {image_size} px camera, {self.control_hz:g} Hz control, "
                               f"{'real time' if self.real_time else 'lockstep (as fast as possible)'}")
        self.publish_state()

    # ---- commands ---------------------------------------------------------------------------------------------
    def on_command(self, msg: TwistStamped) -> None:
        linear, _ = conv.twist_arrays(msg)
        if not np.all(np.isfinite(linear)):
            self.get_logger().error("ignored a command with non-finite velocity; holding still")
            linear = np.zeros(3)
        self._command, self._command_time = linear, time.monotonic()
        if not self.real_time and self._frame_stamp is not None and msg.header.stamp == self._frame_stamp:
            self.step()  # the answer to the last frame: go on at once

    def on_timer(self) -> None:
        if self.real_time or time.monotonic() - self._frame_time > self.lockstep_timeout:
            self.step()

    def step(self) -> None:
        fresh = time.monotonic() - self._command_time <= self.command_timeout
        linear = self._command if fresh else np.zeros(3)
        *_, self.info = self.twin.step(self._twist_to_action(linear, self.action_dim))
        self.steps += 1
        self.publish_state()

    def publish_state(self) -> None:
        now = self.get_clock().now().to_msg()
        image = self.twin.render()
        h, w = image.shape[:2]
        self.image_pub.publish(conv.rgb_to_image(image, now, self.camera_frame_id))
        self.info_pub.publish(conv.camera_info(w, h, *self._intrinsics, now, self.camera_frame_id))
        joints = JointState(header=conv.header(now, self.frame_id), name=list(self.twin.robot.joints))
        joints.position = [float(q) for q in self.twin.controller.joint_positions(self.twin.data)]
        self.joint_pub.publish(joints)
        self.pose_pub.publish(conv.pose(self.twin.hand_position(), now, self.frame_id))
        self._frame_stamp, self._frame_time = now, time.monotonic()

    # ---- goals picked in RViz ---------------------------------------------------------------------------------
    def on_clicked_point(self, msg: PointStamped) -> None:
        self.set_goal_at(conv.position(msg), "object", msg.header.frame_id)

    def on_goal_pose(self, msg: PoseStamped) -> None:
        self.set_goal_at(conv.position(msg), "hand", msg.header.frame_id)

    def set_goal_at(self, point, part: str, frame_id: str) -> None:
        from rigbot.sim.picked_goals import goal_from_point, hand_goal_point

        if frame_id and frame_id != self.frame_id:
            self.get_logger().error(f"picked point is in frame {frame_id!r}; the twin takes points in "
                                    f"{self.frame_id!r} (set RViz's fixed frame to it)")
            return
        try:
            goal = goal_from_point(self.twin, point, part)
            self.twin.set_goal(goal)
        except ValueError as e:
            self.get_logger().error(f"cannot make a goal from the picked point: {e}")
            return
        now = self.get_clock().now().to_msg()
        self.goal_pub.publish(conv.rgb_to_image(self.twin.goal_image, now, self.camera_frame_id))
        hand = hand_goal_point(self.twin, goal)
        self.goal_point_pub.publish(PointStamped(header=conv.header(now, self.frame_id),
                                                 point=conv.pose(hand, now, self.frame_id).pose.position))
        self.get_logger().info(f"goal {np.round(goal, 3).tolist()} from a picked point; goal image published")

    def on_reset(self, request, response):
        self.twin.reset(seed=self.seed)
        self._command_time = -np.inf
        self.publish_state()
        response.success, response.message = True, f"hand back home at {list(self.twin.robot.home)}"
        return response

    def on_exit(self) -> None:
        self.env.close()


def main(args=None) -> int:
    return run(TwinNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

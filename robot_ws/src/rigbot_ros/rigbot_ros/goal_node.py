"""goal node: holds the current goal image and tells everyone (latched), with its latent and reconstruction.

Ways to set the goal (each image is checked first: see rigbot.perception.goal_images; a refused image is
logged with the reason, reported on the status topic, and the previous goal stays):
- an image on /rigbot/goal/set_image (``rigbot goal set FILE`` publishes one; the twin publishes the scene
  rendered for a point picked in RViz);
- the current camera frame: service ~/set_from_camera (std_srvs/Trigger);
- a saved goal by name: parameter ``goal`` (a name in the ``library`` folder, or an image file path), at start
  or at run time (``ros2 param set /goal goal NAME``).

out (latched): /rigbot/goal/image (rgb8), /rigbot/goal/latent, /rigbot/goal/reconstruction (rgb8, model size)
out: /rigbot/goal/status (diagnostic_msgs/DiagnosticStatus: latent distance, reached or not, last error),
     /rigbot/goal/status_marker (a text Marker for RViz)
in:  /rigbot/latent (to measure the distance), /camera/camera/color/image_raw (for ~/set_from_camera)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker

from rigbot.perception.goal_images import GoalLibrary, heldout_error, make_goal
from rigbot.perception.preprocessing import BadImageError
from rigbot_ros import conversions as conv
from rigbot_ros import topics
from rigbot_ros.node_runtime import declare, load_vae, one_torch_thread, run, vae_dir


def stamp_key(stamp) -> str:
    return f"{stamp.sec}.{stamp.nanosec:09d}"


class GoalNode(Node):
    def __init__(self, name: str = "goal", encoder=None, **kwargs):
        super().__init__(name, **kwargs)
        checkpoint = declare(self, "checkpoint", "checkpoints/reach", "policy checkpoint folder (its vae/ "
                             "encodes goals) or a VAE checkpoint folder")
        self.library = GoalLibrary(declare(self, "library", "goals", "folder of saved goal images (NAME.png)"))
        self.reached_threshold = declare(self, "reached_threshold", 1.0, "latent distance counted as reached",
                                         (0.0, 1000.0))
        self.max_error_ratio = declare(self, "max_error_ratio", 5.0, "refuse goal images the VAE reconstructs "
                                       "worse than this many times its held-out error (0: off)", (0.0, 1e6))
        self.frame_id = declare(self, "frame_id", "camera_color_optical_frame", "frame of published images")
        initial = declare(self, "goal", "", "goal to start with and to switch to at run time: a saved goal's "
                          "name or an image file; empty: none until one is set")
        one_torch_thread()
        if encoder is None:
            encoder, folder = load_vae(checkpoint)  # one verified version: its weights and its held-out error
        else:
            folder = vae_dir(checkpoint)
        self.encoder = encoder
        self.reference_error = heldout_error(folder)
        self.goal = None
        self.goal_source = ""
        self.goal_stamp = ""
        self.last_error = ""
        self.distance = None
        self.camera_frame: Image | None = None

        self.image_pub = self.create_publisher(Image, topics.GOAL_IMAGE, topics.LATCHED)
        self.latent_pub = self.create_publisher(Image, topics.GOAL_LATENT, topics.LATCHED)
        self.recon_pub = self.create_publisher(Image, topics.GOAL_RECONSTRUCTION, topics.LATCHED)
        self.status_pub = self.create_publisher(DiagnosticStatus, topics.GOAL_STATUS, topics.EVENTS)
        self.marker_pub = self.create_publisher(Marker, topics.GOAL_MARKER, topics.LATCHED)
        self.create_subscription(Image, topics.GOAL_SET, self.on_goal_image, topics.EVENTS)
        self.create_subscription(Image, topics.IMAGE, self.on_camera, topics.SENSOR)
        self.create_subscription(Image, topics.LATENT, self.on_latent, topics.SENSOR)
        self.create_service(Trigger, "~/set_from_camera", self.on_set_from_camera)
        self.add_on_set_parameters_callback(self.on_parameters)
        self.create_timer(0.5, self.publish_status)
        if initial:
            ok, message = self.set_named(initial)
            if not ok:
                self.get_logger().error(message)
        self.publish_status()

    # ---- setting the goal -------------------------------------------------------------------------------------
    def set_goal(self, rgb: np.ndarray, source: str, stamp=None) -> tuple[bool, str]:
        stamp = stamp or self.get_clock().now().to_msg()
        try:
            goal = make_goal(rgb, self.encoder, self.reference_error, self.max_error_ratio)
        except BadImageError as e:
            return self.refuse(f"goal image from {source} refused: {e}", stamp)
        self.goal, self.goal_source, self.goal_stamp, self.last_error = goal, source, stamp_key(stamp), ""
        self.distance = None
        self.image_pub.publish(conv.rgb_to_image(goal.image, stamp, self.frame_id))
        self.latent_pub.publish(conv.latent_to_image(goal.latent, stamp, self.frame_id))
        self.recon_pub.publish(conv.rgb_to_image(goal.reconstruction, stamp, self.frame_id))
        message = f"new goal from {source} (reconstruction error {goal.reconstruction_error:.4f})"
        self.get_logger().info(message)
        self.publish_status()
        return True, message

    def refuse(self, message: str, stamp) -> tuple[bool, str]:
        self.last_error, self.goal_stamp = message, stamp_key(stamp)
        self.get_logger().error(message + ("; keeping the previous goal" if self.goal else "; no goal is set"))
        self.publish_status()
        return False, message

    def set_named(self, name: str) -> tuple[bool, str]:
        path = Path(name).expanduser()
        try:
            if path.suffix and path.is_file():
                from rigbot import media
                image, source = media.read_image(path), f"file {path}"
            else:
                image, source = self.library.load(name), f"saved goal {name!r}"
        except (FileNotFoundError, ValueError) as e:
            return self.refuse(f"goal {name!r}: {e}", self.get_clock().now().to_msg())
        return self.set_goal(image, source)

    def on_goal_image(self, msg: Image) -> None:
        try:
            rgb = conv.image_to_rgb(msg)
        except conv.BadMessageError as e:
            self.refuse(f"goal image on {topics.GOAL_SET} refused: {e}", msg.header.stamp)
            return
        self.set_goal(rgb, f"{topics.GOAL_SET}", msg.header.stamp)

    def on_camera(self, msg: Image) -> None:
        self.camera_frame = msg

    def on_set_from_camera(self, request, response):
        if self.camera_frame is None:
            response.success, response.message = False, f"no camera image has arrived on {topics.IMAGE}"
            self.get_logger().error(response.message)
            return response
        try:
            rgb = conv.image_to_rgb(self.camera_frame)
        except conv.BadMessageError as e:
            response.success, response.message = self.refuse(f"camera frame refused as a goal: {e}",
                                                              self.camera_frame.header.stamp)
            return response
        response.success, response.message = self.set_goal(rgb, "the camera", self.camera_frame.header.stamp)
        return response

    def on_parameters(self, params) -> SetParametersResult:
        for p in params:
            if p.name == "goal" and p.value:
                ok, message = self.set_named(p.value)
                if not ok:
                    return SetParametersResult(successful=False, reason=message)
            elif p.name in ("reached_threshold", "max_error_ratio"):
                setattr(self, p.name, float(p.value))
            elif p.name == "library":
                self.library = GoalLibrary(p.value)
        return SetParametersResult(successful=True)

    # ---- status -----------------------------------------------------------------------------------------------
    def on_latent(self, msg: Image) -> None:
        if self.goal is None:
            return
        try:
            z = conv.image_to_latent(msg, len(self.goal.latent))
        except conv.BadMessageError as e:
            self.get_logger().error(f"refused a latent: {e}", throttle_duration_sec=2.0)
            return
        self.distance = float(np.linalg.norm(z - self.goal.latent))

    def publish_status(self) -> None:
        reached = self.distance is not None and self.distance <= self.reached_threshold
        if self.goal is None:
            level, message = DiagnosticStatus.WARN, "no goal"
        else:
            level, message = DiagnosticStatus.OK, "reached" if reached else "not reached"
        if self.last_error:
            level, message = DiagnosticStatus.ERROR, f"{message}; last goal refused: {self.last_error}"
        values = {"goal": self.goal_source, "goal_stamp": self.goal_stamp,
                  "latent_distance": "" if self.distance is None else f"{self.distance:.4f}",
                  "reached_threshold": f"{self.reached_threshold:g}", "reached": str(reached).lower(),
                  "error": self.last_error}
        self.status_pub.publish(DiagnosticStatus(level=level, name="rigbot goal", message=message,
                                                 hardware_id="rigbot",
                                                 values=[KeyValue(key=k, value=v) for k, v in values.items()]))
        text = message if self.distance is None else f"{message}\nlatent distance {self.distance:.2f}"
        marker = Marker(header=conv.header(self.get_clock().now().to_msg(), self.frame_id), ns="rigbot_goal", id=0,
                        type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, text=text)
        marker.scale.z = 0.04
        marker.color.r, marker.color.g, marker.color.b, marker.color.a = ((0.2, 0.9, 0.2, 1.0) if reached else
                                                                           (1.0, 0.8, 0.2, 1.0))
        marker.pose.orientation.w = 1.0
        self.marker_pub.publish(marker)


def main(args=None) -> int:
    return run(GoalNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

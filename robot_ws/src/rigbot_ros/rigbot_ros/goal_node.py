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

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker

from rigbot.perception.goal_images import GoalConfig, GoalLibrary, GoalTracker, heldout_error
from rigbot_ros import conversions as conv
from rigbot_ros import topics
from rigbot_ros.conversions import stamp_key
from rigbot_ros.node_runtime import declare, declare_config, load_vae, one_torch_thread, run, vae_dir

LEVELS = {"ok": DiagnosticStatus.OK, "warn": DiagnosticStatus.WARN, "error": DiagnosticStatus.ERROR}


class GoalNode(Node):
    def __init__(self, name: str = "goal", encoder=None, **kwargs):
        super().__init__(name, **kwargs)
        checkpoint = declare(self, "checkpoint", "checkpoints/reach", "policy checkpoint folder (its vae/ "
                             "encodes goals) or a VAE checkpoint folder")
        self.library = GoalLibrary(declare(self, "library", "goals", "folder of saved goal images (NAME.png)"))
        cfg = declare_config(self, GoalConfig)
        self.frame_id = declare(self, "frame_id", "camera_color_optical_frame", "frame of published images")
        initial = declare(self, "goal", "", "goal to start with and to switch to at run time: a saved goal's "
                          "name or an image file; empty: none until one is set")
        one_torch_thread()
        if encoder is None:
            encoder, folder = load_vae(checkpoint)  # one verified version: its weights and its held-out error
        else:
            folder = vae_dir(checkpoint)
        self.tracker = GoalTracker(encoder, heldout_error(folder), cfg)
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
    def set_goal(self, rgb, source: str, stamp=None) -> tuple[bool, str]:
        stamp = stamp or self.get_clock().now().to_msg()
        goal, message = self.tracker.offer(rgb, source, stamp_key(stamp))
        if goal is None:
            return self.refuse(message)
        self.image_pub.publish(conv.rgb_to_image(goal.image, stamp, self.frame_id))
        self.latent_pub.publish(conv.latent_to_image(goal.latent, stamp, self.frame_id))
        self.recon_pub.publish(conv.rgb_to_image(goal.reconstruction, stamp, self.frame_id))
        self.get_logger().info(message)
        self.publish_status()
        return True, message

    def refuse(self, message: str, stamp=None) -> tuple[bool, str]:
        if stamp is not None:  # refused here, not by the tracker (which notes its own refusals)
            self.tracker.refuse(message, stamp_key(stamp))
        self.get_logger().error(message + ("; keeping the previous goal" if self.tracker.goal else
                                           "; no goal is set"))
        self.publish_status()
        return False, message

    def set_named(self, name: str) -> tuple[bool, str]:
        try:
            image, source = self.library.load_named(name)
        except (FileNotFoundError, ValueError) as e:
            return self.refuse(f"goal {name!r}: {e}", self.get_clock().now().to_msg())
        return self.set_goal(image, source)

    def set_from_message(self, msg: Image, source: str, refused_as: str) -> tuple[bool, str]:
        try:
            rgb = conv.image_to_rgb(msg)
        except conv.BadMessageError as e:
            return self.refuse(f"{refused_as}: {e}", msg.header.stamp)
        return self.set_goal(rgb, source, msg.header.stamp)

    def on_goal_image(self, msg: Image) -> None:
        self.set_from_message(msg, topics.GOAL_SET, f"goal image on {topics.GOAL_SET} refused")

    def on_camera(self, msg: Image) -> None:
        self.camera_frame = msg

    def on_set_from_camera(self, request, response):
        if self.camera_frame is None:
            response.success, response.message = False, f"no camera image has arrived on {topics.IMAGE}"
            self.get_logger().error(response.message)
        else:
            response.success, response.message = self.set_from_message(self.camera_frame, "the camera",
                                                                        "camera frame refused as a goal")
        return response

    def on_parameters(self, params) -> SetParametersResult:
        for p in params:
            if p.name == "goal" and p.value:
                ok, message = self.set_named(p.value)
                if not ok:
                    return SetParametersResult(successful=False, reason=message)
            elif p.name in ("reached_threshold", "max_error_ratio"):
                setattr(self.tracker.cfg, p.name, float(p.value))
            elif p.name == "library":
                self.library = GoalLibrary(p.value)
        return SetParametersResult(successful=True)

    # ---- status -----------------------------------------------------------------------------------------------
    def on_latent(self, msg: Image) -> None:
        if self.tracker.goal is None:
            return
        try:
            self.tracker.observe(conv.image_to_latent(msg, len(self.tracker.goal.latent)))
        except conv.BadMessageError as e:
            self.get_logger().error(f"refused a latent: {e}", throttle_duration_sec=2.0)

    def publish_status(self) -> None:
        level, message, values = self.tracker.status()
        self.status_pub.publish(DiagnosticStatus(level=LEVELS[level], name="rigbot goal", message=message,
                                                 hardware_id="rigbot",
                                                 values=[KeyValue(key=k, value=v) for k, v in values.items()]))
        distance = self.tracker.distance
        text = message if distance is None else f"{message}\nlatent distance {distance:.2f}"
        self.marker_pub.publish(conv.text_marker(text, (0.2, 0.9, 0.2) if self.tracker.reached else (1.0, 0.8, 0.2),
                                                 self.get_clock().now().to_msg(), self.frame_id, "rigbot_goal"))


def main(args=None) -> int:
    return run(GoalNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

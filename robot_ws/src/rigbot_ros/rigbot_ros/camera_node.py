"""camera node: a RealSense or OpenCV camera (rigbot.perception.camera) -> sensor_msgs/Image + CameraInfo.

out: /camera/camera/color/image_raw (rgb8, sensor QoS), /camera/camera/color/camera_info: realsense-ros's
names, so realsense-ros's own node can replace this one.

Each tick it publishes the newest frame if it is new and younger than ``max_age``; a stalled camera publishes
nothing (and says so), so nothing downstream acts on an old picture. Intrinsics come from ``camera_info_file``
(the ROS camera_info YAML that ``camera_calibration`` and rigbot's calibration write) or, without one, from an
ideal pinhole with ``vertical_fov_deg``.
"""
from __future__ import annotations

from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from rigbot.perception.camera import CameraError, EndOfStreamError, StaleFrameError, open_camera
from rigbot_ros import conversions as conv
from rigbot_ros import topics
from rigbot_ros.node_runtime import StartupError, declare, run


def intrinsics_from(camera_info_file: str, deployment_file: str):
    """The calibrated CameraIntrinsics: from ``camera_info_file``, else from the camera_info file the deployment
    names (the deployment loaded and checked as every reader checks it); None when neither names one."""
    from rigbot.calibration.camera_info import load_camera_info
    from rigbot.calibration.deployment import load_deployment

    if camera_info_file:
        return load_camera_info(camera_info_file)
    if deployment_file:
        deployment = load_deployment(deployment_file)
        return deployment.load_camera_info() if deployment.camera_info else None
    return None


class CameraNode(Node):
    def __init__(self, name: str = "camera", **kwargs):
        super().__init__(name, **kwargs)
        source = declare(self, "source", "realsense", "camera to open: realsense, realsense:SERIAL, "
                         "realsense:FILE.bag, opencv:INDEX, opencv:VIDEO, opencv:FOLDER (see rigbot cameras list)")
        serial = declare(self, "serial", "", "RealSense serial number (same as source realsense:SERIAL)")
        width = declare(self, "width", 640, "requested frame width, pixels", (16, 4096))
        height = declare(self, "height", 480, "requested frame height, pixels", (16, 4096))
        self.fps = declare(self, "fps", 30.0, "frames per second to publish", (0.1, 1000.0))
        self.max_age = declare(self, "max_age", 0.1, "never publish a frame older than this, s", (0.001, 10.0))
        self.frame_id = declare(self, "frame_id", "camera_color_optical_frame", "frame of the images")
        info_file = declare(self, "camera_info_file", "", "ROS camera_info YAML from calibration (camera_matrix, "
                            "distortion_coefficients); empty: ideal pinhole from vertical_fov_deg")
        self.fov = declare(self, "vertical_fov_deg", 42.0, "vertical field of view without a calibration file "
                           "(RealSense D435 colour: about 42)", (1.0, 179.0))
        deployment = declare(self, "deployment_file", "", "calibration deployment YAML; its camera_info file is used "
                             "when camera_info_file is empty")
        try:
            self.intrinsics = intrinsics_from(info_file, deployment)
        except ValueError as e:  # ConfigError: the file and the problem
            raise StartupError(str(e)) from None
        if serial and source == "realsense":
            source = f"realsense:{serial}"
        options = {}
        if source.startswith("realsense") and not source.endswith((".bag", ".db3")):
            options = {"width": width, "height": height, "fps": int(round(self.fps))}
        elif source.startswith("opencv:") and source[7:].isdigit():
            options = {"width": width, "height": height, "fps": self.fps}
        try:
            self.camera = open_camera(source, **options)
        except (CameraError, ValueError) as e:
            raise StartupError(f"camera {source!r}: {e}") from None
        self.image_pub = self.create_publisher(Image, topics.IMAGE, topics.SENSOR)
        self.info_pub = self.create_publisher(CameraInfo, topics.CAMERA_INFO, topics.SENSOR)
        self.create_timer(1.0 / self.fps, self.on_timer)
        self._last_sequence = -1
        self.live = getattr(self.camera, "drop_frames", False)
        self.ended = False
        self.published = 0
        self.get_logger().info(f"camera {self.camera.name} at {self.fps:g} Hz")

    def on_timer(self) -> None:
        try:
            if self.live:
                frame = self.camera.read_latest(self.max_age)
            else:  # a recording hands over every frame in order, at our pace
                frame = self.camera.read(timeout=1.0 / self.fps)
        except EndOfStreamError:
            if not self.ended:
                self.get_logger().info(f"{self.camera.name}: end of the recording")
            self.ended = True
            return
        except StaleFrameError as e:
            self.get_logger().warning(f"not publishing: {e}", throttle_duration_sec=2.0)
            return
        except CameraError as e:
            self.get_logger().error(f"camera failed: {e}", throttle_duration_sec=2.0)
            return
        if frame.sequence == self._last_sequence:
            return
        self._last_sequence = frame.sequence
        # stamped when the frame arrived, not now: ages downstream are then true
        stamp = conv.to_stamp(self.get_clock().now().nanoseconds * 1e-9 - (frame.age if self.live else 0.0))
        h, w = frame.rgb.shape[:2]
        self.image_pub.publish(conv.rgb_to_image(frame.rgb, stamp, self.frame_id))
        if self.intrinsics is not None:
            K = self.intrinsics.K
            info = conv.camera_info(w, h, K[0, 0], K[1, 1], K[0, 2], K[1, 2], stamp, self.frame_id,
                                    list(self.intrinsics.D))
        else:
            info = conv.camera_info(w, h, *conv.pinhole_from_fov(w, h, self.fov), stamp, self.frame_id)
        self.info_pub.publish(info)
        self.published += 1

    def on_exit(self) -> None:
        self.camera.close()


def main(args=None) -> int:
    from rigbot.process import finish

    return finish(run(CameraNode, args))  # a RealSense source and ROS 2 in one process crash at exit otherwise


if __name__ == "__main__":
    raise SystemExit(main())

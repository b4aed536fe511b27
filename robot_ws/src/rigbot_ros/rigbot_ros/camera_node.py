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


def load_intrinsics(path: str) -> dict:
    """fx, fy, cx, cy and distortion from a ROS camera_info YAML (camera_calibration's ost.yaml layout)."""
    from rigbot.config import ConfigError, read_yaml

    raw = read_yaml(path)
    try:
        k = [float(v) for v in raw["camera_matrix"]["data"]]
        d = [float(v) for v in (raw.get("distortion_coefficients") or {}).get("data", [0.0] * 5)]
        if len(k) != 9:
            raise ValueError("camera_matrix must have 9 values")
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{path}: not a camera_info YAML with camera_matrix.data (3 x 3): {e}") from None
    return {"fx": k[0], "fy": k[4], "cx": k[2], "cy": k[5], "distortion": d,
            "width": raw.get("image_width"), "height": raw.get("image_height")}


def camera_info_of(deployment_file: str) -> str:
    """The camera_info file a deployment YAML names (relative to it), or '' if it names none."""
    from pathlib import Path

    from rigbot.config import read_yaml

    raw = read_yaml(deployment_file)
    name = raw.get("camera_info") if isinstance(raw, dict) else None
    if not name:
        return ""
    path = Path(name)
    return str(path if path.is_absolute() else Path(deployment_file).parent / path)


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
        if not info_file and deployment:
            info_file = camera_info_of(deployment)
        self.intrinsics = load_intrinsics(info_file) if info_file else None
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
            k = self.intrinsics
            info = conv.camera_info(w, h, k["fx"], k["fy"], k["cx"], k["cy"], stamp, self.frame_id, k["distortion"])
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

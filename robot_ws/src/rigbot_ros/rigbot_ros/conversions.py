"""ROS messages <-> numpy, written out here because cv_bridge is a C++ package that pip cannot install.

Every decoder checks the message before trusting its bytes and raises ``BadMessageError`` saying what is wrong.

Latents travel as ``sensor_msgs/Image`` with encoding ``32FC1``, 1 row x latent_dim columns: a standard message
that has a header (the camera image's stamp and frame, so ages can be checked downstream), carries float32
values without copying them into float64, and that every ROS tool (echo, bag, plot) already understands.
``std_msgs/Float32MultiArray`` has no header, and a custom message would need a rosidl build on every machine.
"""
from __future__ import annotations

import math

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped, TwistStamped
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from rigbot.recording import image_messages


class BadMessageError(ValueError):
    """A message rigbot refuses to act on; the text says what is wrong with it."""


LATENT_ENCODING = image_messages.LATENT_ENCODING


# ---- time -----------------------------------------------------------------------------------------------------
def to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def to_stamp(seconds: float) -> Time:
    sec = math.floor(seconds)
    return Time(sec=int(sec), nanosec=min(int(round((seconds - sec) * 1e9)), 999_999_999))


def stamp_key(stamp: Time) -> str:
    """A stamp as text, exact: the goal node reports the stamp of the image each goal came from as this (status
    value ``goal_stamp``), so whoever sent the image can find the answer to it."""
    return f"{stamp.sec}.{stamp.nanosec:09d}"


def header(stamp: Time | float, frame_id: str) -> Header:
    return Header(stamp=to_stamp(stamp) if isinstance(stamp, (int, float)) else stamp, frame_id=frame_id)


# ---- images ---------------------------------------------------------------------------------------------------
def image_to_rgb(msg: Image) -> np.ndarray:
    """An 8-bit colour (rgb8, bgr8, rgba8, bgra8) or mono8 image message as H x W x 3 RGB uint8.

    The one decoder of image messages, ``rigbot.recording.image_messages.image_to_rgb``, which recordings are
    read with too: the declared size is checked (``rigbot.media.check_dimensions``, the bounds image files are
    read with) and so is the data's length against it, before any pixel is touched."""
    try:
        return image_messages.image_to_rgb(msg)
    except image_messages.BadImageMessage as e:
        raise BadMessageError(str(e)) from None


def rgb_to_image(rgb: np.ndarray, stamp: Time | float, frame_id: str) -> Image:
    """An H x W x 3 uint8 RGB array as an rgb8 image message."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected H x W x 3 uint8 RGB, got {rgb.shape} {rgb.dtype}")
    h, w = rgb.shape[:2]
    msg = Image(header=header(stamp, frame_id), height=h, width=w, encoding="rgb8", is_bigendian=0, step=w * 3)
    msg.data = np.ascontiguousarray(rgb).tobytes()
    return msg


# ---- latents --------------------------------------------------------------------------------------------------
def latent_to_image(z: np.ndarray, stamp: Time | float, frame_id: str) -> Image:
    z = np.ascontiguousarray(np.asarray(z, np.float32).ravel())
    msg = Image(header=header(stamp, frame_id), height=1, width=len(z), encoding=LATENT_ENCODING,
                is_bigendian=0, step=4 * len(z))
    msg.data = z.astype("<f4").tobytes()
    return msg


def image_to_latent(msg: Image, dim: int | None = None) -> np.ndarray:
    """A latent message as float32 numbers (``dim`` of them if given): ``rigbot.recording.image_messages``'s
    decoder, which recorded latents are read with too."""
    try:
        return image_messages.image_to_latent(msg, dim)
    except image_messages.BadImageMessage as e:
        raise BadMessageError(str(e)) from None


# ---- commands and poses ---------------------------------------------------------------------------------------
def twist(linear, angular, stamp: Time | float, frame_id: str) -> TwistStamped:
    msg = TwistStamped(header=header(stamp, frame_id))
    msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = (float(v) for v in linear)
    msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z = (float(v) for v in angular)
    return msg


def twist_arrays(msg: TwistStamped) -> tuple[np.ndarray, np.ndarray]:
    lin, ang = msg.twist.linear, msg.twist.angular
    return np.array([lin.x, lin.y, lin.z]), np.array([ang.x, ang.y, ang.z])


def pose(position, stamp: Time | float, frame_id: str, quaternion_xyzw=(0.0, 0.0, 0.0, 1.0)) -> PoseStamped:
    msg = PoseStamped(header=header(stamp, frame_id))
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in position)
    o = msg.pose.orientation
    o.x, o.y, o.z, o.w = (float(v) for v in quaternion_xyzw)
    return msg


def position(msg) -> np.ndarray:
    """x, y, z of a PoseStamped or PointStamped."""
    p = msg.pose.position if hasattr(msg, "pose") else msg.point
    return np.array([p.x, p.y, p.z])


# ---- camera info ----------------------------------------------------------------------------------------------
def camera_info(width: int, height: int, fx: float, fy: float, cx: float, cy: float, stamp: Time | float,
                frame_id: str, distortion=(0.0, 0.0, 0.0, 0.0, 0.0)) -> CameraInfo:
    """A pinhole CameraInfo (plumb_bob distortion, as realsense-ros publishes)."""
    msg = CameraInfo(header=header(stamp, frame_id), width=int(width), height=int(height),
                     distortion_model="plumb_bob")
    msg.d = [float(v) for v in distortion]
    msg.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def pinhole_from_fov(width: int, height: int, vertical_fov_deg: float) -> tuple[float, float, float, float]:
    """fx, fy, cx, cy of an ideal camera with square pixels and the given vertical field of view."""
    fy = 0.5 * height / math.tan(math.radians(vertical_fov_deg) / 2)
    return fy, fy, (width - 1) / 2, (height - 1) / 2


# ---- RViz -----------------------------------------------------------------------------------------------------
def text_marker(text: str, rgb, stamp: Time | float, frame_id: str, ns: str, height: float = 0.04) -> Marker:
    """A text Marker facing the viewer (id 0 of namespace ``ns``: each one replaces the last), in colour ``rgb``
    (0..1 each), ``height`` m tall."""
    marker = Marker(header=header(stamp, frame_id), ns=ns, id=0, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD,
                    text=text)
    marker.scale.z = height
    marker.color.r, marker.color.g, marker.color.b = (float(c) for c in rgb)
    marker.color.a = 1.0
    marker.pose.orientation.w = 1.0
    return marker

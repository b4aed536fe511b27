"""sensor_msgs/Image <-> RGB arrays and latents, without ROS: for recorded messages, and for the nodes' (through
``rigbot_ros.conversions``), so a message is checked the same way wherever it comes from.

Images can come from any camera driver, or any recording, so every field is checked before the bytes are
trusted: the encoding, the declared size (``rigbot.media.check_dimensions``, the bounds image files are read
with), the row step, and the data's length against them, before any pixel is touched.
"""
from __future__ import annotations

import numpy as np

from rigbot import media
from rigbot.text import short_repr

LATENT_ENCODING = "32FC1"  # a latent: a 1-row image of float32 (rigbot_ros.conversions says why)
_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


class BadImageMessage(ValueError):
    """An image message that cannot be read as an 8-bit colour image of bounded size; the text says why."""


def stamp_ns(msg) -> int:
    """The header stamp of a decoded message, in nanoseconds."""
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def image_to_rgb(msg) -> np.ndarray:
    """A sensor_msgs/Image (decoded from a recording, or rclpy's) of rgb8, bgr8, rgba8, bgra8 or mono8 as
    H x W x 3 RGB uint8; a ``BadImageMessage`` saying what is wrong otherwise."""
    encoding = str(msg.encoding)
    enc = encoding.lower() if len(encoding) <= 16 else encoding
    if enc not in _CHANNELS:
        raise BadImageMessage(f"image encoding {short_repr(encoding, 40)} is not an 8-bit colour encoding; "
                              f"rigbot reads {', '.join(_CHANNELS)}")
    c, h, w, step = _CHANNELS[enc], int(msg.height), int(msg.width), int(msg.step)
    try:
        media.check_dimensions(w, h, f"{enc} image")
    except media.ImageFileError as e:
        raise BadImageMessage(str(e)) from None
    if step < w * c:
        raise BadImageMessage(f"image step {step} is less than width x bytes per pixel ({w} x {c})")
    data = msg.data  # bytes (recordings) or array.array (rclpy): viewed, not copied
    if len(data) != step * h:
        raise BadImageMessage(f"image data has {len(data)} bytes; a {w} x {h} {enc} image with step {step} has "
                              f"{step * h}")
    pixels = np.frombuffer(data, np.uint8).reshape(h, step)[:, : w * c].reshape(h, w, c)
    if enc == "mono8":
        return np.repeat(pixels, 3, axis=2)
    rgb = pixels[..., :3]
    return np.ascontiguousarray(rgb[..., ::-1] if enc.startswith("bgr") else rgb)


def image_to_latent(msg, dim: int | None = None) -> np.ndarray:
    """A latent (a 1-row 32FC1 sensor_msgs/Image) as float32 numbers, ``dim`` of them if given; a
    ``BadImageMessage`` saying what is wrong otherwise (not finite included)."""
    if msg.encoding != LATENT_ENCODING or msg.height != 1:
        raise BadImageMessage(f"a latent is a 1-row {LATENT_ENCODING} image, got a {msg.height}-row "
                              f"{short_repr(msg.encoding, 40)} image")
    if len(msg.data) != 4 * msg.width or msg.step != 4 * msg.width:
        raise BadImageMessage(f"latent of width {msg.width} carries {len(msg.data)} bytes, step {msg.step}")
    if dim is not None and msg.width != dim:
        raise BadImageMessage(f"latent has {msg.width} numbers, expected {dim}")
    z = np.frombuffer(msg.data, "<f4" if not msg.is_bigendian else ">f4").astype(np.float32)
    if not np.all(np.isfinite(z)):
        raise BadImageMessage("latent is not finite")
    return z


def rgb_to_image(rgb: np.ndarray, t_ns: int, frame_id: str) -> dict:
    """An rgb8 sensor_msgs/Image as a dict for ``cdr.encode``."""
    h, w = rgb.shape[:2]
    return {"header": header(t_ns, frame_id), "height": h, "width": w, "encoding": "rgb8", "is_bigendian": 0,
            "step": 3 * w, "data": np.ascontiguousarray(rgb, np.uint8).tobytes()}


def header(t_ns: int, frame_id: str) -> dict:
    return {"stamp": {"sec": int(t_ns // 1_000_000_000), "nanosec": int(t_ns % 1_000_000_000)},
            "frame_id": frame_id}

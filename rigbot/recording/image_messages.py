"""sensor_msgs/Image <-> RGB arrays for recorded messages, without ROS (the nodes use rigbot_ros.conversions).

Recorded images can come from any camera driver, so every field is checked before the bytes are trusted.
"""
from __future__ import annotations

import numpy as np

_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


class BadImageMessage(ValueError):
    """A recorded image that cannot be read as an 8-bit colour image; the text says why."""


def stamp_ns(msg) -> int:
    """The header stamp of a decoded message, in nanoseconds."""
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def image_to_rgb(msg) -> np.ndarray:
    """A decoded sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8 or mono8) as H x W x 3 RGB uint8."""
    enc = str(msg.encoding).lower()
    if enc not in _CHANNELS:
        raise BadImageMessage(f"image encoding {msg.encoding!r} is not an 8-bit colour encoding "
                              f"({', '.join(_CHANNELS)})")
    c, h, w, step = _CHANNELS[enc], int(msg.height), int(msg.width), int(msg.step)
    data = bytes(msg.data)
    if h == 0 or w == 0 or step < w * c or len(data) != step * h:
        raise BadImageMessage(f"image of {w} x {h} {enc} with step {step} carries {len(data)} bytes")
    pixels = np.frombuffer(data, np.uint8).reshape(h, step)[:, : w * c].reshape(h, w, c)
    if enc == "mono8":
        return np.repeat(pixels, 3, axis=2)
    rgb = pixels[..., :3]
    return np.ascontiguousarray(rgb[..., ::-1] if enc.startswith("bgr") else rgb)


def rgb_to_image(rgb: np.ndarray, t_ns: int, frame_id: str) -> dict:
    """An rgb8 sensor_msgs/Image as a dict for ``cdr.encode``."""
    h, w = rgb.shape[:2]
    return {"header": header(t_ns, frame_id), "height": h, "width": w, "encoding": "rgb8", "is_bigendian": 0,
            "step": 3 * w, "data": np.ascontiguousarray(rgb, np.uint8).tobytes()}


def header(t_ns: int, frame_id: str) -> dict:
    return {"stamp": {"sec": int(t_ns // 1_000_000_000), "nanosec": int(t_ns % 1_000_000_000)},
            "frame_id": frame_id}

"""One preprocessing, from a raw camera frame to the model's input, for training, evaluation and the nodes alike.

raw frame (any size, RGB or BGR, uint8) -> region-of-interest crop (from the calibration YAML; by default the
centred square) -> resize to the model's size (area averaging) -> RGB uint8 -> float32 CHW in [0, 1] for torch.
Every consumer calls ``preprocess`` (uint8, for storage and display) and ``to_model_input`` (float32 batch), so
the bytes a node feeds the encoder are the bytes the encoder was trained on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

import cv2
import numpy as np

from rigbot.config import spec


class BadImageError(ValueError):
    """A frame rigbot will not feed to a model: wrong type, shape, size or encoding."""


@dataclass
class PreprocessConfig:
    """How raw frames become model inputs."""

    size: int = field(default=48, metadata=spec("model input side, pixels", range=(16, 256)))
    roi: Optional[tuple[int, int, int, int]] = field(
        default=None, metadata=spec("region of interest x, y, width, height in raw pixels; null: centred square"))
    color_order: Literal["rgb", "bgr"] = field(default="rgb", metadata=spec("channel order of incoming frames"))


def check_frame(frame: np.ndarray) -> np.ndarray:
    """The frame if it is an H x W x 3 uint8 image, else BadImageError saying what is wrong."""
    if not isinstance(frame, np.ndarray):
        raise BadImageError(f"expected a numpy image, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise BadImageError(f"expected uint8 pixels, got {frame.dtype}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise BadImageError(f"expected an H x W x 3 colour image, got shape {frame.shape}")
    if frame.shape[0] < 8 or frame.shape[1] < 8:
        raise BadImageError(f"image of {frame.shape[1]} x {frame.shape[0]} pixels is too small")
    return frame


def preprocess(frame: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """A raw frame as the model's RGB uint8 input image (size x size x 3)."""
    frame = check_frame(frame)
    h, w = frame.shape[:2]
    if cfg.roi is None:
        side = min(h, w)
        x, y, rw, rh = (w - side) // 2, (h - side) // 2, side, side
    else:
        x, y, rw, rh = cfg.roi
        if rw <= 0 or rh <= 0 or x < 0 or y < 0 or x + rw > w or y + rh > h:
            raise BadImageError(f"region of interest {cfg.roi} (x, y, width, height) does not fit a {w} x {h} frame")
    crop = frame[y:y + rh, x:x + rw]
    if cfg.color_order == "bgr":
        crop = crop[..., ::-1]
    if crop.shape[0] == cfg.size and crop.shape[1] == cfg.size:
        return np.ascontiguousarray(crop)
    interpolation = cv2.INTER_AREA if min(crop.shape[:2]) >= cfg.size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(crop), (cfg.size, cfg.size), interpolation=interpolation)


def to_model_input(images: np.ndarray) -> np.ndarray:
    """RGB uint8 images (N x H x W x 3, or one H x W x 3) as float32 N x 3 x H x W in [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise BadImageError(f"expected uint8 N x H x W x 3 images, got {images.dtype} {images.shape}")
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)

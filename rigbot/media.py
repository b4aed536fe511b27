"""Pictures people look at: upscaled camera images, labelled side-by-side panels, PNGs and GIFs.

Images are RGB uint8 arrays everywhere in rigbot; OpenCV's BGR order stays inside this module. Files are
written to a temporary name and renamed, so a reader never sees half a file.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from rigbot.files import atomic_write


def upscale(image: np.ndarray, height: int) -> np.ndarray:
    """Enlarge a small camera image with square pixels, so a 48 x 48 view is readable."""
    h, w = image.shape[:2]
    factor = max(1, int(round(height / h)))
    return cv2.resize(image, (w * factor, h * factor), interpolation=cv2.INTER_NEAREST)


def label(image: np.ndarray, text: str) -> np.ndarray:
    """The image with a caption bar above it."""
    bar = np.full((22, image.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (20, 20, 20), 1, cv2.LINE_AA)
    return np.vstack([bar, image])


def panel(images: list[np.ndarray], labels: list[str], height: int = 240) -> np.ndarray:
    """Images side by side, each upscaled to about ``height`` pixels and captioned."""
    tiles = [label(upscale(im, height), text) for im, text in zip(images, labels)]
    h = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, h - t.shape[0]), (0, 0), (0, 0)), constant_values=255) for t in tiles]
    gap = np.full((h, 6, 3), 255, np.uint8)
    out = [tiles[0]]
    for t in tiles[1:]:
        out += [gap, t]
    return np.hstack(out)


def write_png(path: str | Path, image: np.ndarray) -> Path:
    return atomic_write(path, lambda tmp: cv2.imwrite(str(tmp), np.ascontiguousarray(image[..., ::-1])))


def write_gif(path: str | Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """An animated GIF that loops forever."""
    anim = cv2.Animation()
    anim.frames = [np.ascontiguousarray(f[..., ::-1]) for f in frames]
    anim.durations = [int(round(1000 / fps))] * len(frames)
    anim.loop_count = 0
    return atomic_write(path, lambda tmp: cv2.imwriteanimation(str(tmp), anim))


def read_image(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8; a clear error for a missing or undecodable file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: not an image OpenCV can decode (corrupt, or not PNG/JPEG/...)")
    return image[..., ::-1].copy()

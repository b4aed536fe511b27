"""Pictures people look at: upscaled camera images, labelled side-by-side panels, PNGs and GIFs.

Images are RGB uint8 arrays everywhere in rigbot; OpenCV's BGR order stays inside this module. Files are
written to a temporary name and renamed, so a reader never sees half a file.
"""
from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from rigbot import limits
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


# What rigbot reads as an image file (goal images, calibration views) or image message: rigbot.limits' bounds.
MAX_SIDE = limits.MAX_IMAGE_SIDE_PX
MAX_PIXELS = limits.MAX_IMAGE_PIXELS
MAX_FILE_BYTES = limits.MAX_IMAGE_FILE_BYTES
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8"
# JPEG start-of-frame markers (baseline, progressive, lossless, ...): not DHT (C4), JPG (C8) or DAC (CC)
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class ImageFileError(ValueError):
    """An image file rigbot refuses to read (damaged, not PNG/JPEG, or too large); the message names it."""


def declared_size(data: bytes, path: str | Path = "image") -> tuple[str, int, int]:
    """``(format, width, height)`` from a PNG's IHDR or a JPEG's frame header, without decoding any pixel."""
    if data.startswith(_PNG):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ImageFileError(f"{path}: a PNG whose header (IHDR) is missing or cut short")
        width, height = struct.unpack(">II", data[16:24])
        return "PNG", width, height
    if data.startswith(_JPEG):
        width, height = _jpeg_size(data, path)
        return "JPEG", width, height
    raise ImageFileError(f"{path}: not a PNG or JPEG file (rigbot reads those two; convert it)")


def _jpeg_size(data: bytes, path) -> tuple[int, int]:
    """Walk the JPEG's marker segments (each says its own length) up to the frame header, which holds the size."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            raise ImageFileError(f"{path}: a JPEG whose header is damaged (no marker at byte {at})")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            at += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or the image data, before any frame header
            break
        (length,) = struct.unpack(">H", data[at + 2: at + 4])
        if length < 2:
            raise ImageFileError(f"{path}: a JPEG whose header is damaged (segment length {length} at byte {at})")
        if marker in _SOF and at + 9 <= len(data):
            height, width = struct.unpack(">HH", data[at + 5: at + 9])
            return width, height
        at += 2 + length
    raise ImageFileError(f"{path}: a JPEG header without a frame size before its image data (damaged or cut short)")


def check_dimensions(width: int, height: int, what: str) -> None:
    """Refuse an image of ``width`` x ``height`` pixels that is empty or beyond ``MAX_SIDE`` / ``MAX_PIXELS``."""
    if width == 0 or height == 0:
        raise ImageFileError(f"{what}: declares {width} x {height} pixels: an empty image")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ImageFileError(f"{what}: declares {width} x {height} pixels, more than rigbot reads (at most "
                             f"{MAX_SIDE} on a side and {MAX_PIXELS / 1e6:g} megapixels); scale it down first")


def read_image(path: str | Path) -> np.ndarray:
    """A PNG or JPEG file as RGB uint8. Its size is read from its header and checked before any pixel is decoded,
    so a small file declaring a huge image is refused at once; ImageFileError names the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    with open(path, "rb") as f:  # read once: the bytes checked are the bytes decoded
        data = f.read(MAX_FILE_BYTES + 1)
    if not data:
        raise ImageFileError(f"{path}: an empty file, not an image")
    if len(data) > MAX_FILE_BYTES:
        raise ImageFileError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MB, more than an image rigbot reads")
    kind, width, height = declared_size(data, path)
    check_dimensions(width, height, str(path))
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:  # OpenCV raises for some damaged files and returns None for others
        image = None
    if image is None or image.ndim != 3 or image.shape[0] * image.shape[1] != width * height:
        raise ImageFileError(f"{path}: cannot decode this {kind} file (damaged or cut short)")
    return image[..., ::-1].copy()

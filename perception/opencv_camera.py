"""Cameras through OpenCV: a USB (UVC) camera by index, a video file, or a folder of images in name order.

OpenCV gives BGR; frames come out RGB like every other rigbot camera. A USB camera is live (the newest frame
wins); a video file or an image folder is recorded (every frame, in order, then EndOfStreamError).
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rigbot import media
from rigbot.perception.camera import CameraError, CameraNotFoundError, EndOfStreamError, StreamingCamera

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# Read with rigbot.media.read_image, which checks the size a file declares before decoding a pixel (a 50 KB PNG
# may declare 20000 x 20000 pixels, 1.2 GB decoded); the others go to cv2.imread as they are.
SIZE_CHECKED_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class VideoDevice:
    """A V4L2 video device node (Linux); one USB camera often has two: images and metadata."""

    index: int
    path: str
    name: str


def list_video_devices() -> list[VideoDevice]:
    """The /dev/video* devices, with the name the driver gives each."""
    devices = []
    for node in Path("/dev").glob("video*"):
        if node.name[5:].isdigit():
            name_file = Path("/sys/class/video4linux") / node.name / "name"
            name = name_file.read_text().strip() if name_file.is_file() else "unknown"
            devices.append(VideoDevice(int(node.name[5:]), str(node), name))
    return sorted(devices, key=lambda d: d.index)


def _natural_key(path: Path) -> list:
    """Sort 'frame_2.png' before 'frame_10.png', as a person numbering files expects."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


class OpenCVCamera(StreamingCamera):
    """A USB camera (``source`` an int), a video file or an image folder (``source`` a path).

    ``width``, ``height`` and ``fps`` are requests to a USB camera; files keep their own.
    """

    def __init__(self, source: int | str | Path, width: int | None = None, height: int | None = None,
                 fps: float | None = None):
        self.source = source if isinstance(source, int) else Path(source)
        self.width, self.height, self.fps = width, height, fps
        self._capture: cv2.VideoCapture | None = None
        self._images: list[Path] = []
        self._next_image = 0
        super().__init__(f"opencv:{source}", drop_frames=isinstance(source, int))

    def _start(self) -> None:
        if isinstance(self.source, int):
            self._start_usb()
        elif not self.source.exists():
            raise CameraNotFoundError(f"{self.source} does not exist (expected a video file or a folder of images)")
        elif self.source.is_dir():
            self._images = sorted((p for p in self.source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
                                  key=_natural_key)
            if not self._images:
                raise CameraNotFoundError(f"folder {self.source} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            self._next_image = 0
        else:
            self._capture = cv2.VideoCapture(str(self.source))
            if not self._capture.isOpened():
                self._capture = None
                raise CameraError(f"OpenCV cannot open video file {self.source} (not a video, corrupt, or a codec "
                                  "this OpenCV build lacks)")

    def _start_usb(self) -> None:
        attached = list_video_devices()
        if sys.platform.startswith("linux") and self.source not in [d.index for d in attached]:
            listing = ", ".join(f"{d.path} ({d.name})" for d in attached) or "none"
            raise CameraNotFoundError(f"no video device /dev/video{self.source}; attached: {listing}")
        self._capture = cv2.VideoCapture(self.source)
        if not self._capture.isOpened():
            self._capture = None
            raise CameraNotFoundError(f"OpenCV cannot open USB camera {self.source} (busy, or not a camera)")
        self._capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the driver from queueing old frames
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, self.width), (cv2.CAP_PROP_FRAME_HEIGHT, self.height),
                            (cv2.CAP_PROP_FPS, self.fps)):
            if value is not None:
                self._capture.set(prop, value)

    def _grab(self) -> tuple[np.ndarray, float | None]:
        if self._images:
            return self._grab_image(), None
        ok, bgr = self._capture.read()
        if not ok:
            if isinstance(self.source, int):
                raise CameraError(f"{self.name}: the camera stopped delivering frames (unplugged?)")
            raise EndOfStreamError(f"{self.name}: the video has no more frames")
        position = self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 if not isinstance(self.source, int) else None
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), position

    def _grab_image(self) -> np.ndarray:
        if self._next_image >= len(self._images):
            raise EndOfStreamError(f"{self.name}: all {len(self._images)} images have been read")
        path = self._images[self._next_image]
        self._next_image += 1
        if path.suffix.lower() in SIZE_CHECKED_SUFFIXES:
            try:
                return media.read_image(path)
            except media.ImageFileError as e:  # names the file: damaged, or declaring more pixels than rigbot reads
                raise CameraError(f"{self.name}: cannot read image {e}") from None
            except OSError as e:  # gone or unreadable since the folder was listed
                raise CameraError(f"{self.name}: cannot read image {path}: {e.strerror or e}") from None
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise CameraError(f"{self.name}: cannot read image {path} (corrupt, or not an image)")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _stop(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        self._images = []

"""One small camera interface for every image source: RealSense, OpenCV (USB, video file, image folder), the twin.

A camera is opened, read and closed; each read gives a ``Frame`` (RGB pixels, when it arrived, its sequence
number). ``read_latest(max_age)`` is what a control loop calls: it never waits for the device, and it refuses a
frame older than ``max_age``, so a stalled or unplugged camera stops the robot instead of steering it with an
old picture::

    with open_camera("realsense") as camera:          # or "opencv:0", "opencv:clip.avi", "twin:reach"
        frame = camera.read_latest(max_age=0.1)
"""
from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class CameraError(RuntimeError):
    """A camera that cannot be opened or read; the message names the camera and what went wrong."""


class CameraNotFoundError(CameraError):
    """The camera asked for is not attached (or the file or folder does not exist); the message says what is."""


class StaleFrameError(CameraError):
    """The newest frame is older than the caller allows: acting on it would act on the past."""


class EndOfStreamError(CameraError):
    """A recorded source (video file, image folder, RealSense recording) has no more frames."""


@dataclass(frozen=True, eq=False)
class Frame:
    """One camera image and when it was taken."""

    rgb: np.ndarray
    """H x W x 3 uint8, in RGB order (OpenCV's BGR is converted on the way in)."""
    timestamp: float
    """``time.monotonic()`` seconds when rigbot received the frame: the clock ages are measured on."""
    sequence: int
    """0, 1, 2, ... since the camera was opened; a gap means frames were dropped to stay current."""
    source: str
    """The camera's name, e.g. ``realsense:123456789012`` or ``opencv:/data/clip.avi``."""
    device_timestamp: float | None = None
    """The source's own clock in seconds (RealSense device time, video position, simulation time), if it has one."""

    def __post_init__(self) -> None:
        rgb = self.rgb
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"{self.source}: a frame must be H x W x 3 uint8, got {rgb.shape} {rgb.dtype}")

    @property
    def age(self) -> float:
        """Seconds since the frame arrived."""
        return time.monotonic() - self.timestamp


class Camera(ABC):
    """An image source: ``open()``, ``read(timeout)``, ``read_latest(max_age)``, ``close()``; a context manager."""

    def __init__(self, name: str):
        self.name = name

    @property
    @abstractmethod
    def is_open(self) -> bool:
        """Whether ``open()`` has succeeded and ``close()`` has not been called since."""

    @abstractmethod
    def open(self) -> None:
        """Connect to the source; raises CameraNotFoundError when it is not there."""

    @abstractmethod
    def read(self, timeout: float = 1.0) -> Frame:
        """The newest frame not returned before, waiting up to ``timeout`` seconds for one."""

    @abstractmethod
    def _newest(self) -> Frame | None:
        """The newest frame the camera holds, without waiting for the device; None before the first."""

    @abstractmethod
    def close(self) -> None:
        """Release the device; safe to call twice."""

    def read_latest(self, max_age: float) -> Frame:
        """The newest frame, at once; raises StaleFrameError if it is older than ``max_age`` seconds."""
        self._require_open()
        frame = self._newest()
        if frame is None:
            raise StaleFrameError(f"{self.name}: no frame has arrived yet")
        age = frame.age
        if age > max_age:
            raise StaleFrameError(f"{self.name}: the newest frame (#{frame.sequence}) is {age * 1000:.0f} ms old, "
                                  f"older than the {max_age * 1000:.0f} ms allowed")
        return frame

    def _require_open(self) -> None:
        if not self.is_open:
            raise CameraError(f"{self.name} is not open: call open() first, or use the camera in a 'with' block")

    def __enter__(self) -> "Camera":
        if not self.is_open:
            self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {'open' if self.is_open else 'closed'}>"


class StreamingCamera(Camera):
    """A camera read by a background thread, so ``read_latest`` never waits on the device.

    Live sources (``drop_frames=True``) keep only the newest frame: a slow reader skips frames rather than falling
    behind. Recorded sources (``drop_frames=False``) hand over every frame in order: the thread grabs the next one
    only after the reader has taken the last. Subclasses implement ``_start``, ``_grab`` and ``_stop``.
    """

    def __init__(self, name: str, drop_frames: bool):
        super().__init__(name)
        self.drop_frames = drop_frames
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._latest: Frame | None = None
        self._returned = -1  # sequence number of the last frame read() gave out
        self._error: CameraError | None = None

    @abstractmethod
    def _start(self) -> None:
        """Open the device (in the caller's thread, so errors reach ``open()``)."""

    @abstractmethod
    def _grab(self) -> tuple[np.ndarray, float | None]:
        """Block until the next image arrives: (RGB uint8 image, device time in s or None).

        Raises EndOfStreamError when a recording ends, CameraError when the device fails. Called by the thread only.
        """

    @abstractmethod
    def _stop(self) -> None:
        """Release the device (after the thread has ended)."""

    @property
    def is_open(self) -> bool:
        return self._thread is not None

    def open(self) -> None:
        if self.is_open:
            return
        self._stopping.clear()
        self._start()
        self._latest, self._returned, self._error = None, -1, None
        self._thread = threading.Thread(target=self._capture_loop, name=f"camera {self.name}", daemon=True)
        self._thread.start()

    def _capture_loop(self) -> None:
        sequence = 0
        while not self._stopping.is_set():
            if not self.drop_frames:
                with self._cond:  # recorded source: wait until the reader has taken the previous frame
                    self._cond.wait_for(lambda: self._stopping.is_set() or self._latest is None
                                        or self._latest.sequence <= self._returned)
                if self._stopping.is_set():
                    return
            try:
                rgb, device_time = self._grab()
            except Exception as e:  # the thread must not die silently: read() re-raises this in the caller
                # A fresh exception, without the original's traceback: that holds this thread's frames, and with
                # them the device, alive until the garbage collector runs (a recording could not be reopened).
                error = type(e)(str(e)) if isinstance(e, CameraError) else CameraError(
                    f"{self.name}: capture failed: {type(e).__name__}: {e}")
                with self._cond:
                    self._error = error
                    self._cond.notify_all()
                return
            frame = Frame(rgb, time.monotonic(), sequence, self.name, device_time)
            sequence += 1
            with self._cond:
                self._latest = frame
                self._cond.notify_all()

    def read(self, timeout: float = 1.0) -> Frame:
        self._require_open()
        with self._cond:
            fresh = lambda: self._latest is not None and self._latest.sequence > self._returned  # noqa: E731
            self._cond.wait_for(lambda: fresh() or self._error is not None, timeout)
            if fresh():
                self._returned = self._latest.sequence
                self._cond.notify_all()
                return self._latest
            error = self._error
        if error is not None:
            raise type(error)(str(error))  # a new one each time, so tracebacks do not pile up on the stored error
        raise CameraError(f"{self.name}: no new frame within {timeout:g} s")

    def _newest(self) -> Frame | None:
        with self._cond:
            return self._latest

    def read_latest(self, max_age: float) -> Frame:
        try:
            return super().read_latest(max_age)
        except StaleFrameError as e:
            if self._error is None:
                raise
            raise StaleFrameError(f"{e}; capture has stopped: {self._error}") from None

    def close(self) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join()
        self._thread = None
        self._stop()


def open_camera(spec: str, **options) -> Camera:
    """Open the camera that ``spec`` names; ``options`` go to its class (e.g. width, height, fps).

    Specs: ``realsense`` (the first attached), ``realsense:SERIAL``, ``realsense:recording.bag`` (or ``.db3``),
    ``opencv:0`` (USB index), ``opencv:video.mp4``, ``opencv:folder`` (images in name order), ``twin:reach``.
    """
    kind, _, arg = spec.partition(":")
    if kind == "realsense":
        from rigbot.perception.realsense_camera import RealSenseCamera

        if arg.endswith((".bag", ".db3")):
            camera: Camera = RealSenseCamera(playback=arg, **options)
        else:
            camera = RealSenseCamera(serial=arg or None, **options)
    elif kind == "opencv" and arg:
        from rigbot.perception.opencv_camera import OpenCVCamera

        camera = OpenCVCamera(int(arg) if arg.isdigit() else Path(arg), **options)
    elif kind == "twin" and arg:
        from rigbot.perception.twin_camera import TwinCamera

        camera = TwinCamera(arg, **options)
    else:
        raise ValueError(f"unknown camera {spec!r}; use realsense, realsense:SERIAL, realsense:FILE.bag, "
                         "opencv:INDEX, opencv:VIDEO_FILE, opencv:IMAGE_FOLDER or twin:TASK")
    camera.open()
    return camera

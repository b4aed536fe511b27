"""Intel RealSense colour camera through pyrealsense2's ``rs.pipeline``, live or played back from a recording.

Live: choose the camera by serial number (default: the first attached), its colour resolution and frame rate;
the first frames after start are discarded while auto-exposure settles; when frames stop (a cable pulled out and
plugged back in), the pipeline is restarted a few times before the camera gives up. Playback: a ``.bag``/``.db3``
file recorded by realsense-viewer, ``rs.recorder`` or rigbot, read frame by frame without drops.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyrealsense2 as rs

from rigbot.perception.camera import CameraError, CameraNotFoundError, EndOfStreamError, StreamingCamera

# Live cameras are asked for RGB8 (the SDK converts from the sensor's YUYV); recordings keep what was recorded.
_TO_RGB = {
    rs.format.rgb8: lambda a: a,
    rs.format.bgr8: lambda a: a[..., ::-1],
    rs.format.rgba8: lambda a: a[..., :3],
    rs.format.bgra8: lambda a: a[..., 2::-1],
}
_POLL_S = 0.1  # how often a waiting capture thread looks up to notice close() or the end of a recording


@dataclass(frozen=True)
class RealSenseDevice:
    """An attached RealSense camera, as ``rigbot cameras list`` shows it."""

    name: str
    serial: str
    firmware: str
    usb_type: str
    """USB version of the link, e.g. '3.2'; on '2.x' the higher resolutions and frame rates are unavailable."""


def list_realsense_devices() -> list[RealSenseDevice]:
    """The RealSense cameras attached now."""
    def info(device: rs.device, field: rs.camera_info) -> str:
        return device.get_info(field) if device.supports(field) else "unknown"

    return [RealSenseDevice(info(d, rs.camera_info.name), info(d, rs.camera_info.serial_number),
                            info(d, rs.camera_info.firmware_version), info(d, rs.camera_info.usb_type_descriptor))
            for d in rs.context().query_devices()]


def _describe(devices: list[RealSenseDevice]) -> str:
    if not devices:
        return "none"
    return ", ".join(f"{d.name} (serial {d.serial}, USB {d.usb_type})" for d in devices)


class RealSenseCamera(StreamingCamera):
    """The colour stream of a RealSense camera, or of a recording of one (``playback=``).

    ``warmup_frames`` defaults to 30 live (one second at 30 fps, while auto-exposure settles) and 0 for playback,
    whose frames are exactly what was recorded. Playback takes resolution and rate from the file.
    """

    def __init__(self, serial: str | None = None, width: int = 640, height: int = 480, fps: int = 30,
                 warmup_frames: int | None = None, playback: str | Path | None = None,
                 frame_timeout: float = 1.0, reconnect_attempts: int = 3, reconnect_delay: float = 2.0):
        if playback is not None and serial is not None:
            raise ValueError("give a serial number (live camera) or a recording (playback=), not both")
        self.serial = serial
        self.width, self.height, self.fps = width, height, fps
        self.playback = Path(playback) if playback is not None else None
        self.warmup_frames = warmup_frames if warmup_frames is not None else (0 if playback is not None else 30)
        self.frame_timeout = frame_timeout
        self.reconnect_attempts = reconnect_attempts
        self.reconnect_delay = reconnect_delay
        self._pipeline: rs.pipeline | None = None
        self._player: rs.playback | None = None
        name = f"realsense:{self.playback}" if self.playback else f"realsense:{serial or 'first attached'}"
        super().__init__(name, drop_frames=self.playback is None)

    # ---- starting ----------------------------------------------------------------------------------------------
    def _start(self) -> None:
        if self.playback is not None:
            self._start_playback()
            return
        attached = list_realsense_devices()
        if not attached:
            raise CameraNotFoundError(
                "no RealSense camera is attached (pyrealsense2 sees no device). Plug it into a USB 3 port; on Linux "
                "also install librealsense's udev rules (99-realsense-libusb.rules) so it may be opened without root")
        if self.serial is None:
            self.serial = attached[0].serial
            self.name = f"realsense:{self.serial}"
        elif self.serial not in [d.serial for d in attached]:
            raise CameraNotFoundError(f"no RealSense camera with serial {self.serial} is attached; "
                                      f"attached: {_describe(attached)}")
        self._start_live()

    def _start_live(self) -> None:
        config = rs.config()
        config.enable_device(self.serial)
        config.enable_stream(rs.stream.color, self.width, self.height, rs.format.rgb8, self.fps)
        self._pipeline = rs.pipeline()
        try:
            self._pipeline.start(config)
        except RuntimeError as e:
            self._pipeline = None
            raise CameraError(f"{self.name}: cannot stream colour {self.width}x{self.height} RGB8 at {self.fps} fps "
                              f"({e}); 'rs-enumerate-devices' lists the modes this camera has") from e
        try:
            for _ in range(self.warmup_frames):
                self._pipeline.wait_for_frames(int(self.frame_timeout * 1000))
        except RuntimeError as e:
            self._stop()
            raise CameraError(f"{self.name}: started, but no frame came within {self.frame_timeout:g} s "
                              f"during warm-up ({e})") from e

    def _start_playback(self) -> None:
        if not self.playback.is_file():
            raise CameraNotFoundError(f"RealSense recording {self.playback} does not exist")
        config = rs.config()
        config.enable_device_from_file(str(self.playback), repeat_playback=False)
        config.enable_stream(rs.stream.color)
        self._pipeline = rs.pipeline()
        try:
            # Every frame, as fast as it is read, instead of at recorded speed with late ones dropped. Set on the
            # resolved device before start (start reuses it): set after, the frames already played are lost.
            player = config.resolve(rs.pipeline_wrapper(self._pipeline)).get_device().as_playback()
            player.set_real_time(False)
            self._player = self._pipeline.start(config).get_device().as_playback()
        except RuntimeError as e:
            self._pipeline = None
            raise CameraError(f"cannot play back {self.playback} as a RealSense colour stream: {e}") from e
        for _ in range(self.warmup_frames):
            self._wait_for_color()

    # ---- reading -----------------------------------------------------------------------------------------------
    def _grab(self) -> tuple[np.ndarray, float | None]:
        frame = self._wait_for_color()
        fmt = frame.get_profile().format()
        if fmt not in _TO_RGB:
            raise CameraError(f"{self.name}: colour format {fmt} is not supported (use rgb8, bgr8, rgba8 or bgra8)")
        rgb = np.ascontiguousarray(_TO_RGB[fmt](np.asanyarray(frame.get_data())))  # a copy: the SDK reuses its buffer
        return rgb, frame.get_timestamp() / 1000.0

    def _wait_for_color(self) -> rs.video_frame:
        """The next colour frame; restarts a live camera whose frames stop, ends at the end of a recording."""
        waited = 0.0
        while not self._stopping.is_set():
            ok, frames = self._pipeline.try_wait_for_frames(int(_POLL_S * 1000))
            if ok:
                color = frames.get_color_frame()
                if color:
                    return color
                continue
            if self._player is not None:
                if self._player.current_status() == rs.playback_status.stopped:
                    raise EndOfStreamError(f"{self.name}: the recording has no more frames")
                continue
            waited += _POLL_S
            if waited >= self.frame_timeout:
                self._reconnect()
                waited = 0.0
        raise EndOfStreamError(f"{self.name}: closed")

    def _reconnect(self) -> None:
        """Restart the pipeline after frames stopped, e.g. a cable pulled and plugged back in."""
        problem = f"no frame for {self.frame_timeout:g} s"
        for _ in range(self.reconnect_attempts):
            self._stop()
            if self._stopping.wait(self.reconnect_delay):  # give the camera time to re-enumerate on USB
                return
            attached = list_realsense_devices()
            if self.serial not in [d.serial for d in attached]:
                problem = f"the camera is no longer attached (attached: {_describe(attached)})"
                continue
            try:
                self._start_live()
                return
            except CameraError as e:
                problem = str(e)
        raise CameraError(f"{self.name}: frames stopped and {self.reconnect_attempts} restarts failed; last: "
                          f"{problem}. Check the cable and the USB port")

    def _stop(self) -> None:
        if self._pipeline is not None:
            try:
                self._pipeline.stop()
            except RuntimeError:  # already stopped, or the device is gone: either way nothing is left to release
                pass
            self._pipeline = None
        self._player = None

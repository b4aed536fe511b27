"""Cameras, for real: a RealSense recording played through rs.pipeline, video files and image folders through
OpenCV, the twin's renderer, and ``rigbot cameras list``. Every frame the tests read has content they know."""
import os
import struct
import subprocess
import sys
import time
import zlib

import cv2
import numpy as np
import pyrealsense2 as rs
import pytest

import rigbot.sim as sim
from rigbot.perception.camera import (CameraError, CameraNotFoundError, EndOfStreamError, StaleFrameError,
                                      open_camera)
from rigbot.perception.opencv_camera import OpenCVCamera
from rigbot.perception.realsense_camera import RealSenseCamera, list_realsense_devices
from rigbot.perception.twin_camera import TwinCamera

W, H, N_FRAMES = 64, 48, 12
no_realsense_attached = pytest.mark.skipif(bool(list_realsense_devices()), reason="a RealSense camera is attached")


def known_image(i: int) -> np.ndarray:
    """Frame i: red encodes the index, green the column, blue the row (order, orientation and channels at once)."""
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 0] = 20 * i
    img[..., 1] = np.arange(W)[None, :] * 4
    img[..., 2] = np.arange(H)[:, None] * 5
    return img


def device_ms(i: int) -> float:
    return 5000.0 + i * 1000.0 / 30


def record_synthetic(path, fmt=rs.format.rgb8) -> None:
    """Record N_FRAMES known images from a software RealSense device, as the SDK records a real one."""
    device = rs.software_device()
    device.register_info(rs.camera_info.name, "rigbot synthetic D435")
    device.register_info(rs.camera_info.serial_number, "000000000042")
    sensor = device.add_sensor("RGB Camera")
    intrinsics = rs.intrinsics()
    intrinsics.width, intrinsics.height, intrinsics.ppx, intrinsics.ppy = W, H, W / 2, H / 2
    intrinsics.fx = intrinsics.fy = float(W)
    intrinsics.model, intrinsics.coeffs = rs.distortion.none, [0.0] * 5
    stream = rs.video_stream()
    stream.type, stream.index, stream.uid = rs.stream.color, 0, 0
    stream.width, stream.height, stream.fps, stream.bpp, stream.fmt = W, H, 30, 3, fmt
    stream.intrinsics = intrinsics
    profile = sensor.add_video_stream(stream).as_video_stream_profile()

    recorder = rs.recorder(str(path), device)
    delivered = rs.frame_queue(N_FRAMES)
    sensor.open(profile)
    sensor.start(delivered)
    for i in range(N_FRAMES):
        image = known_image(i) if fmt == rs.format.rgb8 else np.ascontiguousarray(known_image(i)[..., ::-1])
        frame = rs.software_video_frame()
        frame.pixels, frame.bpp, frame.stride = image, 3, W * 3
        frame.timestamp, frame.domain, frame.frame_number = device_ms(i), rs.timestamp_domain.hardware_clock, i
        frame.profile = profile
        sensor.on_video_frame(frame)
        assert delivered.wait_for_frame(1000).get_frame_number() == i  # through the sensor, so recorded
    sensor.stop()
    sensor.close()
    recorder.pause()
    del recorder  # the file is complete once the recorder is gone


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("realsense") / "synthetic.db3"  # rs.recorder insists on .db3
    record_synthetic(path)
    return path


def read_to_end(camera, timeout=5.0):
    frames = []
    while True:
        try:
            frames.append(camera.read(timeout))
        except EndOfStreamError:
            return frames


# ---- RealSense ---------------------------------------------------------------------------------------------------
def test_realsense_playback_gives_every_recorded_frame_in_order(recording):
    with RealSenseCamera(playback=recording) as camera:
        frames = []
        for k in range(N_FRAMES):
            if k % 4 == 0:
                time.sleep(0.05)  # a slow reader must not lose frames of a recording
            frames.append(camera.read(timeout=5.0))
        with pytest.raises(EndOfStreamError, match="no more frames"):
            camera.read(timeout=5.0)
    assert [f.sequence for f in frames] == list(range(N_FRAMES))
    for i, frame in enumerate(frames):
        assert frame.rgb.shape == (H, W, 3) and frame.rgb.dtype == np.uint8
        np.testing.assert_array_equal(frame.rgb, known_image(i))
        assert frame.device_timestamp == pytest.approx(device_ms(i) / 1000, abs=1e-6)
        assert frame.source == f"realsense:{recording}"
    assert all(a.timestamp < b.timestamp for a, b in zip(frames, frames[1:]))
    assert 0 <= frames[-1].age < 5


def test_realsense_bgr_recording_comes_out_rgb(tmp_path):
    path = tmp_path / "bgr.db3"
    record_synthetic(path, fmt=rs.format.bgr8)
    with open_camera(f"realsense:{path}") as camera:
        frames = read_to_end(camera)
    assert len(frames) == N_FRAMES
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(frame.rgb, known_image(i))


def test_realsense_warmup_discards_the_first_frames_at_every_open(recording):
    camera = RealSenseCamera(playback=recording, warmup_frames=3)
    for _ in range(2):  # reopening starts the recording again
        with camera:
            frames = read_to_end(camera)
        assert len(frames) == N_FRAMES - 3
        np.testing.assert_array_equal(frames[0].rgb, known_image(3))
        assert frames[0].sequence == 0


def test_read_latest_refuses_a_stale_frame(recording):
    with RealSenseCamera(playback=recording) as camera:
        first = camera.read(timeout=5.0)
        assert camera.read_latest(max_age=2.0).sequence in (0, 1)  # fresh: given at once
        time.sleep(0.25)
        with pytest.raises(StaleFrameError, match=r"realsense:.*ms old, older than the 50 ms allowed"):
            camera.read_latest(max_age=0.05)
        assert camera.read(timeout=5.0).sequence == first.sequence + 1


def test_read_latest_says_why_frames_stopped(recording):
    with RealSenseCamera(playback=recording) as camera:
        read_to_end(camera)
        with pytest.raises(StaleFrameError, match="capture has stopped: .*no more frames"):
            camera.read_latest(max_age=0.0)


@no_realsense_attached
def test_no_realsense_attached_is_a_clear_error():
    with pytest.raises(CameraNotFoundError, match="no RealSense camera is attached.*USB 3 port"):
        RealSenseCamera().open()
    with pytest.raises(CameraNotFoundError, match="no RealSense camera is attached"):
        open_camera("realsense:123456789012")


def test_missing_recording_and_unopened_camera_are_clear_errors(tmp_path, recording):
    with pytest.raises(CameraNotFoundError, match=r"recording .*nothing\.bag does not exist"):
        RealSenseCamera(playback=tmp_path / "nothing.bag").open()
    camera = RealSenseCamera(playback=recording)
    with pytest.raises(CameraError, match="is not open: call open"):
        camera.read()


# ---- OpenCV ------------------------------------------------------------------------------------------------------
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (250, 200, 40), (30, 90, 160)]  # RGB


def colour_image(rgb) -> np.ndarray:
    """A solid colour with a white left half-row band, to check the image is not flipped."""
    img = np.zeros((H, W, 3), np.uint8)
    img[:] = rgb
    img[: H // 4, : W // 2] = 255
    return img


def test_opencv_reads_a_video_file_in_rgb(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (W, H))
    for rgb in COLOURS:
        writer.write(cv2.cvtColor(colour_image(rgb), cv2.COLOR_RGB2BGR))
    writer.release()

    with open_camera(f"opencv:{path}") as camera:
        assert isinstance(camera, OpenCVCamera)
        frames = read_to_end(camera)
    assert len(frames) == len(COLOURS)
    for i, (frame, rgb) in enumerate(zip(frames, COLOURS)):
        assert frame.rgb.shape == (H, W, 3)
        centre = frame.rgb[3 * H // 4, 3 * W // 4].astype(int)
        assert np.abs(centre - rgb).max() <= 12, (i, centre, rgb)  # MJPEG is lossy; a channel swap is not subtle
        assert frame.rgb[2, 2].min() > 230 and np.abs(frame.rgb[2, W - 3].astype(int) - rgb).max() <= 12
        assert frame.device_timestamp == pytest.approx(i / 10)
        assert frame.sequence == i


def test_opencv_reads_an_image_folder_in_name_order(tmp_path):
    names = ["frame_2.png", "frame_10.png", "frame_1.png"]  # name order: 1, 2, 10
    for name, rgb in zip(names, COLOURS):
        cv2.imwrite(str(tmp_path / name), cv2.cvtColor(colour_image(rgb), cv2.COLOR_RGB2BGR))
    (tmp_path / "notes.txt").write_text("not an image, ignored")
    with OpenCVCamera(tmp_path) as camera:
        frames = read_to_end(camera)
        with pytest.raises(EndOfStreamError, match="all 3 images have been read"):
            camera.read()
    expected = [COLOURS[2], COLOURS[0], COLOURS[1]]
    assert len(frames) == 3
    for frame, rgb in zip(frames, expected):
        np.testing.assert_array_equal(frame.rgb, colour_image(rgb))  # PNG is lossless


def test_opencv_corrupt_image_is_a_clear_error(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), colour_image(COLOURS[0]))
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n but then nothing an image should have")
    with OpenCVCamera(tmp_path) as camera:
        camera.read()
        with pytest.raises(CameraError, match=r"cannot read image .*b\.png: a PNG whose header \(IHDR\) is missing"):
            camera.read()
    other = tmp_path / "other"  # formats rigbot.media does not read go to OpenCV as they are
    other.mkdir()
    (other / "c.bmp").write_bytes(b"BM but then nothing an image should have")
    with OpenCVCamera(other) as camera:
        with pytest.raises(CameraError, match=r"cannot read image .*c\.bmp \(corrupt, or not an image\)"):
            camera.read()


def png_declaring(path, width: int, height: int) -> None:
    """A real, complete PNG of ``width`` x ``height`` black pixels at 1 bit each: 20000 x 20000 is 50 KB on disk
    and 1.2 GB once decoded to colour."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    deflate = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the row's bits
    idat = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_opencv_image_folder_refuses_a_huge_declared_image_quickly_in_bounded_memory(tmp_path):
    """The opencv:FOLDER camera reads PNG and JPEG files with rigbot.media.read_image, which checks the size a file
    declares before decoding it: the camera's clear error, not 1.2 GB of pixels."""
    cv2.imwrite(str(tmp_path / "a.png"), colour_image(COLOURS[0]))
    png_declaring(tmp_path / "b.png", 20000, 20000)
    assert (tmp_path / "b.png").stat().st_size < 200_000
    script = ("import resource, sys, time\n"
              "from rigbot.perception.camera import CameraError\n"
              "from rigbot.perception.opencv_camera import OpenCVCamera\n"
              "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "start = time.monotonic()\n"
              "with OpenCVCamera(sys.argv[1]) as camera:\n"
              "    assert camera.read(timeout=60).rgb.shape == (48, 64, 3)\n"
              "    try:\n"
              "        camera.read(timeout=60)\n"
              "        print('READ')\n"
              "    except CameraError as e:\n"
              "        print('ERROR', e)\n"
              "growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024\n"
              "print(f'GROWTH {growth} SECONDS {time.monotonic() - start:.1f}')\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=300,
                       env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    error, measures = p.stdout.strip().splitlines()[-2:]
    assert error.startswith("ERROR") and "b.png" in error and "declares 20000 x 20000 pixels" in error, error
    words = measures.split()
    assert int(words[1]) < 300, f"the camera grew by {words[1]} MB"
    assert float(words[3]) < 20, f"the camera took {words[3]} s"


def test_opencv_missing_empty_and_unreadable_sources_are_clear_errors(tmp_path):
    with pytest.raises(CameraNotFoundError, match=r"nope\.mp4 does not exist"):
        open_camera(f"opencv:{tmp_path / 'nope.mp4'}")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CameraNotFoundError, match="holds no images"):
        OpenCVCamera(empty).open()
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"definitely not a video" * 10)
    with pytest.raises(CameraError, match=r"OpenCV cannot open video file .*junk\.avi"):
        OpenCVCamera(junk).open()
    if not os.path.exists("/dev/video63"):
        with pytest.raises(CameraNotFoundError, match="no video device /dev/video63"):
            OpenCVCamera(63).open()


def test_unknown_camera_spec_names_the_accepted_forms():
    with pytest.raises(ValueError, match="unknown camera 'webcam'.*opencv:INDEX"):
        open_camera("webcam")


# ---- the twin ----------------------------------------------------------------------------------------------------
def test_twin_camera_frames_follow_the_environment():
    env = sim.make("reach", image_size=48)
    obs, _ = env.reset(seed=3)
    try:
        camera = TwinCamera(env=env)
        with camera:
            first = camera.read()
            np.testing.assert_array_equal(first.rgb, obs["image"])
            for _ in range(5):
                obs, *_ = env.step(env.action_space.high)
            second = camera.read_latest(max_age=0.5)
            np.testing.assert_array_equal(second.rgb, obs["image"])
        assert not np.array_equal(first.rgb, second.rgb)  # the hand moved, and the camera saw it
        assert second.timestamp > first.timestamp and second.sequence == first.sequence + 1
        assert second.device_timestamp > first.device_timestamp  # simulation time
    finally:
        env.close()


def test_twin_camera_from_a_spec():
    with open_camera("twin:push", image_size=32) as camera:
        frames = [camera.read() for _ in range(3)]
    assert all(f.rgb.shape == (32, 32, 3) and f.rgb.dtype == np.uint8 for f in frames)
    assert frames[0].rgb.std() > 5 and frames[0].source == "twin:push"
    assert frames[0].timestamp < frames[1].timestamp < frames[2].timestamp


# ---- the command line --------------------------------------------------------------------------------------------
@no_realsense_attached
def test_cameras_list_says_no_realsense_is_attached():
    proc = subprocess.run([sys.executable, "-m", "rigbot.cli", "cameras", "list"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "RealSense cameras: no RealSense camera attached" in proc.stdout
    assert "OpenCV video devices:" in proc.stdout

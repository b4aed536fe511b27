"""Image files and goal names from outside: read only within bounds, refused with the file and the problem named.

A few-hundred-kilobyte PNG can declare 10^8 pixels (zeros compress 1000:1); decoding it first and asking
afterwards used gigabytes. Goal names become file names, so only a safe charset gets through.
"""
from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from rigbot import media
from rigbot.perception.goal_images import GoalLibrary

HUGE = 10000  # 10^8 pixels: 300 MB as BGR, and the RGB copy another 300 MB


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_of_zeros(path: Path, width: int, height: int) -> Path:
    """A valid RGB PNG of black pixels: tiny on disk, huge once decoded."""
    z = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)  # filter byte, then the pixels
    data = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", data) + _chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory) -> Path:
    return png_of_zeros(tmp_path_factory.mktemp("images") / "huge.png", HUGE, HUGE)


def small_image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (60, 80, 3), dtype=np.uint8)


def encoded(suffix: str, image: np.ndarray | None = None) -> bytes:
    ok, buf = cv2.imencode(suffix, np.ascontiguousarray((small_image() if image is None else image)[..., ::-1]))
    assert ok
    return buf.tobytes()


def _run_measured(code: str) -> tuple[float, str]:
    """Run ``code`` (defining ``attempt()``) in a fresh interpreter; peak RSS growth (MB) during attempt(), output."""
    script = ("import resource\n" + code + "\nbase = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "try:\n    print('RESULT', attempt())\nexcept Exception as e:\n    print('ERROR', type(e).__name__, e)\n"
              "print('GROWTH', (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return float(out.stdout.rsplit("GROWTH", 1)[1]), out.stdout + out.stderr


# ---- image files --------------------------------------------------------------------------------------------------
def test_a_png_declaring_huge_dimensions_is_refused_before_decoding(huge_png):
    growth, text = _run_measured(f"from rigbot import media\ndef attempt():\n"
                                 f"    return media.read_image({str(huge_png)!r}).shape\n")
    assert "ERROR ImageFileError" in text and str(huge_png) in text and f"{HUGE} x {HUGE}" in text, text
    assert growth < 300, f"refusing it took {growth:.0f} MB: it was decoded first\n{text}"


def test_goal_set_refuses_a_huge_png_without_decoding_it(huge_png):
    pytest.importorskip("rclpy")
    growth, text = _run_measured(f"from rigbot.cli import main\ndef attempt():\n"
                                 f"    return main(['goal', 'set', {str(huge_png)!r}, '--timeout', '1'])\n")
    assert "RESULT 2" in text and str(huge_png) in text and f"{HUGE} x {HUGE}" in text, text
    assert growth < 300, f"rigbot goal set used {growth:.0f} MB on a {huge_png.stat().st_size} byte file\n{text}"


def test_a_jpeg_declaring_huge_dimensions_is_refused(tmp_path):
    data = bytearray(encoded(".jpg"))
    sof = next(i for i in range(2, len(data) - 1) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC1, 0xC2))
    data[sof + 5: sof + 9] = struct.pack(">HH", 20000, 20000)  # height, width
    path = tmp_path / "huge.jpg"
    path.write_bytes(bytes(data))
    with pytest.raises(media.ImageFileError, match=rf"{path}: .*20000 x 20000"):
        media.read_image(path)


def test_images_within_bounds_read_as_rgb(tmp_path):
    image = small_image()
    png = tmp_path / "a.png"
    media.write_png(png, image)
    np.testing.assert_array_equal(media.read_image(png), image)
    smooth = np.zeros((60, 80, 3), np.uint8)
    smooth[..., 0], smooth[..., 2] = np.linspace(0, 255, 80, dtype=np.uint8), 200  # red ramp over blue: RGB order
    jpg = tmp_path / "a.jpg"
    jpg.write_bytes(encoded(".jpg", smooth))
    got = media.read_image(jpg)
    assert got.shape == smooth.shape and np.abs(got.astype(int) - smooth).mean() < 5


@pytest.mark.parametrize("make, problem", ids=["png-cut-in-pixels", "jpeg-cut", "png-cut-in-header", "empty", "text",
                                              "bmp", "png-0-wide"], argvalues=[
    (lambda: encoded(".png")[:200], "cannot decode"),  # truncated inside the pixel data
    (lambda: encoded(".jpg")[:300], "cannot decode"),
    (lambda: encoded(".png")[:20], "header"),  # cut inside IHDR
    (lambda: b"", "empty"),
    (lambda: b"hello, this is no picture", "not a PNG or JPEG"),
    (lambda: encoded(".bmp"), "not a PNG or JPEG"),
    (lambda: b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0)), "0 x 5"),
])
def test_damaged_or_foreign_image_files_give_an_error_naming_the_file(tmp_path, make, problem):
    path = tmp_path / "goal.png"
    path.write_bytes(make())
    with pytest.raises(media.ImageFileError, match=rf"{path}: .*{problem}"):
        media.read_image(path)


def test_a_folder_or_missing_file_is_not_an_image(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such image file"):
        media.read_image(tmp_path / "none.png")
    with pytest.raises(FileNotFoundError, match="no such image file"):
        media.read_image(tmp_path)


# ---- goal names ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["evil\n", "a\nb", "../up", "a/b", ".hidden", "", "x.png", "tab\t", "é", "a b",
                                  "a\\b", "-flag", "a" * 65])
def test_goal_names_outside_the_safe_charset_are_refused_and_nothing_is_written(tmp_path, name):
    library = GoalLibrary(tmp_path / "goals")
    with pytest.raises(ValueError, match="goal name"):
        library.save(name, small_image())
    with pytest.raises(ValueError, match="goal name"):
        library.load(name)
    assert not (tmp_path / "goals").exists() or not list((tmp_path / "goals").iterdir())
    assert not list(tmp_path.rglob("*.png"))


def test_goal_save_refuses_a_name_with_a_newline_before_asking_ros(tmp_path, capsys):
    pytest.importorskip("rclpy")
    from rigbot.cli import main

    assert main(["goal", "save", "evil\n", "--library", str(tmp_path / "goals"), "--timeout", "30"]) == 2
    assert "goal name 'evil\\n'" in capsys.readouterr().err
    assert not (tmp_path / "goals").exists()


def test_safe_goal_names_round_trip(tmp_path):
    library = GoalLibrary(tmp_path / "goals")
    for name in ("home", "left-1", "a_b.c", "X9"):
        library.save(name, small_image())
        np.testing.assert_array_equal(library.load(name), small_image())
    (tmp_path / "goals" / "bad name.png").write_bytes(encoded(".png"))  # put there by hand: not listed
    assert library.names() == ["X9", "a_b.c", "home", "left-1"]


# ---- the goal node keeps answering ------------------------------------------------------------------------------
def test_goal_node_refuses_a_huge_goal_file_in_bounded_memory_and_keeps_answering(huge_png, tmp_path):
    rclpy = pytest.importorskip("rclpy")
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    from ros_helpers import NodeProcess, Probe
    from test_untrusted_weights import small_policy

    ck = small_policy(tmp_path / "ck", heldout_mse=None)  # no held-out error: any workspace-like image passes
    good = tmp_path / "good.png"
    media.write_png(good, small_image())
    rclpy.init()
    probe = Probe("images_probe")
    node = NodeProcess("goal", tmp_path, params={"checkpoint": str(ck), "library": str(tmp_path / "goals")},
                       node_name="goal_images")

    def set_goal(path: Path):
        request = SetParameters.Request(parameters=[Parameter(name="goal", value=ParameterValue(
            type=ParameterType.PARAMETER_STRING, string_value=str(path)))])
        return probe.call(SetParameters, "/goal_images/set_parameters", request, timeout=60).results[0]

    def peak_mb() -> float:
        status = Path(f"/proc/{node.pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024

    try:
        first = set_goal(good)  # the node is up and has done one goal's work
        assert first.successful, first.reason
        before = peak_mb()
        answer = set_goal(huge_png)
        assert not answer.successful and str(huge_png) in answer.reason and f"{HUGE} x {HUGE}" in answer.reason
        assert peak_mb() - before < 300, f"the goal node grew {peak_mb() - before:.0f} MB refusing it"
        again = set_goal(good)
        assert again.successful and node.proc.poll() is None, node.log()
    finally:
        node.stop()
        probe.close()
        rclpy.shutdown()

"""The committed lock and `rigbot doctor`'s comparison of what is installed with a lock."""
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from rigbot.lock import LOCK_NAME, compare, normalise, read_lock

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_lock_pins_every_package_exactly():
    pins = read_lock(ROOT / LOCK_NAME)
    assert len(pins) > 50  # transitive dependencies included, not only pyproject's direct ones
    assert pins["torch"] == "2.13.0"  # the release; the build (CPU here) is what install.sh installed first
    for direct in ("mujoco", "numpy", "opencv-python", "ros-rclpy", "pyyaml", "safetensors", "hypothesis"):
        assert direct in pins, direct
    assert "rigbot" not in pins  # the project itself is installed editable, from the tree
    # ROS 2's wheels carry an egg-info of each package's own name that no index serves ('rclpy' inside
    # 'ros-rclpy'): a lock naming them cannot be installed
    assert "rclpy" not in pins and "std-msgs" not in pins


def test_a_lock_line_that_is_not_an_exact_pin_is_refused_naming_the_line(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("# comment\nnumpy==2.4.6\nmujoco>=3.3\n")
    with pytest.raises(ValueError, match=r"requirements.lock:3: not an exact pin .*mujoco>=3.3"):
        read_lock(lock)


def doctor(lock: Path) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "rigbot.cli", "doctor"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "RIGBOT_LOCK": str(lock)})


def test_doctor_names_each_package_that_differs_from_the_lock_and_fails(tmp_path):
    numpy, yaml = metadata.version("numpy"), metadata.version("PyYAML")
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"numpy==0.0.1\nPyYAML=={yaml}\nno-such-package-rigbot==1.0\n")
    mismatched, missing = compare(read_lock(lock))
    assert mismatched == [f"numpy: installed {numpy}, lock 0.0.1"] and missing == ["no-such-package-rigbot"]
    out = doctor(lock)
    assert out.returncode == 1, out.stdout + out.stderr
    assert re.search(r"FAIL  locked versions: .*2 package\(s\) differ from", out.stdout), out.stdout
    assert f"numpy: installed {numpy}, lock 0.0.1" in out.stdout and "no-such-package-rigbot: not installed" in out.stdout
    assert "pyyaml" not in out.stdout.lower().split("locked versions")[1].split("rendering")[0]


def test_doctor_reports_a_matching_lock_as_ok(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"numpy=={metadata.version('numpy')}\nPyYAML=={metadata.version('PyYAML')}\n")
    out = doctor(lock)
    assert "ok    locked versions: every package matches requirements.lock (2 exact versions)" in out.stdout, out.stdout
    assert normalise("PyYAML") == "pyyaml" and normalise("opencv_python") == "opencv-python"


def test_a_locked_release_matches_any_build_of_it_but_a_locked_build_only_itself():
    from rigbot.lock import matches

    assert matches("2.13.0+cpu", "2.13.0") and matches("2.13.0", "2.13.0")
    assert not matches("2.13.0+cpu", "2.13.0+cu128") and not matches("2.13.1", "2.13.0")
    assert not matches("2.13.0", "2.13.0+cpu")

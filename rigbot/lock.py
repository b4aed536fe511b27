"""The committed lock (``requirements.lock``): the exact versions the test suite passed with.

``./install.sh`` installs exactly these; ``./install.sh --refresh-lock`` re-resolves pyproject.toml's ranges to the
newest releases in a fresh environment, runs the suite there, and rewrites the lock only if it passes.
``rigbot doctor`` compares what is installed with it (``compare``).
"""
from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path

LOCK_NAME = "requirements.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;#]+)")


def lock_path() -> Path | None:
    """$RIGBOT_LOCK, else the lock beside the source tree (an editable install or a checkout); None for a plain
    package install."""
    path = Path(os.environ.get("RIGBOT_LOCK") or Path(__file__).resolve().parent.parent / LOCK_NAME)
    return path if path.is_file() else None


def normalise(name: str) -> str:
    """A distribution name as PyPI compares them (PEP 503): case, '-', '_' and '.' do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: str | Path) -> dict[str, str]:
    """``{normalised name: version}`` of every ``name==version`` line; anything else is refused, naming the line."""
    pins: dict[str, str] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = _PIN.match(line)
        if not m:
            raise ValueError(f"{path}:{number}: not an exact pin (name==version): {line[:80]!r}")
        pins[normalise(m.group(1))] = m.group(3)
    return pins


def matches(installed: str, locked: str) -> bool:
    """PEP 440's ``==``: a locked version without a local label ('2.13.0') matches any build of it ('2.13.0+cpu')."""
    return installed == locked or ("+" not in locked and installed.split("+", 1)[0] == locked)


def installed_pins() -> list[str]:
    """``name==version`` of every distribution pip installed here, sorted, the project and pip itself left out, local
    version labels dropped ('torch==2.13.0+cpu' -> 'torch==2.13.0': the lock names releases; the build, CPU or
    CUDA, is whichever install.sh's torch line installed). ROS 2's wheels also carry an egg-info of each package's
    own name (``rclpy`` beside ``ros-rclpy``) that no index serves: those have no INSTALLER record and are left out,
    as pip installs them with the wheel that holds them."""
    pins = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name or normalise(name) in ("rigbot", "pip") or not (dist.read_text("INSTALLER") or "").strip():
            continue
        pins[normalise(name)] = f"{name}=={dist.version.split('+', 1)[0]}"
    return [pins[k] for k in sorted(pins)]


def compare(pins: dict[str, str]) -> tuple[list[str], list[str]]:
    """``(mismatched, missing)``: 'name: installed X, lock Y' lines, and locked names not installed at all."""
    installed = {normalise(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}
    mismatched = [f"{name}: installed {installed[name]}, lock {want}" for name, want in sorted(pins.items())
                  if name in installed and not matches(installed[name], want)]
    missing = [name for name in sorted(pins) if name not in installed]
    return mismatched, missing


if __name__ == "__main__":  # python -m rigbot.lock: the installed versions, as lock lines (install.sh --refresh-lock)
    print("\n".join(installed_pins()))

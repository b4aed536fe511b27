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


def compare(pins: dict[str, str]) -> tuple[list[str], list[str]]:
    """``(mismatched, missing)``: 'name: installed X, lock Y' lines, and locked names not installed at all."""
    installed = {normalise(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}
    mismatched = [f"{name}: installed {installed[name]}, lock {want}" for name, want in sorted(pins.items())
                  if name in installed and not matches(installed[name], want)]
    missing = [name for name in sorted(pins) if name not in installed]
    return mismatched, missing

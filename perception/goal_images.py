"""Goal images: the checks an image passes before it becomes a goal, and a named library of saved goals.

A goal image steers the arm, so it is checked like any other input: it must be a colour image the
preprocessing accepts, and it must look like the scenes the VAE was trained on. The second check compares the
image's reconstruction error with the VAE's held-out error: noise, a photo of something else or a corrupted
buffer reconstructs far worse than any real view of the workspace, and is refused instead of producing a
meaningless goal latent.

The library is a folder of PNG files, one per goal, named ``NAME.png``. ``GoalTracker`` keeps the current goal
and what the goal node reports about it (where it came from, the last image refused, how far the camera's latent
is from it), with its settings in ``GoalConfig``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rigbot import media
from rigbot.config import spec
from rigbot.perception.preprocessing import BadImageError, preprocess
from rigbot.text import short_repr


@dataclass(frozen=True)
class Goal:
    """A checked goal: the raw image, the model-sized image, its latent, and its VAE reconstruction."""

    image: np.ndarray
    model_input: np.ndarray
    latent: np.ndarray
    reconstruction: np.ndarray
    reconstruction_error: float


def heldout_error(vae_dir: str | Path) -> float | None:
    """The held-out reconstruction error a VAE checkpoint records (``info.heldout_mse`` in vae.yaml), if any.

    It sets how bad a goal image may reconstruct, so a value that would switch the check off or make it refuse
    everything (not a number, NaN, infinite, <= 0, or above 1, the largest mean squared error of 0..1 pixels) is
    a ConfigError naming the file, not silently ignored."""
    from rigbot.config import ConfigError, read_yaml

    path = Path(vae_dir) / "vae.yaml"
    raw = read_yaml(path) if path.is_file() else None
    info = raw.get("info") if isinstance(raw, dict) else None
    value = info.get("heldout_mse") if isinstance(info, dict) else None
    if value is None:
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (number and 0 < value <= 1):  # compared, not converted: NaN and inf fail it, a 400-digit int too
        shown = short_repr(value) if number else f"a {type(value).__name__}"
        raise ConfigError(f"{path}: info.heldout_mse: expected a mean squared error in (0, 1], got {shown}")
    return float(value)


def make_goal(image: np.ndarray, encoder, reference_error: float | None = None, max_error_ratio: float = 5.0) -> Goal:
    """Check ``image`` and encode it; BadImageError says why an image is refused.

    Images whose reconstruction error (mean squared, 0..1 scale) exceeds ``max_error_ratio`` times
    ``reference_error`` (the VAE's held-out error, see ``heldout_error``) are refused; None or 0 turns it off.
    """
    model_input = preprocess(image, encoder.preprocess)
    latent = encoder.encode(model_input)[0]
    if not np.all(np.isfinite(latent)):
        raise BadImageError("the encoder gave a non-finite latent for this image")
    reconstruction = encoder.decode(latent[None])[0]
    error = float(np.mean((reconstruction.astype(np.float32) - model_input.astype(np.float32)) ** 2) / 255.0 ** 2)
    reference = reference_error
    if max_error_ratio > 0 and reference:
        if error > max_error_ratio * reference:
            raise BadImageError(
                f"the image does not look like the workspace the encoder was trained on: reconstruction error "
                f"{error:.4f} is {error / reference:.0f} x the held-out error {reference:.4f} "
                f"(at most {max_error_ratio:g} x allowed)")
    return Goal(np.ascontiguousarray(image), model_input, latent, reconstruction, error)


# A goal name becomes a file name: letters, digits, '-', '_' and '.', starting with a letter or digit (no hidden
# files, no option-like names), nothing else (no separators, no newline). fullmatch: '$' would let "evil\n" through.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class GoalLibrary:
    """Named goal images in a folder (``NAME.png``)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name.endswith(".png"):
            raise ValueError(f"goal name {short_repr(name)}: use letters, digits, '_', '-' or '.' (starting with a "
                             "letter or digit), up to 64 characters, no '.png'")
        return self.folder / f"{name}.png"

    def names(self) -> list[str]:
        """The saved goals' names (files with names a goal could not have, put there by hand, are left out)."""
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.png") if _NAME.fullmatch(p.stem) and p.is_file())

    def load(self, name: str) -> np.ndarray:
        path = self.path(name)
        if not path.is_file():
            known = ", ".join(self.names()) or "none"
            raise FileNotFoundError(f"no goal named {name!r} in {self.folder} (saved goals: {known})")
        return media.read_image(path)

    def load_named(self, name: str) -> tuple[np.ndarray, str]:
        """``(image, where it came from)`` of ``name``: an image file if it has a suffix and is a file, else the
        saved goal of that name; FileNotFoundError or ValueError says why neither is there."""
        path = Path(name).expanduser()
        if path.suffix and path.is_file():
            return media.read_image(path), f"file {path}"
        return self.load(name), f"saved goal {name!r}"

    def save(self, name: str, image: np.ndarray) -> Path:
        return media.write_png(self.path(name), image)


@dataclass
class GoalConfig:
    """When a goal counts as reached, and which goal images are refused."""

    reached_threshold: float = field(default=1.0, metadata=spec("latent distance counted as reached",
                                                                range=(0.0, 1000.0)))
    max_error_ratio: float = field(default=5.0, metadata=spec(
        "refuse goal images the VAE reconstructs worse than this many times its held-out error (0: off)",
        range=(0.0, 1e6)))


class GoalTracker:
    """The current goal: where it came from and when (``stamp``: the key of the image it was made from), the last
    goal image refused, and the latent distance from it of the latest observation."""

    def __init__(self, encoder, reference_error: float | None, cfg: GoalConfig | None = None):
        self.encoder, self.reference_error, self.cfg = encoder, reference_error, cfg or GoalConfig()
        self.goal: Goal | None = None
        self.source = self.stamp = self.last_error = ""
        self.distance: float | None = None

    def offer(self, image: np.ndarray, source: str, stamp: str) -> tuple[Goal | None, str]:
        """``(the new goal, what happened)``, or ``(None, why it was refused)`` (then the previous goal stays)."""
        try:
            goal = make_goal(image, self.encoder, self.reference_error, self.cfg.max_error_ratio)
        except BadImageError as e:
            return None, self.refuse(f"goal image from {source} refused: {e}", stamp)
        self.goal, self.source, self.stamp, self.last_error, self.distance = goal, source, stamp, "", None
        return goal, f"new goal from {source} (reconstruction error {goal.reconstruction_error:.4f})"

    def refuse(self, message: str, stamp: str) -> str:
        """Note a refused goal image (made from the image stamped ``stamp``); returns ``message``."""
        self.last_error, self.stamp = message, stamp
        return message

    def observe(self, latent: np.ndarray) -> None:
        """The latest observation's latent (of the goal's size): sets ``distance``."""
        if self.goal is not None:
            self.distance = float(np.linalg.norm(latent - self.goal.latent))

    @property
    def reached(self) -> bool:
        return self.distance is not None and self.distance <= self.cfg.reached_threshold

    def status(self) -> tuple[str, str, dict[str, str]]:
        """``(level: 'ok', 'warn' or 'error', message, values)`` as the goal node reports them."""
        level, message = ("warn", "no goal") if self.goal is None else ("ok", "reached" if self.reached else
                                                                        "not reached")
        if self.last_error:
            level, message = "error", f"{message}; last goal refused: {self.last_error}"
        return level, message, {
            "goal": self.source, "goal_stamp": self.stamp,
            "latent_distance": "" if self.distance is None else f"{self.distance:.4f}",
            "reached_threshold": f"{self.cfg.reached_threshold:g}", "reached": str(self.reached).lower(),
            "error": self.last_error}

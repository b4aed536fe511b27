"""Goal images: the checks an image passes before it becomes a goal, and a named library of saved goals.

A goal image steers the arm, so it is checked like any other input: it must be a colour image the
preprocessing accepts, and it must look like the scenes the VAE was trained on. The second check compares the
image's reconstruction error with the VAE's held-out error: noise, a photo of something else or a corrupted
buffer reconstructs far worse than any real view of the workspace, and is refused instead of producing a
meaningless goal latent.

The library is a folder of PNG files, one per goal, named ``NAME.png``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rigbot import media
from rigbot.perception.preprocessing import BadImageError, preprocess


@dataclass(frozen=True)
class Goal:
    """A checked goal: the raw image, the model-sized image, its latent, and its VAE reconstruction."""

    image: np.ndarray
    model_input: np.ndarray
    latent: np.ndarray
    reconstruction: np.ndarray
    reconstruction_error: float


def heldout_error(vae_dir: str | Path) -> float | None:
    """The held-out reconstruction error a VAE checkpoint records (``info.heldout_mse`` in vae.yaml), if any."""
    from rigbot.config import read_yaml

    path = Path(vae_dir) / "vae.yaml"
    raw = read_yaml(path) if path.is_file() else None
    value = ((raw or {}).get("info") or {}).get("heldout_mse") if isinstance(raw, dict) else None
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


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


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class GoalLibrary:
    """Named goal images in a folder (``NAME.png``)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        if not _NAME.match(name) or name.endswith(".png"):
            raise ValueError(f"goal name {name!r}: use letters, digits, '_', '-' or '.', up to 64, no '.png'")
        return self.folder / f"{name}.png"

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.png")) if self.folder.is_dir() else []

    def load(self, name: str) -> np.ndarray:
        path = self.path(name)
        if not path.is_file():
            known = ", ".join(self.names()) or "none"
            raise FileNotFoundError(f"no goal named {name!r} in {self.folder} (saved goals: {known})")
        return media.read_image(path)

    def save(self, name: str, image: np.ndarray) -> Path:
        return media.write_png(self.path(name), image)

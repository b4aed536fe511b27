"""The on-disk format of collected frames: append-only chunks that a crash cannot corrupt.

A dataset is a folder::

    meta.yaml              what was collected: format version, task, image size, collection settings
    chunk_000000.npz       frames 0 .. n-1
    chunk_000001.npz       the next frames, and so on

Each chunk is a NumPy ``.npz`` (no pickled objects; read with ``allow_pickle=False``) holding equal-length arrays:

    images          N x H x W x 3 uint8   the model-sized camera images, RGB
    observations    N x D float64         the true state (hand position, joints, objects)
    achieved_goals  N x G float64         the goal-space state (hand x, y; puck x, y for push)
    episodes        N int64               episode number (continues across chunks)
    steps           N int64               step within the episode (0 = just after reset)

A chunk is written to a temporary name and renamed when complete, so a crash loses at most the chunk being
filled; every file named ``chunk_*.npz`` is whole. Appending to an existing dataset continues the numbering.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import yaml

from rigbot.config import ConfigError, read_yaml
from rigbot.files import atomic_write, atomic_write_text

FORMAT_VERSION = 1
FIELDS = ("images", "observations", "achieved_goals", "episodes", "steps")
_CHUNK = re.compile(r"chunk_(\d{6})\.npz$")


class DatasetError(ValueError):
    """A dataset folder rigbot cannot read or append to; the message names the file."""


def _chunks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("chunk_*.npz") if _CHUNK.search(p.name))


class FrameWriter:
    """Buffers frames and writes a whole chunk every ``chunk_size`` frames (and on ``close``)."""

    def __init__(self, folder: str | Path, meta: dict, chunk_size: int = 1000):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        meta_path = self.folder / "meta.yaml"
        meta = {"format_version": FORMAT_VERSION, **meta}
        if meta_path.exists():
            old = read_meta(self.folder)
            for key in ("task", "image_size"):
                if old.get(key) != meta.get(key):
                    raise DatasetError(f"{meta_path}: {key} is {old.get(key)!r}; cannot append frames with "
                                       f"{key} {meta.get(key)!r} to it")
        else:
            atomic_write_text(meta_path, yaml.safe_dump(meta, sort_keys=False))
        existing = _chunks(self.folder)
        self.next_chunk = int(_CHUNK.search(existing[-1].name).group(1)) + 1 if existing else 0
        self.next_episode = 0
        if existing:
            with np.load(existing[-1], allow_pickle=False) as last:
                self.next_episode = int(last["episodes"].max()) + 1
        self.chunk_size = chunk_size
        self._buffer: dict[str, list] = {k: [] for k in FIELDS}
        self.frames_written = 0

    def add(self, image: np.ndarray, observation: np.ndarray, achieved_goal: np.ndarray, episode: int,
            step: int) -> None:
        for key, value in zip(FIELDS, (image, observation, achieved_goal, episode, step)):
            self._buffer[key].append(value)
        if len(self._buffer["images"]) >= self.chunk_size:
            self.flush()

    def flush(self) -> None:
        if not self._buffer["images"]:
            return
        arrays = {
            "images": np.stack(self._buffer["images"]).astype(np.uint8),
            "observations": np.stack(self._buffer["observations"]).astype(np.float64),
            "achieved_goals": np.stack(self._buffer["achieved_goals"]).astype(np.float64),
            "episodes": np.asarray(self._buffer["episodes"], np.int64),
            "steps": np.asarray(self._buffer["steps"], np.int64),
        }
        atomic_write(self.folder / f"chunk_{self.next_chunk:06d}.npz", lambda tmp: _write_npz(tmp, arrays))
        self.next_chunk += 1
        self.frames_written += len(arrays["images"])
        self._buffer = {k: [] for k in FIELDS}

    def close(self) -> None:
        self.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())  # on disk before the rename makes it visible


def read_meta(folder: str | Path) -> dict:
    path = Path(folder) / "meta.yaml"
    if not path.is_file():
        raise DatasetError(f"{path}: missing; is {folder} a rigbot dataset (made by 'rigbot collect')?")
    try:
        meta = read_yaml(path)
    except ConfigError as e:
        raise DatasetError(str(e)) from None
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        raise DatasetError(f"{path}: not a rigbot dataset of format version {FORMAT_VERSION}")
    return meta


def count_frames(folder: str | Path) -> int:
    """Frames in a dataset folder (0 when there is none yet), without loading the images."""
    total = 0
    for chunk in _chunks(Path(folder)):
        with np.load(chunk, allow_pickle=False) as f:
            total += len(f["steps"])
    return total


def load_frames(folder: str | Path, max_frames: int | None = None) -> dict[str, np.ndarray]:
    """All frames of a dataset (or the first ``max_frames``), as the arrays of ``FIELDS``."""
    folder = Path(folder)
    meta = read_meta(folder)
    chunks = _chunks(folder)
    if not chunks:
        raise DatasetError(f"{folder}: no frames yet (no chunk_*.npz files)")
    parts: dict[str, list] = {k: [] for k in FIELDS}
    total = 0
    for path in chunks:
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in FIELDS}
        except Exception as e:  # a damaged file: say which, never guess
            raise DatasetError(f"{path}: unreadable chunk ({type(e).__name__}: {e})") from None
        n = len(arrays["images"])
        if any(len(a) != n for a in arrays.values()):
            raise DatasetError(f"{path}: arrays of different lengths")
        if arrays["images"].shape[1:] != (meta["image_size"], meta["image_size"], 3):
            raise DatasetError(f"{path}: images of shape {arrays['images'].shape[1:]}, meta.yaml says "
                               f"{meta['image_size']} x {meta['image_size']}")
        for k in FIELDS:
            parts[k].append(arrays[k])
        total += n
        if max_frames is not None and total >= max_frames:
            break
    out = {k: np.concatenate(v) for k, v in parts.items()}
    if max_frames is not None:
        out = {k: v[:max_frames] for k, v in out.items()}
    return out

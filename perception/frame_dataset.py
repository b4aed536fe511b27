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

A dataset may come from elsewhere, so every reader checks a chunk before trusting it (``read_chunk``): each
array's npy header (dtype, shape) is read from the zip first, and its size bounded and compared with what the zip
member holds, before any array is loaded; then the dtypes and shapes above, equal lengths, finite observations
and goals, a hand within ``MAX_HAND_DISTANCE_M`` of the base, steps and episodes >= 0. Anything else is a
``DatasetError`` naming the chunk and the problem.
"""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import numpy as np

from rigbot.config import ConfigError, dump_yaml, read_yaml, short_repr
from rigbot.files import atomic_write, atomic_write_text
from rigbot.limits import MAX_HAND_DISTANCE_M
from rigbot.npy import NpyError, member_header

FORMAT_VERSION = 1
FIELDS = ("images", "observations", "achieved_goals", "episodes", "steps")
_CHUNK = re.compile(r"chunk_(\d{6})\.npz$")
IMAGE_SIZES = (4, 1024)  # meta.yaml's image_size, pixels: the models take 32 to 256
MAX_ARRAY_BYTES = 1 << 30  # one array of one chunk: 1000 frames of 512 x 512 images are 786 MB
# MAX_HAND_DISTANCE_M (rigbot.limits): observations start with the hand position, within it of the base per axis
_KINDS = {"images": "u", "observations": "f", "achieved_goals": "f", "episodes": "iu", "steps": "iu"}


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
            atomic_write_text(meta_path, dump_yaml(meta, sort_keys=False))
        existing = _chunks(self.folder)
        self.next_chunk = int(_CHUNK.search(existing[-1].name).group(1)) + 1 if existing else 0
        self.next_episode = 0
        if existing:  # a damaged last chunk is an error now, not a numbering that silently restarts
            last = read_chunk(existing[-1], meta["image_size"], ("episodes",))["episodes"]
            self.next_episode = int(last.max()) + 1 if len(last) else 0
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
    except ConfigError as e:  # unreadable, not UTF-8, not YAML: read_yaml names the file
        raise DatasetError(" ".join(str(e).split())) from None  # one line: YAML's marks span several
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        raise DatasetError(f"{path}: not a rigbot dataset of format version {FORMAT_VERSION}")
    size = meta.get("image_size")
    if isinstance(size, bool) or not isinstance(size, int) or not IMAGE_SIZES[0] <= size <= IMAGE_SIZES[1]:
        raise DatasetError(f"{path}: image_size must be a whole number of pixels from {IMAGE_SIZES[0]} to "
                           f"{IMAGE_SIZES[1]}, not {short_repr(size)}")
    if not isinstance(meta.get("task"), str):
        raise DatasetError(f"{path}: task must be a task name, not {short_repr(meta.get('task'))}")
    return meta


def chunk_length(path: Path, image_size: int) -> int:
    """Check a chunk's arrays from their npy headers alone (nothing loaded): present, plain (no pickled
    objects), of the format's dtypes and shapes, of equal lengths, of bounded size, and each as long as the
    zip member that holds it. Returns the chunk's frame count."""
    try:
        with zipfile.ZipFile(path) as z:
            headers = {key: _npy_header(z, key, path) for key in FIELDS}
    except DatasetError:
        raise
    except IsADirectoryError:
        raise DatasetError(f"{path}: a folder, not a chunk file") from None
    except Exception as e:  # whatever zipfile and numpy make of a damaged file (truncated, not a zip, bad data)
        raise DatasetError(f"{path}: unreadable chunk, not a whole npz file ({type(e).__name__}: {e})") from None
    n = headers["images"][0][0] if headers["images"][0] else 0
    for key, (shape, dtype) in headers.items():
        expected = {"images": 4, "observations": 2, "achieved_goals": 2}.get(key, 1)
        if dtype.kind not in _KINDS[key] or (key == "images" and dtype.itemsize != 1):
            raise DatasetError(f"{path}: {key} are {dtype}; the format stores them as "
                               + {"images": "uint8", "observations": "floats", "achieved_goals": "floats"}.get(
                                   key, "integers"))
        if len(shape) != expected or shape[0] != n:
            raise DatasetError(f"{path}: {key} of shape {shape}, with images of shape "
                               f"{headers['images'][0]}: arrays of different lengths or dimensions")
    if headers["images"][0][1:] != (image_size, image_size, 3):
        raise DatasetError(f"{path}: images of shape {headers['images'][0][1:]}, meta.yaml says "
                           f"{image_size} x {image_size} x 3")
    if headers["observations"][0][1] < 3 or headers["achieved_goals"][0][1] < 1:
        raise DatasetError(f"{path}: observations of shape {headers['observations'][0]} and achieved_goals of "
                           f"shape {headers['achieved_goals'][0]}; observations start with the hand's x, y, z")
    return int(n)


def _npy_header(z: zipfile.ZipFile, key: str, path: Path) -> tuple[tuple, np.dtype]:
    """(shape, dtype) from the npy header of member ``key``; its size bounded and matched to the member's."""
    try:
        return member_header(z, key, MAX_ARRAY_BYTES, str(path))
    except NpyError as e:
        raise DatasetError(str(e)) from None


def read_chunk(path: Path, image_size: int, fields: tuple[str, ...] = FIELDS) -> dict[str, np.ndarray]:
    """The arrays ``fields`` of one chunk, after ``chunk_length`` and with their values checked."""
    chunk_length(path, image_size)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in fields}
    except Exception as e:  # e.g. data that fails its CRC: say which file, never guess
        raise DatasetError(f"{path}: unreadable chunk ({type(e).__name__}: {e})") from None
    for key in ("observations", "achieved_goals"):
        if key in arrays and not np.all(np.isfinite(arrays[key])):
            bad = int(np.argwhere(~np.isfinite(arrays[key]))[0][0])
            raise DatasetError(f"{path}: {key} of frame {bad} hold NaN or Inf")
    if "observations" in arrays and len(arrays["observations"]):
        far = np.abs(arrays["observations"][:, :3]).max(axis=1) > MAX_HAND_DISTANCE_M
        if far.any():
            raise DatasetError(f"{path}: the hand position of frame {int(np.argmax(far))} is more than "
                               f"{MAX_HAND_DISTANCE_M:g} m from the base")
    for key in ("episodes", "steps"):
        if key in arrays and len(arrays[key]) and arrays[key].min() < 0:
            raise DatasetError(f"{path}: {key} below 0")
    return arrays


def count_frames(folder: str | Path) -> int:
    """Frames in a dataset folder (0 when there is none yet), from the chunks' headers (nothing loaded)."""
    chunks = _chunks(Path(folder))
    if not chunks:
        return 0
    size = read_meta(folder)["image_size"]
    return sum(chunk_length(chunk, size) for chunk in chunks)


def load_frames(folder: str | Path, max_frames: int | None = None) -> dict[str, np.ndarray]:
    """All frames of a dataset (or the first ``max_frames``), as the arrays of ``FIELDS``, each chunk checked
    (``read_chunk``) before it is used."""
    folder = Path(folder)
    meta = read_meta(folder)
    chunks = _chunks(folder)
    if not chunks:
        raise DatasetError(f"{folder}: no frames yet (no chunk_*.npz files)")
    parts: dict[str, list] = {k: [] for k in FIELDS}
    total = 0
    for path in chunks:
        arrays = read_chunk(path, meta["image_size"])
        for k in FIELDS:
            parts[k].append(arrays[k])
        total += len(arrays["images"])
        if max_frames is not None and total >= max_frames:
            break
    out = {k: np.concatenate(v) for k, v in parts.items()}
    if max_frames is not None:
        out = {k: v[:max_frames] for k, v in out.items()}
    return out

"""Recorded end-effector poses, read from the files a person or a robot writes: CSV, YAML or NumPy .npz.

Positions are metres in the robot's base frame; orientations are quaternions in ROS order (x, y, z, w).

- CSV with a header row. Columns are found by name: ``x, y, z`` (or any name ending in ``.x`` etc., such as the
  ``pose.position.x`` that ``ros2 topic echo --csv``-style exports use), ``qx, qy, qz, qw`` (or ``orientation.x``
  ...), and for hand-eye ``image``.
- YAML: a list of entries ``{image: a.png, position: [x, y, z], orientation: [qx, qy, qz, qw]}`` (or of plain
  ``[x, y, z]`` lists for positions), optionally under a ``poses:`` key.
- .npz: ``positions`` (N x 3), or ``poses`` (N x 7 as x, y, z, qx, qy, qz, qw, or N x 4 x 4).
"""
from __future__ import annotations

import csv
import io
import zipfile
import zlib
from pathlib import Path

import numpy as np

from rigbot import npy
from rigbot import limits
from rigbot.config import ConfigError, read_text, read_yaml, short_repr
from rigbot.calibration.transforms import quaternion_to_matrix, transform

MAX_REACH_M = limits.MAX_HAND_DISTANCE_M  # per axis: no box rigbot accepts lies farther out; larger is millimetres
MAX_NPZ_ARRAY_BYTES = 64 * 1024 * 1024  # a pose list is kB; an array may claim no more than this


def _column(header: list[str], axis: str, prefix: str) -> int | None:
    names = [h.strip().lower() for h in header]
    for wanted in (f"{prefix}{axis}", f"{prefix}.{axis}"):
        if wanted in names:
            return names.index(wanted)
    hits = [i for i, h in enumerate(names) if h.endswith(f"{'orientation' if prefix == 'q' else 'position'}.{axis}")]
    return hits[0] if len(hits) == 1 else None


def _read_rows(path: Path) -> list[dict]:
    """Rows as dicts with 'position' (3 floats), maybe 'orientation' (4 floats) and 'image'."""
    if path.suffix.lower() == ".csv":
        text = read_text(path, what="pose file")  # bounded, and a binary file is named as such
        try:
            table = [row for row in csv.reader(io.StringIO(text, newline=""))
                     if row and not row[0].lstrip().startswith("#")]
        except csv.Error as e:
            raise ConfigError(f"{path}: not a readable CSV file: {e}") from None
        if not table:
            raise ConfigError(f"{path}: empty file")
        header, body = table[0], table[1:]
        pos = [_column(header, a, "") for a in "xyz"]
        if None in pos:
            raise ConfigError(f"{path}: the header row must name columns x, y, z (or position.x, ...); got "
                              f"{short_repr(header)}")
        quat = [_column(header, a, "q") for a in "xyzw"]
        image = [h.strip().lower() for h in header].index("image") if "image" in [h.strip().lower() for h in header] else None
        rows = []
        for n, row in enumerate(body, start=2):
            try:
                entry = {"position": [float(row[i]) for i in pos]}
                if None not in quat:
                    entry["orientation"] = [float(row[i]) for i in quat]
            except (ValueError, IndexError):
                raise ConfigError(f"{path}: line {n}: expected numbers in the pose columns, got "
                                  f"{short_repr(row)}") from None
            if image is not None:
                entry["image"] = row[image].strip()
            rows.append(entry)
        return rows
    if path.suffix.lower() == ".npz":
        arrays, names = _read_npz(path)
        if "positions" in arrays:
            positions = arrays["positions"]
            if positions.ndim != 2 or positions.shape[1] != 3:
                raise ConfigError(f"{path}: positions: expected N x 3, got {positions.shape}")
            return [{"position": list(p)} for p in positions]
        if "poses" in arrays:
            poses = arrays["poses"]
            if poses.ndim == 3 and poses.shape[1:] == (4, 4):
                return [{"matrix": p} for p in poses]
            if poses.ndim == 2 and poses.shape[1] == 7:
                return [{"position": list(p[:3]), "orientation": list(p[3:])} for p in poses]
        raise ConfigError(f"{path}: expected an array 'positions' (N x 3) or 'poses' (N x 7 or N x 4 x 4); "
                          f"found {short_repr(names)}")
    data = read_yaml(path)
    if isinstance(data, dict) and "poses" in data:
        data = data["poses"]
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a list of poses (or a 'poses:' key holding one)")
    rows = []
    for n, item in enumerate(data):
        if isinstance(item, list):
            item = {"position": item}
        if not isinstance(item, dict) or "position" not in item:
            raise ConfigError(f"{path}: poses[{n}]: expected [x, y, z] or a mapping with 'position', got "
                              f"{short_repr(item)}")
        if "image" in item and not isinstance(item["image"], str):
            raise ConfigError(f"{path}: poses[{n}]: image: expected a file name, got {short_repr(item['image'])}")
        rows.append(item)
    return rows


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """An .npz's 'positions' and 'poses' arrays as floats, keyed by name, and the names of all its arrays.

    Each array is read by ``rigbot.npy``: its header's shape checked against the member's size before anything
    is allocated (a header may claim 10^12 rows over a few bytes), pickled objects refused."""
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as z:
            names = [n.removesuffix(".npy") for n in z.namelist()]
            for name in ("positions", "poses"):
                if f"{name}.npy" in z.namelist():
                    arrays[name] = _read_npz_member(path, z, name)
    except ConfigError:
        raise
    except npy.NpyError as e:  # names the file and the array
        raise ConfigError(str(e)) from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, zlib.error) as e:
        raise ConfigError(f"{path}: not a readable .npz file of pose arrays: {str(e)[:200]}") from None
    return arrays, names


def _read_npz_member(path: Path, z: zipfile.ZipFile, name: str) -> np.ndarray:
    _, dtype = npy.member_header(z, name, MAX_NPZ_ARRAY_BYTES, str(path))
    if dtype.kind not in "fiu":  # before loading: a bool or string array is no pose list
        raise ConfigError(f"{path}: {name}: expected numbers, got an array of {dtype}")
    return np.asarray(npy.read_npz_member(z, name, MAX_NPZ_ARRAY_BYTES, str(path)), dtype=float)


def _position(path: Path, n: int, row: dict) -> np.ndarray:
    p = np.asarray(row["matrix"])[:3, 3] if "matrix" in row else row["position"]
    try:
        p = np.asarray(p, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: pose {n}: position {short_repr(p)} is not three numbers") from None
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        raise ConfigError(f"{path}: pose {n}: position {p.tolist()} is not three finite numbers")
    if np.any(np.abs(p) > MAX_REACH_M):
        raise ConfigError(f"{path}: pose {n}: position {p.tolist()} is more than {MAX_REACH_M:g} m from the base: "
                          "positions must be metres in the base frame (millimetres, or another frame?)")
    return p


def read_positions(path: str | Path) -> np.ndarray:
    """End-effector positions (N x 3, metres) from a pose file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such pose file")
    rows = _read_rows(path)
    if not rows:
        raise ConfigError(f"{path}: holds no poses")
    return np.array([_position(path, n, r) for n, r in enumerate(rows)])


def read_hand_poses(path: str | Path) -> list[tuple[Path, np.ndarray]]:
    """(image path, T_base_hand 4 x 4) pairs for hand-eye calibration; image paths relative to the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such pose file")
    pairs = []
    for n, row in enumerate(_read_rows(path)):
        if "image" not in row or not row["image"]:
            raise ConfigError(f"{path}: pose {n}: names no image (CSV column or YAML key 'image')")
        p = _position(path, n, row)
        if "matrix" in row:
            T = np.asarray(row["matrix"], dtype=float)
        else:
            if "orientation" not in row:
                raise ConfigError(f"{path}: pose {n}: has no orientation (qx, qy, qz, qw); hand-eye needs full poses")
            try:
                T = transform(quaternion_to_matrix(row["orientation"]), p)
            except ValueError as e:
                raise ConfigError(f"{path}: pose {n}: {str(e)[:300]}") from None
            except TypeError:  # a mapping or a string where four numbers belong
                raise ConfigError(f"{path}: pose {n}: orientation {short_repr(row['orientation'])} is not four "
                                  "numbers x, y, z, w") from None
        image = Path(str(row["image"]))
        pairs.append((image if image.is_absolute() else path.parent / image, T))
    if not pairs:
        raise ConfigError(f"{path}: holds no poses")
    return pairs

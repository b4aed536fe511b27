"""Weights on disk: safetensors files (tensors only, never code) that carry the config they were made with.

Reading is in three steps, so nothing is allocated for a file before it is known to fit:

1. ``read_header``: the header alone, bounded (its declared size, every tensor's dtype, shape and byte range
   checked against the file's real size), so a header claiming 2^60 bytes or a tensor of 2^80 elements is refused
   at once;
2. ``check_config`` and ``check_shapes``: its saved config against the YAML beside the file (so declared sizes are
   compared with the file's before any network is built), then every tensor's shape against what the model
   expects (``expected_shapes`` builds the model on PyTorch's "meta" device, which allocates nothing, so a config
   asking for a 10 GB network costs nothing to refuse);
3. ``read_tensors``: the tensors, each refused by name if it holds NaN or Inf (``non_finite_tensor``, the check
   the online learner makes before publishing too).

``load_weights`` does all three, asking for the expected shapes only once the config matches; the policy and VAE
loaders both use it. Every refusal is a ``WeightsFileError`` that names the file and the problem.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

from rigbot.files import atomic_write
from rigbot.text import short_repr

# rigbot's headers are a few kilobytes (names, shapes, offsets, one config); safetensors itself allows 100 MB
MAX_HEADER_BYTES = 16 << 20
MAX_DIMS = 8
# bytes per element of every dtype safetensors writes
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
_TORCH_DTYPES = {torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16", torch.float16: "F16",
                 torch.bfloat16: "BF16", torch.int32: "I32", torch.float32: "F32", torch.int64: "I64",
                 torch.float64: "F64"}


class WeightsFileError(ValueError):
    """A weights file rigbot refuses (damaged, foreign, or not what its config says); the message names it."""


@dataclass(frozen=True)
class Header:
    """What a safetensors header declares: its metadata, and each tensor's dtype and shape."""

    metadata: dict[str, str]
    dtypes: dict[str, str]
    shapes: dict[str, tuple[int, ...]]


def _canonical(cfg: dict) -> str:
    return json.dumps(cfg, sort_keys=True)


def save_weights(path: str | Path, tensors: dict[str, torch.Tensor], cfg: dict, tag: str) -> Path:
    """Write ``tensors`` with ``cfg`` in the file's metadata under ``tag``, atomically."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={tag: _canonical(cfg)}))


# ---- 1. the header ------------------------------------------------------------------------------------------------
def read_header(path: str | Path) -> Header:
    """The header of the safetensors file ``path``, after checking it describes exactly the bytes that follow it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise WeightsFileError(f"{path}: not a safetensors file ({size} bytes, too short for a header)")
        declared = int.from_bytes(head, "little")
        if declared > min(MAX_HEADER_BYTES, size - 8):
            raise WeightsFileError(f"{path}: not a readable safetensors file: it declares a header of {declared} "
                                   f"bytes, but the file has {size} bytes (at most {MAX_HEADER_BYTES} allowed)")
        raw = f.read(declared)
    try:
        entries = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise WeightsFileError(f"{path}: not a readable safetensors file: its header is not JSON ({short_repr(str(e))})"
                               ) from None
    if not isinstance(entries, dict):
        raise WeightsFileError(f"{path}: not a readable safetensors file: its header is not a mapping")
    metadata = entries.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in metadata.items()):
        raise WeightsFileError(f"{path}: its __metadata__ must map strings to strings")
    dtypes, shapes, spans = {}, {}, []
    data_bytes = size - 8 - declared
    for name, entry in entries.items():
        dtypes[name], shapes[name], span = _tensor_entry(path, name, entry, data_bytes)
        spans.append((span, name))
    _check_spans(path, spans, data_bytes)
    return Header(metadata, dtypes, shapes)


def _tensor_entry(path: Path, name: str, entry, data_bytes: int) -> tuple[str, tuple[int, ...], tuple[int, int]]:
    where = f"{path}: tensor {short_repr(name, 60)}"
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise WeightsFileError(f"{where}: expected dtype, shape and data_offsets, got {short_repr(entry)}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPE_BYTES:
        raise WeightsFileError(f"{where}: dtype {short_repr(dtype)} is not one of {', '.join(DTYPE_BYTES)}")
    if (not isinstance(shape, list) or len(shape) > MAX_DIMS
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
        raise WeightsFileError(f"{where}: shape {short_repr(shape)} is not a list of at most {MAX_DIMS} "
                               "non-negative integers")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in offsets)):
        raise WeightsFileError(f"{where}: data_offsets {short_repr(offsets)} is not a [begin, end] pair of integers")
    begin, end = offsets
    if not 0 <= begin <= end <= data_bytes:
        raise WeightsFileError(f"{where}: data_offsets [{begin}, {end}] lie outside the {data_bytes} data bytes "
                               "(truncated or damaged)")
    needed = math.prod(shape) * DTYPE_BYTES[dtype]  # Python integers: a 2^80-element shape cannot overflow
    if needed != end - begin:
        raise WeightsFileError(f"{where}: shape {shape} of {dtype} needs {needed} bytes, its data_offsets give "
                               f"{end - begin}")
    return dtype, tuple(shape), (begin, end)


def _check_spans(path: Path, spans: list, data_bytes: int) -> None:
    """The tensors' byte ranges must tile the data exactly: no overlap, no gap, nothing after the last one."""
    at, previous = 0, None
    for (begin, end), name in sorted(spans):
        if begin < at:
            raise WeightsFileError(f"{path}: tensors {short_repr(previous, 60)} and {short_repr(name, 60)} overlap")
        if begin > at:
            raise WeightsFileError(f"{path}: {begin - at} bytes before tensor {short_repr(name, 60)} belong to no "
                                   "tensor (damaged)")
        at, previous = end, name
    if at != data_bytes:
        raise WeightsFileError(f"{path}: {data_bytes - at} bytes after the last tensor belong to no tensor "
                               "(damaged, or two files run together)")


# ---- 2. the config and the shapes ---------------------------------------------------------------------------------
def check_config(path: str | Path, header: Header, cfg: dict, tag: str, cfg_source: str = "its config",
                 optional: tuple[str, ...] = ()) -> None:
    """The config saved under ``tag`` must equal ``cfg``. Keys in ``optional`` may be absent from the saved config
    (files written before rigbot recorded them); when present they must match too."""
    saved_text = header.metadata.get(tag)
    if saved_text is None:
        raise WeightsFileError(f"{path}: has no {tag} metadata; it was not written by this kind of rigbot "
                               "checkpoint")
    try:
        saved = json.loads(saved_text)
    except (ValueError, RecursionError):
        raise WeightsFileError(f"{path}: its {tag} metadata is not JSON") from None
    expected = json.loads(_canonical(cfg))
    if isinstance(saved, dict):
        expected = {k: v for k, v in expected.items() if k in saved or k not in optional}
    if saved != expected:
        if isinstance(saved, dict):  # name only the keys that differ
            a, b = _flat(saved), _flat(expected)
            keys = sorted(k for k in set(a) | set(b) if a.get(k, _ABSENT) != b.get(k, _ABSENT))
            saved_text = ", ".join(f"{k}={short_repr(a.get(k, _ABSENT), 60)}" for k in keys[:6])
            expected_text = ", ".join(f"{k}={short_repr(b.get(k, _ABSENT), 60)}" for k in keys[:6])
        else:
            saved_text, expected_text = short_repr(saved_text, 200), _canonical(expected)
        raise WeightsFileError(f"{path} was saved with config {saved_text}, but {cfg_source} says {expected_text}; "
                               "they must match")


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


_ABSENT = _Absent()


def _flat(cfg: dict, prefix: str = "") -> dict:
    """A nested config as ``{"td3.hidden": [...], ...}``."""
    out = {}
    for k, v in cfg.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def expected_shapes(build: Callable[[], torch.nn.Module]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Shape and dtype of every tensor of the model ``build()`` makes, found without allocating its memory."""
    with torch.device("meta"):
        model = build()
    return {k: (tuple(t.shape), _TORCH_DTYPES.get(t.dtype, str(t.dtype))) for k, t in model.state_dict().items()}


def check_shapes(path: str | Path, header: Header, expected: dict[str, tuple[tuple[int, ...], str]]) -> None:
    """Every tensor ``expected`` names must be in the file, with that shape and dtype."""
    missing = sorted(set(expected) - set(header.shapes))
    if missing:
        raise WeightsFileError(f"{path}: tensors missing for this config: {', '.join(missing[:5])}")
    for name, (shape, dtype) in expected.items():
        if header.shapes[name] != shape:
            raise WeightsFileError(f"{path}: tensor {name} has shape {header.shapes[name]}, the config needs {shape}")
        if header.dtypes[name] != dtype:
            raise WeightsFileError(f"{path}: tensor {name} is {header.dtypes[name]}, the model needs {dtype}")


# ---- 3. the tensors -----------------------------------------------------------------------------------------------
def read_tensors(path: str | Path, header: Header) -> dict[str, torch.Tensor]:
    """The tensors of ``path`` (whose header was read and checked), refusing any that holds NaN or Inf."""
    try:
        tensors = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types; the header check leaves few to reach here
        raise WeightsFileError(f"{path}: not a readable safetensors file ({short_repr(str(e))})") from None
    if set(tensors) != set(header.shapes):
        raise WeightsFileError(f"{path}: changed while it was being read")
    name = non_finite_tensor(tensors)
    if name is not None:
        raise WeightsFileError(f"{path}: tensor {name} holds NaN or Inf; refusing weights that are not finite")
    return tensors


def non_finite_tensor(tensors: dict[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor holding NaN or Inf; None when every one is finite."""
    for name, t in tensors.items():
        # torch.isfinite does not take 1-byte floats (float8): those are checked as float32
        if t.is_floating_point() and not bool(torch.isfinite(t if t.element_size() > 1 else t.float()).all()):
            return name
    return None


def load_weights(path: str | Path, cfg: dict, tag: str, shapes: Callable[[], dict[str, tuple[tuple[int, ...], str]]],
                 cfg_source: str = "its config", optional: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """The tensors of ``path``, after checking its saved config equals ``cfg`` (``check_config``; ``optional``
    keys may be absent from it), then its tensors against ``shapes()`` (``check_shapes``; e.g. from
    ``expected_shapes``). ``shapes`` is called only once the config matches, so a config the file was not saved
    with never gets a network built, not even on the meta device."""
    header = read_header(path)
    check_config(path, header, cfg, tag, cfg_source, optional)
    check_shapes(path, header, shapes())
    return read_tensors(path, header)

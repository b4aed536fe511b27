"""Weights on disk: safetensors files (tensors only, never code) that carry the config they were made with.

Loading compares that config with the YAML beside the file and every tensor's shape with what the model
expects, and refuses a mismatch with a message that names the key or the tensor.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from rigbot.files import atomic_write


def _canonical(cfg: dict) -> str:
    return json.dumps(cfg, sort_keys=True)


def save_weights(path: str | Path, tensors: dict[str, torch.Tensor], cfg: dict, tag: str) -> Path:
    """Write ``tensors`` with ``cfg`` in the file's metadata under ``tag``, atomically."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={tag: _canonical(cfg)}))


def load_weights(path: str | Path, cfg: dict, tag: str, expected: dict[str, torch.Tensor],
                 extra: tuple[str, ...] = (), cfg_source: str = "its config") -> dict[str, torch.Tensor]:
    """The tensors of ``path``, after checking its saved config equals ``cfg`` and its tensors match the
    shapes of ``expected`` (a model's state_dict); ``extra`` names further tensors that must be present."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing")
    try:
        with safe_open(str(path), framework="pt") as f:
            saved = (f.metadata() or {}).get(tag)
        tensors = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for damaged files
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from None
    if saved is None:
        raise ValueError(f"{path}: has no {tag} metadata; it was not written by this kind of rigbot checkpoint")
    if json.loads(saved) != json.loads(_canonical(cfg)):
        raise ValueError(f"{path} was saved with config {saved}, but {cfg_source} says {_canonical(cfg)}; "
                         "they must match")
    missing = sorted((set(expected) | set(extra)) - set(tensors))
    if missing:
        raise ValueError(f"{path}: tensors missing for this config: {', '.join(missing[:5])}")
    for name, t in expected.items():
        if tensors[name].shape != t.shape:
            raise ValueError(f"{path}: tensor {name} has shape {tuple(tensors[name].shape)}, "
                             f"the config needs {tuple(t.shape)}")
    return tensors

"""Typed YAML configuration, validated on load.

Every configuration in rigbot is a dataclass. ``load(path, Cls)`` reads a YAML file into it and refuses
anything it does not understand: an unknown key, a value of the wrong type, or a number outside the
range declared on the field. The error names the file and the dotted key, so a user can fix it at once.

Fields declare their limits in dataclass metadata::

    speed: float = field(default=0.2, metadata=spec("m/s, per axis", range=(0.0, 2.0)))
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file or value that rigbot refuses; the message names the file and the key."""


def spec(doc: str, range: tuple[float | None, float | None] | None = None, length: int | None = None) -> dict:
    """Metadata for a config field: a one-line description, an inclusive numeric range, a fixed list length."""
    return {"doc": doc, "range": range, "length": length}


def _where(source: str | None, key: str) -> str:
    return f"{source}: {key}" if source else key


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (list, tuple):
        return "a list"
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {float: "a number", int: "an integer", bool: "true or false", str: "a string", dict: "a mapping"}.get(
        tp, getattr(tp, "__name__", str(tp)))


def _convert(value: Any, tp: Any, key: str, source: str | None, meta: dict) -> Any:
    """Check ``value`` against the annotation ``tp`` and return it in the dataclass's own types."""
    origin = get_origin(tp)
    bad = ConfigError(f"{_where(source, key)}: expected {_type_name(tp)}, got {value!r}")
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise bad
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key, source, meta)
            except ConfigError as e:
                errors.append(e)
        raise errors[0] if len(errors) == 1 else bad
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise bad
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise bad
        return from_dict(tp, value, source=source, prefix=key + ".")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise bad
        args = get_args(tp)
        length = meta.get("length")
        if origin is tuple and args and args[-1] is not Ellipsis:
            length = len(args)
        if length is not None and len(value) != length:
            raise ConfigError(f"{_where(source, key)}: expected a list of {length} items, got {len(value)}: {value!r}")
        item_types = [args[0] if (origin is list or (args and args[-1] is Ellipsis)) else args[i]
                      for i in range(len(value))] if args else [Any] * len(value)
        items = [_convert(v, t, f"{key}[{i}]", source, meta) for i, (v, t) in enumerate(zip(value, item_types))]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return _check_range(value, key, source, meta)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if not math.isfinite(value):
            raise ConfigError(f"{_where(source, key)}: expected a finite number, got {value!r}")
        return _check_range(float(value), key, source, meta)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    raise TypeError(f"config field {key} has an unsupported annotation {tp!r}")


def _check_range(value: float, key: str, source: str | None, meta: dict) -> float:
    lo, hi = meta.get("range") or (None, None)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        lo_s = "-inf" if lo is None else lo
        hi_s = "inf" if hi is None else hi
        raise ConfigError(f"{_where(source, key)}: {value!r} is out of range [{lo_s}, {hi_s}]")
    return value


def from_dict(cls: type[T], data: dict, source: str | None = None, prefix: str = "") -> T:
    """Build the dataclass ``cls`` from a mapping, validating every key and value."""
    if not isinstance(data, dict):
        raise ConfigError(f"{_where(source, prefix.rstrip('.') or '<top level>')}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        known = ", ".join(sorted(fields))
        raise ConfigError(f"{_where(source, prefix + str(unknown[0]))}: unknown key (known keys here: {known})")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(value, hints[name], prefix + name, source, dict(fields[name].metadata))
    missing = [n for n, f in fields.items() if n not in kwargs and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{_where(source, prefix + missing[0])}: required key is missing")
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}" if source else str(e)) from None


def validate(obj: T, source: str | None = None) -> T:
    """Re-check a dataclass built in code (e.g. with overrides) with the same rules as a file."""
    return from_dict(type(obj), to_dict(obj), source=source)


def read_yaml(path: str | Path) -> Any:
    """The data in a YAML file; a missing or malformed file is a ConfigError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None


def load(path: str | Path, cls: type[T]) -> T:
    """Read a YAML file into ``cls``; any problem is a ConfigError naming the file (and key)."""
    data = read_yaml(path)
    return from_dict(cls, {} if data is None else data, source=str(path))


def to_dict(obj: Any) -> Any:
    """A dataclass as plain YAML-able data (tuples become lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def dump(obj: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(obj), sort_keys=False))


def describe(cls: type) -> str:
    """Every key of a config class with its type, default and description: for --help and docs."""
    lines = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else "(required)")
        meta = f.metadata or {}
        rng = meta.get("range")
        rng_s = f" [{rng[0]}, {rng[1]}]" if rng else ""
        lines.append(f"  {f.name}: {_type_name(hints[f.name])}{rng_s} = {to_dict(default)!r}  {meta.get('doc', '')}")
    return "\n".join(lines)

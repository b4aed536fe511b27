"""Typed YAML configuration, validated on load.

Every configuration in rigbot is a dataclass. ``load(path, Cls)`` reads a YAML file into it and refuses
anything it does not understand: an unknown key, a value of the wrong type, or a number outside the
range declared on the field. The error names the file and the dotted key, so a user can fix it at once.

Fields declare their limits in dataclass metadata::

    speed: float = field(default=0.2, metadata=spec("m/s, per axis", range=(0.0, 2.0)))
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

from rigbot.text import SHORT_REPR_CHARS, short_repr  # noqa: F401  (readers import short_repr from here too)

T = TypeVar("T")

# Bounds on what a YAML file may make rigbot hold. Every config (task, robot, deployment, policy.yaml, vae.yaml,
# camera_info, pose lists, progress.yaml) is a few kB; these are far above any real one and far below harm.
MAX_YAML_BYTES = 4 * 1024 * 1024
MAX_YAML_NODES = 1_000_000  # values once aliases are expanded: a 450-byte alias bomb expands to 387 M
MAX_YAML_DEPTH = 64          # nesting of lists and mappings; deeper input overflowed the composer's recursion


class ConfigError(ValueError):
    """A configuration file or value that rigbot refuses; the message names the file and the key."""


def _key_name(key: Any) -> str:
    return key if isinstance(key, str) and len(key) <= SHORT_REPR_CHARS else short_repr(key)


def _number(text: str, condition, wanted: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and condition(value)):
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type for thresholds and sizes: a finite number above zero (a NaN limit turns a check off, since
    every comparison with NaN is False; a zero one divides by zero)."""
    return _number(text, lambda v: v > 0, "a finite number above zero")


def nonnegative_float(text: str) -> float:
    """argparse type for margins and offsets that may be zero: a finite number, zero or more."""
    return _number(text, lambda v: v >= 0, "a finite number, zero or more")


def unit_fraction(text: str) -> float:
    """argparse type for rates and fractions: a finite number from 0 to 1."""
    return _number(text, lambda v: 0 <= v <= 1, "a number from 0 to 1")


def positive_int(text: str) -> int:
    """argparse type for counts and sizes: a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number above zero, got {text!r}")
    return value


def spec(doc: str, range: tuple[float | None, float | None] | None = None, length: int | None = None) -> dict:
    """Metadata for a config field: a one-line description, an inclusive numeric range, a fixed list length."""
    return {"doc": doc, "range": range, "length": length}


def _where(source: str | None, key: str) -> str:
    return f"{source}: {key}" if source else key


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(short_repr(a) for a in get_args(tp))
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

    def bad() -> ConfigError:
        return ConfigError(f"{_where(source, key)}: expected {_type_name(tp)}, got {short_repr(value)}")

    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise bad()
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key, source, meta)
            except ConfigError as e:
                errors.append(e)
        raise errors[0] if len(errors) == 1 else bad()
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise bad()
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise bad()
        return from_dict(tp, value, source=source, prefix=key + ".")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise bad()
        args = get_args(tp)
        length = meta.get("length")
        if origin is tuple and args and args[-1] is not Ellipsis:
            length = len(args)
        if length is not None and len(value) != length:
            raise ConfigError(f"{_where(source, key)}: expected a list of {length} items, got {len(value)}: "
                              f"{short_repr(value)}")
        item_types = [args[0] if (origin is list or (args and args[-1] is Ellipsis)) else args[i]
                      for i in range(len(value))] if args else [Any] * len(value)
        items = [_convert(v, t, f"{key}[{i}]", source, meta) for i, (v, t) in enumerate(zip(value, item_types))]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad()
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return _check_range(value, key, source, meta)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        if not math.isfinite(value):
            raise ConfigError(f"{_where(source, key)}: expected a finite number, got {short_repr(value)}")
        return _check_range(float(value), key, source, meta)
    if tp is str:
        if not isinstance(value, str):
            raise bad()
        return value
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise bad()
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
        raise ConfigError(f"{_where(source, prefix.rstrip('.') or '<top level>')}: expected a mapping, got "
                          f"{short_repr(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        known = ", ".join(sorted(fields))
        raise ConfigError(f"{_where(source, prefix + _key_name(unknown[0]))}: unknown key (known keys here: {known})")
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


class _Refused(yaml.MarkedYAMLError):
    """Input the config loader refuses (duplicate key, alias bomb, deep nesting, a bad date or number)."""


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, made strict and bounded for config files:

    - a key given twice in one mapping is refused (PyYAML keeps the last one silently);
    - aliases may not expand the document beyond MAX_YAML_NODES values, nor nest it beyond MAX_YAML_DEPTH;
    - 1e-2, 1E5 and 1.0e5 are floats, as in YAML 1.2 and JSON (YAML 1.1's float needs a dot and a signed
      exponent, so PyYAML reads them as strings); quoted they stay strings.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> values under it, aliases expanded

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:  # only a list or mapping still being composed has no size yet
                raise _Refused(None, None, "an alias refers to the list or mapping that contains it", mark)
            return node
        if self._depth >= MAX_YAML_DEPTH:
            raise _Refused(None, None, f"lists and mappings nested more than {MAX_YAML_DEPTH} levels deep",
                           self.peek_event().start_mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        children = (node.value if isinstance(node, yaml.SequenceNode) else
                    [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else [])
        self._sizes[id(node)] = 1 + sum(self._sizes[id(c)] for c in children)
        if self._sizes[id(node)] > MAX_YAML_NODES:
            raise _Refused(None, None, f"aliases expand this to more than {MAX_YAML_NODES} values (an alias bomb?)",
                           node.start_mark)
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # '<<: *base' entries may be overridden: that is what merging is for
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:
                    continue  # unhashable: SafeConstructor refuses it with its own message
                if first is not key_node.start_mark:
                    raise _Refused(None, None, f"duplicate key {short_repr(key)} (first on line {first.line + 1}): "
                                               "one of the two values would be silently lost", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, MemoryError):
            raise
        except Exception as e:  # 2001-13-01 (month 13), a 5000-digit integer, '!!timestamp x', '!!bool maybe'...
            shown = short_repr(node.value) if isinstance(node, yaml.ScalarNode) else node.tag
            raise _Refused(None, None, f"cannot read {shown} as {node.tag}: {str(e)[:200]}",
                           node.start_mark) from None


_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
ConfigLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))


class ConfigDumper(yaml.SafeDumper):
    """SafeDumper that quotes a string such as "1e5", which ConfigLoader would otherwise read back as a number.

    rigbot's own class, so PyYAML's SafeDumper stays as it is for everything else in the process."""


ConfigDumper.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))


def dump_yaml(data: Any, stream=None, **kwargs) -> Any:
    """``yaml.safe_dump`` (same defaults) with ConfigDumper: what rigbot writes, ConfigLoader reads back as it was."""
    return yaml.dump(data, stream, Dumper=ConfigDumper, **kwargs)


def parse_yaml(text: str, source: str = "<text>") -> Any:
    """The data in YAML ``text``, read with ConfigLoader; a problem is a ConfigError naming ``source``."""
    loader = None
    try:
        loader = ConfigLoader(text)  # already checks the characters: a NUL is refused here
        loader.name = source  # marks in messages name the file, not "<unicode string>"
        return loader.get_single_data()
    except _Refused as e:
        line = f"line {e.problem_mark.line + 1}: " if e.problem_mark else ""
        raise ConfigError(f"{source}: {line}{e.problem}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {str(e)[:600]}") from None
    except RecursionError:  # nesting is bounded above; this is a last resort
        raise ConfigError(f"{source}: nested too deeply to read") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_text(path: str | Path, max_bytes: int = MAX_YAML_BYTES, what: str = "config file") -> str:
    """A small UTF-8 text file's contents; a missing, oversized or binary file is a ConfigError naming it.

    At most ``max_bytes`` + 1 bytes are read, whatever the file's size, so a huge file costs nothing."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such {what}")
    try:
        with path.open("rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read: {e.strerror or e}") from None
    if len(raw) > max_bytes:
        raise ConfigError(f"{path}: larger than {max_bytes // 1024} kB; a {what} is a few kB")
    try:
        return raw.decode("utf-8-sig")  # tolerate the byte-order mark some editors write
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start} is 0x{raw[e.start]:02x}): is it really a "
                          f"{what}?") from None


def read_yaml(path: str | Path, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """The data in a YAML file; a missing, oversized, binary or malformed file is a ConfigError naming it.

    Duplicate keys are refused, aliases may not blow the document up, and ``1e-2`` is a number
    (``ConfigLoader``).
    """
    return parse_yaml(read_text(path, max_bytes), str(Path(path)))


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


def merge(base: dict, *layers: dict) -> dict:
    """``base`` with each layer's keys put over it in turn, as a new dict: a mapping over a mapping merges one level
    deep (``relabel: {prior: 0.0}`` changes that fraction and keeps the others), anything else replaces."""
    merged = dict(base)
    for layer in layers:
        for key, value in layer.items():
            nested = isinstance(value, dict) and isinstance(merged.get(key), dict)
            merged[key] = {**merged[key], **value} if nested else value
    return merged


def dump(obj: Any, path: str | Path) -> None:
    Path(path).write_text(dump_yaml(to_dict(obj), sort_keys=False))


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
